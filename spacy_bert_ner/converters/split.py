"""Seeded, reproducible splits and the grouping of sentences into Docs."""

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
SPLIT_NAMES = ("train", "dev", "test")


def check_ratios(ratios: Sequence[float]) -> None:
    if len(ratios) != len(SPLIT_NAMES):
        raise ValueError(f"expected {len(SPLIT_NAMES)} split ratios (train, dev, test), got {list(ratios)}")
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be non-negative and sum to 1, got {list(ratios)}")


def split_items(items: Sequence[T], ratios: Sequence[float], seed: int) -> list[list[T]]:
    """Shuffle with `seed`, cut by `ratios`; each part keeps the source order of its items."""
    check_ratios(ratios)
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    parts, start, cumulative = [], 0, 0.0
    for ratio in ratios:
        cumulative += ratio
        end = round(cumulative * len(items))
        parts.append([items[i] for i in sorted(order[start:end])])
        start = end
    return parts


def group(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive runs of `size` items (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"group size must be at least 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
