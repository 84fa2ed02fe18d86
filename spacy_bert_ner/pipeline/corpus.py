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

`oversample` repeats, in every epoch, the examples (after cutting) that hold an entity of a rare
type: with `{"art": 3, "nat": 3}` a chunk holding an `art` entity is read three times. spaCy's
training loop shuffles the examples each epoch, so the copies do not arrive together.

    [corpora.train.oversample]
    art = 3
    eve = 3
    nat = 3

`sentence_starts = true` gives each predicted Doc its gold sentence boundaries, as a pipeline
sees them at inference when it gets sentences (a `sentencizer` in front, or Docs made with
them): with `spacy_bert_ner.sentence_spans.v1` the transformer then trains on the same
sentence-packed windows it will run on. By default the predicted Doc has tokens only.
"""

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import registry

from .chunking import chunk_spans
from .chunking import sentence_starts as gold_sentence_starts


@registry.readers("spacy_bert_ner.ChunkedCorpus.v1")
def create_chunked_corpus(
    path: str | Path | None,
    max_doc_tokens: int = 256,
    gold_preproc: bool = False,
    limit: int = 0,
    augmenter: Callable | None = None,
    oversample: Mapping[str, int] | None = None,
    sentence_starts: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """Examples of `spacy.Corpus.v1` (same arguments, less `max_length`), each Doc over
    `max_doc_tokens` tokens cut into sentence-packed chunks; 0 cuts nothing. `oversample` maps
    an entity label to how many times an example holding it is read (1 = once).
    `sentence_starts` copies the gold sentence boundaries onto the predicted Docs."""
    if max_doc_tokens < 0:
        raise ValueError(f"max_doc_tokens must be 0 (no limit) or positive, got {max_doc_tokens}")
    repeats = dict(oversample or {})
    for label, times in repeats.items():
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"oversample[{label!r}] must be a whole number of times >= 1, got {times!r}")
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=0, limit=limit, augmenter=augmenter)

    unmatched = set(repeats)  # oversampled labels no entity has had yet, warned about once

    def read(nlp: Language) -> Iterator[Example]:
        for example in corpus(nlp):
            for chunk in split_example(nlp, example, max_doc_tokens):
                if sentence_starts:
                    chunk = with_gold_sentences(nlp, chunk)
                unmatched.difference_update(ent.label_ for ent in chunk.reference.ents)
                for _ in range(times_read(chunk, repeats)):
                    yield chunk
        if unmatched:
            labels = sorted(unmatched)
            warnings.warn(f"oversample: no entity in {path} has the label(s) {labels} (case-sensitive)", stacklevel=2)
            unmatched.clear()

    return read


def times_read(example: Example, repeats: Mapping[str, int]) -> int:
    """How many times to read an example: the largest repeat among the labels of its gold entities."""
    if not repeats:
        return 1
    return max((repeats.get(ent.label_, 1) for ent in example.reference.ents), default=1)


def with_gold_sentences(nlp: Language, example: Example) -> Example:
    """The example with the gold sentence boundaries on its predicted Doc (same tokens; where
    they differ from the gold's, a token starts a sentence if its first gold token does).
    Unchanged where the gold has no sentences."""
    reference, predicted = example.reference, example.predicted
    if not reference.has_annotation("SENT_START"):
        return example
    gold_starts = [bool(token.is_sent_start) for token in reference]
    x2y = example.alignment.x2y
    starts, previous = [], -1  # previous: the first gold token of the last predicted token
    for i in range(len(predicted)):
        first = int(x2y[i][0]) if len(x2y[i]) else previous
        starts.append(i == 0 or (first != previous and gold_starts[first]))
        previous = first
    words = [token.text for token in predicted]
    spaces = [bool(token.whitespace_) for token in predicted]
    return Example(Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=starts), reference)


def split_example(nlp: Language, example: Example, max_doc_tokens: int) -> Iterator[Example]:
    """The example itself if it is short enough, else one example per chunk of its reference,
    each predicted Doc built on the chunk's gold tokens."""
    reference = example.reference
    if max_doc_tokens == 0 or len(reference) <= max_doc_tokens:
        yield example
        return
    counts = numpy.ones(len(reference), dtype="int64")
    for start, end in chunk_spans(counts, gold_sentence_starts(reference), max_doc_tokens):
        chunk = reference[start:end].as_doc()
        words = [token.text for token in chunk]
        spaces = [bool(token.whitespace_) for token in chunk]
        yield Example(Doc(nlp.vocab, words=words, spaces=spaces), chunk)
