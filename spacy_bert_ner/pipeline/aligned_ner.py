"""`aligned_ner`: a trainable BERT token-classification NER head for spaCy.

The classic "BERT for NER" recipe (a linear layer over the wordpieces of each word) as a
pipeline component: it listens to a shared `transformer`, pools wordpieces per token through
the transformer's own alignment (`doc._.trf_data.align`, see wordpiece_pooling.py), scores an
IOB tag per token (with learned tag transitions, crf.py), and decodes with constrained Viterbi
(decoding.py), so the output is always a valid entity sequence. Entities go to `doc.ents`, or to
`doc.spans[spans_key]` if set, each with `span._.confidence`: the mean, over the entity's tokens,
of the probability of the tag the decoder chose (CRF marginals with learned transitions, else the
softmax).
"""

import importlib.metadata
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from spacy_transformers.layers import TransformerListener
from thinc.api import (
    Config,
    Dropout,
    Linear,
    Model,
    Optimizer,
    chain,
    concatenate,
    set_dropout_rate,
    with_array,
)
from thinc.types import Floats2d, FloatsXd

from . import threads  # noqa: F401  (one torch thread in worker processes)
from .crf import crf_loss, crf_marginals_batch, transition_scores
from .decoding import OUTSIDE, allowed_transitions, iob_tag_names, path_to_spans, spans_iob2_tags, viterbi_batch

CONFIDENCE_ATTR = "confidence"
if not Span.has_extension(CONFIDENCE_ATTR):
    Span.set_extension(CONFIDENCE_ATTR, default=None)

# The recommended settings, as in configs/aligned_*.cfg: mean pooling, learned transitions (CRF),
# the token's shape as a feature (capitalisation an uncased encoder cannot see).
DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_bert_ner.TokenClassifier.v1"
nO = null
dropout = 0.1
learn_transitions = true

[model.features]
@architectures = "spacy.MultiHashEmbed.v2"
width = 64
attrs = ["SHAPE"]
rows = [2000]
include_static_vectors = false

[model.tok2vec]
@architectures = "spacy_bert_ner.WordpieceListener.v1"
pooling = "mean"
grad_factor = 1.0
upstream = "*"
"""
DEFAULT_LEARN_RATE_SCALE = 10.0
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@registry.architectures("spacy_bert_ner.TokenClassifier.v1")
def build_token_classifier(
    tok2vec: Model[list[Doc], list[Floats2d]],
    features: Model[list[Doc], list[Floats2d]] | None = None,
    nO: int | None = None,
    dropout: float = 0.1,
    learn_transitions: bool = False,
) -> Model[list[Doc], list[Floats2d]]:
    """Token vectors (optionally concatenated with embedded token features, e.g. TAG) through
    dropout and a linear layer: one row of tag scores per token. With `learn_transitions`, the
    model also holds tag-to-tag scores, trained with a CRF loss and used by the decoder."""
    encoder = tok2vec if features is None else concatenate(tok2vec, features)
    output_layer = Linear(nO=nO)
    scorer = chain(encoder, with_array(chain(Dropout(dropout), output_layer)))
    if not learn_transitions:
        model = scorer
    else:
        transitions = transition_scores(nT=nO)
        model = Model(
            "token_classifier_crf", _scorer_forward, init=_init_with_transitions, layers=[scorer, transitions]
        )
        model.set_ref("transitions", transitions)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    return model


def _scorer_forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[list[Floats2d], Callable]:
    return model.layers[0](docs, is_train)


def _init_with_transitions(model: Model, X: list[Doc] | None = None, Y: Any | None = None) -> None:
    model.layers[0].initialize(X=X, Y=Y)
    transitions = model.get_ref("transitions")
    transitions.set_dim("nT", model.get_ref("output_layer").get_dim("nO"))
    transitions.initialize()


@registry.scorers("spacy_bert_ner.aligned_ner_scorer.v1")
def make_aligned_ner_scorer() -> Callable:
    return score_aligned_ner


def score_aligned_ner(examples: Iterable[Example], *, spans_key: str | None = None, **_: Any) -> dict[str, Any]:
    """`ents_p/r/f` and `ents_per_type`; with a spans key, `spans_<key>_p/r/f` and
    `spans_<key>_per_type`, against the reference's `doc.spans[key]` or else its entities."""
    if spans_key is None:
        return get_ner_prf(examples)

    def getter(doc: Doc, attr: str) -> Iterable[Span]:
        return doc.spans[spans_key] if spans_key in doc.spans else doc.ents

    return Scorer.score_spans(examples, f"spans_{spans_key}", getter=getter, labeled=True, allow_overlap=False)


def make_aligned_ner(
    nlp: Language,
    name: str,
    model: Model,
    spans_key: str | None,
    learn_rate_scale: float,
    scorer: Callable | None,
) -> "AlignedNER":
    """learn_rate_scale multiplies the optimizer's learn rate for the weights this component updates
    itself: the classifier and the transitions (a shared transformer is updated by its own component,
    at the base rate)."""
    return AlignedNER(nlp.vocab, model, name, spans_key=spans_key, learn_rate_scale=learn_rate_scale, scorer=scorer)


def provided_by_another_module(factory_name: str) -> bool:
    """Whether an installed distribution's entry point provides `factory_name` from a module other
    than this one. That is the case for the copy of this module inside a packaged pipeline when the
    spacy-bert-ner library is installed as well: spaCy resolves registered names through entry points
    first, so the library's implementation is the one used, and the copy must not register the
    factory a second time (spaCy's E004)."""
    entry_points = importlib.metadata.entry_points(group="spacy_factories", name=factory_name)
    return any(entry_point.module != __name__ for entry_point in entry_points)


if not provided_by_another_module("aligned_ner"):
    Language.factory(
        "aligned_ner",
        assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
        default_config={
            "model": DEFAULT_MODEL,
            "spans_key": None,
            "learn_rate_scale": DEFAULT_LEARN_RATE_SCALE,
            "scorer": {"@scorers": "spacy_bert_ner.aligned_ner_scorer.v1"},
        },
        default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
    )(make_aligned_ner)


class AlignedNER(TrainablePipe):
    """Token-classification NER over a shared transformer, decoded into valid IOB sequences."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "aligned_ner",
        *,
        spans_key: str | None = None,
        learn_rate_scale: float = 1.0,
        scorer: Callable | None = score_aligned_ner,
    ) -> None:
        if not learn_rate_scale > 0:
            raise ValueError(f"{name}: learn_rate_scale must be a positive number, got {learn_rate_scale!r}")
        self.vocab = vocab
        self.learn_rate_scale = float(learn_rate_scale)
        self.model = model
        self.name = name
        self.cfg: dict[str, Any] = {"labels": [], "spans_key": spans_key}
        self.scorer = scorer

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> list[str]:
        return list(self.labels)

    @property
    def tag_names(self) -> list[str]:
        return iob_tag_names(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label:
            raise ValueError(f"Entity labels must be non-empty strings, got {label!r}")
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def predict(self, docs: Iterable[Doc]) -> list[Floats2d]:
        docs = list(docs)
        self._check_transformer_ran(docs)
        if not any(len(doc) for doc in docs):
            n_tags = len(self.tag_names)
            return [self.model.ops.alloc2f(len(doc), n_tags) for doc in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], scores: list[Floats2d]) -> None:
        docs = list(docs)
        tag_names = self.tag_names
        allowed, allowed_start = allowed_transitions(tag_names)
        learned = self._learned_transitions()
        emissions = [_finite_rows(self.model.ops.to_numpy(doc_scores)) for doc_scores in scores]
        prefixes = numpy.asarray([tag[:2] for tag in tag_names])
        keep_preset = self.cfg["spans_key"] is None
        token_allowed = [_allowed_tags(doc, prefixes, keep_preset) for doc in docs]
        # the whole batch is decoded at once (see decoding.py)
        if learned is None:
            log_probs = [_log_softmax(doc_scores) for doc_scores in emissions]
            paths = viterbi_batch(log_probs, allowed, allowed_start, token_allowed=token_allowed)
            tag_probs = [numpy.exp(doc_log_probs) for doc_log_probs in log_probs]
        else:
            paths = viterbi_batch(emissions, allowed, allowed_start, learned, token_allowed=token_allowed)
            tag_probs = crf_marginals_batch(emissions, learned, allowed, allowed_start)
        for doc, path, doc_tag_probs in zip(docs, paths, tag_probs):
            probs = doc_tag_probs[numpy.arange(len(path)), path] if len(path) else numpy.zeros(0)
            spans = []
            for start, end, label in path_to_spans(path, tag_names):
                span = Span(doc, start, end, label=label)
                span._.set(CONFIDENCE_ATTR, float(numpy.nan_to_num(probs[start:end]).mean()))
                spans.append(span)
            if keep_preset:
                doc.set_ents([*doc.ents, *spans], default="outside")
            else:
                confidences = [span._.get(CONFIDENCE_ATTR) for span in spans]
                doc.spans[self.cfg["spans_key"]] = SpanGroup(doc, spans=spans, attrs={"scores": confidences})

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Any | None = None,
        losses: dict[str, float] | None = None,
    ) -> dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "AlignedNER.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the head's weights, at `learn_rate_scale` times the optimizer's learn rate."""
        self.model.finish_update(sgd if self.learn_rate_scale == 1.0 else ScaledOptimizer(sgd, self.learn_rate_scale))

    def get_loss(self, examples: Iterable[Example], scores: list[Floats2d]) -> tuple[float, list[Floats2d]]:
        """Softmax cross-entropy per token, or the CRF loss with learned transitions; tokens whose
        gold tag is missing get no gradient (the CRF marginalises over them)."""
        validate_examples(examples, "AlignedNER.get_loss")
        ops = self.model.ops
        tag_ids = {tag: i for i, tag in enumerate(self.tag_names)}
        learned = self._learned_transitions()
        allowed, allowed_start = allowed_transitions(self.tag_names)
        loss, d_scores = 0.0, []
        d_transitions = numpy.zeros((len(tag_ids), len(tag_ids)))
        for eg, doc_scores in zip(examples, scores):
            gold = numpy.asarray([tag_ids.get(tag, -1) for tag in self._gold_iob(eg)], dtype="int64")
            emissions = ops.to_numpy(doc_scores)
            if learned is not None:
                doc_loss, d, d_trans = crf_loss(emissions, learned, allowed, allowed_start, gold)
                d_transitions += d_trans
            else:
                doc_loss, d = _cross_entropy(emissions, gold)
            loss += doc_loss
            d_scores.append(ops.asarray2f(d.astype("float32")))
        if learned is not None:
            self.model.get_ref("transitions").inc_grad("T", ops.asarray2f(d_transitions.astype("float32")))
        return loss, d_scores

    def _learned_transitions(self) -> numpy.ndarray | None:
        if not self.model.has_ref("transitions"):
            return None
        return numpy.asarray(self.model.ops.to_numpy(self.model.get_ref("transitions").get_param("T")), dtype="float64")

    def _gold_iob(self, example: Example) -> list[str | None]:
        """Gold IOB tags on the predicted tokens: None where missing or not alignable."""
        key = self.cfg["spans_key"]
        if key is not None and key in example.reference.spans:
            spans = example.get_aligned_spans_y2x(example.reference.spans[key], allow_overlap=False)
            return list(spans_iob2_tags(len(example.predicted), spans))
        return [_biluo_to_iob(tag) for tag in example.get_aligned_ner()]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        """Labels come from the training data (or `labels`); the output layer is sized to them."""
        validate_get_examples(get_examples, "AlignedNER.initialize")
        if labels is None:
            labels = sorted({tag[2:] for eg in get_examples() for tag in self._gold_iob(eg) if tag and tag != OUTSIDE})
        for label in labels:
            self.add_label(label)
        if not self.labels:
            raise ValueError(f"{self.name}: no entity labels found in the training data and none given")
        self.model.get_ref("output_layer").set_dim("nO", len(self.tag_names))
        if self.model.has_ref("transitions"):
            self.model.get_ref("transitions").set_dim("nT", len(self.tag_names))
        doc_sample = [eg.reference for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)

    def _allow_extra_label(self) -> None:
        output_layer = self.model.get_ref("output_layer")
        if output_layer.has_dim("nO") and output_layer.get_dim("nO") is not None:
            raise ValueError(
                f"{self.name}: cannot add a label to an initialized model: its output layer is sized to the "
                f"labels {list(self.labels)}. Train a new pipeline with the new label in the training data "
                "(or list it in [initialize.components.aligned_ner.labels]); an entity_ruler placed before "
                "this component can add entities of a new type without retraining."
            )

    def rehearse(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None) -> dict[str, float]:
        raise NotImplementedError(
            f"{self.name}: rehearsal (nlp.rehearse) is not supported. To adapt a trained pipeline without "
            "forgetting, train it on the new examples mixed with examples of the original training data "
            "(spacy train with [initialize] sourcing the trained components)."
        )

    def _check_transformer_ran(self, docs: list[Doc]) -> None:
        """Refuse to predict from zero vectors: without the transformer's output the listener would
        hand on zeros and every prediction would be the same."""
        if not any(isinstance(node, TransformerListener) for node in self.model.get_ref("tok2vec").walk()):
            return
        if any(len(doc) and doc._.trf_data is None for doc in docs):
            raise ValueError(
                f"{self.name}: a Doc has no transformer output (doc._.trf_data is None). This component "
                "reads the shared `transformer` component's output: it must run before it, not be "
                "disabled or excluded (spacy.load(..., disable/exclude)), and a sourced aligned_ner needs "
                "its transformer sourced with it."
            )

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "AlignedNER":
        spans_key = self.cfg["spans_key"]
        super().from_bytes(bytes_data, exclude=exclude)
        self._keep_config_setting(spans_key)
        return self

    def from_disk(self, path, *, exclude=tuple()) -> "AlignedNER":
        spans_key = self.cfg["spans_key"]
        super().from_disk(path, exclude=exclude)
        self._keep_config_setting(spans_key)
        return self

    def _keep_config_setting(self, spans_key: str | None) -> None:
        """The saved cfg holds the spans_key it was trained with; the one this component was
        constructed with comes from the config (e.g. `spacy.load(path, config=...)`) and wins."""
        self.cfg["spans_key"] = spans_key


class ScaledOptimizer:
    """A thinc optimizer seen through a constant learn-rate factor: thinc's Optimizer takes a
    per-call `lr_scale`, and Model.finish_update calls it once per parameter."""

    def __init__(self, optimizer: Optimizer, scale: float) -> None:
        self.optimizer = optimizer
        self.scale = scale

    def __call__(self, key: tuple[int, str], weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0):
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


def _biluo_to_iob(tag: str | None) -> str | None:
    if tag is None or tag == "-" or tag == "":
        return None
    if tag == OUTSIDE:
        return OUTSIDE
    prefix, label = tag[0], tag[2:]
    return ("B-" if prefix in ("B", "U") else "I-") + label


def _cross_entropy(scores: numpy.ndarray, gold: numpy.ndarray) -> tuple[float, numpy.ndarray]:
    probs = numpy.exp(_log_softmax(scores))
    known = numpy.flatnonzero(gold >= 0)
    d = numpy.zeros_like(probs)
    d[known] = probs[known]
    d[known, gold[known]] -= 1.0
    return float(-numpy.log(numpy.clip(probs[known, gold[known]], 1e-12, None)).sum()), d


def _in_preset_entity(doc: Doc) -> numpy.ndarray:
    """Tokens inside an entity already on the Doc (ent_iob B or I)."""
    iob = doc.to_array("ENT_IOB")
    return (iob == 1) | (iob == 3)


def _allowed_tags(doc: Doc, prefixes: numpy.ndarray, keep_preset: bool) -> numpy.ndarray:
    """(tokens x tags): which tags the decoder may give each token. `prefixes` holds each tag's
    first two characters ("O", "B-", "I-")."""
    begin, inside, outside = prefixes == "B-", prefixes == "I-", prefixes == OUTSIDE
    space = _is_space(doc)
    allowed = numpy.ones((len(doc), len(prefixes)), dtype=bool)
    # As in spaCy's `ner`, no entity starts on a whitespace token (it has no wordpiece).
    allowed[space] &= ~begin
    # No entity holds a line break or crosses a sentence boundary (where the Doc has them).
    allowed[_line_breaks(doc, space)] = outside
    allowed[_sentence_starts_after_the_first(doc)] &= ~inside
    if keep_preset:
        # As spaCy's `ner`: entities already on the Doc (an entity_ruler before this component, or
        # set by the caller) are kept, and the decoder predicts around them.
        allowed[_in_preset_entity(doc)] = outside
    return allowed


def _line_breaks(doc: Doc, space: numpy.ndarray) -> numpy.ndarray:
    """Whitespace tokens that hold a line break (only whitespace tokens are read)."""
    breaks = numpy.zeros(len(doc), dtype=bool)
    for i in numpy.flatnonzero(space):
        breaks[i] = "\n" in doc[i].text or "\r" in doc[i].text
    return breaks


def _sentence_starts_after_the_first(doc: Doc) -> numpy.ndarray:
    """Tokens that start a sentence other than the first (none where the Doc has no sentences)."""
    starts = numpy.zeros(len(doc), dtype=bool)
    if len(doc) and doc.has_annotation("SENT_START"):
        starts[1:] = doc.to_array("SENT_START")[1:] == 1
    return starts


def _is_space(doc: Doc) -> numpy.ndarray:
    return doc.to_array("IS_SPACE").astype(bool)


def _finite_rows(scores: numpy.ndarray) -> numpy.ndarray:
    """A row with a non-finite score (one bad token) becomes all zeros: no evidence either way."""
    scores = numpy.asarray(scores, dtype="float64")
    if scores.size == 0:
        return scores
    return numpy.where(numpy.isfinite(scores).all(axis=1, keepdims=True), scores, 0.0)


def _log_softmax(scores: numpy.ndarray) -> numpy.ndarray:
    """Row-wise log-softmax; a row with a non-finite score becomes uniform (no evidence)."""
    scores = _finite_rows(scores)
    if scores.size == 0:
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))
