"""Learned transition scores (a linear-chain CRF over the classifier's emissions).

The loss is the negative log-likelihood of the gold tags, with the transition constraints
built in and missing gold tags marginalised out: loss = log Z(all valid paths) - log Z(valid
paths that agree with every known gold tag). Its gradients are differences of marginals, from
forward-backward in log space.
"""

from collections.abc import Sequence

import numpy
from thinc.api import Model

from .decoding import BLOCKED, pad_batch


def transition_scores(nT: int | None = None) -> Model:
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
    emissions: numpy.ndarray,
    lengths: numpy.ndarray,
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    mask: numpy.ndarray | None = None,
    with_pairs: bool = False,
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray | None]:
    """log Z (docs,), token marginals (docs, n, T) and, if asked, expected transition counts
    (docs, T, T), over the paths allowed by `mask` (docs, n, T) (False = tag excluded at that
    token), for docs padded to n tokens (their `lengths` are >= 1). One pass over positions
    serves the whole batch."""
    n_docs, n, n_tags = emissions.shape
    emit = emissions if mask is None else numpy.where(mask, emissions, BLOCKED)
    valid = numpy.arange(n)[None, :] < lengths[:, None]  # (docs, n)
    alpha = numpy.zeros((n_docs, n, n_tags))
    beta = numpy.zeros((n_docs, n, n_tags))
    alpha[:, 0] = start + emit[:, 0]
    for i in range(1, n):
        alpha[:, i] = _logsumexp(alpha[:, i - 1, :, None] + transitions, axis=1) + emit[:, i]
    for i in range(n - 2, -1, -1):
        step = _logsumexp(transitions + (emit[:, i + 1] + beta[:, i + 1])[:, None, :], axis=2)
        beta[:, i] = numpy.where((i + 1 < lengths)[:, None], step, 0.0)
    log_z = _logsumexp(alpha[numpy.arange(n_docs), lengths - 1], axis=1)
    # padded positions are set to -inf before exp, so they count for nothing (and never overflow)
    log_marginals = numpy.where(valid[:, :, None], alpha + beta - log_z[:, None, None], -numpy.inf)
    marginals = numpy.exp(log_marginals)
    if not with_pairs:
        return log_z, marginals, None
    # all (n - 1) transitions at once: (docs, n - 1, T, T) scores of tag pairs at tokens i - 1, i
    log_pairs = (
        alpha[:, :-1, :, None] + transitions + (emit[:, 1:] + beta[:, 1:])[:, :, None, :] - log_z[:, None, None, None]
    )
    pairs = numpy.exp(numpy.where(valid[:, 1:, None, None], log_pairs, -numpy.inf)).sum(axis=1)
    return log_z, marginals, pairs


def crf_loss(
    emissions: numpy.ndarray,
    scores: numpy.ndarray,
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    gold: numpy.ndarray,
) -> tuple[float, numpy.ndarray, numpy.ndarray]:
    """(loss, d_emissions, d_scores) for one doc; `gold` holds tag ids, -1 where unknown."""
    n, n_tags = emissions.shape
    if n == 0:
        return 0.0, numpy.zeros((0, n_tags)), numpy.zeros((n_tags, n_tags))
    emissions = numpy.asarray(emissions, dtype="float64")
    transitions = numpy.where(allowed, scores, BLOCKED)
    start = numpy.where(allowed_start, 0.0, BLOCKED)
    agrees = numpy.ones((n, n_tags), dtype=bool)
    known = gold >= 0
    agrees[known] = False
    agrees[numpy.flatnonzero(known), gold[known]] = True
    # two passes in one batch: all paths, and the paths that agree with the gold tags
    masks = numpy.stack([numpy.ones_like(agrees), agrees])
    log_z, marg, pairs = _forward_backward(
        numpy.stack([emissions, emissions]), numpy.array([n, n]), transitions, start, masks, with_pairs=True
    )
    if log_z[1] <= BLOCKED / 2:  # the gold path itself is invalid (e.g. I- after O): skip the doc
        return 0.0, numpy.zeros((n, n_tags)), numpy.zeros((n_tags, n_tags))
    return float(log_z[0] - log_z[1]), marg[0] - marg[1], numpy.where(allowed, pairs[0] - pairs[1], 0.0)


def crf_marginals(
    emissions: numpy.ndarray, scores: numpy.ndarray, allowed: numpy.ndarray, allowed_start: numpy.ndarray
) -> numpy.ndarray:
    """P(tag at token) under the CRF: the confidence of a decoded tag."""
    return crf_marginals_batch([emissions], scores, allowed, allowed_start)[0]


def crf_marginals_batch(
    emissions: Sequence[numpy.ndarray], scores: numpy.ndarray, allowed: numpy.ndarray, allowed_start: numpy.ndarray
) -> list[numpy.ndarray]:
    """`crf_marginals` for several docs in one pass."""
    if len(emissions) == 0:
        return []
    n_tags = scores.shape[0]
    nonempty = [i for i, e in enumerate(emissions) if len(e)]
    results = [numpy.zeros((0, n_tags)) for _ in emissions]
    if not nonempty:
        return results
    padded, lengths = pad_batch([numpy.asarray(emissions[i], dtype="float64") for i in nonempty])
    transitions = numpy.where(allowed, scores, BLOCKED)
    start = numpy.where(allowed_start, 0.0, BLOCKED)
    marginals = _scaled_marginals(padded, lengths, transitions, start)
    if marginals is None:  # a scale underflowed: the log-space pass is exact where this is not
        _, marginals, _ = _forward_backward(padded, lengths, transitions, start)
    for i, doc_marginals, length in zip(nonempty, marginals, lengths):
        results[i] = doc_marginals[:length]
    return results


def _scaled_marginals(
    emissions: numpy.ndarray, lengths: numpy.ndarray, transitions: numpy.ndarray, start: numpy.ndarray
) -> numpy.ndarray | None:
    """The token marginals of `_forward_backward`, by the scaled forward-backward in probability
    space: one small matrix product a position instead of a log-sum-exp over a (T, T) grid.
    Each position's forward vector is normalised to sum to 1; None if a scale underflows to 0."""
    n_docs, n, n_tags = emissions.shape
    top = emissions.max(axis=2, keepdims=True)
    weights = numpy.exp(emissions - numpy.where(numpy.isfinite(top), top, 0.0))  # best tag a token: 1
    allowed = transitions > BLOCKED / 2
    steps = numpy.exp(transitions - (transitions[allowed].max() if allowed.any() else 0.0))  # blocked: 0
    alpha = numpy.empty((n_docs, n, n_tags))
    scales = numpy.empty((n_docs, n))
    forward = numpy.exp(start - start.max()) * weights[:, 0]
    for i in range(n):
        if i > 0:
            forward = (alpha[:, i - 1] @ steps) * weights[:, i]
        scales[:, i] = forward.sum(axis=1)
        if not numpy.all(numpy.isfinite(scales[:, i]) & (scales[:, i] > 0)):
            return None
        alpha[:, i] = forward / scales[:, i, None]
    beta = numpy.ones((n_docs, n, n_tags))
    for i in range(n - 2, -1, -1):
        backward = ((weights[:, i + 1] * beta[:, i + 1]) @ steps.T) / scales[:, i + 1, None]
        beta[:, i] = numpy.where((i + 1 < lengths)[:, None], backward, 1.0)
    marginals = alpha * beta
    with numpy.errstate(divide="ignore", invalid="ignore"):
        marginals /= marginals.sum(axis=2, keepdims=True)
    marginals[numpy.arange(n)[None, :] >= lengths[:, None]] = 0.0
    return marginals if numpy.all(numpy.isfinite(marginals)) else None
