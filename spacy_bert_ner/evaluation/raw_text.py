"""Scoring on raw text, as applications call `nlp(text)`: the pipeline's own tokenizer, entities
compared by character offsets.

Each gold document is written back as plain text: its sentences on lines of their own, the tokens
of a sentence joined by their own whitespace (the converters record a space after every token,
as CoNLL-2003 and the Kaggle CSV do not say where the original had none). The gold
entities get their character offsets in that text; the pipeline's entities on `nlp(text)` are
matched to them exactly (start, end and label), so a boundary that the tokenizer or the model puts
elsewhere is one false positive and one false negative, as in the gold-token score.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spacy.tokens import Doc

CharSpan = tuple[int, int, int, str]  # document index, start, end, label


@dataclass
class RawTextScores:
    counts: dict[str, Counter] = field(default_factory=dict)  # label -> tp, gold, predicted

    def add(self, gold: set[CharSpan], predicted: set[CharSpan]) -> None:
        for span in gold | predicted:
            counter = self.counts.setdefault(span[3], Counter())
            counter["tp"] += span in gold and span in predicted
            counter["gold"] += span in gold
            counter["predicted"] += span in predicted

    def to_dict(self) -> dict[str, Any]:
        total = sum(self.counts.values(), Counter())
        return {
            "micro": _prf(total),
            "per_type": {label: _prf(counts) for label, counts in sorted(self.counts.items())},
        }


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


def gold_char_spans(index: int, doc: Doc, offsets: Sequence[int]) -> set[CharSpan]:
    return {(index, offsets[e.start], offsets[e.end - 1] + len(doc[e.end - 1]), e.label_) for e in doc.ents}


def predicted_char_spans(index: int, doc: Doc) -> set[CharSpan]:
    return {(index, e.start_char, e.end_char, e.label_) for e in doc.ents}


def score_raw_text(gold_docs: Sequence[Doc], predict_texts) -> tuple[dict[str, Any], list[str]]:
    """Scores of `predict_texts` (texts -> Docs) on the gold documents written as text, and the texts."""
    texts_offsets = [document_text(doc) for doc in gold_docs]
    texts = [text for text, _ in texts_offsets]
    scores = RawTextScores()
    for index, (gold, (_, offsets), predicted) in enumerate(zip(gold_docs, texts_offsets, predict_texts(texts))):
        scores.add(gold_char_spans(index, gold, offsets), predicted_char_spans(index, predicted))
    return scores.to_dict(), texts


def _prf(counts: Counter) -> dict[str, Any]:
    tp, gold, predicted = counts["tp"], counts["gold"], counts["predicted"]
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}
