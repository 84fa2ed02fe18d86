"""Running a transformer's forward pass in bfloat16 on a CPU, as `mixed_precision` does on a GPU.

With `cpu_bfloat16 = true` in `spacy_bert_ner.TransformerModel.v1`, the forward pass runs under
`torch.autocast("cpu", bfloat16)` when the CPU has native bfloat16 (AVX512-BF16 or AMX): matrix
products in bfloat16; weights, their gradients and updates in float32. Elsewhere it warns once and
runs in float32, where bfloat16 would be emulated and slower. Native is not always faster either
(some CPUs' float32 kernels beat their bfloat16 ones), so the configs leave it off; the
`bench bfloat16` command measures a CPU.
"""

import contextlib
import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy
import torch
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model
from transformers.file_utils import ModelOutput

Forward = Callable[[Model, WordpieceBatch, bool], tuple[ModelOutput, Callable]]
# oneDNN runs PyTorch's bfloat16 products on a CPU and caches up to 1,024 compiled primitives, one
# per input shape. Length buckets make many shapes, and the cache then holds a large share of the
# resident memory, so on AVX512-BF16 CPUs (where a primitive is cheap to make again: same speed)
# the cap is 8. AMX primitives cost much more to make, so there oneDNN's own cap stays (training
# 1.4x and prediction 1.17x faster than at 8, measured in docs/results.md). oneDNN reads the cap
# from the environment at its first primitive, and a value set by the user wins.
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 8


class InCPUBfloat16:
    """The HF wrapper layer's forward, run under torch.autocast("cpu", bfloat16) on a CPU with native
    bfloat16, handing on float32 outputs. The backward pass needs no autocast (autograd replays the
    recorded dtypes and casts the float32 gradients it is given). A class, so the model pickles."""

    def __init__(self, forward: Forward) -> None:
        if not cpu_has_amx_bfloat16():
            os.environ.setdefault(ONEDNN_CACHE_ENV, str(ONEDNN_CACHE_CAPACITY))
        self.forward = forward

    def __call__(self, model: Model, wordpieces: WordpieceBatch, is_train: bool) -> tuple[ModelOutput, Callable]:
        if not isinstance(wordpieces.input_ids, numpy.ndarray) or not cpu_has_bfloat16():
            return self.forward(model, wordpieces, is_train)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output, backprop = self.forward(model, wordpieces, is_train)
        return _as_float32(output), backprop


def autocast_once() -> contextlib.AbstractContextManager:
    """A bfloat16 autocast context to hold around several calls of an `InCPUBfloat16` forward
    (a batch's length buckets): autocast keeps the bfloat16 copies of the float32 weights it makes
    until its outermost context exits, so the weights are cast once for all the calls rather than
    once a call. Where the CPU has no native bfloat16, no context."""
    if not cpu_has_bfloat16():
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def cpu_has_amx_bfloat16() -> bool:
    """Whether the CPU has AMX bfloat16 tiles (Intel Xeon since Sapphire Rapids)."""
    return bool(torch.cpu.get_capabilities().get("amx_bf16", False))


@lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU; warns once if not."""
    supported = native_bfloat16()
    if not supported:
        warnings.warn(
            "cpu_bfloat16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); running in float32", stacklevel=2
        )
    return supported


def native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX); no warning."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _as_float32(output: ModelOutput) -> ModelOutput:
    """The output with its lower-precision float tensors (and tuples of them) as float32."""

    def cast(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
            return value.float()
        if isinstance(value, tuple):
            return tuple(cast(item) for item in value)
        return value

    return type(output)(**{key: cast(value) for key, value in output.items()})
