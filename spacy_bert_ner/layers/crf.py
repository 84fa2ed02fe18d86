"""Learned transition scores (a linear-chain CRF over the classifier's emissions).

The loss is the negative log-likelihood of the gold tags, with the transition constraints
built in and missing gold tags marginalised out: loss = log Z(all valid paths) - log Z(valid
paths that agree with every known gold tag). Its gradients are differences of marginals, from
forward-backward in log space.
"""

from typing import Optional, Tuple

import numpy
from spacy.util import registry
from thinc.api import Model

BLOCKED = -1e30


@registry.architectures("spacy_bert_ner.TransitionScores.v1")
def transition_scores(nT: Optional[int] = None) -> Model:
    """A (tags x tags) matrix of learned scores: score[prev, cur], trained through the CRF loss."""
    return Model("transition_scores", _no_forward, init=_init, dims={"nT": nT}, params={"T": None})


def _init(model: Model, X=None, Y=None) -> None:
    n_tags = model.get_dim("nT")
    model.set_param("T", model.ops.alloc2f(n_tags, n_tags))


def _no_forward(model: Model, X, is_train: bool):
    raise NotImplementedError("transition_scores is used by the component's loss and decoder, not in a forward pass")


def _logsumexp(x: numpy.ndarray, axis: int) -> numpy.ndarray:
    top = x.max(axis=axis, keepdims=True)
    top = numpy.where(numpy.isfinite(top), top, 0.0)
    return (top + numpy.log(numpy.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _forward_backward(
    emissions: numpy.ndarray, transitions: numpy.ndarray, start: numpy.ndarray, mask: numpy.ndarray
) -> Tuple[float, numpy.ndarray, numpy.ndarray]:
    """log Z, token marginals (n, T) and expected transition counts (T, T) over the paths
    allowed by `mask` (n, T) (False = tag excluded at that token)."""
    n, n_tags = emissions.shape
    emit = numpy.where(mask, emissions, BLOCKED)
    alpha = numpy.zeros((n, n_tags))
    beta = numpy.zeros((n, n_tags))
    alpha[0] = start + emit[0]
    for i in range(1, n):
        alpha[i] = _logsumexp(alpha[i - 1][:, None] + transitions, axis=0) + emit[i]
    for i in range(n - 2, -1, -1):
        beta[i] = _logsumexp(transitions + (emit[i + 1] + beta[i + 1])[None, :], axis=1)
    log_z = float(_logsumexp(alpha[-1], axis=0))
    marginals = numpy.exp(alpha + beta - log_z)
    # all (n - 1) transitions at once: (n - 1, T, T) scores of tag pairs at tokens i - 1, i
    pairs = numpy.exp(alpha[:-1, :, None] + transitions[None] + (emit[1:] + beta[1:])[:, None, :] - log_z).sum(axis=0)
    return log_z, marginals, pairs


def crf_loss(
    emissions: numpy.ndarray,
    scores: numpy.ndarray,
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    gold: numpy.ndarray,
) -> Tuple[float, numpy.ndarray, numpy.ndarray]:
    """(loss, d_emissions, d_scores) for one doc; `gold` holds tag ids, -1 where unknown."""
    n, n_tags = emissions.shape
    if n == 0:
        return 0.0, numpy.zeros((0, n_tags)), numpy.zeros((n_tags, n_tags))
    emissions = numpy.asarray(emissions, dtype="float64")
    transitions = numpy.where(allowed, scores, BLOCKED)
    start = numpy.where(allowed_start, 0.0, BLOCKED)
    everything = numpy.ones((n, n_tags), dtype=bool)
    agrees = everything.copy()
    known = gold >= 0
    agrees[known] = False
    agrees[numpy.flatnonzero(known), gold[known]] = True
    log_z, marg, pairs = _forward_backward(emissions, transitions, start, everything)
    log_z_gold, marg_gold, pairs_gold = _forward_backward(emissions, transitions, start, agrees)
    if log_z_gold <= BLOCKED / 2:  # the gold path itself is invalid (e.g. I- after O): skip the doc
        return 0.0, numpy.zeros((n, n_tags)), numpy.zeros((n_tags, n_tags))
    return log_z - log_z_gold, marg - marg_gold, numpy.where(allowed, pairs - pairs_gold, 0.0)


def crf_marginals(
    emissions: numpy.ndarray, scores: numpy.ndarray, allowed: numpy.ndarray, allowed_start: numpy.ndarray
) -> numpy.ndarray:
    """P(tag at token) under the CRF: the confidence of a decoded tag."""
    n, n_tags = emissions.shape
    if n == 0:
        return numpy.zeros((0, n_tags))
    transitions = numpy.where(allowed, scores, BLOCKED)
    start = numpy.where(allowed_start, 0.0, BLOCKED)
    _, marginals, _ = _forward_backward(
        numpy.asarray(emissions, dtype="float64"), transitions, start, numpy.ones((n, n_tags), dtype=bool)
    )
    return marginals
