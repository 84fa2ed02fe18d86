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
lengths instead of a dict of every Token (spacy-transformers' `get_token_positions`).
"""

from collections.abc import Callable, Sequence

import numpy
import torch
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment
from spacy_transformers.data_classes import FullTransformerBatch, TransformerData, WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from spacy_transformers.util import log_batch_size, log_gpu_memory, maybe_flush_pytorch_cache
from thinc.api import Model, torch2xp
from thinc.types import Ragged
from transformers.file_utils import ModelOutput


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
    batch_encoding = huggingface_tokenize(tokenizer, [span.text for span in flat_spans])
    wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
    if logger:
        log_batch_size(logger, batch_encoding, is_train)
    if "offset_mapping" in batch_encoding:
        align = offset_alignment(flat_spans, batch_encoding["offset_mapping"])
    else:
        align = get_alignment(flat_spans, wordpieces.strings, tokenizer.all_special_tokens)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    model_output, bp_tensors = transformer(wordpieces, is_train)
    if logger:
        log_gpu_memory(logger, "after forward")
    output = DocSplitBatch(spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align)

    def backprop_transformer(d_output: FullTransformerBatch) -> list[Doc]:
        if logger:
            log_gpu_memory(logger, "Begin backprop")
        bp_tensors(d_output.model_output)
        if logger:
            log_gpu_memory(logger, "After backprop")
        return docs

    return output, backprop_transformer


class DocSplitBatch(FullTransformerBatch):
    """A FullTransformerBatch whose `split_by_doc` finds each Doc's tokens from the Docs' lengths
    (batch positions in order of first appearance, as `offset_alignment` counts them); the same
    TransformerData, value for value, as spacy-transformers' split."""

    def split_by_doc(self) -> list[TransformerData]:
        first_token: dict[int, int] = {}  # id(doc) -> batch position of its first token
        n_tokens = 0
        for doc in _unique_docs([span for doc_spans in self.spans for span in doc_spans]):
            first_token[id(doc)], n_tokens = n_tokens, n_tokens + len(doc)
        output_arrays = _xp_outputs(self.model_output)
        outputs = []
        start = prev_wordpieces = 0
        for doc_spans in self.spans:
            if len(doc_spans) == 0 or len(doc_spans[0]) == 0:
                outputs.append(TransformerData.empty())
                continue
            first, last = doc_spans[0][0], doc_spans[-1][-1]  # as spacy-transformers indexes them
            end = start + len(doc_spans)
            doc_wordpieces = self.wordpieces[start:end]
            doc_align = self.align[first_token[id(first.doc)] + first.i : first_token[id(last.doc)] + last.i + 1]
            doc_align.data = doc_align.data - prev_wordpieces
            model_output = ModelOutput()
            for key, output in output_arrays.items():
                model_output[key] = [t[start:end] for t in output] if isinstance(output, list) else output[start:end]
            outputs.append(TransformerData(wordpieces=doc_wordpieces, model_output=model_output, align=doc_align))
            prev_wordpieces += doc_wordpieces.input_ids.size
            start = end
        return outputs


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
