"""IOB tag sets and constrained Viterbi decoding: every decoded sequence is a valid IOB sequence."""

from collections.abc import Sequence

import numpy
from spacy.tokens import Doc, Span

OUTSIDE = "O"
# the score of a forbidden transition or tag: low enough never to win, finite so sums stay finite
BLOCKED = -1e30


def doc_iob2_tags(doc: Doc) -> list[str]:
    """IOB2 tag per token of `doc.ents` (B-X, I-X or O). spaCy's ent_iob is IOB2 already: every
    entity starts with B, so adjacent entities of one type stay two. Tokens with missing
    annotation (ent_iob 0) count as O."""
    return [f"{token.ent_iob_}-{token.ent_type_}" if token.ent_iob_ in ("B", "I") else OUTSIDE for token in doc]


def spans_iob2_tags(n_tokens: int, spans: Sequence[Span]) -> list[str]:
    """IOB2 tags of `n_tokens` tokens holding non-overlapping `spans`."""
    tags = [OUTSIDE] * n_tokens
    for span in spans:
        tags[span.start : span.end] = [f"B-{span.label_}"] + [f"I-{span.label_}"] * (len(span) - 1)
    return tags


def iob_tag_names(labels: Sequence[str]) -> list[str]:
    """["O", "B-L1", "I-L1", "B-L2", ...]: the classifier's output order."""
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def allowed_transitions(tag_names: Sequence[str]) -> tuple[numpy.ndarray, numpy.ndarray]:
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


def pad_batch(arrays: Sequence[numpy.ndarray], fill: float = 0.0) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(docs, max tokens, tags) scores padded with `fill`, and each doc's length."""
    lengths = numpy.asarray([len(a) for a in arrays], dtype="int64")
    n_tags = arrays[0].shape[1]
    padded = numpy.full((len(arrays), int(lengths.max(initial=0)), n_tags), fill, dtype="float64")
    for i, array in enumerate(arrays):
        padded[i, : len(array)] = array
    return padded, lengths


def viterbi(
    log_probs: numpy.ndarray,
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    transition_scores: numpy.ndarray | None = None,
    token_allowed: numpy.ndarray | None = None,
) -> numpy.ndarray:
    """Best tag sequence under the transition constraints (plus learned scores, if any).

    Non-finite scores (a NaN from one bad token) are neutralised row by row, so one token
    cannot break a document's decoding: it simply carries no evidence. `token_allowed`
    (tokens x tags, bool), if given, limits the tags each token may take; it must allow O.
    """
    masks = None if token_allowed is None else [token_allowed]
    return viterbi_batch([log_probs], allowed, allowed_start, transition_scores, masks)[0]


def viterbi_batch(
    log_probs: Sequence[numpy.ndarray],
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    transition_scores: numpy.ndarray | None = None,
    token_allowed: Sequence[numpy.ndarray] | None = None,
) -> list[numpy.ndarray]:
    """`viterbi` for several docs at once: one pass over token positions for the whole batch
    (the per-position work is numpy over docs x tags x tags), which is what makes decoding
    cheap next to the transformer."""
    if len(log_probs) == 0:
        return []
    if token_allowed is not None and len(token_allowed) != len(log_probs):
        raise ValueError(f"{len(token_allowed)} token masks for {len(log_probs)} docs")
    blocked = numpy.float64(BLOCKED)
    emissions = [numpy.where(numpy.isfinite(s).all(axis=1, keepdims=True), s, 0.0) for s in log_probs]
    if token_allowed is not None:
        emissions = [numpy.where(mask, s, blocked) for s, mask in zip(emissions, token_allowed)]
    emit, lengths = pad_batch(emissions)
    n_docs, n_tokens, n_tags = emit.shape
    if n_tokens == 0:
        return [numpy.zeros(0, dtype="int64") for _ in log_probs]
    transitions = numpy.where(allowed, 0.0, blocked)
    if transition_scores is not None:
        transitions = transitions + transition_scores
    score = numpy.where(allowed_start, emit[:, 0], blocked)
    back = numpy.zeros((n_docs, n_tokens, n_tags), dtype="int64")
    for i in range(1, n_tokens):
        candidates = score[:, :, None] + transitions  # (docs, prev, cur)
        back[:, i] = candidates.argmax(axis=1)
        # docs that have ended keep their final scores
        score = numpy.where((i < lengths)[:, None], candidates.max(axis=1) + emit[:, i], score)
    docs = numpy.arange(n_docs)
    paths = numpy.zeros((n_docs, n_tokens), dtype="int64")
    paths[docs, numpy.maximum(lengths - 1, 0)] = score.argmax(axis=1)
    for i in range(n_tokens - 1, 0, -1):
        paths[:, i - 1] = numpy.where(i < lengths, back[docs, i, paths[:, i]], paths[:, i - 1])
    return [path[:length] for path, length in zip(paths, lengths)]


def is_valid_path(path: Sequence[int], allowed: numpy.ndarray, allowed_start: numpy.ndarray) -> bool:
    if len(path) == 0:
        return True
    return bool(allowed_start[path[0]]) and all(allowed[a, b] for a, b in zip(path[:-1], path[1:]))


def path_to_spans(path: Sequence[int], tag_names: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) for each entity of a valid IOB path."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag_id in enumerate(list(path) + [0]):
        tag = tag_names[tag_id]
        if label and not (tag.startswith("I-") and tag[2:] == label):
            spans.append((start, i, label))
            label = ""
        if tag.startswith("B-"):
            start, label = i, tag[2:]
    return spans
