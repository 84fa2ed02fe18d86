"""Constrained Viterbi decoding: every decoded path is a valid IOB sequence, whatever the scores."""

import itertools

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spacy_bert_ner.pipeline.decoding import (
    allowed_transitions,
    iob_tag_names,
    is_valid_path,
    path_to_spans,
    viterbi,
    viterbi_batch,
)

LABEL_POOL = ["PER", "ORG", "LOC", "MISC", "GPE-LOC", "DATE", "X"]
SPECIAL_VALUES = [numpy.nan, numpy.inf, -numpy.inf]
# Finite scores stay far from the -1e30 the decoder uses for a forbidden transition.
FINITE = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=150, deadline=None)


def label_sets(max_size: int = 5):
    return st.lists(st.sampled_from(LABEL_POOL), min_size=1, max_size=max_size, unique=True)


@st.composite
def tagged_scores(draw, max_tokens: int = 30, max_labels: int = 5, special: bool = True):
    """(tag_names, scores): scores of shape (0-30 tokens, n_tags), with NaN and +/-inf entries."""
    tag_names = iob_tag_names(draw(label_sets(max_labels)))
    n_tokens = draw(st.integers(min_value=0, max_value=max_tokens))
    elements = st.one_of(FINITE, st.sampled_from(SPECIAL_VALUES)) if special else FINITE
    scores = draw(arrays("float64", (n_tokens, len(tag_names)), elements=elements))
    return tag_names, scores


@st.composite
def spans_over_tokens(draw):
    """(n_tokens, labels, [(start, end, label)]): sorted, non-overlapping entity spans."""
    labels = draw(label_sets())
    n_tokens = draw(st.integers(min_value=0, max_value=30))
    spans, i = [], 0
    while i < n_tokens:
        if draw(st.booleans()):
            end = draw(st.integers(min_value=i + 1, max_value=min(n_tokens, i + 4)))
            spans.append((i, end, draw(st.sampled_from(labels))))
            i = end
        else:
            i += 1
    return n_tokens, labels, spans


def spans_to_path(spans, n_tokens, tag_names):
    path = [tag_names.index("O")] * n_tokens
    for start, end, label in spans:
        path[start] = tag_names.index(f"B-{label}")
        for i in range(start + 1, end):
            path[i] = tag_names.index(f"I-{label}")
    return numpy.asarray(path, dtype="int64")


def may_follow(previous: str, tag: str) -> bool:
    """The IOB rule, written out independently of allowed_transitions: I-X only after B-X or I-X."""
    return not tag.startswith("I-") or (previous != "O" and previous[2:] == tag[2:])


def respects_iob(tags) -> bool:
    """No I- first, and every transition allowed."""
    return all(may_follow(previous, tag) for previous, tag in zip(["O", *tags], tags))


def path_score(scores, path):
    return float(scores[numpy.arange(len(path)), path].sum())


def test_tag_names_and_transitions():
    tag_names = iob_tag_names(["PER", "LOC"])
    assert tag_names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, allowed_start = allowed_transitions(tag_names)
    assert allowed_start.tolist() == [True, True, False, True, False]
    for prev, cur in itertools.product(range(len(tag_names)), repeat=2):
        assert allowed[prev, cur] == may_follow(tag_names[prev], tag_names[cur])


@FAST
@given(tagged_scores())
def test_viterbi_always_returns_a_valid_path(case):
    tag_names, scores = case
    allowed, allowed_start = allowed_transitions(tag_names)
    path = viterbi(scores, allowed, allowed_start)
    assert path.shape == (len(scores),)
    assert ((path >= 0) & (path < len(tag_names))).all()
    assert is_valid_path(path, allowed, allowed_start)
    tags = [tag_names[i] for i in path]
    assert respects_iob(tags)
    # every I- continues an entity, so the spans rebuild the exact same path
    assert spans_to_path(path_to_spans(path, tag_names), len(path), tag_names).tolist() == path.tolist()


@FAST
@given(tagged_scores())
def test_is_valid_path_matches_the_iob_rules(case):
    tag_names, scores = case
    allowed, allowed_start = allowed_transitions(tag_names)
    path = numpy.nan_to_num(scores).argmax(axis=1) if len(scores) else numpy.zeros(0, dtype="int64")
    assert is_valid_path(path, allowed, allowed_start) == respects_iob([tag_names[i] for i in path])


@FAST
@given(spans_over_tokens(), st.data())
def test_viterbi_returns_the_argmax_path_when_it_is_valid(case, data):
    n_tokens, labels, spans = case
    tag_names = iob_tag_names(labels)
    allowed, allowed_start = allowed_transitions(tag_names)
    best = spans_to_path(spans, n_tokens, tag_names)
    scores = data.draw(arrays("float64", (n_tokens, len(tag_names)), elements=FINITE))
    # make the valid path the strict per-token argmax
    if n_tokens:
        scores[numpy.arange(n_tokens), best] = scores.max(axis=1) + 1.0
        assert scores.argmax(axis=1).tolist() == best.tolist()
    assert viterbi(scores, allowed, allowed_start).tolist() == best.tolist()


@FAST
@given(tagged_scores(max_tokens=4, max_labels=2, special=False))
def test_viterbi_finds_the_best_valid_path(case):
    tag_names, scores = case
    allowed, allowed_start = allowed_transitions(tag_names)
    path = viterbi(scores, allowed, allowed_start)
    valid = [
        numpy.asarray(p, dtype="int64")
        for p in itertools.product(range(len(tag_names)), repeat=len(scores))
        if is_valid_path(p, allowed, allowed_start)
    ]
    best = max(path_score(scores, p) for p in valid)
    assert path_score(scores, path) == pytest.approx(best, rel=1e-9, abs=1e-9)


@FAST
@given(tagged_scores())
def test_a_non_finite_row_carries_no_evidence(case):
    """A row with any NaN or infinity decodes exactly like a row of equal scores."""
    tag_names, scores = case
    allowed, allowed_start = allowed_transitions(tag_names)
    neutral = numpy.where(numpy.isfinite(scores).all(axis=1, keepdims=True), scores, 0.0)
    assert viterbi(scores, allowed, allowed_start).tolist() == viterbi(neutral, allowed, allowed_start).tolist()


@FAST
@given(tagged_scores(), st.data())
def test_token_constraints_are_respected(case, data):
    tag_names, scores = case
    allowed, allowed_start = allowed_transitions(tag_names)
    token_allowed = data.draw(arrays(bool, scores.shape))
    token_allowed[:, tag_names.index("O")] = True
    path = viterbi(scores, allowed, allowed_start, token_allowed=token_allowed)
    assert is_valid_path(path, allowed, allowed_start)
    assert token_allowed[numpy.arange(len(path)), path].all()
    everything = numpy.ones(scores.shape, dtype=bool)
    unconstrained = viterbi(scores, allowed, allowed_start)
    assert viterbi(scores, allowed, allowed_start, token_allowed=everything).tolist() == unconstrained.tolist()


def test_minus_infinity_does_not_make_a_tag_the_best():
    """-inf (log 0) is not replaced by 0, which would make the impossible tag the likeliest."""
    tag_names = iob_tag_names(["LOC"])  # O, B-LOC, I-LOC
    allowed, allowed_start = allowed_transitions(tag_names)
    with numpy.errstate(divide="ignore"):
        scores = numpy.log([[0.9, 0.0, 0.1], [0.9, 0.05, 0.05]])  # -inf for B-LOC on the first token
    assert viterbi(scores, allowed, allowed_start).tolist() == [0, 0]


def test_a_nan_row_keeps_the_other_entities():
    tag_names = iob_tag_names(["PER", "LOC"])
    allowed, allowed_start = allowed_transitions(tag_names)
    gold = [(0, 2, "PER"), (5, 6, "LOC")]
    path = spans_to_path(gold, 7, tag_names)
    scores = numpy.full((7, len(tag_names)), -5.0)
    scores[numpy.arange(7), path] = -0.1
    scores[3] = numpy.nan
    assert path_to_spans(viterbi(scores, allowed, allowed_start), tag_names) == gold


@FAST
@given(spans_over_tokens())
def test_path_to_spans_round_trips(case):
    n_tokens, labels, spans = case
    tag_names = iob_tag_names(labels)
    allowed, allowed_start = allowed_transitions(tag_names)
    path = spans_to_path(spans, n_tokens, tag_names)
    assert is_valid_path(path, allowed, allowed_start)
    assert path_to_spans(path, tag_names) == spans


def test_viterbi_on_no_tokens():
    allowed, allowed_start = allowed_transitions(iob_tag_names(["PER"]))
    path = viterbi(numpy.zeros((0, 3)), allowed, allowed_start)
    assert path.shape == (0,)
    assert path_to_spans(path, iob_tag_names(["PER"])) == []


@FAST
@given(st.lists(tagged_scores(max_tokens=12, max_labels=3), min_size=1, max_size=6), st.data())
def test_a_batch_decodes_each_doc_as_if_alone(cases, data):
    """Padding the shorter docs of a batch changes nothing: not their paths, not their lengths."""
    tag_names = cases[0][0]
    allowed, allowed_start = allowed_transitions(tag_names)
    width = len(tag_names)
    docs = [data.draw(arrays("float64", (len(scores), width), elements=FINITE)) for _, scores in cases]
    learned = data.draw(arrays("float64", (width, width), elements=st.floats(-5, 5)))
    masks = [data.draw(arrays(bool, doc.shape)) | (numpy.arange(width) == 0) for doc in docs]
    batch = viterbi_batch(docs, allowed, allowed_start, learned, token_allowed=masks)
    alone = [viterbi(doc, allowed, allowed_start, learned, token_allowed=mask) for doc, mask in zip(docs, masks)]
    assert [path.tolist() for path in batch] == [path.tolist() for path in alone]
    assert [len(path) for path in batch] == [len(doc) for doc in docs]


def test_an_empty_batch_and_empty_docs():
    allowed, allowed_start = allowed_transitions(iob_tag_names(["PER"]))
    assert viterbi_batch([], allowed, allowed_start) == []
    paths = viterbi_batch([numpy.zeros((0, 3)), numpy.zeros((0, 3))], allowed, allowed_start)
    assert [path.shape for path in paths] == [(0,), (0,)]


def test_a_batch_needs_one_token_mask_per_doc():
    allowed, allowed_start = allowed_transitions(iob_tag_names(["PER"]))
    docs = [numpy.zeros((2, 3)), numpy.zeros((4, 3))]
    with pytest.raises(ValueError, match="1 token masks for 2 docs"):
        viterbi_batch(docs, allowed, allowed_start, token_allowed=[numpy.ones((2, 3), dtype=bool)])
