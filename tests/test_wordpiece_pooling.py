"""`pool_aligned` on hand-built alignments: values, overlap of strided windows, empty tokens, gradients."""

import numpy
import pytest
from numpy.testing import assert_allclose
from thinc.api import NumpyOps
from thinc.types import Ragged

from spacy_bert_ner.pipeline.wordpiece_pooling import POOLING_MODES, pool_aligned, wordpiece_pooler

OPS = NumpyOps()
SPAN_LENGTH = 4  # two windows of 4 wordpieces: rows 0-3 and 4-7 of the flattened tensor
# token 0: two pieces in window 0; token 1: no piece (whitespace, truncated);
# token 2: two pieces, encoded in both windows (rows 2, 3 and again 5, 6); token 3: one piece.
ROWS = [[0, 1], [], [2, 3, 5, 6], [7]]


def make_align(rows_per_token) -> Ragged:
    flat = [row for rows in rows_per_token for row in rows]
    return Ragged(OPS.asarray1i(flat), OPS.asarray1i([len(rows) for rows in rows_per_token]))


def make_src(n_rows: int = 2 * SPAN_LENGTH, width: int = 3, seed: int = 0) -> numpy.ndarray:
    # distinct values everywhere, so the max is unique and finite differences are well defined
    return numpy.random.default_rng(seed).permutation(n_rows * width).reshape(n_rows, width).astype("float64") / 7


def pooling_matrix(mode: str) -> numpy.ndarray:
    """Expected token x row weights for the linear modes, written out by hand."""
    P = numpy.zeros((len(ROWS), 2 * SPAN_LENGTH))
    if mode == "first":
        P[0, 0] = 1.0
        P[2, [2, 5]] = 0.5  # the first piece in each window, averaged
        P[3, 7] = 1.0
    else:
        P[0, [0, 1]] = 0.5
        P[2, [2, 3, 5, 6]] = 0.25
        P[3, 7] = 1.0
    return P


@pytest.mark.parametrize("mode", ["first", "mean"])
def test_linear_pooling_values_and_gradient(mode):
    src = make_src()
    Y, backprop = pool_aligned(OPS, src, make_align(ROWS), SPAN_LENGTH, mode)
    P = pooling_matrix(mode)
    assert Y.shape == (len(ROWS), src.shape[1])
    assert_allclose(Y, P @ src)
    dY = make_src(len(ROWS), 3, seed=1)
    assert_allclose(backprop(dY), P.T @ dY)


def test_first_picks_the_first_row_of_each_token():
    src = make_src()
    align = make_align([[0, 1, 2], [3], [4, 5], [6, 7]])
    Y, _ = pool_aligned(OPS, src, align, 2 * SPAN_LENGTH, "first")  # one window: no overlap
    assert_allclose(Y, src[[0, 3, 4, 6]])


def test_max_pooling_values_and_gradient():
    src = make_src()
    Y, backprop = pool_aligned(OPS, src, make_align(ROWS), SPAN_LENGTH, "max")
    expected = numpy.zeros_like(Y)
    for token, rows in enumerate(ROWS):
        if rows:
            expected[token] = src[rows].max(axis=0)
    assert_allclose(Y, expected)
    dY = make_src(len(ROWS), 3, seed=1)
    d_src = backprop(dY)
    expected_d = numpy.zeros_like(src)
    for token, rows in enumerate(ROWS):
        for column in range(src.shape[1]):
            if rows:
                expected_d[rows[int(src[rows, column].argmax())], column] += dY[token, column]
    assert_allclose(d_src, expected_d)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_gradient_matches_finite_differences(mode):
    src = make_src()
    align = make_align(ROWS)
    dY = make_src(len(ROWS), 3, seed=1)

    def loss(x):
        return float((pool_aligned(OPS, x, align, SPAN_LENGTH, mode)[0] * dY).sum())

    _, backprop = pool_aligned(OPS, src, align, SPAN_LENGTH, mode)
    numeric = numpy.zeros_like(src)
    eps = 1e-4
    for index in numpy.ndindex(*src.shape):
        plus, minus = src.copy(), src.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (loss(plus) - loss(minus)) / (2 * eps)
    assert_allclose(backprop(dY), numeric, atol=1e-6)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_token_without_rows_gets_zeros_and_no_gradient(mode):
    src = make_src()
    Y, backprop = pool_aligned(OPS, src, make_align(ROWS), SPAN_LENGTH, mode)
    assert not Y[1].any()
    dY = numpy.zeros((len(ROWS), 3))
    dY[1] = 1.0  # gradient only on the token that has no wordpiece
    assert not backprop(dY).any()


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_no_rows_at_all(mode):
    src = make_src()
    Y, backprop = pool_aligned(OPS, src, make_align([[], []]), SPAN_LENGTH, mode)
    assert Y.shape == (2, 3) and not Y.any()
    d_src = backprop(numpy.ones((2, 3)))
    assert d_src.shape == src.shape and not d_src.any()
    Y, backprop = pool_aligned(OPS, src, make_align([]), SPAN_LENGTH, mode)
    assert Y.shape == (0, 3)
    assert not backprop(numpy.zeros((0, 3))).any()


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_float32_in_float32_out(mode):
    src = make_src().astype("float32")
    Y, backprop = pool_aligned(OPS, src, make_align(ROWS), SPAN_LENGTH, mode)
    assert Y.dtype == numpy.float32
    assert backprop(numpy.ones(Y.shape, dtype="float32")).dtype == numpy.float32


def test_unknown_pooling_mode():
    with pytest.raises(ValueError, match="Unknown wordpiece pooling"):
        wordpiece_pooler("last")
