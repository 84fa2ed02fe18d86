"""Running a transformer in length buckets: the same outputs with less padding.

spacy-transformers pads every strided window of a batch to the longest one and runs them through
the transformer in one call. A Doc's last window is usually short, so a good share of the
wordpieces computed are padding. `InLengthBuckets` splits each call into buckets of windows of
similar length (fewest padded wordpieces, counting `bucket_overhead` wordpieces for each extra
call) and puts the buckets' outputs back in the batch's padded layout, so alignment, listeners
and serialization are untouched. Outputs at real wordpieces are those of the single call, up to
float rounding; padded positions hold zeros. To predict, `alignment.forward` takes the buckets'
outputs as they are (`predict_buckets`) and puts each Doc's together itself. docs/experiments.md has
the measurements.
"""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy
import torch
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model, get_array_module
from transformers.file_utils import ModelOutput

Forward = Callable[[Model, WordpieceBatch, bool], tuple[ModelOutput, Callable]]


def length_buckets(lengths: Sequence[int], bucket_overhead: int) -> list[numpy.ndarray]:
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


class InLengthBuckets:
    """The HF wrapper layer's forward, run as one call per length bucket with the outputs stitched
    back into the batch's padded layout. A class rather than a closure, so the model pickles."""

    int8_bucket_overhead: int | None = None  # for instances pickled before the setting

    def __init__(self, forward: Forward, bucket_overhead: int, int8_bucket_overhead: int | None = None) -> None:
        self.forward = forward
        self.bucket_overhead = bucket_overhead
        self.int8_bucket_overhead = int8_bucket_overhead

    def overhead(self, model: Model, is_train: bool) -> int:
        """The wordpieces an extra call counts as: `int8_bucket_overhead` where the wrapped forward
        predicts on ONNX Runtime's int8 graph (its calls cost less than torch's), else
        `bucket_overhead`."""
        predicts_in_int8 = getattr(self.forward, "predicts_in_int8", None)  # precision.InPrecision's
        if is_train or self.int8_bucket_overhead is None or predicts_in_int8 is None:
            return self.bucket_overhead
        return self.int8_bucket_overhead if predicts_in_int8(model) else self.bucket_overhead

    def calls_context(self, model: Model, is_train: bool) -> Any:
        """The wrapped forward's context for a batch's bucket calls (precision.InPrecision's: one
        bfloat16 autocast for them all), else none."""
        calls_context = getattr(self.forward, "calls_context", None)
        return contextlib.nullcontext() if calls_context is None else calls_context(model, is_train)

    def __call__(self, model: Model, wordpieces: WordpieceBatch, is_train: bool) -> tuple[ModelOutput, Callable]:
        lengths = sequence_lengths(wordpieces)
        buckets = length_buckets(lengths, self.overhead(model, is_train))
        if len(buckets) <= 1:
            return self.forward(model, wordpieces, is_train)
        with self.calls_context(model, is_train):
            calls = [self.forward(model, _take(wordpieces, bucket, lengths), is_train) for bucket in buckets]
        n_seqs, n_positions = wordpieces.input_ids.shape
        output = stitch_outputs([out for out, _ in calls], buckets, n_seqs, n_positions)

        def backprop(d_output: ModelOutput) -> Any:
            d_inputs = None
            for bucket, (out, bp_bucket) in zip(buckets, calls):
                length = out.last_hidden_state.shape[1]
                d_inputs = bp_bucket(ModelOutput({key: _slice(d, bucket, length) for key, d in d_output.items()}))
            return d_inputs

        return output, backprop

    def predict_buckets(
        self, model: Model, wordpieces: WordpieceBatch
    ) -> tuple[list[numpy.ndarray], list[ModelOutput]]:
        """Prediction without the stitching: each bucket's sequence indices (into the batch) and its
        output, padded to the bucket's own longest sequence."""
        lengths = sequence_lengths(wordpieces)
        buckets = length_buckets(lengths, self.overhead(model, False))
        if len(buckets) <= 1:
            return [numpy.arange(len(wordpieces.lengths))], [self.forward(model, wordpieces, False)[0]]
        with self.calls_context(model, False):
            return buckets, [self.forward(model, _take(wordpieces, bucket, lengths), False)[0] for bucket in buckets]


def sequence_lengths(wordpieces: WordpieceBatch) -> list[int]:
    """Each sequence's length up to its last attended wordpiece. (spacy-transformers' `lengths`
    count the wordpieces that are not the pad token, too few where a text holds that token.)"""
    mask = wordpieces.attention_mask
    mask = numpy.asarray(mask.get() if hasattr(mask, "get") else mask) > 0  # .get(): a cupy array
    if mask.ndim != 2 or mask.shape[1] == 0:
        return [0] * len(mask)
    last = mask.shape[1] - numpy.argmax(mask[:, ::-1], axis=1)
    return numpy.where(mask.any(axis=1), last, 0).tolist()


def _take(wordpieces: WordpieceBatch, indices: numpy.ndarray, lengths: list[int]) -> WordpieceBatch:
    """The sequences at `indices`, padded only to their own longest (`lengths`: `sequence_lengths`)."""
    length = max(lengths[i] for i in indices)
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


def stitch_outputs(
    outputs: list[ModelOutput], buckets: list[numpy.ndarray], n_seqs: int, n_positions: int
) -> ModelOutput:
    """The buckets' outputs in the batch's order and padded layout (zeros at padding)."""
    fields: dict[str, Any] = {}
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
    tensors: list[torch.Tensor], buckets: list[numpy.ndarray], n_seqs: int, n_positions: int
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
