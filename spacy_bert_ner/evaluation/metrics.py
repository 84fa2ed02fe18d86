"""Entity- and token-level NER metrics, a confusion of entity matches, and the seqeval cross-check.

Everything here works on plain data, one item per document: entity spans as
`(start_token, end_token, label)` sets and IOB2 tag lists. `doc_spans` and
`doc_iob2_tags` turn Docs into that, so the same functions score hand-made cases in
the tests and a pipeline's predictions in the report.

Matching is strict, as in CoNLL and seqeval's `mode="strict"`: a predicted entity
is correct only if its start, end and label all equal a gold entity's.
"""

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from spacy.tokens import Doc

from ..pipeline.decoding import OUTSIDE, doc_iob2_tags

EntSpan = tuple[int, int, str]
"""An entity as (first token, end token exclusive, label)."""

MISSED = "missed"
SPURIOUS = "spurious"
SEQEVAL_TOLERANCE = 1e-9


def doc_spans(doc: Doc) -> set[EntSpan]:
    return {(ent.start, ent.end, ent.label_) for ent in doc.ents}


@dataclass(frozen=True)
class Counts:
    """Strict entity matches of one type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def predicted(self) -> int:
        return self.tp + self.fp

    @property
    def support(self) -> int:
        return self.tp + self.fn


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int


def _divide(numerator: float, denominator: float) -> float:
    """Undefined ratios (no predictions, no gold) are 0, as seqeval's zero_division=0."""
    return numerator / denominator if denominator else 0.0


def prf(counts: Counts) -> Scores:
    precision = _divide(counts.tp, counts.predicted)
    recall = _divide(counts.tp, counts.support)
    f1 = _divide(2 * precision * recall, precision + recall)
    return Scores(precision, recall, f1, counts.support)


def count_entities(gold: Sequence[set[EntSpan]], pred: Sequence[set[EntSpan]]) -> dict[str, Counts]:
    """TP/FP/FN per label, over every label seen in gold or predictions (sorted)."""
    _check_same_length(gold, pred)
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for gold_spans, pred_spans in zip(gold, pred):
        tp.update(label for _, _, label in gold_spans & pred_spans)
        fp.update(label for _, _, label in pred_spans - gold_spans)
        fn.update(label for _, _, label in gold_spans - pred_spans)
    labels = sorted(set(tp) | set(fp) | set(fn))
    return {label: Counts(tp[label], fp[label], fn[label]) for label in labels}


def micro_average(counts: dict[str, Counts]) -> Scores:
    """P/R/F1 of the pooled counts of all types."""
    total = Counts(*(sum(getattr(c, name) for c in counts.values()) for name in ("tp", "fp", "fn")))
    return prf(total)


def macro_average(scores: dict[str, Scores]) -> Scores:
    """Unweighted mean of the per-type P, R and F1 (F1 is the mean of F1s, as in seqeval/sklearn)."""
    n = len(scores)
    support = sum(s.support for s in scores.values())
    if not n:
        return Scores(0.0, 0.0, 0.0, support)
    return Scores(
        sum(s.precision for s in scores.values()) / n,
        sum(s.recall for s in scores.values()) / n,
        sum(s.f1 for s in scores.values()) / n,
        support,
    )


def weighted_average(scores: dict[str, Scores]) -> Scores:
    """Per-type P, R and F1 averaged with weights = gold support."""
    support = sum(s.support for s in scores.values())
    return Scores(
        _divide(sum(s.precision * s.support for s in scores.values()), support),
        _divide(sum(s.recall * s.support for s in scores.values()), support),
        _divide(sum(s.f1 * s.support for s in scores.values()), support),
        support,
    )


@dataclass(frozen=True)
class TokenAccuracy:
    """Two token accuracies of the IOB2 tags (B-X, I-X, O; type included).

    accuracy: over all tokens. entity_accuracy: over the tokens inside a gold or a
    predicted entity only, so tokens that are O in both cannot inflate it; None if
    there are no such tokens.
    """

    accuracy: float
    correct: int
    tokens: int
    entity_accuracy: float | None
    entity_correct: int
    entity_tokens: int


def token_accuracy(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> TokenAccuracy:
    _check_same_length(gold_tags, pred_tags)
    correct = tokens = entity_correct = entity_tokens = 0
    for gold_seq, pred_seq in zip(gold_tags, pred_tags):
        _check_same_length(gold_seq, pred_seq, what="tags")
        for gold, pred in zip(gold_seq, pred_seq):
            tokens += 1
            correct += gold == pred
            if gold != OUTSIDE or pred != OUTSIDE:
                entity_tokens += 1
                entity_correct += gold == pred
    entity_accuracy = entity_correct / entity_tokens if entity_tokens else None
    return TokenAccuracy(_divide(correct, tokens), correct, tokens, entity_accuracy, entity_correct, entity_tokens)


@dataclass(frozen=True)
class Confusion:
    """Gold types (rows) against predicted types (columns) of entities with equal boundaries.

    counts has one row per label plus a last "spurious" row (predicted entity with
    no gold entity of the same boundaries) and one column per label plus a last
    "missed" column (gold entity with no predicted entity of the same boundaries).
    A boundary error is one missed plus one spurious; a label error with the right
    boundaries is one off-diagonal count.
    """

    labels: list[str]
    counts: list[list[int]]

    @property
    def rows(self) -> list[str]:
        return [*self.labels, SPURIOUS]

    @property
    def columns(self) -> list[str]:
        return [*self.labels, MISSED]

    def cell(self, gold: str, pred: str) -> int:
        return self.counts[self.rows.index(gold)][self.columns.index(pred)]

    @property
    def missed(self) -> int:
        return sum(row[-1] for row in self.counts)

    @property
    def spurious(self) -> int:
        return sum(self.counts[-1])

    @property
    def mislabelled(self) -> int:
        n = len(self.labels)
        return sum(self.counts[i][j] for i in range(n) for j in range(n) if i != j)

    @property
    def errors(self) -> int:
        """Entity errors, each counted once: missed + spurious + wrong label."""
        return self.missed + self.spurious + self.mislabelled

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": self.columns, "counts": self.counts}


def confusion(
    gold: Sequence[set[EntSpan]], pred: Sequence[set[EntSpan]], labels: Sequence[str] | None = None
) -> Confusion:
    _check_same_length(gold, pred)
    pairs: Counter = Counter()
    for gold_spans, pred_spans in zip(gold, pred):
        # Entities in a Doc do not overlap, so boundaries identify at most one of each side.
        gold_by_bounds = {(start, end): label for start, end, label in gold_spans}
        pred_by_bounds = {(start, end): label for start, end, label in pred_spans}
        for bounds, label in gold_by_bounds.items():
            pairs[label, pred_by_bounds.get(bounds, MISSED)] += 1
        for bounds, label in pred_by_bounds.items():
            if bounds not in gold_by_bounds:
                pairs[SPURIOUS, label] += 1
    seen = {label for pair in pairs for label in pair} - {MISSED, SPURIOUS}
    all_labels = sorted(seen | set(labels or ()))
    rows, columns = [*all_labels, SPURIOUS], [*all_labels, MISSED]
    return Confusion(all_labels, [[pairs[row, column] for column in columns] for row in rows])


@dataclass(frozen=True)
class SeqevalScores:
    """seqeval's strict IOB2 scores; micro_f1 from `f1_score`, the rest from `classification_report`."""

    micro_f1: float
    micro: Scores
    macro: Scores
    weighted: Scores
    per_type: dict[str, Scores] = field(default_factory=dict)


def seqeval_scores(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> SeqevalScores:
    """Score the IOB2 sequences with seqeval (mode="strict", scheme=IOB2, zero_division=0)."""
    from seqeval.metrics import classification_report, f1_score
    from seqeval.scheme import IOB2

    y_true, y_pred = [list(seq) for seq in gold_tags], [list(seq) for seq in pred_tags]
    options: dict[str, Any] = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning, empty means
        micro_f1 = float(f1_score(y_true, y_pred, average="micro", **options))
        report = classification_report(y_true, y_pred, output_dict=True, **options)

    def scores(row: dict[str, Any]) -> Scores:
        values = [float(row[key]) for key in ("precision", "recall", "f1-score")]
        return Scores(*[0.0 if value != value else value for value in values], int(row["support"]))  # nan -> 0

    averages = {"micro avg", "macro avg", "weighted avg"}
    return SeqevalScores(
        micro_f1=micro_f1,
        micro=scores(report["micro avg"]),
        macro=scores(report["macro avg"]),
        weighted=scores(report["weighted avg"]),
        per_type={label: scores(row) for label, row in report.items() if label not in averages},
    )


@dataclass(frozen=True)
class Evaluation:
    counts: dict[str, Counts]
    per_type: dict[str, Scores]
    micro: Scores
    macro: Scores
    weighted: Scores
    tokens: TokenAccuracy
    confusion: Confusion
    seqeval: SeqevalScores

    @property
    def labels(self) -> list[str]:
        return list(self.per_type)

    @property
    def seqeval_difference(self) -> float:
        return abs(self.micro.f1 - self.seqeval.micro_f1)

    @property
    def agrees_with_seqeval(self) -> bool:
        return self.seqeval_difference <= SEQEVAL_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        per_type = {
            label: {**asdict(self.per_type[label]), "tp": c.tp, "fp": c.fp, "fn": c.fn, "predicted": c.predicted}
            for label, c in self.counts.items()
        }
        return {
            "entities": {
                "matching": "strict: same start token, end token and label",
                "labels": self.labels,
                "per_type": per_type,
                "micro": asdict(self.micro),
                "macro": asdict(self.macro),
                "weighted": asdict(self.weighted),
                "gold": sum(c.support for c in self.counts.values()),
                "predicted": sum(c.predicted for c in self.counts.values()),
            },
            "tokens": asdict(self.tokens),
            "confusion": self.confusion.to_dict(),
            "seqeval": {
                "mode": "strict",
                "scheme": "IOB2",
                "sequences": "one per document",
                "micro_f1": self.seqeval.micro_f1,
                "ours_micro_f1": self.micro.f1,
                "abs_difference": self.seqeval_difference,
                "agrees": self.agrees_with_seqeval,
                "micro": asdict(self.seqeval.micro),
                "macro": asdict(self.seqeval.macro),
                "weighted": asdict(self.seqeval.weighted),
                "per_type": {label: asdict(scores) for label, scores in self.seqeval.per_type.items()},
            },
        }


def evaluate(
    gold_spans: Sequence[set[EntSpan]],
    pred_spans: Sequence[set[EntSpan]],
    gold_tags: Sequence[Sequence[str]],
    pred_tags: Sequence[Sequence[str]],
) -> Evaluation:
    counts = count_entities(gold_spans, pred_spans)
    per_type = {label: prf(c) for label, c in counts.items()}
    return Evaluation(
        counts=counts,
        per_type=per_type,
        micro=micro_average(counts),
        macro=macro_average(per_type),
        weighted=weighted_average(per_type),
        tokens=token_accuracy(gold_tags, pred_tags),
        confusion=confusion(gold_spans, pred_spans, labels=list(counts)),
        seqeval=seqeval_scores(gold_tags, pred_tags),
    )


def evaluate_docs(gold_docs: Sequence[Doc], pred_docs: Sequence[Doc]) -> Evaluation:
    """Score predicted Docs against gold Docs of the same tokens (1:1, as the report predicts them)."""
    _check_same_length(gold_docs, pred_docs, what="documents")
    for i, (gold, pred) in enumerate(zip(gold_docs, pred_docs)):
        if [t.text for t in gold] != [t.text for t in pred]:
            raise ValueError(f"Document {i}: predicted tokens differ from the gold tokens")
    return evaluate(
        [doc_spans(doc) for doc in gold_docs],
        [doc_spans(doc) for doc in pred_docs],
        [doc_iob2_tags(doc) for doc in gold_docs],
        [doc_iob2_tags(doc) for doc in pred_docs],
    )


def _check_same_length(gold: Sequence[Any], pred: Sequence[Any], what: str = "documents") -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold {what} but {len(pred)} predicted")


def bootstrap_f1(
    gold: Sequence[set[EntSpan]], pred: Sequence[set[EntSpan]], samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """95% percentile intervals of the micro and per-type F1, resampling documents with replacement
    (`samples` times, seeded): how far the score could move on another draw of documents like these,
    so a gain on a type with few entities can be told from noise."""
    import numpy

    labels = list(count_entities(gold, pred))
    per_doc = numpy.zeros((len(gold), len(labels), 3))  # tp, fp, fn of each document and label
    index = {label: i for i, label in enumerate(labels)}
    for d, (gold_spans, pred_spans) in enumerate(zip(gold, pred)):
        for label, c in count_entities([gold_spans], [pred_spans]).items():
            per_doc[d, index[label]] = (c.tp, c.fp, c.fn)
    if not len(gold) or not labels:
        return {"samples": samples, "seed": seed, "micro": [0.0, 0.0], "per_type": {}}
    rng = numpy.random.default_rng(seed)
    weights = rng.multinomial(len(gold), numpy.full(len(gold), 1 / len(gold)), size=samples)
    totals = (weights @ per_doc.reshape(len(gold), -1)).reshape(samples, len(labels), 3)

    def f1(tp, fp, fn):
        return numpy.divide(2 * tp, 2 * tp + fp + fn, out=numpy.zeros_like(tp), where=(2 * tp + fp + fn) > 0)

    def interval(values) -> list[float]:
        return [float(numpy.percentile(values, 2.5)), float(numpy.percentile(values, 97.5))]

    micro = f1(*(totals.sum(axis=1)[:, k] for k in range(3)))
    per_type = {label: interval(f1(*(totals[:, i, k] for k in range(3)))) for label, i in index.items()}
    return {"samples": samples, "seed": seed, "micro": interval(micro), "per_type": per_type}
