"""IOB tag sets and constrained Viterbi decoding: every decoded sequence is a valid IOB sequence."""

from typing import List, Optional, Sequence, Tuple

import numpy

OUTSIDE = "O"


def iob_tag_names(labels: Sequence[str]) -> List[str]:
    """["O", "B-L1", "I-L1", "B-L2", ...]: the classifier's output order."""
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def allowed_transitions(tag_names: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(allowed[prev, cur], allowed_start[cur]): I-X only after B-X or I-X, never first."""
    n = len(tag_names)
    allowed = numpy.ones((n, n), dtype=bool)
    start = numpy.ones(n, dtype=bool)
    for cur, tag in enumerate(tag_names):
        if tag.startswith("I-"):
            label = tag[2:]
            start[cur] = False
            allowed[:, cur] = [prev in (f"B-{label}", f"I-{label}") for prev in tag_names]
    return allowed, start


def viterbi(
    log_probs: numpy.ndarray,
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    transition_scores: Optional[numpy.ndarray] = None,
    token_allowed: Optional[numpy.ndarray] = None,
) -> numpy.ndarray:
    """Best tag sequence under the transition constraints (plus learned scores, if any).

    Non-finite scores (a NaN from one bad token) are neutralised row by row, so one token
    cannot break a document's decoding: it simply carries no evidence. `token_allowed`
    (tokens x tags, bool), if given, limits the tags each token may take; it must allow O.
    """
    n_tokens, n_tags = log_probs.shape
    if n_tokens == 0:
        return numpy.zeros(0, dtype="int64")
    emissions = numpy.where(numpy.isfinite(log_probs).all(axis=1, keepdims=True), log_probs, 0.0)
    blocked = numpy.float64(-1e30)
    if token_allowed is not None:
        emissions = numpy.where(token_allowed, emissions, blocked)
    transitions = numpy.where(allowed, 0.0, blocked)
    if transition_scores is not None:
        transitions = transitions + transition_scores
    score = numpy.where(allowed_start, emissions[0], blocked)
    back = numpy.zeros((n_tokens, n_tags), dtype="int64")
    for i in range(1, n_tokens):
        candidates = score[:, None] + transitions
        back[i] = candidates.argmax(axis=0)
        score = candidates[back[i], numpy.arange(n_tags)] + emissions[i]
    path = numpy.zeros(n_tokens, dtype="int64")
    path[-1] = int(score.argmax())
    for i in range(n_tokens - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def is_valid_path(path: Sequence[int], allowed: numpy.ndarray, allowed_start: numpy.ndarray) -> bool:
    if len(path) == 0:
        return True
    return bool(allowed_start[path[0]]) and all(allowed[a, b] for a, b in zip(path[:-1], path[1:]))


def path_to_spans(path: Sequence[int], tag_names: Sequence[str]) -> List[Tuple[int, int, str]]:
    """(start, end, label) for each entity of a valid IOB path."""
    spans: List[Tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag_id in enumerate(list(path) + [0]):
        tag = tag_names[tag_id]
        if label and not (tag.startswith("I-") and tag[2:] == label):
            spans.append((start, i, label))
            label = ""
        if tag.startswith("B-"):
            start, label = i, tag[2:]
    return spans
