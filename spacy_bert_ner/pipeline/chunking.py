"""Cutting a Doc into consecutive ranges at sentence boundaries, packed up to a size limit.

Shared by the baseline (limits in wordpieces) and the chunking corpus reader (limits in tokens).
"""

from collections.abc import Sequence

import numpy
from spacy.tokens import Doc


def _pack(units: Sequence[tuple[int, int]], sizes: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """Join consecutive (start, end) units greedily into ranges of at most `limit` wordpieces
    (a unit over the limit gets a range of its own)."""
    ranges: list[tuple[int, int]] = []
    start, total = units[0][0], 0
    for (s, _), n in zip(units, sizes):
        if total + n > limit and s > start:
            ranges.append((start, s))
            start, total = s, 0
        total += n
    ranges.append((start, units[-1][1]))
    return ranges


def _split_tokens(counts: numpy.ndarray, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut tokens start:end into consecutive pieces of at most `limit` wordpieces (a lone
    token over the limit gets a piece of its own)."""
    return _pack([(i, i + 1) for i in range(start, end)], [int(n) for n in counts[start:end]], limit)


def chunk_spans(
    counts: numpy.ndarray, sent_starts: Sequence[int], limit: int, pack: bool = True
) -> list[tuple[int, int]]:
    """Consecutive token ranges covering the Doc, each within `limit` wordpieces where possible.

    With `pack`, whole sentences are packed greedily (fewest chunks for contiguous ranges);
    without it, each sentence is a range of its own. A sentence over the limit is cut between
    tokens. `sent_starts` are the first token of each sentence (`[0]` when the Doc has no
    sentence boundaries).
    """
    n_tokens = len(counts)
    if n_tokens == 0:
        return []
    if pack and int(counts.sum()) <= limit:
        return [(0, n_tokens)]
    bounds = sorted(set(sent_starts) | {0}) + [n_tokens]
    units: list[tuple[int, int]] = []
    for s, e in zip(bounds[:-1], bounds[1:]):
        units.extend(_split_tokens(counts, s, e, limit) if counts[s:e].sum() > limit else [(s, e)])
    if not pack:
        return units
    return _pack(units, [int(counts[s:e].sum()) for s, e in units], limit)


def sentence_starts(doc: Doc) -> list[int]:
    if not doc.has_annotation("SENT_START"):
        return [0]
    return [sent.start for sent in doc.sents]
