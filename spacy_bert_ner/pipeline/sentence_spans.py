"""`spacy_bert_ner.sentence_spans.v1`: transformer windows of whole sentences, none computed twice.

spacy-transformers' `strided_spans.v1` cuts a Doc into windows of `window` tokens every
`stride`: with 128 every 96, a quarter of the wordpieces are computed twice, and windows start
and end mid-sentence. This span getter packs consecutive whole sentences into windows of at
most `window` tokens instead, so every token is computed once, with its whole sentence (and
its neighbours, as many as fit) as context. A sentence longer than `window` gets strided
windows of its own; a Doc without sentence boundaries (e.g. `nlp(text)` with no sentence
splitter in the pipeline) gets the strided windows of `strided_spans.v1`.

    [components.transformer.model.get_spans]
    @span_getters = "spacy_bert_ner.sentence_spans.v1"
    window = 128
    stride = 96
"""

from collections.abc import Callable, Iterable
from functools import partial

from spacy.tokens import Doc, Span
from spacy_transformers.util import registry  # spaCy's registry, with span_getters added

Spans = Callable[[Iterable[Doc]], list[list[Span]]]


@registry.span_getters("spacy_bert_ner.sentence_spans.v1")
def configure_sentence_spans(window: int = 128, stride: int = 96) -> Spans:
    """Windows of whole sentences packed up to `window` tokens; strided windows (`window` every
    `stride`) over a longer sentence, or over a Doc without sentence boundaries."""
    if window < 1 or not 0 < stride <= window:
        raise ValueError(f"sentence_spans needs window >= 1 and 0 < stride <= window, got {window} and {stride}")
    return partial(get_sentence_spans, window=window, stride=stride)


def get_sentence_spans(docs: Iterable[Doc], *, window: int, stride: int) -> list[list[Span]]:
    return [[doc[start:end] for start, end in sentence_windows(doc, window, stride)] for doc in docs]


def sentence_windows(doc: Doc, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) token ranges of a Doc's windows, in order."""
    if not doc.has_annotation("SENT_START"):
        return strided(0, len(doc), window, stride)
    ranges: list[tuple[int, int]] = []
    start = end = 0  # the window being packed: whole sentences start:end
    for sent in doc.sents:
        if sent.end - start > window and end > start:
            ranges.append((start, end))
            start = sent.start
        if len(sent) > window:
            ranges.extend(strided(sent.start, sent.end, window, stride))
            start = sent.end
        end = sent.end
    if end > start:
        ranges.append((start, end))
    return ranges


def strided(start: int, end: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Windows of `window` tokens every `stride` over start:end, the last one ending at `end`
    (like spacy-transformers' strided spans)."""
    ranges = []
    while start < end:
        ranges.append((start, min(start + window, end)))
        if start + window >= end:
            break
        start += stride
    return ranges
