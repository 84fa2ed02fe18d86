"""The precision the transformer predicts in on a CPU: `precision` in spacy_bert_ner.TransformerModel.v1.

    float32    as trained
    bfloat16   torch.autocast("cpu", bfloat16), where the CPU has native bfloat16 (AVX512-BF16 or
               AMX); elsewhere a warning and float32 (emulated bfloat16 is slower)
    int8       the int8 ONNX Runtime graph of onnx_int8.py (needs `onnxruntime`)
    auto       the fastest of these whose F1 held in the measurements (docs/results.md):
               bfloat16 on a CPU with AMX (its bfloat16 tiles beat ONNX Runtime's int8 there),
               else int8 where ONNX Runtime can be imported and the CPU is an x86 with VNNI
               (int8 asked for elsewhere warns: onnx_int8.py), else bfloat16 where the CPU has
               it natively, else float32; chosen once a process, at the first prediction, on
               the CPU it runs on (int8 that cannot run, e.g. no graph and no exporter to build
               one, falls back with a warning)

Training is not affected: it runs in float32, or under CPU bfloat16 autocast with `cpu_bfloat16`.
On a GPU, prediction runs as spacy-transformers runs it (`mixed_precision` there). The older
settings still load: `int8 = true` is `precision = "int8"`, and `cpu_bfloat16 = true` without a
`precision` predicts in bfloat16 as it trains.
"""

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Callable

from spacy.language import Language
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model
from transformers.file_utils import ModelOutput

from .cpu_bfloat16 import InCPUBfloat16, autocast_once, cpu_has_amx_bfloat16, native_bfloat16
from .onnx_int8 import ATTR as INT8_GRAPH_ATTR
from .onnx_int8 import Int8EngineError, cpu_has_int8_dot_products, int8_forward, warn_if_int8_may_saturate

Forward = Callable[[Model, WordpieceBatch, bool], tuple[ModelOutput, Callable]]
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
logger = logging.getLogger("spacy_bert_ner")


def check_precision(precision: str | None, int8: bool, cpu_bfloat16: bool) -> str:
    """The precision asked for, with the older boolean settings folded in; a clear error for a
    name that is not one or for settings that disagree."""
    if precision is None:
        return "int8" if int8 else "bfloat16" if cpu_bfloat16 else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    if int8 and precision != "int8":
        raise ValueError(
            f"int8 = true (the older spelling of precision = 'int8') contradicts precision = {precision!r}"
        )
    return precision


def auto_precision() -> str:
    """What `auto` picks on this machine."""
    if cpu_has_amx_bfloat16() and native_bfloat16():
        return "bfloat16"
    if importlib.util.find_spec("onnxruntime") is not None and cpu_has_int8_dot_products():
        return "int8"
    if native_bfloat16():
        return "bfloat16"
    return "float32"


class InPrecision:
    """The HF wrapper layer's forward: training as `cpu_bfloat16` says, prediction on a CPU in
    `precision`. A class rather than a closure, so the model pickles."""

    def __init__(self, forward: Forward, precision: str, cpu_bfloat16: bool) -> None:
        self.forward = forward
        self.precision = precision
        self.in_bfloat16 = InCPUBfloat16(forward) if cpu_bfloat16 or precision in ("bfloat16", "auto") else None
        self.train_forward = self.in_bfloat16 if cpu_bfloat16 else forward
        self._chosen: str | None = None

    def __call__(self, model: Model, wordpieces: WordpieceBatch, is_train: bool) -> tuple[ModelOutput, Callable]:
        if is_train:
            return self.train_forward(model, wordpieces, is_train)
        if not on_cpu(model):  # on a GPU: the model's own precision
            return self.forward(model, wordpieces, is_train)
        chosen = self.chosen()
        if chosen == "int8":
            warn_if_int8_may_saturate()
            try:
                return int8_forward(model, wordpieces)
            except Int8EngineError as err:
                if self.precision != "auto":
                    raise
                self._chosen = "bfloat16" if native_bfloat16() else "float32"
                warnings.warn(f"precision auto: int8 cannot run ({err}); predicting in {self._chosen}", stacklevel=2)
                return self(model, wordpieces, is_train)
        if chosen == "bfloat16" and self.in_bfloat16 is not None:
            return self.in_bfloat16(model, wordpieces, is_train)
        return self.forward(model, wordpieces, is_train)

    def calls_context(self, model: Model, is_train: bool) -> contextlib.AbstractContextManager:
        """A context to hold around several calls of this forward for one batch (its length
        buckets): in bfloat16, one autocast for them all, so the weights are cast once a batch."""
        if is_train:  # InCPUBfloat16 autocasts on the CPU only
            in_bfloat16 = self.train_forward is self.in_bfloat16 and on_cpu(model)
        else:
            in_bfloat16 = self.predicts_in(model) == "bfloat16"
        return autocast_once() if in_bfloat16 and self.in_bfloat16 is not None else contextlib.nullcontext()

    def predicts_in_int8(self, model: Model) -> bool:
        """Whether prediction runs on the int8 graph (ONNX Runtime): int8 chosen, on a CPU."""
        return self.predicts_in(model) == "int8"

    def predicts_in(self, model: Model) -> str:
        """What prediction runs in for the HF wrapper layer `model`: on a CPU, `chosen()`; on a
        GPU, the model's own precision (spacy-transformers' `mixed_precision`)."""
        if on_cpu(model):
            return self.chosen()
        return "mixed precision (GPU)" if getattr(model.shims[0], "_mixed_precision", False) else "float32 (GPU)"

    def set(self, precision: str) -> None:
        """Predict in `precision` from now on (chosen again at the next prediction)."""
        self.precision = check_precision(precision, False, False)
        if self.in_bfloat16 is None and precision in ("bfloat16", "auto"):
            self.in_bfloat16 = InCPUBfloat16(self.forward)
        self._chosen = None

    def chosen(self) -> str:
        """The precision prediction runs in, `auto` resolved on this machine (once a process)."""
        if self._chosen is None:
            self._chosen = auto_precision() if self.precision == "auto" else self.precision
            if self.precision == "auto":
                logger.info("precision auto: predicting in %s", self._chosen)
        return self._chosen

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_chosen": None}  # chosen again on the machine it is unpickled on


def build_int8_graphs(nlp: Language) -> list[str]:
    """Build now the int8 graph of each spacy_bert_ner transformer that predicts on it, rather than
    at its first prediction: done before `nlp.pipe(n_process=...)` starts its workers, they get the
    graph with the pipeline (forked or pickled) instead of each building its own. Returns their names."""
    names = []
    for name, pipe in nlp.pipeline:
        wrapper = _precision_wrapper(getattr(pipe, "model", None))
        hf_layer = pipe.model.layers[0] if wrapper is not None else None
        if hf_layer is not None and wrapper.predicts_in_int8(hf_layer):
            hf_layer.attrs[INT8_GRAPH_ATTR].ensure(hf_layer.shims[0]._model)
            names.append(name)
    return names


def on_cpu(model: Model) -> bool:
    """Whether the HF wrapper layer's torch model is on the CPU. (Its wordpieces are numpy arrays
    on a GPU too: spacy-transformers moves them to the device inside the layer.)"""
    for parameter in model.shims[0]._model.parameters():
        return parameter.device.type == "cpu"
    return True


def set_precision(nlp: Language, precision: str) -> list[str]:
    """Make each spacy_bert_ner transformer in `nlp` predict in `precision`, as that setting in
    its config would at load (the config itself is left as it is); returns their names."""
    check_precision(precision, False, False)
    names = []
    for name, pipe in nlp.pipeline:
        wrapper = _precision_wrapper(getattr(pipe, "model", None))
        if wrapper is not None:
            wrapper.set(precision)
            names.append(name)
    return names


def predicting_precision(nlp: Language) -> dict[str, str]:
    """The precision each spacy_bert_ner transformer in `nlp` predicts in on this machine, on the
    device its model is on (`auto` resolved), by component name."""
    predicting = {}
    for name, pipe in nlp.pipeline:
        wrapper = _precision_wrapper(getattr(pipe, "model", None))
        if wrapper is not None:
            predicting[name] = wrapper.predicts_in(pipe.model.layers[0])
    return predicting


def _precision_wrapper(model: Model | None) -> "InPrecision | None":
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    forward = getattr(getattr(layers[0], "_func", None), "forward", None)  # inside InLengthBuckets
    return forward if isinstance(forward, InPrecision) else None
