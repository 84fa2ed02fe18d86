"""Inference with the transformer's linear layers in int8: torch's dynamic quantization.

With `int8 = true` in `spacy_bert_ner.TransformerModel.v1`, prediction (not training) runs on a
copy of the Hugging Face model whose `torch.nn.Linear` layers are dynamically quantized: weights
stored in int8, activations quantized on the fly, matrix products in int8 on a CPU. The float32
model stays as it is, for training and serialization; the copy is made at the first prediction
and again whenever the weights have changed since (a training step). It is a CPU feature: on a
GPU, prediction runs in float32 as before. The setting is saved in the pipeline's config, so a
packaged pipeline predicts in int8 with nothing extra at `spacy.load`.
"""

import copy
from collections.abc import Callable
from typing import Any

import torch
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model
from transformers.file_utils import ModelOutput

Forward = Callable[[Model, WordpieceBatch, bool], tuple[ModelOutput, Callable]]


class InInt8:
    """The HF wrapper layer's forward, run on an int8 copy of the model when predicting on a CPU.
    A class rather than a closure, so the model pickles (the copy is left out and made again)."""

    def __init__(self, forward: Forward) -> None:
        self.forward = forward
        self._quantized: torch.nn.Module | None = None
        self._stamp: tuple | None = None

    def __call__(self, model: Model, wordpieces: WordpieceBatch, is_train: bool) -> tuple[ModelOutput, Callable]:
        # The private thing touched: the shim's `_model` (thinc's PyTorchShim has no public way to
        # run a different module); it is swapped for the int8 copy during this call only.
        shim = model.shims[0]
        float_model = shim._model
        if is_train or _device(float_model).type != "cpu":
            return self.forward(model, wordpieces, is_train)
        shim._model = self._int8_copy(float_model)
        try:
            return self.forward(model, wordpieces, is_train)
        finally:
            shim._model = float_model

    def _int8_copy(self, float_model: torch.nn.Module) -> torch.nn.Module:
        stamp = _weights_stamp(float_model)
        if self._quantized is None or stamp != self._stamp:
            self._quantized = quantize(float_model)
            self._stamp = stamp
        return self._quantized

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_quantized": None, "_stamp": None}


def quantize(float_model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the model with its linear layers dynamically quantized to int8, one scale per
    output row, except each feed-forward block's output projection: its inputs (after GELU) hold
    the outliers int8 handles worst, and keeping it in float32 keeps most of the accuracy."""
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    copied = copy.deepcopy(float_model)
    names = {name: qconfig for name, module in copied.named_modules() if _quantized_layer(name, module)}
    return torch.ao.quantization.quantize_dynamic(copied, names).eval()


def _quantized_layer(name: str, module: torch.nn.Module) -> bool:
    is_ffn_output = name.endswith("output.dense") and "attention" not in name  # BERT's naming
    return isinstance(module, torch.nn.Linear) and not is_ffn_output


def _weights_stamp(module: torch.nn.Module) -> tuple:
    """Changes whenever a weight is replaced or updated in place (torch counts in-place updates)."""
    return tuple((id(p), p._version) for p in module.parameters())


def _device(module: torch.nn.Module) -> Any:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
