"""`spacy_bert_ner.TransformerModel.v1`: spacy-transformers' TransformerModel.v3, run in length buckets.

spacy-transformers pads every strided window of a batch to the longest one and runs them through
the transformer in one call. A Doc's last window is usually short, so on CoNLL-2003's dev set
(windows of 128 tokens every 96, sub-batches of 4,096 tokens) 28% of the wordpieces computed are
padding. This architecture builds the same model and changes one thing: each call is split into
buckets of windows of similar length (fewest padded wordpieces, counting `bucket_overhead`
wordpieces for each extra call), and the buckets' outputs are put back in the batch's padded
layout, so alignment, listeners and serialization are untouched. Outputs at real wordpieces are
those of the single call, up to float rounding; padded positions hold zeros. On that dev set,
with `bucket_overhead = 64`: 5% padding in 102 calls instead of 28% in 23, and the trained
MiniLM pipeline ran 1.34x faster (bench/bench_inference.py).

`cpu_bfloat16 = true` also runs the transformer's forward pass under `torch.autocast("cpu",
bfloat16)` when it runs on a CPU with native bfloat16 (AVX512-BF16 or AMX): matrix products in
bfloat16, weights, their gradients and updates in float32 (it is to a CPU what `mixed_precision`
is to a GPU). Elsewhere it warns once and runs in float32, where bfloat16 would be emulated and slower.
Native is not always faster: MiniLM's forward and backward took 2.2x less time on an AMD EPYC
(AVX512-BF16) and 1.6x more on an Intel Xeon (AVX512-BF16, no AMX exposed), whose float32 kernels
beat its bfloat16 ones; so the configs leave it off, and bench/bench_bfloat16.py measures a CPU.

    [components.transformer.model]
    @architectures = "spacy_bert_ner.TransformerModel.v1"
    name = "bert-base-cased"
    bucket_overhead = 64
    cpu_bfloat16 = false
    # ... and the settings of spacy-transformers.TransformerModel.v3
"""

import os
import warnings
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.util import registry
from spacy_transformers.architectures import create_TransformerModel_v3
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model, get_array_module
from transformers.file_utils import ModelOutput

Forward = Callable[[Model, WordpieceBatch, bool], Tuple[ModelOutput, Callable]]
# oneDNN runs PyTorch's bfloat16 products on a CPU and caches up to 1,024 compiled primitives, one
# per input shape. Length buckets make many shapes, and the cache held about 0.4 GB of resident
# memory after 150 training steps on CoNLL-2003 (2.25 GB peak against 1.88 GB capped at 8, at the same
# speed). oneDNN reads the cap from the environment at its first primitive; a value set by the user wins.
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 8


@registry.architectures("spacy_bert_ner.TransformerModel.v1")
def transformer_model_in_length_buckets(
    name: str,
    get_spans: Callable,
    tokenizer_config: Optional[dict] = None,
    transformer_config: Optional[dict] = None,
    mixed_precision: bool = False,
    grad_scaler_config: Optional[dict] = None,
    bucket_overhead: int = 64,
    cpu_bfloat16: bool = False,
) -> Model:
    """spacy-transformers.TransformerModel.v3 whose transformer calls run in length buckets, in
    bfloat16 on a CPU that has it natively if `cpu_bfloat16`."""
    if bucket_overhead < 0:
        raise ValueError(f"bucket_overhead must be 0 or more wordpieces, got {bucket_overhead}")
    model = create_TransformerModel_v3(
        name, get_spans, tokenizer_config or {}, transformer_config or {}, mixed_precision, grad_scaler_config or {}
    )
    hf_layer = model.layers[0]
    forward = hf_layer._func
    if cpu_bfloat16:
        forward = in_cpu_bfloat16(forward)
    hf_layer._func = in_length_buckets(forward, bucket_overhead)
    return model


def length_buckets(lengths: Sequence[int], bucket_overhead: int) -> List[numpy.ndarray]:
    """Split sequence indices into buckets, each padded to its longest, that minimize the padded
    length in all plus `bucket_overhead` for every bucket (dynamic programming over the sequences
    sorted longest first). Each index is in exactly one bucket, longest buckets first."""
    if len(lengths) == 0:
        return []
    order = numpy.argsort(-numpy.asarray(lengths), kind="stable")
    ordered = numpy.asarray(lengths, dtype="int64")[order]
    n = len(order)
    # best[j]: least cost of the first j sequences; cut[j]: where the last bucket of that starts
    best = numpy.zeros(n + 1, dtype="int64")
    cut = numpy.zeros(n + 1, dtype="int64")
    for end in range(1, n + 1):
        starts = numpy.arange(end)
        costs = best[:end] + (end - starts) * ordered[:end] + bucket_overhead
        cut[end] = int(numpy.argmin(costs))  # the first least cost, as a loop keeping strict improvements
        best[end] = costs[cut[end]]
    bounds, end = [], n
    while end > 0:
        bounds.append((int(cut[end]), end))
        end = int(cut[end])
    return [order[start:end] for start, end in reversed(bounds)]


def in_length_buckets(forward: Forward, bucket_overhead: int) -> Forward:
    """Wrap the HF wrapper layer's forward: one call per length bucket, outputs stitched back."""

    def forward_in_buckets(model: Model, wordpieces: WordpieceBatch, is_train: bool) -> Tuple[ModelOutput, Callable]:
        buckets = length_buckets(wordpieces.lengths, bucket_overhead)
        if len(buckets) <= 1:
            return forward(model, wordpieces, is_train)
        calls = [forward(model, _take(wordpieces, bucket), is_train) for bucket in buckets]
        n_seqs, n_positions = wordpieces.input_ids.shape
        output = _stitch([out for out, _ in calls], buckets, n_seqs, n_positions)

        def backprop(d_output: ModelOutput) -> Any:
            d_inputs = None
            for bucket, (out, bp_bucket) in zip(buckets, calls):
                length = out.last_hidden_state.shape[1]
                d_inputs = bp_bucket(ModelOutput({key: _slice(d, bucket, length) for key, d in d_output.items()}))
            return d_inputs

        return output, backprop

    return forward_in_buckets


def in_cpu_bfloat16(forward: Forward) -> Forward:
    """Wrap the HF wrapper layer's forward: on a CPU with native bfloat16, run it under
    torch.autocast("cpu", bfloat16) and hand on float32 outputs. The backward pass needs no
    autocast (autograd replays the recorded dtypes and casts the float32 gradients it is given)."""
    os.environ.setdefault(ONEDNN_CACHE_ENV, str(ONEDNN_CACHE_CAPACITY))

    def forward_in_bfloat16(model: Model, wordpieces: WordpieceBatch, is_train: bool) -> Tuple[ModelOutput, Callable]:
        if not isinstance(wordpieces.input_ids, numpy.ndarray) or not cpu_has_bfloat16():
            return forward(model, wordpieces, is_train)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output, backprop = forward(model, wordpieces, is_train)
        return _as_float32(output), backprop

    return forward_in_bfloat16


@lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU; warns once if not."""
    supported = _native_bfloat16()
    if not supported:
        warnings.warn(
            "cpu_bfloat16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); running in float32", stacklevel=2
        )
    return supported


def _native_bfloat16() -> bool:
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


def _take(wordpieces: WordpieceBatch, indices: numpy.ndarray) -> WordpieceBatch:
    """The sequences at `indices`, padded only to their own longest."""
    length = max(wordpieces.lengths[i] for i in indices)
    rows = get_array_module(wordpieces.input_ids).asarray(indices)
    token_type_ids = wordpieces.token_type_ids
    return WordpieceBatch(
        strings=[wordpieces.strings[i] for i in indices],
        input_ids=wordpieces.input_ids[rows, :length],
        attention_mask=wordpieces.attention_mask[rows, :length],
        lengths=[wordpieces.lengths[i] for i in indices],
        token_type_ids=None if token_type_ids is None else token_type_ids[rows, :length],
    )


def _slice(tensor: torch.Tensor, indices: numpy.ndarray, length: int) -> torch.Tensor:
    """One bucket's rows of a per-sequence tensor: (seqs, positions, ...) cut to `length` positions."""
    rows = tensor[torch.as_tensor(indices, device=tensor.device)]
    return rows[:, :length] if rows.dim() > 2 else rows


def _stitch(outputs: List[ModelOutput], buckets: List[numpy.ndarray], n_seqs: int, n_positions: int) -> ModelOutput:
    """The buckets' outputs in the batch's order and padded layout (zeros at padding)."""
    fields: Dict[str, Any] = {}
    for key, first in outputs[0].items():
        if isinstance(first, torch.Tensor):
            fields[key] = _stitch_tensors([out[key] for out in outputs], buckets, n_seqs, n_positions)
        elif isinstance(first, tuple) and all(isinstance(t, torch.Tensor) for t in first):
            parts = zip(*(out[key] for out in outputs))
            fields[key] = tuple(_stitch_tensors(list(part), buckets, n_seqs, n_positions) for part in parts)
        else:
            raise ValueError(f"Cannot run the transformer in length buckets: its output {key!r} is a {type(first)}")
    return type(outputs[0])(**fields)


def _stitch_tensors(
    tensors: List[torch.Tensor], buckets: List[numpy.ndarray], n_seqs: int, n_positions: int
) -> torch.Tensor:
    first = tensors[0]
    if first.dim() > 2 and any(t.shape[2:] != first.shape[2:] for t in tensors):
        raise ValueError("Cannot run the transformer in length buckets: an output's shape varies by bucket")
    shape = (n_seqs, n_positions, *first.shape[2:]) if first.dim() > 2 else (n_seqs, *first.shape[1:])
    stitched = first.new_zeros(shape)
    with torch.no_grad():
        for tensor, bucket in zip(tensors, buckets):
            rows = torch.as_tensor(bucket, device=first.device)
            if first.dim() > 2:
                stitched[rows, : tensor.shape[1]] = tensor.detach()
            else:
                stitched[rows] = tensor.detach()
    return stitched
