"""Checkpoint averaging: the element-wise mean of the weights of several saved checkpoints of one
training run (thinc parameters and the transformer's torch state alike), saved as a pipeline.

The checkpoints must come from the same config (the same pipeline, layer for layer); what is not a
weight (vocab, tokenizer, labels, config) is taken from the first. Checkpoints are loaded one at a
time and summed into the first, so memory holds two pipelines whatever their number.
"""

from pathlib import Path

import spacy
import torch
from spacy.language import Language
from thinc.api import Model, PyTorchShim

from .checkpoints import list_checkpoints
from .errors import InputError


def expand_checkpoints(paths: list[Path], last: int | None = None) -> list[Path]:
    """Each path as is, or, for a folder of `step-<N>` checkpoints (the CheckpointLogger's), its
    checkpoints oldest first; then the `last` most recent of the whole list (None: all)."""
    expanded: list[Path] = []
    for path in paths:
        steps = list_checkpoints(path) if not (path / "config.cfg").exists() else []
        expanded.extend(steps or [path])
    return expanded[-last:] if last else expanded


def average_checkpoints(paths: list[Path], output: Path) -> Language:
    """Load each checkpoint, average their weights into the first, save it to `output`."""
    if len(paths) < 2:
        raise ValueError(f"Averaging needs at least two checkpoints, got {len(paths)}")
    base = spacy.load(paths[0])
    models = {
        name: component.model
        for name, component in base.components
        if isinstance(getattr(component, "model", None), Model)
    }
    for path in paths[1:]:
        other = spacy.load(path)
        if other.pipe_names != base.pipe_names:
            raise InputError(path, None, f"pipeline {other.pipe_names} differs from {paths[0]}'s {base.pipe_names}")
        for name, model in models.items():
            _add_into(model, other.get_pipe(name).model, name)
        del other
    for model in models.values():
        _divide(model, len(paths))
    base.to_disk(output)
    return base


def _add_into(model: Model, other: Model, component: str) -> None:
    nodes, other_nodes = list(model.walk()), list(other.walk())
    if len(nodes) != len(other_nodes):
        raise ValueError(f"Component '{component}': the checkpoints' models differ in structure")
    for node, other_node in zip(nodes, other_nodes):
        for param in node.param_names:
            if node.has_param(param):
                node.set_param(param, node.get_param(param) + other_node.get_param(param))
        for shim, other_shim in zip(node.shims, other_node.shims):
            if isinstance(shim, PyTorchShim):
                others = other_shim._model.state_dict()
                with torch.no_grad():
                    for key, value in _float_tensors(shim._model):
                        value.add_(others[key])


def _divide(model: Model, count: int) -> None:
    for node in model.walk():
        for param in node.param_names:
            if node.has_param(param):
                node.set_param(param, node.get_param(param) / count)
        for shim in node.shims:
            if isinstance(shim, PyTorchShim):
                with torch.no_grad():
                    for _, value in _float_tensors(shim._model):
                        value.div_(count)


def _float_tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The floating-point entries of the state dict (integer buffers such as position ids are not
    weights), each storage once: a tied weight appears under two keys but must be summed once."""
    seen: set[int] = set()
    tensors = []
    for key, value in module.state_dict().items():
        if torch.is_floating_point(value) and value.data_ptr() not in seen:
            seen.add(value.data_ptr())
            tensors.append((key, value))
    return tensors
