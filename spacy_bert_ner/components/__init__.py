"""Pipeline components registered through this package's spaCy entry points."""

from .aligned_ner import CONFIDENCE_ATTR, AlignedNER, build_token_classifier, make_aligned_ner

__all__ = ["CONFIDENCE_ATTR", "AlignedNER", "build_token_classifier", "make_aligned_ner"]
