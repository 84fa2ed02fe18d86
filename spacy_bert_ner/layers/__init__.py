"""Model pieces of the alignment-aware NER head: wordpiece pooling and constrained decoding."""

from .decoding import allowed_transitions, iob_tag_names, path_to_spans, viterbi, viterbi_batch
from .wordpiece_pooling import pool_aligned, wordpiece_listener, wordpiece_pooler

__all__ = [
    "allowed_transitions",
    "iob_tag_names",
    "path_to_spans",
    "pool_aligned",
    "viterbi",
    "viterbi_batch",
    "wordpiece_listener",
    "wordpiece_pooler",
]
