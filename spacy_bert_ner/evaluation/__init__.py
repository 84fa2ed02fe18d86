"""The evaluation report: strict entity P/R/F per type, token accuracies, a confusion matrix
of entity matches, a seqeval cross-check, speed, and displaCy examples of the errors."""

from .metrics import Evaluation, evaluate, evaluate_docs
from .predictors import Predictor, ReportError, SpacyPredictor
from .report import ReportResult, score_rows, write_report

__all__ = [
    "Evaluation",
    "Predictor",
    "ReportError",
    "ReportResult",
    "SpacyPredictor",
    "evaluate",
    "evaluate_docs",
    "score_rows",
    "write_report",
]
