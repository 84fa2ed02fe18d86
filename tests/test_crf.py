"""The CRF loss of learned transitions: exact gradients, constraints, missing gold tags."""

import itertools

import numpy
import pytest

from spacy_bert_ner.pipeline.crf import crf_loss, crf_marginals, crf_marginals_batch
from spacy_bert_ner.pipeline.decoding import allowed_transitions, iob_tag_names, is_valid_path, viterbi

TAGS = iob_tag_names(["LOC", "PER"])
ALLOWED, START = allowed_transitions(TAGS)


def numeric_gradient(f, x: numpy.ndarray, eps: float = 1e-6) -> numpy.ndarray:
    grad = numpy.zeros_like(x)
    for index in numpy.ndindex(*x.shape):
        shifted = x.copy()
        shifted[index] += eps
        grad[index] = (f(shifted) - f(x)) / eps
    return grad


@pytest.mark.parametrize("gold", [[1, 2, 0, 3, 0], [1, 2, -1, -1, 0], [-1, -1, -1, -1, -1]])
def test_crf_gradients_match_finite_differences(gold):
    rng = numpy.random.default_rng(0)
    emissions = rng.normal(size=(5, len(TAGS)))
    scores = rng.normal(size=(len(TAGS), len(TAGS)))
    gold = numpy.asarray(gold)
    loss, d_emissions, d_scores = crf_loss(emissions, scores, ALLOWED, START, gold)
    assert loss >= -1e-9
    numeric_e = numeric_gradient(lambda e: crf_loss(e, scores, ALLOWED, START, gold)[0], emissions)
    numeric_s = numeric_gradient(lambda s: crf_loss(emissions, s, ALLOWED, START, gold)[0], scores)
    numpy.testing.assert_allclose(d_emissions, numeric_e, atol=1e-4)
    numpy.testing.assert_allclose(d_scores, numpy.where(ALLOWED, numeric_s, 0.0), atol=1e-4)


def test_all_gold_missing_costs_nothing():
    emissions = numpy.random.default_rng(1).normal(size=(4, len(TAGS)))
    loss, d_emissions, d_scores = crf_loss(emissions, numpy.zeros((5, 5)), ALLOWED, START, numpy.full(4, -1))
    assert loss == pytest.approx(0.0, abs=1e-9)
    assert numpy.abs(d_emissions).max() < 1e-9 and numpy.abs(d_scores).max() < 1e-9


def test_marginals_are_distributions_over_valid_tags():
    emissions = numpy.random.default_rng(2).normal(size=(6, len(TAGS)))
    marginals = crf_marginals(emissions, numpy.zeros((5, 5)), ALLOWED, START)
    numpy.testing.assert_allclose(marginals.sum(axis=1), 1.0)
    assert marginals[0, [i for i, tag in enumerate(TAGS) if tag.startswith("I-")]].max() < 1e-12


def test_learned_scores_can_overrule_emissions():
    # emissions prefer B-LOC B-LOC; a strong learned penalty on B-LOC -> B-LOC makes I-LOC win
    emissions = numpy.log(numpy.array([[0.05, 0.8, 0.05, 0.05, 0.05], [0.05, 0.5, 0.4, 0.025, 0.025]]))
    scores = numpy.zeros((5, 5))
    assert list(viterbi(emissions, ALLOWED, START, scores)) == [1, 1]
    scores[1, 1] = -5.0
    assert list(viterbi(emissions, ALLOWED, START, scores)) == [1, 2]


def brute_force_marginals(emissions: numpy.ndarray, scores: numpy.ndarray) -> numpy.ndarray:
    """P(tag at token) by enumerating every valid path: the definition, for small docs."""
    n, n_tags = emissions.shape
    marginals = numpy.zeros((n, n_tags))
    for path in itertools.product(range(n_tags), repeat=n):
        if is_valid_path(path, ALLOWED, START):
            weight = numpy.exp(
                emissions[numpy.arange(n), path].sum() + sum(scores[a, b] for a, b in zip(path, path[1:]))
            )
            marginals[numpy.arange(n), path] += weight
    return marginals / marginals[0].sum()


def test_marginals_match_enumerating_the_paths():
    rng = numpy.random.default_rng(3)
    emissions = rng.normal(size=(4, len(TAGS)))
    scores = rng.normal(size=(len(TAGS), len(TAGS)))
    numpy.testing.assert_allclose(
        crf_marginals(emissions, scores, ALLOWED, START), brute_force_marginals(emissions, scores)
    )


def test_a_batch_gives_each_doc_its_own_marginals():
    """Docs of different lengths (and an empty one) padded into one batch: each doc's marginals
    are those it has alone, checked against enumeration."""
    rng = numpy.random.default_rng(4)
    scores = rng.normal(size=(len(TAGS), len(TAGS)))
    docs = [rng.normal(size=(n, len(TAGS))) for n in (3, 1, 0, 5)]
    batch = crf_marginals_batch(docs, scores, ALLOWED, START)
    assert [m.shape for m in batch] == [d.shape for d in docs]
    for doc, marginals in zip(docs, batch):
        if len(doc):
            numpy.testing.assert_allclose(marginals, brute_force_marginals(doc, scores), atol=1e-12)
