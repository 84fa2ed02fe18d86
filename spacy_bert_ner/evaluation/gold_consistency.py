"""Errors against gold that disagrees with itself: how the same words are labelled elsewhere.

Corpora annotated partly by machine (the Kaggle/GMB corpus is the known case) label the same
words two ways: `U.S.` as geo in one sentence and gpe or org in the next, `Monday` as tim or O.
A prediction that matches how the gold labels the same words everywhere else is not the
model's error in the usual sense. For every entity error (a gold span with no equal predicted
span, or a predicted span with no equal gold span) this module counts how the gold labels
the same token sequence at its other occurrences in the same corpus: as an entity of a type
(exactly that span), or O (no gold entity touches it); occurrences inside a longer or
overlapping entity are left out.

An error is *disputed* when the model's answer for the span (the predicted label, or O for a
missed entity) is what the gold says elsewhere at least as often as it says the gold's answer
here, and the error is not one of boundaries (an entity of the other side overlapping the span
with other bounds: `[New York]` predicted inside the gold `[New York City]` is the model's
error however the gold labels `New York` elsewhere). That is a pointer for a person to check,
not a verdict.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from spacy.tokens import Doc

from ..pipeline.decoding import OUTSIDE
from .metrics import EntSpan, doc_spans

Words = tuple[str, ...]


@dataclass(frozen=True)
class SpanError:
    """One side of an entity error, with how the gold labels the same words elsewhere."""

    doc: int
    start: int
    end: int
    text: str
    gold: str  # the gold label of exactly this span, or O
    predicted: str  # the predicted label of exactly this span, or O
    elsewhere: dict[str, int]  # gold labels of the same words at their other occurrences
    sentence: str
    boundary: bool = False  # the side that is O here has an entity overlapping the span

    @property
    def disputed(self) -> bool:
        if self.boundary:
            return False
        agreeing = self.elsewhere.get(self.predicted, 0)
        return agreeing > 0 and agreeing >= self.elsewhere.get(self.gold, 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "disputed": self.disputed}


def span_errors(gold_docs: Sequence[Doc], pred_docs: Sequence[Doc]) -> list[SpanError]:
    """Every span where gold and prediction differ (a boundary error gives two), in corpus order."""
    gold_spans = [doc_spans(doc) for doc in gold_docs]
    pred_spans = [doc_spans(doc) for doc in pred_docs]
    raw: list[tuple[int, int, int, str, str, bool]] = []
    for i, (gold, pred) in enumerate(zip(gold_spans, pred_spans)):
        gold_by_bounds = {(s, e): label for s, e, label in gold}
        pred_by_bounds = {(s, e): label for s, e, label in pred}
        for s, e in sorted(set(gold_by_bounds) | set(pred_by_bounds)):
            gold_label = gold_by_bounds.get((s, e), OUTSIDE)
            pred_label = pred_by_bounds.get((s, e), OUTSIDE)
            if gold_label != pred_label:
                other_side = gold_by_bounds if gold_label == OUTSIDE else pred_by_bounds
                boundary = (gold_label == OUTSIDE or pred_label == OUTSIDE) and _overlaps(other_side, s, e)
                raw.append((i, s, e, gold_label, pred_label, boundary))
    words_of = {(i, s, e): _words(gold_docs[i], s, e) for i, s, e, *_ in raw}
    occurrences = gold_labels_of(gold_docs, gold_spans, set(words_of.values()))
    errors = []
    for i, s, e, gold_label, pred_label, boundary in raw:
        words = words_of[(i, s, e)]
        here = {(i, s)}
        elsewhere = Counter({label: len(places - here) for label, places in occurrences[words].items()})
        doc = gold_docs[i]
        errors.append(
            SpanError(
                doc=i,
                start=s,
                end=e,
                text=doc[s:e].text,
                gold=gold_label,
                predicted=pred_label,
                elsewhere={label: n for label, n in elsewhere.most_common() if n > 0},
                sentence=_sentence(doc, s, e),
                boundary=boundary,
            )
        )
    return errors


def gold_labels_of(
    docs: Sequence[Doc], spans: Sequence[set[EntSpan]], wanted: set[Words]
) -> dict[Words, dict[str, set[tuple[int, int]]]]:
    """For each wanted token sequence, its occurrences (doc, start) grouped by the gold label of
    exactly that span: an entity label, or O where no gold entity touches it."""
    by_first: dict[str, set[Words]] = defaultdict(set)
    for words in wanted:
        by_first[words[0]].add(words)
    found: dict[Words, dict[str, set[tuple[int, int]]]] = {words: defaultdict(set) for words in wanted}
    for i, doc in enumerate(docs):
        texts = [token.text for token in doc]
        label_at = {(s, e): label for s, e, label in spans[i]}
        in_entity = [False] * len(doc)
        for s, e, _ in spans[i]:
            in_entity[s:e] = [True] * (e - s)
        for start, text in enumerate(texts):
            for words in by_first.get(text, ()):
                end = start + len(words)
                if tuple(texts[start:end]) != words:
                    continue
                label = label_at.get((start, end))
                if label is None and not any(in_entity[start:end]):
                    label = OUTSIDE
                if label is not None:
                    found[words][label].add((i, start))
    return found


def summarize(errors: Sequence[SpanError]) -> dict:
    """Counts for the report: errors, disputed errors and their share, by kind of error."""
    disputed = [error for error in errors if error.disputed]
    by_pair = Counter(f"{error.gold} -> {error.predicted}" for error in disputed)
    return {
        "errors": len(errors),
        "disputed": len(disputed),
        "disputed_share": len(disputed) / len(errors) if errors else 0.0,
        "disputed_by_pair": dict(by_pair.most_common()),
    }


def _overlaps(spans_by_bounds: dict[tuple[int, int], str], start: int, end: int) -> bool:
    """Whether any of the spans overlaps start:end (with other bounds: equal ones are not in it)."""
    return any(s < end and start < e for s, e in spans_by_bounds)


def _words(doc: Doc, start: int, end: int) -> Words:
    return tuple(token.text for token in doc[start:end])


def _sentence(doc: Doc, start: int, end: int) -> str:
    """The sentence(s) holding the span, or the whole Doc when it has no sentence boundaries."""
    if not doc.has_annotation("SENT_START"):
        return doc.text
    first, last = doc[start].sent, doc[end - 1].sent
    return doc[first.start : last.end].text
