"""Token-to-wordpiece alignment from a fast tokenizer's offset mapping, in a few numpy operations.

spacy-transformers' `get_alignment_via_offset_mapping` builds the same alignment with a Python set
per token and loops over every token of every span: 0.14 s of a pass over CoNLL eng.testa
(51k words, strided windows) against 0.04 s here (docs/experiments.md, S12). `offset_alignment` returns the
same Ragged, value for value: for each token of the batch's Docs (in order of first appearance),
the sorted indices, into the batch's flattened padded wordpieces, of the wordpieces whose character
range touches the token (its characters or the one character after it, as spacy-transformers
counts them).

`forward` is TransformerModel.v3's forward with this alignment in place of spacy-transformers'.
It returns a `DocSplitBatch`, which splits its output per Doc (`doc._.trf_data`) from the Docs'
lengths instead of a dict of every Token (spacy-transformers' `get_token_positions`). To predict,
it returns a `BucketedBatch`: each Doc's output put together from the length buckets' outputs,
padded to the Doc's own longest window, without first stitching the whole batch into one padded
layout (a copy of every padded position of the batch).
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy
import torch
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment
from spacy_transformers.data_classes import FullTransformerBatch, TransformerData, WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from spacy_transformers.util import log_batch_size, log_gpu_memory, maybe_flush_pytorch_cache
from thinc.api import Model, get_array_module, torch2xp
from thinc.types import Ragged
from transformers import BatchEncoding, PreTrainedTokenizerFast
from transformers.file_utils import ModelOutput

from .length_buckets import InLengthBuckets, sequence_lengths, stitch_outputs


def offset_alignment(spans: Sequence[Span], offset_mapping: numpy.ndarray) -> Ragged:
    """The alignment of every token of the spans' Docs to the wordpieces whose (start, end)
    character offsets, relative to each span's text, are `offset_mapping` ([n_spans, length, 2],
    padded as the batch's wordpieces). Tokens outside every span get no wordpieces."""
    offsets = numpy.asarray(offset_mapping, dtype="int64")
    if len(spans) != len(offsets):
        raise ValueError(f"Cannot align {len(spans)} spans with {len(offsets)} rows of offsets.")
    docs = _unique_docs(spans)
    doc_index = {id(doc): i for i, doc in enumerate(docs)}
    n_tokens = numpy.array([len(doc) for doc in docs], dtype="int64")
    first_token = numpy.concatenate([[0], numpy.cumsum(n_tokens)])
    char_base = numpy.concatenate([[0], numpy.cumsum([len(doc.text) + 1 for doc in docs])])
    char_to_token = _char_to_token(docs, first_token, char_base)
    n_positions = int(first_token[-1])
    if not spans or offsets.size == 0:
        return _ragged(numpy.zeros(0, dtype="int64"), numpy.zeros(n_positions, dtype="int64"))
    n_wordpieces = offsets.shape[0] * offsets.shape[1]
    # Each span's offsets, moved to characters of the batch: its Doc's base plus its text's start.
    span_start = numpy.array(
        [char_base[doc_index[id(span.doc)]] + (span.doc[span.start].idx if len(span) else 0) for span in spans],
        dtype="int64",
    )
    starts = (offsets[:, :, 0] + span_start[:, None]).ravel()
    sizes = numpy.maximum(offsets[:, :, 1] - offsets[:, :, 0], 0).ravel()
    # One row per character of each wordpiece: the token there and the wordpiece's flat index.
    wordpiece = numpy.repeat(numpy.arange(n_wordpieces, dtype="int64"), sizes)
    within = numpy.arange(len(wordpiece), dtype="int64") - numpy.repeat(numpy.cumsum(sizes) - sizes, sizes)
    token = char_to_token[numpy.repeat(starts, sizes) + within]
    keep = token >= 0
    pairs = numpy.unique(token[keep] * n_wordpieces + wordpiece[keep])
    token, wordpiece = numpy.divmod(pairs, n_wordpieces)
    return _ragged(wordpiece, numpy.bincount(token, minlength=n_positions))


def tokenize(tokenizer: Any, texts: list[str]) -> BatchEncoding:
    """spacy-transformers' `huggingface_tokenize`, the wordpiece strings of a fast tokenizer read
    from its encodings instead of converted back from the ids one text at a time (the same strings)."""
    encodings = None
    if isinstance(tokenizer, PreTrainedTokenizerFast):
        batch_encoding = tokenizer(
            texts,
            add_special_tokens=True,
            return_attention_mask=True,
            return_offsets_mapping=True,
            return_tensors="np",
            return_token_type_ids=None,
            padding="longest",
        )
        encodings = batch_encoding.encodings
    if encodings is None:
        return huggingface_tokenize(tokenizer, texts)
    strings = [encoding.tokens for encoding in encodings]
    # an unknown piece keeps its own text in a Unigram model's encoding; spacy-transformers' strings
    # hold the unknown token there
    unk_id, input_ids = tokenizer.unk_token_id, batch_encoding["input_ids"]
    if unk_id is not None:
        for row in numpy.flatnonzero((input_ids == unk_id).any(axis=1)):
            strings[row] = [tokenizer.unk_token if i == unk_id else s for i, s in zip(input_ids[row], strings[row])]
    batch_encoding["input_texts"] = strings
    batch_encoding["pad_token"] = tokenizer.pad_token
    return batch_encoding


def forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[FullTransformerBatch, Callable]:
    """spacy-transformers' TransformerModel forward (version 1.4), aligning with `offset_alignment`
    when the tokenizer gives offsets and with spacy-transformers' own alignment otherwise."""
    tokenizer = model.tokenizer
    transformer = model.layers[0]
    logger = model.attrs.get("logger")  # spacy-transformers' `set_logger`, for debugging GPU memory
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    maybe_flush_pytorch_cache(chance=model.attrs.get("flush_cache_chance", 0))
    if logger:
        log_gpu_memory(logger, "begin forward")
    batch_encoding = tokenize(tokenizer, [span.text for span in flat_spans])
    wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
    if logger:
        log_batch_size(logger, batch_encoding, is_train)
    if "offset_mapping" in batch_encoding:
        align = offset_alignment(flat_spans, batch_encoding["offset_mapping"])
    else:
        align = get_alignment(flat_spans, wordpieces.strings, tokenizer.all_special_tokens)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    if not is_train and isinstance(transformer._func, InLengthBuckets):
        buckets, bucket_outputs = transformer._func.predict_buckets(transformer, wordpieces)
        output: DocSplitBatch = BucketedBatch(nested_spans, wordpieces, align, buckets, bucket_outputs)
        if not all(_gathers_per_doc(out) for out in bucket_outputs):  # e.g. attentions: the padded layout
            output = DocSplitBatch(nested_spans, wordpieces, output.model_output, align)
        bp_tensors = _no_backprop
    else:
        model_output, bp_tensors = transformer(wordpieces, is_train)
        output = DocSplitBatch(spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align)
    if logger:
        log_gpu_memory(logger, "after forward")

    def backprop_transformer(d_output: FullTransformerBatch) -> list[Doc]:
        if logger:
            log_gpu_memory(logger, "Begin backprop")
        bp_tensors(d_output.model_output)
        if logger:
            log_gpu_memory(logger, "After backprop")
        return docs

    return output, backprop_transformer


def _no_backprop(_: FullTransformerBatch) -> None:
    raise ValueError("the transformer ran to predict (is_train=False): there is no backward pass")


class DocSplitBatch(FullTransformerBatch):
    """A FullTransformerBatch whose `split_by_doc` finds each Doc's tokens from the Docs' lengths
    (batch positions in order of first appearance, as `offset_alignment` counts them); the same
    TransformerData, value for value, as spacy-transformers' split."""

    def split_by_doc(self) -> list[TransformerData]:
        doc_data = self._doc_data()
        return [
            TransformerData.empty() if doc_align is None else doc_data(start, end, doc_align)
            for start, end, doc_align in self._doc_windows()
        ]

    def _doc_windows(self) -> Iterator[tuple[int, int, Ragged | None]]:
        """For each Doc, the range of its windows in the batch and its tokens' rows of the
        alignment (None for a Doc without windows, which spacy-transformers skips the same way)."""
        first_token: dict[int, int] = {}  # id(doc) -> batch position of its first token
        n_tokens = 0
        for doc in _unique_docs([span for doc_spans in self.spans for span in doc_spans]):
            first_token[id(doc)], n_tokens = n_tokens, n_tokens + len(doc)
        start = 0
        for doc_spans in self.spans:
            if len(doc_spans) == 0 or len(doc_spans[0]) == 0:
                yield start, start, None
                continue
            first, last = doc_spans[0][0], doc_spans[-1][-1]  # as spacy-transformers indexes them
            end = start + len(doc_spans)
            yield start, end, self.align[first_token[id(first.doc)] + first.i : first_token[id(last.doc)] + last.i + 1]
            start = end

    def _doc_data(self) -> Callable[[int, int, Ragged], TransformerData]:
        """A Doc's TransformerData from its windows (start:end) and alignment: the windows' rows of
        the batch's padded layout, the alignment moved to them."""
        output_arrays = _xp_outputs(self.model_output)
        n_positions = self.wordpieces.input_ids.shape[1]

        def doc_data(start: int, end: int, doc_align: Ragged) -> TransformerData:
            doc_align.data = doc_align.data - start * n_positions
            model_output = ModelOutput()
            for key, output in output_arrays.items():
                model_output[key] = [t[start:end] for t in output] if isinstance(output, list) else output[start:end]
            return TransformerData(wordpieces=self.wordpieces[start:end], model_output=model_output, align=doc_align)

        return doc_data


class BucketedBatch(DocSplitBatch):
    """The batch as predicted in length buckets, without the stitching into one padded layout:
    each Doc's TransformerData is put together from the buckets' outputs, padded only to the Doc's
    own longest window (its windows' rows of the batch's padded layout, cut to that length; the
    alignment indexes that layout). `model_output`, the whole batch in the padded layout, is
    stitched only if something reads it."""

    def __init__(
        self,
        spans: list[list[Span]],
        wordpieces: WordpieceBatch,
        align: Ragged,
        buckets: list[numpy.ndarray],
        bucket_outputs: list[ModelOutput],
    ) -> None:
        self._buckets, self._bucket_outputs, self._stitched = buckets, bucket_outputs, None
        super().__init__(spans=spans, wordpieces=wordpieces, model_output=None, align=align)

    @property
    def model_output(self) -> ModelOutput:
        if self._stitched is None and len(self._bucket_outputs) == 1:  # the batch in one call
            self._stitched = self._bucket_outputs[0]
        elif self._stitched is None:
            n_seqs, n_positions = self.wordpieces.input_ids.shape
            self._stitched = stitch_outputs(self._bucket_outputs, self._buckets, n_seqs, n_positions)
        return self._stitched

    @model_output.setter
    def model_output(self, value: ModelOutput | None) -> None:
        self._stitched = value

    def _doc_data(self) -> Callable[[int, int, Ragged], TransformerData]:
        """A Doc's TransformerData gathered from the buckets' outputs: its windows padded to the
        longest of them, the alignment moved to that layout."""
        bucket_arrays = [_xp_outputs(output) for output in self._bucket_outputs]
        n_seqs, n_positions = self.wordpieces.input_ids.shape
        lengths = sequence_lengths(self.wordpieces)
        bucket_of, row_of = numpy.zeros(n_seqs, dtype="int64"), numpy.zeros(n_seqs, dtype="int64")
        for i, bucket in enumerate(self._buckets):
            bucket_of[bucket], row_of[bucket] = i, numpy.arange(len(bucket))

        def doc_data(start: int, end: int, doc_align: Ragged) -> TransformerData:
            length = max(lengths[start:end])
            window, position = numpy.divmod(doc_align.data, n_positions)
            doc_align.data = ((window - start) * length + position).astype(doc_align.data.dtype)
            rows = list(zip(bucket_of[start:end].tolist(), row_of[start:end].tolist()))
            model_output = ModelOutput()
            for key, first in bucket_arrays[0].items():
                if isinstance(first, list):
                    parts = ([arrays[key][i] for arrays in bucket_arrays] for i in range(len(first)))
                    model_output[key] = [_gather_rows(part, rows, length) for part in parts]
                else:
                    model_output[key] = _gather_rows([arrays[key] for arrays in bucket_arrays], rows, length)
            wordpieces = _cut_wordpieces(self.wordpieces[start:end], length)
            return TransformerData(wordpieces=wordpieces, model_output=model_output, align=doc_align)

        return doc_data


def _gathers_per_doc(output: ModelOutput) -> bool:
    """Whether each of the output's tensors is per position (sequences x positions x width) or
    per sequence (sequences x width), as `BucketedBatch` gathers them."""
    tensors = [t for value in output.values() for t in (value if isinstance(value, tuple) else (value,))]
    return all(not isinstance(t, torch.Tensor) or t.dim() <= 3 for t in tensors)


def _gather_rows(bucket_arrays: list, rows: list[tuple[int, int]], length: int):
    """(bucket, row) of each window stacked: per-sequence arrays with positions cut or padded
    with zeros to `length`, or per-sequence vectors."""
    first = bucket_arrays[0]
    if first.ndim <= 2:
        return get_array_module(first).stack([bucket_arrays[b][r] for b, r in rows])
    gathered = get_array_module(first).zeros((len(rows), length, *first.shape[2:]), dtype=first.dtype)
    for i, (b, r) in enumerate(rows):
        source = bucket_arrays[b][r, :length]
        gathered[i, : source.shape[0]] = source
    return gathered


def _cut_wordpieces(wordpieces: WordpieceBatch, length: int) -> WordpieceBatch:
    token_type_ids = wordpieces.token_type_ids
    return WordpieceBatch(
        strings=[strings[:length] for strings in wordpieces.strings],
        input_ids=wordpieces.input_ids[:, :length],
        attention_mask=wordpieces.attention_mask[:, :length],
        lengths=list(wordpieces.lengths),
        token_type_ids=None if token_type_ids is None else token_type_ids[:, :length],
    )


def _xp_outputs(model_output: ModelOutput) -> ModelOutput:
    """The batch's tensors (and tuples of per-sequence tensors) as arrays, as spacy-transformers'
    `split_by_doc` converts them."""
    last_hidden_state = model_output.last_hidden_state
    arrays = ModelOutput()
    for key, output in model_output.items():
        if isinstance(output, torch.Tensor):
            arrays[key] = torch2xp(output)
        elif isinstance(output, tuple) and all(
            isinstance(t, torch.Tensor) and t.shape[0] == last_hidden_state.shape[0] for t in output
        ):
            arrays[key] = [torch2xp(t) for t in output]
    return arrays


def _unique_docs(spans: Sequence[Span]) -> list[Doc]:
    """The spans' Docs, each once, in order of first appearance (a Doc counted by identity)."""
    seen: dict[int, Doc] = {}
    for span in spans:
        seen.setdefault(id(span.doc), span.doc)
    return list(seen.values())


def _char_to_token(docs: Sequence[Doc], first_token: numpy.ndarray, char_base: numpy.ndarray) -> numpy.ndarray:
    """For each character of the batch (each Doc's text and one more), the batch position of the
    token there, else -1. The character just after a token counts as the token's unless another
    token starts there, as in spacy-transformers' `get_span2wp_from_offset_mapping`."""
    char_to_token = numpy.full(int(char_base[-1]), -1, dtype="int64")
    for i, doc in enumerate(docs):
        if not len(doc):
            continue
        idx_length = doc.to_array([IDX, LENGTH]).astype("int64")
        idx, length = idx_length[:, 0] + char_base[i], idx_length[:, 1]
        position = numpy.arange(len(doc), dtype="int64") + first_token[i]
        char_to_token[idx + length] = position  # the character after each token first ...
        within = numpy.arange(int(length.sum()), dtype="int64") - numpy.repeat(numpy.cumsum(length) - length, length)
        char_to_token[numpy.repeat(idx, length) + within] = numpy.repeat(position, length)  # ... then its own
    return char_to_token


def _ragged(data: numpy.ndarray, lengths: numpy.ndarray) -> Ragged:
    return Ragged(numpy.ascontiguousarray(data, dtype="i"), numpy.ascontiguousarray(lengths, dtype="i"))
