"""Corpus to token-classification features, the way the Hugging Face NER tutorial does it.

The example unit is the tutorial's, one sentence (`unit="sentence"`, the default), or one
Doc (`unit="doc"`, the spaCy pipeline's unit): a Doc longer than `max_length` wordpieces
(special tokens included) is then cut into consecutive chunks at sentence boundaries, packing
as many whole sentences per chunk as fit. Either way no token is truncated away: a single
sentence that does not fit on its own (or a Doc without sentence boundaries) is cut between
tokens. Only a single word longer than a whole chunk can still lose wordpieces to truncation;
if it loses its first one, it is predicted O.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..errors import InputError
from ..pipeline.chunking import chunk_spans, sentence_starts
from ..pipeline.decoding import OUTSIDE, doc_iob2_tags

# Example units: one sentence per example (the tutorial's), or one Doc cut into packed chunks.
UNITS = ("sentence", "doc")
# The label id cross-entropy ignores: subwords after the first, special tokens, padding.
IGNORE_INDEX = -100


class BaselineError(InputError):
    """Input the baseline cannot use; `str(err)` reads `path: problem`."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(path, None, problem)


@dataclass(frozen=True)
class Chunk:
    """Tokens `start:end` of `docs[doc]`, `n_pieces` wordpieces without special tokens."""

    doc: int
    start: int
    end: int
    n_pieces: int


def read_docs(path: str | Path, vocab: Vocab | None = None) -> list[Doc]:
    """Docs of a `.spacy` file, which must carry NER annotation (gold ents)."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(path, "corpus file not found")
    docs = list(DocBin().from_disk(path).get_docs(vocab or Vocab()))
    if not docs:
        raise BaselineError(path, "no Docs in the file")
    if not any(doc.has_annotation("ENT_IOB") for doc in docs):
        raise BaselineError(path, "no Doc has entity annotation (ent_iob_); expected gold NER Docs")
    return docs


def label_list(docs: Sequence[Doc]) -> list[str]:
    """The tags seen in the training data, sorted, with O first (the tutorial's label list)."""
    tags = {tag for doc in docs for tag in doc_iob2_tags(doc)}
    return [OUTSIDE] + sorted(tags - {OUTSIDE})


def budget(tokenizer, max_length: int, path: str | Path = "max_length") -> int:
    """Wordpieces left per chunk once the special tokens ([CLS] ... [SEP]) are added."""
    n = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if n < 1:
        raise BaselineError(path, f"max_length {max_length} leaves no room for any wordpiece")
    return n


def count_pieces(tokenizer, docs: Sequence[Doc]) -> list[numpy.ndarray]:
    """Wordpieces per token of each Doc (0 for a token the tokenizer drops, e.g. whitespace)."""
    words = [[t.text for t in doc] for doc in docs]
    encoding = tokenizer(words, is_split_into_words=True, add_special_tokens=False, verbose=False)
    counts = []
    for i, doc_words in enumerate(words):
        ids = [w for w in encoding.word_ids(i) if w is not None]
        counts.append(numpy.bincount(numpy.asarray(ids, dtype="int64"), minlength=len(doc_words)))
    return counts


def make_chunks(docs: Sequence[Doc], tokenizer, max_length: int, unit: str = "sentence") -> list[Chunk]:
    """Every token of every Doc in exactly one chunk, in Doc order; empty Docs give none.
    `unit` is "sentence" (a chunk per sentence) or "doc" (sentences packed up to max_length)."""
    if unit not in UNITS:
        raise BaselineError("unit", f"must be one of {', '.join(UNITS)}, got {unit!r}")
    limit = budget(tokenizer, max_length)
    chunks = []
    for i, (doc, counts) in enumerate(zip(docs, count_pieces(tokenizer, docs))):
        for start, end in chunk_spans(counts, sentence_starts(doc), limit, pack=unit == "doc"):
            chunks.append(Chunk(i, start, end, int(counts[start:end].sum())))
    return chunks


def chunk_words(docs: Sequence[Doc], chunks: Sequence[Chunk]) -> list[list[str]]:
    return [[t.text for t in docs[c.doc][c.start : c.end]] for c in chunks]


def align_labels(word_ids: Sequence[int | None], tags: Sequence[str], label2id: dict[str, int]) -> list[int]:
    """The tutorial's alignment: a word's label on its first subword, -100 on the others and
    on special tokens. A tag missing from `label2id` (unseen in training) is ignored too."""
    labels = []
    previous = None
    for word_id in word_ids:
        if word_id is None or word_id == previous:
            labels.append(IGNORE_INDEX)
        else:
            labels.append(label2id.get(tags[word_id], IGNORE_INDEX))
        previous = word_id
    return labels


def encode_chunks(
    docs: Sequence[Doc],
    chunks: Sequence[Chunk],
    tokenizer,
    label2id: dict[str, int],
    max_length: int,
) -> list[dict[str, list[int]]]:
    """One unpadded feature dict per chunk (input_ids, attention_mask, ..., labels), ready for
    `DataCollatorForTokenClassification`."""
    encoding = tokenizer(chunk_words(docs, chunks), is_split_into_words=True, truncation=True, max_length=max_length)
    all_tags = [doc_iob2_tags(doc) for doc in docs]
    features = []
    for i, chunk in enumerate(chunks):
        feature = {key: values[i] for key, values in encoding.items()}
        tags = all_tags[chunk.doc][chunk.start : chunk.end]
        feature["labels"] = align_labels(encoding.word_ids(i), tags, label2id)
        features.append(feature)
    return features
