"""Prediction in int8 on ONNX Runtime: the transformer exported to ONNX, its matrix products
dynamically quantized (weights in int8, activations quantized on the fly), run by an ONNX Runtime
session on the CPU.

With `precision = "int8"` (or `"auto"` choosing it) in `spacy_bert_ner.TransformerModel.v1`, the
graph is built from the float32 weights (`torch.onnx.export`, then ONNX Runtime's
`quantize_dynamic`) the first time the pipeline predicts and whenever the weights have changed
since (a training step). It is kept in the model's attributes, with the SHA-256 of the weights it
was built from, so `nlp.to_disk` saves it inside the pipeline folder and a packaged wheel carries
it: a loaded pipeline predicts at once. A saved graph whose weights hash does not match the weights
it is loaded beside is rebuilt, with a warning. Training runs on the float32 model as before.

Each feed-forward block's output projection stays in float32: its inputs (after GELU) hold the
outliers int8 handles worst (docs/results.md has the F1 with and without it).

The graph's accuracy was measured on x86 CPUs with VNNI or AMX, whose instructions add 8-bit
products in 32 bits. On an x86 CPU without them, ONNX Runtime's kernels add pairs of products in
16 bits (AVX2's VPMADDUBSW), which can saturate: measured on an AVX2-only CPU, MiniLM's F1 held
but MPNet's hidden states were lost (docs/results.md), so `auto` does not choose int8 there, and
`int8` asked for there warns.
"""

import hashlib
import io
import logging
import os
import platform
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable
from contextlib import redirect_stdout
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy
import srsly
import torch
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model, deserialize_attr, serialize_attr
from transformers.file_utils import ModelOutput
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling

logger = logging.getLogger("spacy_bert_ner")
ATTR = "int8_graph"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
ONNXRUNTIME_HINT = "pip install 'onnxruntime==1.31.*'"
EXPORT_HINT = "pip install 'onnxruntime==1.31.*' onnx onnxscript"
INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # as torch.cpu.get_capabilities() names them


class Int8EngineError(RuntimeError):
    """int8 prediction cannot run: ONNX Runtime or the exporter missing, or a graph that fails."""


class Int8Graph:
    """The int8 ONNX graph of a transformer and the SHA-256 of the float32 weights it was built
    from; one ONNX Runtime session per process, made at first use (a session does not survive a
    fork, and workers run their own thread count). Pickles without its session."""

    def __init__(self, onnx: bytes | None = None, weights_sha256: str | None = None, *, loaded: bool = False) -> None:
        self.onnx = onnx
        self.weights_sha256 = weights_sha256
        self.loaded = loaded  # read with a saved pipeline, not built here
        self._stamp: tuple | None = None
        self._session: Any = None
        self._session_pid: int | None = None
        _GRAPHS.add(self)

    def session(self, float_model: torch.nn.Module) -> Any:
        """The session for `float_model`'s current weights, building the graph if it has none
        that matches them."""
        stamp = _weights_stamp(float_model)
        if stamp != self._stamp:  # first use in this process, or the weights changed
            self.ensure(float_model)
            self._stamp = stamp
        # one session a process: closed before a fork, and checked against a fork that skips
        # Python's fork hooks (a C extension's fork(), or a session made while the hooks ran)
        if self._session is None or self._session_pid != os.getpid():
            self._session = _new_session(self.onnx)
            self._session_pid = os.getpid()
        return self._session

    def ensure(self, float_model: torch.nn.Module) -> None:
        """Build the graph unless it has one of `float_model`'s current weights."""
        sha256 = weights_sha256(float_model)
        if self.onnx is not None and sha256 == self.weights_sha256:
            return
        if self.onnx is not None and self.loaded:
            warnings.warn(
                "precision int8: the int8 graph saved with this pipeline was built from other weights "
                f"(SHA-256 {self.weights_sha256} against {sha256}); building it again from these",
                stacklevel=2,
            )
        self.onnx = build_int8_graph(float_model)
        self.weights_sha256 = sha256
        self.loaded = False
        self.close_session()

    def close_session(self) -> None:
        """Drop this process's session (its threads end with it); the next prediction opens one."""
        self._session = None
        self._session_pid = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_stamp": None, "_session": None, "_session_pid": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        _GRAPHS.add(self)


# ONNX Runtime is not fork-safe: a session's threads can hold its locks at the moment of a fork, and
# the forked child (nlp.pipe with n_process under fork) then hangs in its first session. Every
# session is closed before a fork; each process opens its own at its next prediction.
_GRAPHS: "weakref.WeakSet[Int8Graph]" = weakref.WeakSet()


def _close_sessions_before_fork() -> None:
    for graph in list(_GRAPHS):
        graph.close_session()


os.register_at_fork(before=_close_sessions_before_fork)


@serialize_attr.register(Int8Graph)
def _serialize_int8_graph(_: Any, value: Int8Graph, name: str, model: Model) -> bytes:
    return srsly.msgpack_dumps({"onnx": value.onnx, "weights_sha256": value.weights_sha256})


@deserialize_attr.register(Int8Graph)
def _deserialize_int8_graph(_: Any, value: bytes, name: str, model: Model) -> Int8Graph:
    msg = srsly.msgpack_loads(value)
    return Int8Graph(msg["onnx"], msg["weights_sha256"], loaded=msg["onnx"] is not None)


def cpu_has_int8_dot_products() -> bool:
    """Whether this is an x86 CPU with VNNI or AMX int8 instructions (products of 8-bit integers
    added in 32 bits): the CPUs the int8 graph's accuracy was measured on."""
    if not _is_x86():
        return False
    capabilities = torch.cpu.get_capabilities()
    return any(bool(capabilities.get(flag, False)) for flag in INT8_DOT_PRODUCT_FLAGS)


@lru_cache(maxsize=1)
def warn_if_int8_may_saturate() -> bool:
    """Warn once a process where ONNX Runtime's int8 kernels may saturate (x86 without VNNI or
    AMX); returns whether it warned."""
    if not _is_x86() or cpu_has_int8_dot_products():
        return False
    warnings.warn(
        "precision int8: this CPU has no VNNI or AMX int8 instructions, so ONNX Runtime adds int8 "
        "products in 16 bits here (AVX2), which can saturate and cost accuracy; int8 F1 was measured "
        "on CPUs with VNNI (precision auto predicts in float32 on this CPU)",
        stacklevel=3,
    )
    return True


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")


def int8_forward(model: Model, wordpieces: WordpieceBatch) -> tuple[ModelOutput, Callable]:
    """The HF wrapper layer's prediction, run by ONNX Runtime on the int8 graph in its attributes."""
    float_model = model.shims[0]._model
    session = model.attrs[ATTR].session(float_model)
    feed = _feed(wordpieces, {i.name for i in session.get_inputs()})
    names = [output.name for output in session.get_outputs()]
    outputs = {name: torch.from_numpy(array) for name, array in zip(names, session.run(None, feed))}
    output_class = BaseModelOutputWithPooling if "pooler_output" in outputs else BaseModelOutput
    return output_class(**outputs), _no_backprop


def _no_backprop(_: Any) -> None:
    raise Int8EngineError("the int8 graph only predicts: training runs on the float32 model (is_train=True)")


def _feed(wordpieces: WordpieceBatch, inputs: set[str]) -> dict[str, numpy.ndarray]:
    given = {
        "input_ids": wordpieces.input_ids,
        "attention_mask": wordpieces.attention_mask,
        "token_type_ids": wordpieces.token_type_ids,
    }
    feed = {}
    for name in inputs:
        value = given.get(name)
        if value is None and name == "token_type_ids":
            value = numpy.zeros_like(wordpieces.input_ids)
        if value is None:
            raise Int8EngineError(f"the int8 graph asks for an input this transformer does not give: {name!r}")
        feed[name] = numpy.ascontiguousarray(value, dtype="int64")
    return feed


def build_int8_graph(float_model: torch.nn.Module, *, keep_ffn_output_float: bool = True) -> bytes:
    """`float_model` exported to ONNX and its MatMuls dynamically quantized to int8 (one scale per
    output channel), except, with `keep_ffn_output_float`, each feed-forward output projection."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        raise Int8EngineError(
            f"precision int8 builds its graph with ONNX Runtime and onnx ({err}): {EXPORT_HINT}"
        ) from err
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spacy-bert-ner-int8-") as tmp:
        float_path, int8_path = Path(tmp) / "float32.onnx", Path(tmp) / "int8.onnx"
        export_onnx(float_model, float_path)
        graph = onnx.load(str(float_path), load_external_data=False)
        excluded = ffn_output_matmuls(graph) if keep_ffn_output_float else []
        del graph
        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(max(level, logging.ERROR))  # quantize_dynamic logs advice meant for image models
        try:
            _quantize(quantize_dynamic, QuantType, float_path, int8_path, excluded)
        finally:
            root.setLevel(level)
        data = int8_path.read_bytes()
    logger.info(
        "precision int8: built the int8 graph (%.1f MB) in %.1f s", len(data) / 1e6, time.perf_counter() - start
    )
    return data


def _quantize(quantize_dynamic: Callable, quant_type: Any, source: Path, target: Path, excluded: list[str]) -> None:
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=quant_type.QInt8,
        per_channel=True,
        nodes_to_exclude=excluded,
        extra_options={"MatMulConstBOnly": True},
        use_external_data_format=False,
    )


def export_onnx(float_model: torch.nn.Module, path: Path) -> None:
    """The model's float32 forward pass as an ONNX graph at `path`, batch and length dynamic,
    inputs named as the Hugging Face model's, outputs by the names of its output fields."""
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as err:
        raise Int8EngineError(f"precision int8 exports the transformer with torch.onnx ({err}): {EXPORT_HINT}") from err
    kwargs = _example_inputs(float_model)
    was_training = float_model.training
    float_model.eval()
    try:
        with torch.no_grad():
            output_names = list(float_model(**kwargs).keys())
            dims = {
                "batch": torch.export.Dim("batch"),
                "length": torch.export.Dim("length", max=_max_length(float_model)),
            }
            shapes = {name: {0: dims["batch"], 1: dims["length"]} for name in kwargs}
            with redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    float_model,
                    (),
                    kwargs=kwargs,
                    input_names=list(kwargs),
                    output_names=output_names,
                    dynamic_shapes=shapes,
                    dynamo=True,
                    optimize=True,
                    verbose=False,
                )
                program.save(str(path))
    except Int8EngineError:
        raise
    except Exception as err:  # the exporter's own errors name nothing a user can act on
        raise Int8EngineError(
            f"precision int8: torch.onnx could not export {type(float_model).__name__}: {err}"
        ) from err
    finally:
        float_model.train(was_training)


def ffn_output_matmuls(graph: Any) -> list[str]:
    """Names of the MatMuls that read a GELU's output: the feed-forward output projections."""
    gelu_outputs = {name for node in graph.graph.node if node.op_type == "Gelu" for name in node.output}
    return [node.name for node in graph.graph.node if node.op_type == "MatMul" and node.input[0] in gelu_outputs]


def _example_inputs(float_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    import inspect

    vocab_size = int(float_model.config.vocab_size)
    ids = (torch.arange(2 * 9).reshape(2, 9) * 7 + 5) % vocab_size
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in inspect.signature(float_model.forward).parameters:
        inputs["token_type_ids"] = torch.zeros_like(ids)
    return inputs


def _max_length(float_model: torch.nn.Module) -> int:
    """The longest sequence the position embeddings take (RoBERTa-style models such as MPNet
    number positions from the padding id + 1)."""
    config = float_model.config
    offset = config.pad_token_id + 1 if config.model_type in {"mpnet", "roberta", "xlm-roberta", "camembert"} else 0
    return int(config.max_position_embeddings) - offset


def _new_session(onnx: bytes) -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise Int8EngineError(
            f"precision int8 runs on ONNX Runtime, which cannot be imported ({err}): {ONNXRUNTIME_HINT}"
        ) from err
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # one in n_process workers (threads.py)
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise Int8EngineError(f"precision int8: ONNX Runtime cannot load the pipeline's int8 graph: {err}") from err


def weights_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over the names and bytes of the module's parameters and buffers, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _weights_stamp(module: torch.nn.Module) -> tuple:
    """Changes whenever a weight is replaced or updated in place (torch counts in-place updates)."""
    return tuple((id(p), p._version) for p in module.parameters())
