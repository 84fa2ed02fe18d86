"""Seeded splits and grouping into Docs (`converters/split.py`)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacy_bert_ner.converters import group, split_items


def test_split_items_same_seed_same_split():
    items = list(range(200))
    assert split_items(items, (0.8, 0.1, 0.1), seed=7) == split_items(items, (0.8, 0.1, 0.1), seed=7)


def test_split_items_different_seed_different_split():
    items = list(range(200))
    assert split_items(items, (0.8, 0.1, 0.1), seed=0) != split_items(items, (0.8, 0.1, 0.1), seed=1)


@pytest.mark.parametrize(
    "ratios,problem",
    [
        ((0.8, 0.2), "expected 3 split ratios"),
        ((0.5, 0.2, 0.2, 0.1), "expected 3 split ratios"),
        ((0.8, 0.1, 0.2), "must be non-negative and sum to 1"),
        ((0.8, 0.1, 0.05), "must be non-negative and sum to 1"),
        ((1.1, -0.1, 0.0), "must be non-negative and sum to 1"),
    ],
)
def test_split_items_bad_ratios(ratios, problem):
    with pytest.raises(ValueError, match=problem):
        split_items(list(range(10)), ratios, seed=0)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 101, 4796])
@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (1 / 3, 1 / 3, 1 / 3), (0.7, 0.2, 0.1), (1, 0, 0), (0, 0, 1)])
def test_split_items_puts_every_item_in_exactly_one_part_in_source_order(n, ratios):
    items = list(range(n))
    parts = split_items(items, ratios, seed=0)
    assert len(parts) == 3
    assert sorted(i for part in parts for i in part) == items
    assert all(part == sorted(part) for part in parts)
    for part, ratio in zip(parts, ratios):
        assert abs(len(part) - ratio * n) <= 1


@given(n=st.integers(0, 500), seed=st.integers(0, 2**32), cut=st.tuples(st.integers(0, 100), st.integers(0, 100)))
def test_split_items_partitions_any_input(n, seed, cut):
    low, high = sorted(cut)
    ratios = (low / 100, (high - low) / 100, (100 - high) / 100)
    parts = split_items(list(range(n)), ratios, seed)
    assert sorted(i for part in parts for i in part) == list(range(n))


def test_split_items_sizes():
    assert [len(p) for p in split_items(list(range(100)), (0.8, 0.1, 0.1), seed=0)] == [80, 10, 10]


@pytest.mark.parametrize(
    "n,size,sizes", [(0, 3, []), (1, 3, [1]), (7, 3, [3, 3, 1]), (9, 3, [3, 3, 3]), (4, 1, [1, 1, 1, 1])]
)
def test_group(n, size, sizes):
    groups = group(list(range(n)), size)
    assert [len(g) for g in groups] == sizes
    assert [i for g in groups for i in g] == list(range(n))


@pytest.mark.parametrize("size", [0, -1])
def test_group_size_must_be_positive(size):
    with pytest.raises(ValueError, match="group size must be at least 1"):
        group([1, 2], size)
