"""Model pieces of the alignment-aware NER head: wordpiece pooling and constrained decoding."""

from .decoding import allowed_transitions, iob_tag_names, path_to_spans, viterbi
from .wordpiece_pooling import pool_aligned, wordpiece_listener, wordpiece_pooler

__all__ = [
    "allowed_transitions",
    "iob_tag_names",
    "path_to_spans",
    "pool_aligned",
    "viterbi",
    "wordpiece_listener",
    "wordpiece_pooler",
]
