"""Checkpoint averaging: the element-wise mean of the weights of several saved checkpoints of one
training run (thinc parameters and the transformer's torch state alike), saved as a pipeline.

The checkpoints must come from the same config (the same pipeline, layer for layer); what is not a
weight (vocab, tokenizer, labels, config) is taken from the first.
"""

from pathlib import Path

import spacy
import torch
from spacy.language import Language
from thinc.api import Model, PyTorchShim

from .errors import InputError


def average_checkpoints(paths: list[Path], output: Path) -> Language:
    """Load each checkpoint, average their weights into the first, save it to `output`."""
    if len(paths) < 2:
        raise ValueError(f"Averaging needs at least two checkpoints, got {len(paths)}")
    nlps = [spacy.load(path) for path in paths]
    base = nlps[0]
    for path, nlp in zip(paths[1:], nlps[1:]):
        if nlp.pipe_names != base.pipe_names:
            raise InputError(path, None, f"pipeline {nlp.pipe_names} differs from {paths[0]}'s {base.pipe_names}")
    for name, component in base.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            _average_into(model, [nlp.get_pipe(name).model for nlp in nlps[1:]], name)
    base.to_disk(output)
    return base


def _average_into(model: Model, others: list[Model], component: str) -> None:
    nodes = list(model.walk())
    other_nodes = [list(other.walk()) for other in others]
    if any(len(walked) != len(nodes) for walked in other_nodes):
        raise ValueError(f"Component '{component}': the checkpoints' models differ in structure")
    count = 1 + len(others)
    for i, node in enumerate(nodes):
        for param in node.param_names:
            if node.has_param(param):
                total = node.get_param(param).copy()
                for walked in other_nodes:
                    total += walked[i].get_param(param)
                node.set_param(param, total / count)
        for j, shim in enumerate(node.shims):
            if isinstance(shim, PyTorchShim):
                states = [walked[i].shims[j]._model.state_dict() for walked in other_nodes]
                _average_torch(shim._model, states, count)


def _average_torch(module: torch.nn.Module, others: list[dict[str, torch.Tensor]], count: int) -> None:
    state = module.state_dict()
    averaged = {}
    for key, value in state.items():
        if torch.is_floating_point(value):  # integer buffers (position ids) are not weights
            value = (value + sum(other[key] for other in others)) / count
        averaged[key] = value
    module.load_state_dict(averaged)
