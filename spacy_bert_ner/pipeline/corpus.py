"""`spacy_bert_ner.ChunkedCorpus.v1`: spaCy's Corpus, with long Docs cut at sentence boundaries.

The transformer sees a Doc as strided windows of 128 tokens, and an update runs forward and
backward over every window of a Doc at once: one long Doc makes one large step, and the
longest Doc in the corpus sets training's peak memory (news corpora hold Docs many times
their median length). Cutting Docs longer than `max_doc_tokens` into consecutive chunks of whole
sentences, packed up to that size, bounds the step and so the peak, while every chunk keeps
many sentences of context, more than a window holds. spaCy's own `max_length` instead drops
such Docs to single sentences (and skips sentences over the limit).

    [corpora.train]
    @readers = "spacy_bert_ner.ChunkedCorpus.v1"
    path = ${paths.train}
    max_doc_tokens = 256

Smaller chunks lower the peak further; docs/experiments.md has the measurements.
"""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import registry

from .chunking import chunk_spans, sentence_starts


@registry.readers("spacy_bert_ner.ChunkedCorpus.v1")
def create_chunked_corpus(
    path: str | Path | None,
    max_doc_tokens: int = 256,
    gold_preproc: bool = False,
    limit: int = 0,
    augmenter: Callable | None = None,
) -> Callable[[Language], Iterable[Example]]:
    """Examples of `spacy.Corpus.v1` (same arguments, less `max_length`), each Doc over
    `max_doc_tokens` tokens cut into sentence-packed chunks; 0 cuts nothing."""
    if max_doc_tokens < 0:
        raise ValueError(f"max_doc_tokens must be 0 (no limit) or positive, got {max_doc_tokens}")
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=0, limit=limit, augmenter=augmenter)

    def read(nlp: Language) -> Iterator[Example]:
        for example in corpus(nlp):
            yield from split_example(nlp, example, max_doc_tokens)

    return read


def split_example(nlp: Language, example: Example, max_doc_tokens: int) -> Iterator[Example]:
    """The example itself if it is short enough, else one example per chunk of its reference,
    each predicted Doc built on the chunk's gold tokens."""
    reference = example.reference
    if max_doc_tokens == 0 or len(reference) <= max_doc_tokens:
        yield example
        return
    counts = numpy.ones(len(reference), dtype="int64")
    for start, end in chunk_spans(counts, sentence_starts(reference), max_doc_tokens):
        chunk = reference[start:end].as_doc()
        words = [token.text for token in chunk]
        spaces = [bool(token.whitespace_) for token in chunk]
        yield Example(Doc(nlp.vocab, words=words, spaces=spaces), chunk)
