"""Scoring on raw text, as applications call `nlp(text)`: the pipeline's own tokenizer, entities
compared by character offsets.

Each gold document is written back as plain text: its sentences on lines of their own, the tokens
of a sentence joined by their own whitespace (the converters record a space after every token,
as CoNLL-2003 and the Kaggle CSV do not say where the original had none). The gold
entities get their character offsets in that text; the pipeline's entities on `nlp(text)` are
matched to them exactly (start, end and label), so a boundary that the tokenizer or the model puts
elsewhere is one false positive and one false negative, as in the gold-token score.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from spacy.tokens import Doc

from .metrics import EntSpan, count_entities, micro_average, prf


def document_text(doc: Doc) -> tuple[str, list[int]]:
    """The document as text, sentences on their own lines, and each token's character offset."""
    sentences = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
    parts: list[str] = []
    offsets: list[int] = []
    position = 0
    for i, sentence in enumerate(sentences):
        if i:
            parts.append("\n")
            position += 1
        for j, token in enumerate(sentence):
            offsets.append(position)
            gap = "" if j == len(sentence) - 1 else token.whitespace_
            parts.append(token.text + gap)
            position += len(token.text) + len(gap)
    return "".join(parts), offsets


def gold_char_spans(doc: Doc, offsets: Sequence[int]) -> set[EntSpan]:
    """The gold entities as (start character, end character, label) in the document's text."""
    return {(offsets[e.start], offsets[e.end - 1] + len(doc[e.end - 1]), e.label_) for e in doc.ents}


def predicted_char_spans(doc: Doc) -> set[EntSpan]:
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def score_raw_text(
    gold_docs: Sequence[Doc], predict_texts: Callable[[list[str]], Sequence[Doc]]
) -> tuple[dict[str, Any], list[str]]:
    """Scores of `predict_texts` (texts -> Docs) on the gold documents written as text, and the
    texts; the same strict counting as on tokens (metrics.py), with character offsets for tokens."""
    texts_offsets = [document_text(doc) for doc in gold_docs]
    texts = [text for text, _ in texts_offsets]
    gold = [gold_char_spans(doc, offsets) for doc, (_, offsets) in zip(gold_docs, texts_offsets)]
    counts = count_entities(gold, [predicted_char_spans(doc) for doc in predict_texts(texts)])
    per_type = {label: asdict(prf(c)) for label, c in counts.items()}
    return {"micro": asdict(micro_average(counts)), "per_type": per_type}, texts
