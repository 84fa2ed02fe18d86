"""The `aligned_ner` component over a tiny random BERT: overfitting, serialization, options,
alignment edge cases, labels and loss. Modelled on spaCy's own pipeline tests (test_tagger.py,
test_spancat.py: `test_overfitting_IO`)."""

from dataclasses import dataclass
from pathlib import Path

import numpy
import pytest
import spacy
from spacy import util
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam

from spacy_bert_ner.pipeline.aligned_ner import AlignedNER
from spacy_bert_ner.pipeline.wordpiece_pooling import POOLING_MODES

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "aligned_cpu.cfg"
# Small strided windows: the long docs below span dozens of windows that overlap.
WINDOW, STRIDE = 16, 12
STEPS = 40

TRAIN_DATA = [
    # "Ahmedsmith" and "Nairobiparis" are 4 and 3 wordpieces: the pooling modes differ on them
    ("Alice Ahmedsmith works for Google in Nairobiparis .", [(0, 16, "PER"), (27, 33, "ORG"), (37, 49, "LOC")]),
    ("Bob flew from London to Tokyo on Monday .", [(0, 3, "PER"), (14, 20, "LOC"), (24, 29, "LOC")]),
    ("Nothing much happened in the village today .", []),
    ("", []),  # every update's batch holds an empty doc
]
LABELS = ("LOC", "ORG", "PER")
# a token made of characters the tiny vocab knows, so it splits into many wordpieces (not [UNK])
LONG_WORD = "Ahmed" + "smithnairobiparis" * 2  # 17 wordpieces
HUGE_WORD = "Ahmed" + "smithnairobiparis" * 5  # 41 wordpieces (under BERT's 100 characters a word)
TEXTS = ["Alice Smith works for Google in Paris .", "Nothing much happened .", "", "Bob flew to Tokyo ."]


def make_nlp(model_dir: Path, pooling: str = "first", **overrides) -> Language:
    """configs/aligned_cpu.cfg with the tiny BERT, small windows and the given overrides, less its
    doc_cleaner."""
    config = util.load_config(
        CONFIG,
        overrides={
            "paths.transformer": str(model_dir),
            "components.transformer.model.get_spans.window": WINDOW,
            "components.transformer.model.get_spans.stride": STRIDE,
            "components.aligned_ner.model.tok2vec.pooling": pooling,
            **overrides,
        },
        interpolate=True,
    )
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    # these tests read doc._.trf_data, which the config's doc_cleaner drops (test_configs covers it)
    nlp.remove_pipe("doc_cleaner")
    return nlp


def make_examples(nlp: Language, data=TRAIN_DATA) -> list[Example]:
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in data]


def train(nlp: Language, examples: list[Example], steps: int) -> dict[str, float]:
    nlp.initialize(get_examples=lambda: examples)
    optimizer = Adam(1e-3)
    losses: dict[str, float] = {}
    for _ in range(steps):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return losses


def predictions(docs):
    """(start, end, label, confidence) per entity of each doc."""
    return [[(ent.start, ent.end, ent.label_, ent._.confidence) for ent in doc.ents] for doc in docs]


def char_ents(doc):
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def assert_valid_output(nlp: Language, doc: Doc) -> None:
    """One score row per token and well-formed entities with confidences in (0, 1]."""
    ner = nlp.get_pipe("aligned_ner")
    scores = ner.predict([doc])[0]
    assert scores.shape == (len(doc), len(ner.tag_names))
    assert numpy.isfinite(scores).all()
    for ent in doc.ents:
        assert ent.label_ in ner.labels
        assert not ent[0].is_space
        assert isinstance(ent._.confidence, float) and 0.0 < ent._.confidence <= 1.0
    iob = [token.ent_iob_ for token in doc]
    assert all(tag in ("B", "I", "O") for tag in iob)
    assert all(not (tag == "I" and prev == "O") for prev, tag in zip(["O", *iob], iob))


@dataclass
class Trained:
    nlp: Language
    pooling: str
    losses: dict[str, float]


@pytest.fixture(scope="module", params=POOLING_MODES)
def trained(request, tiny_bert_dir) -> Trained:
    """One overfitted pipeline per pooling mode, shared by the tests of this module."""
    util.fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, request.param)
    losses = train(nlp, make_examples(nlp), STEPS)
    return Trained(nlp, request.param, losses)


def test_overfitting_IO(trained, tmp_path):
    nlp = trained.nlp
    ner = nlp.get_pipe("aligned_ner")
    assert ner.labels == LABELS  # sorted, from the training data
    assert ner.model.get_ref("output_layer").get_dim("nO") == 1 + 2 * len(LABELS)
    assert trained.losses["aligned_ner"] < 0.1

    texts = [text for text, _ in TRAIN_DATA]
    docs = [nlp(text) for text in texts]
    for doc, (_, gold) in zip(docs, TRAIN_DATA):
        assert char_ents(doc) == gold
        assert_valid_output(nlp, doc)
    expected = predictions(docs)

    # disk and bytes round trips give the same predictions
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    assert nlp2.get_pipe("aligned_ner").labels == LABELS
    assert predictions(nlp2(text) for text in texts) == expected
    nlp3 = util.load_model_from_config(nlp.config, auto_fill=True)
    nlp3.from_bytes(nlp.to_bytes())
    assert predictions(nlp3(text) for text in texts) == expected

    # batching doesn't change the predictions
    batched = predictions(nlp.pipe(TEXTS, batch_size=4))
    one_by_one = predictions(nlp(text) for text in TEXTS)
    assert [[ent[:3] for ent in doc] for doc in batched] == [[ent[:3] for ent in doc] for doc in one_by_one]
    for doc_b, doc_1 in zip(batched, one_by_one):
        assert [ent[3] for ent in doc_b] == pytest.approx([ent[3] for ent in doc_1], abs=1e-5)


def test_alignment_edge_cases(trained):
    nlp = trained.nlp
    ner = nlp.get_pipe("aligned_ner")

    # empty docs, alone and in a batch
    doc = nlp("")
    assert len(doc) == 0 and doc.ents == ()
    assert ner.predict([doc])[0].shape == (0, len(ner.tag_names))
    docs = list(nlp.pipe(["", "Hello Paris", ""]))
    assert [len(doc) for doc in docs] == [0, 2, 0]
    assert_valid_output(nlp, docs[1])

    # whitespace tokens have no wordpiece: zero vectors, still one score row each
    doc = nlp(Doc(nlp.vocab, words=["Paris", "  ", "London", "\n", "Tokyo"], spaces=[True, False, True, False, False]))
    assert doc._.trf_data.align.lengths.tolist() == [1, 0, 1, 0, 1]
    vectors = ner.model.get_ref("tok2vec").predict([doc])[0]
    assert not vectors[1].any() and not vectors[3].any() and vectors[0].any()
    assert_valid_output(nlp, doc)
    doc = nlp("Alice  Smith works for\n\nGoogle in Paris .\n")
    assert any(token.is_space for token in doc)
    assert_valid_output(nlp, doc)

    # a token split into many wordpieces
    doc = nlp(f"Alice flew to {LONG_WORD} .")
    assert doc._.trf_data.align.lengths[3] > 5
    assert_valid_output(nlp, doc)


def reference_pooling(doc: Doc, mode: str) -> numpy.ndarray:
    """Token vectors computed token by token from doc._.trf_data, the slow obvious way."""
    hidden = doc._.trf_data.model_output.last_hidden_state
    span_length, width = hidden.shape[1], hidden.shape[2]
    flat = hidden.reshape(-1, width)
    align = doc._.trf_data.align
    vectors = numpy.zeros((len(doc), width), dtype="float32")
    for i in range(len(doc)):
        rows = align[i].dataXd.ravel().tolist()
        if not rows:
            continue
        if mode == "first":
            firsts = {}
            for row in sorted(rows):
                firsts.setdefault(row // span_length, row)
            vectors[i] = flat[list(firsts.values())].mean(axis=0)
        elif mode == "mean":
            vectors[i] = flat[rows].mean(axis=0)
        else:
            vectors[i] = flat[rows].max(axis=0)
    return vectors


def test_long_docs(trained):
    """Longer than one window and than 512 wordpieces; a window longer than 512 wordpieces."""
    nlp = trained.nlp
    words = ["Alice", "flew", "from", "Paris", "to", LONG_WORD, "London", "."] * 88  # 704 tokens
    doc = nlp(Doc(nlp.vocab, words=words))
    align = doc._.trf_data.align
    n_windows, span_length = doc._.trf_data.model_output.last_hidden_state.shape[:2]
    assert n_windows > 1 and int(align.lengths.sum()) > 512
    windows_per_token = [len({row // span_length for row in align[i].dataXd.ravel().tolist()}) for i in range(len(doc))]
    assert max(windows_per_token) == 2  # tokens in the overlap of two windows
    assert_valid_output(nlp, doc)
    vectors = nlp.get_pipe("aligned_ner").model.get_ref("tok2vec").predict([doc])[0]
    numpy.testing.assert_allclose(vectors, reference_pooling(doc, trained.pooling), rtol=1e-5, atol=1e-6)

    # one window of 14 tokens x 41 wordpieces, past BERT's 512: spacy-transformers truncates it
    doc = nlp(Doc(nlp.vocab, words=[HUGE_WORD] * 14))
    assert doc._.trf_data.align.lengths.tolist()[-1] == 0  # the last token was cut off
    assert_valid_output(nlp, doc)
    vectors = nlp.get_pipe("aligned_ner").model.get_ref("tok2vec").predict([doc])[0]
    numpy.testing.assert_allclose(vectors, reference_pooling(doc, trained.pooling), rtol=1e-5, atol=1e-6)


def test_nan_row_keeps_other_entities(trained):
    nlp = trained.nlp
    ner = nlp.get_pipe("aligned_ner")
    text, gold = TRAIN_DATA[0]  # Alice Ahmedsmith | works | for | Google | in | Nairobiparis | .
    doc = nlp.get_pipe("transformer")(nlp.make_doc(text))
    scores = ner.predict([doc])
    scores[0][3] = numpy.nan  # "for"
    ner.set_annotations([doc], scores)
    assert char_ents(doc) == gold
    assert all(0.0 < ent._.confidence <= 1.0 for ent in doc.ents)


def test_tags_are_ignored_without_features(trained):
    """Without a features block, tags don't change the scores (the control for the next test)."""
    ner = trained.nlp.get_pipe("aligned_ner")
    words = ["Alice", "works", "in", "Paris"]
    docs = [trained.nlp(Doc(trained.nlp.vocab, words=words, tags=[tag] * 4)) for tag in ("NN", "NNP")]
    numpy.testing.assert_array_equal(*ner.predict(docs))


def test_token_features(tiny_bert_dir):
    features = {
        "@architectures": "spacy.MultiHashEmbed.v2",
        "width": 8,
        "attrs": ["TAG"],
        "rows": [50],
        "include_static_vectors": False,
    }
    util.fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, **{"components.aligned_ner.model.features": features})
    proper_nouns = {"Alice", "Ahmedsmith", "Google", "Nairobiparis", "Bob", "London", "Tokyo", "Monday"}
    examples = []
    for text, ents in TRAIN_DATA:
        doc = nlp.make_doc(text)
        tagged = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        for token in tagged:
            token.tag_ = "NNP" if token.text in proper_nouns else "NN"
        examples.append(Example.from_dict(tagged, {"entities": ents}))
    losses = train(nlp, examples, 5)
    assert numpy.isfinite(losses["aligned_ner"])
    ner = nlp.get_pipe("aligned_ner")
    assert ner.model.get_ref("output_layer").get_dim("nI") == 64 + 8  # tiny BERT's width + features

    words = ["Alice", "works", "in", "Paris"]
    docs = [nlp(Doc(nlp.vocab, words=words, tags=[tag] * 4)) for tag in ("NN", "NNP")]
    for doc in docs:
        assert_valid_output(nlp, doc)
    scores = ner.predict(docs)
    assert not numpy.allclose(scores[0], scores[1])
    assert [len(doc) for doc in nlp.pipe(["", "Paris"])] == [0, 1]


CASE_DATA = [
    ("They met in Paris .", [(12, 17, "LOC")]),
    ("They met in paris .", []),
    ("Bob flew to London .", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("bob flew to london .", []),
]


def test_shape_features_tell_case_through_an_uncased_encoder(tiny_uncased_bert_dir):
    """An uncased encoder (like MiniLM) gives "Paris" and "paris" the same wordpieces. With the
    configs' SHAPE features the head learns that only the capitalised one is an entity; without
    features (the control) both get the same scores, so it cannot."""
    texts = [text for text, _ in CASE_DATA]
    util.fix_random_seed(0)
    with_shape = make_nlp(tiny_uncased_bert_dir)
    assert with_shape.config["components"]["aligned_ner"]["model"]["features"]["attrs"] == ["SHAPE"]
    train(with_shape, make_examples(with_shape, CASE_DATA), STEPS)
    assert [char_ents(doc) for doc in with_shape.pipe(texts)] == [ents for _, ents in CASE_DATA]

    util.fix_random_seed(0)
    without = make_nlp(tiny_uncased_bert_dir, **{"components.aligned_ner.model.features": None})
    train(without, make_examples(without, CASE_DATA), STEPS)
    scores = without.get_pipe("aligned_ner").predict(list(without.pipe(texts)))
    numpy.testing.assert_allclose(scores[0], scores[1], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(scores[2], scores[3], rtol=1e-5, atol=1e-6)


def test_spans_key(tiny_bert_dir):
    key = "ents_pred"
    util.fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, **{"components.aligned_ner.spans_key": key})
    examples = []
    for text, ents in TRAIN_DATA:  # gold in reference.spans[key], not in reference.ents
        predicted = nlp.make_doc(text)
        reference = predicted.copy()
        reference.spans[key] = [reference.char_span(start, end, label=label) for start, end, label in ents]
        examples.append(Example(predicted, reference))
    train(nlp, examples, STEPS)

    for text, gold in TRAIN_DATA:
        doc = nlp.make_doc(text)
        preset = [Span(doc, 0, 1, label="MISC")] if len(doc) else []
        doc.ents = preset
        doc = nlp(doc)
        assert list(doc.ents) == preset  # untouched
        group = doc.spans[key]
        assert [(span.start_char, span.end_char, span.label_) for span in group] == gold
        assert group.attrs["scores"] == [span._.confidence for span in group]
        assert all(0.0 < score <= 1.0 for score in group.attrs["scores"])

    scores = nlp.evaluate(examples)
    assert scores[f"spans_{key}_f"] == 1.0
    assert set(scores[f"spans_{key}_per_type"]) == set(LABELS)
    # a reference without the key is scored against its entities
    scores = nlp.evaluate(make_examples(nlp))
    assert scores[f"spans_{key}_f"] == 1.0


def test_initialize_with_labels_and_empty_batches(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    nlp.config["initialize"]["components"]["aligned_ner"] = {"labels": ["PER", "MISC"]}
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    ner = nlp.get_pipe("aligned_ner")
    assert ner.labels == ("PER", "MISC")  # as given, not from the data
    assert ner.label_data == ["PER", "MISC"]
    assert ner.model.get_ref("output_layer").get_dim("nO") == 5
    with pytest.raises(ValueError, match="cannot add a label to an initialized model"):
        ner.add_label("LOC")

    empty = examples[-1]
    assert len(empty.predicted) == 0
    losses = nlp.update([empty, empty], sgd=optimizer)
    assert losses["aligned_ner"] == 0.0
    losses = nlp.update([empty, examples[0], empty], sgd=optimizer)
    assert losses["aligned_ner"] > 0.0
    assert_valid_output(nlp, nlp("Alice Smith works for Google in Paris ."))


def test_initialize_without_labels_fails(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    examples = make_examples(nlp, [("Nothing happened .", [])])
    with pytest.raises(ValueError, match="no entity labels"):
        nlp.initialize(get_examples=lambda: examples)


# the head without learned transitions: tag scores go through a softmax (the classic recipe's loss)
SOFTMAX_HEAD = {"model": {"learn_transitions": False}}


def test_no_entity_starts_on_whitespace():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("aligned_ner", config=SOFTMAX_HEAD)
    ner.add_label("PER")  # tags: O, B-PER, I-PER
    doc = Doc(nlp.vocab, words=["Alice", "  ", "Smith", "\n", "Bob"], spaces=[True, False, True, False, False])
    scores = numpy.asarray(
        [[0, 5, 0], [0, 5, 4], [0, 0, 5], [1, 5, 0], [0, 5, 0]], dtype="float32"
    )  # B-PER is the best tag for both whitespace tokens
    ner.set_annotations([doc], [scores])
    assert [(ent.start, ent.end, ent.label_) for ent in doc.ents] == [(0, 3, "PER"), (4, 5, "PER")]
    assert [token.ent_iob_ for token in doc] == ["B", "I", "I", "O", "B"]


def test_no_entity_holds_a_line_break_or_crosses_a_sentence_start():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("aligned_ner", config=SOFTMAX_HEAD)
    ner.add_label("PER")  # tags: O, B-PER, I-PER
    words = ["Ann", "Lee", "\n", "Bob", "Smith", "Jones"]
    doc = Doc(nlp.vocab, words=words, spaces=[True, False, False, True, True, False])
    scores = numpy.asarray(
        [[0, 5, 0], [0, 0, 5], [0, 0, 5], [0, 0, 5], [0, 0, 5], [0, 0, 5]], dtype="float32"
    )  # I-PER is the best tag from the second token on: one entity over everything, unconstrained
    ner.set_annotations([doc], [scores])
    assert [(ent.start, ent.end) for ent in doc.ents] == [(0, 2), (3, 6)]  # cut at the line break
    sents = Doc(nlp.vocab, words=words[:2] + words[3:], sent_starts=[True, False, True, False, False])
    ner.set_annotations([sents], [numpy.delete(scores, 2, axis=0)])
    assert [(ent.start, ent.end) for ent in sents.ents] == [(0, 2), (2, 5)]  # cut at the sentence start
    plain = Doc(nlp.vocab, words=words[:2] + words[3:])  # no sentence boundaries: one entity
    ner.set_annotations([plain], [numpy.delete(scores, 2, axis=0)])
    assert [(ent.start, ent.end) for ent in plain.ents] == [(0, 5)]


def test_missing_annotation_gets_no_gradient():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("aligned_ner", config=SOFTMAX_HEAD)
    assert isinstance(ner, AlignedNER)
    for label in ("LOC", "PER"):
        ner.add_label(label)
    with pytest.raises(ValueError):
        ner.add_label("")
    doc = nlp.make_doc("Paris is nice and Ann Lee")
    example = Example.from_dict(doc, {"entities": ["U-LOC", "-", "O", "-", "B-PER", "L-PER"]})
    assert [t.ent_iob for t in example.reference] == [3, 0, 2, 0, 3, 1]
    scores = numpy.random.default_rng(0).normal(size=(len(doc), len(ner.tag_names))).astype("float32")
    loss, (d_scores,) = ner.get_loss([example], [scores])
    assert not d_scores[1].any() and not d_scores[3].any()
    known = [0, 2, 4, 5]
    gold = [ner.tag_names.index(tag) for tag in ("B-LOC", "O", "B-PER", "I-PER")]
    probs = numpy.exp(scores) / numpy.exp(scores).sum(axis=1, keepdims=True)
    expected = probs[known].copy()
    expected[numpy.arange(len(known)), gold] -= 1.0
    numpy.testing.assert_allclose(d_scores[known], expected, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(-numpy.log(probs[known, gold]).sum(), rel=1e-5)


def test_registered_through_entry_points(entry_point_lookups, found_through_entry_points):
    """A fresh interpreter finds the factory and the architectures without importing the package."""
    assert entry_point_lookups["factory"] == "spacy_bert_ner.pipeline.aligned_ner"
    assert found_through_entry_points("architectures", "spacy_bert_ner.WordpieceListener.v1") == "wordpiece_listener"


def test_learned_transitions_overfit_and_round_trip(tiny_bert_dir, tmp_path):
    util.fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, **{"components.aligned_ner.model.learn_transitions": True})
    losses = train(nlp, make_examples(nlp), STEPS)
    assert losses["aligned_ner"] < 0.5
    ner = nlp.get_pipe("aligned_ner")
    transitions = ner.model.get_ref("transitions").get_param("T")
    assert transitions.shape == (len(ner.tag_names), len(ner.tag_names))
    assert numpy.abs(transitions).max() > 0  # trained through the CRF loss
    texts = [text for text, _ in TRAIN_DATA]
    docs = [nlp(text) for text in texts]
    for doc, (_, gold) in zip(docs, TRAIN_DATA):
        assert char_ents(doc) == gold
        assert_valid_output(nlp, doc)
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    numpy.testing.assert_array_equal(
        nlp2.get_pipe("aligned_ner").model.get_ref("transitions").get_param("T"), transitions
    )
    assert predictions(nlp2(text) for text in texts) == predictions(docs)


def _one_update(model_dir: Path, learn_rate_scale: float) -> dict[str, dict[str, numpy.ndarray]]:
    """Weights before and after one update (no dropout) of the head and of the transformer."""
    util.fix_random_seed(0)
    nlp = make_nlp(
        model_dir,
        **{
            "components.aligned_ner.model.learn_transitions": True,
            "components.aligned_ner.learn_rate_scale": learn_rate_scale,
        },
    )
    examples = make_examples(nlp)
    nlp.initialize(get_examples=lambda: examples)
    head = nlp.get_pipe("aligned_ner").model
    transformer = nlp.get_pipe("transformer").model

    def snapshot() -> dict[str, numpy.ndarray]:
        weights = {
            "W": head.get_ref("output_layer").get_param("W").copy(),
            "T": head.get_ref("transitions").get_param("T").copy(),
        }
        (torch_model,) = [shim._model for node in transformer.walk() for shim in node.shims]
        for name, param in torch_model.named_parameters():
            weights[name] = param.detach().numpy().copy()
        return weights

    before = snapshot()
    # as spaCy's training loop does it: every component's backprop, then every finish_update
    # (Language.update with an optimizer would update the transformer before the head's backprop)
    nlp.update(examples, drop=0.0, sgd=False)
    optimizer = Adam(1e-3)
    for _, component in nlp.pipeline:
        if getattr(component, "is_trainable", False):
            component.finish_update(optimizer)
    return {"before": before, "after": snapshot()}


def test_learn_rate_scale_moves_only_the_head_faster(tiny_bert_dir):
    """With learn_rate_scale 10, one Adam step moves the classifier and the transitions 10x as far,
    and the shared transformer exactly as far, as with the default 1."""
    base, scaled = _one_update(tiny_bert_dir, 1.0), _one_update(tiny_bert_dir, 10.0)
    for name, weights in base["before"].items():
        numpy.testing.assert_array_equal(scaled["before"][name], weights)
    for name in ("W", "T"):
        step = base["after"][name] - base["before"][name]
        assert numpy.abs(step).max() > 0
        numpy.testing.assert_allclose(scaled["after"][name] - scaled["before"][name], 10 * step, rtol=1e-3, atol=1e-7)
    transformer_names = [name for name in base["before"] if name not in ("W", "T")]
    assert transformer_names
    moved = 0
    for name in transformer_names:
        step = base["after"][name] - base["before"][name]
        moved += int(numpy.abs(step).max() > 0)
        numpy.testing.assert_allclose(scaled["after"][name] - scaled["before"][name], step, rtol=1e-4, atol=1e-7)
    assert moved > 0


@pytest.mark.parametrize("scale", [0, -1.0])
def test_learn_rate_scale_must_be_positive(tiny_bert_dir, scale):
    with pytest.raises(ValueError, match="learn_rate_scale must be a positive number"):
        make_nlp(tiny_bert_dir, **{"components.aligned_ner.learn_rate_scale": scale})


# --- behaving like spaCy's `ner` where users rely on it -------------------------------------


def test_entities_already_on_the_doc_are_kept(trained):
    """As spaCy's `ner`: an entity_ruler's (or the caller's) entities stay, and the head predicts
    around them."""
    nlp = trained.nlp
    text, gold = TRAIN_DATA[0]  # Alice Ahmedsmith/PER, Google/ORG, Nairobiparis/LOC
    ruler = nlp.add_pipe("entity_ruler", before="aligned_ner")
    try:
        ruler.add_patterns([{"label": "PRODUCT", "pattern": "Google"}, {"label": "ORG", "pattern": "Alice"}])
        doc = nlp(text)
    finally:
        nlp.remove_pipe("entity_ruler")
    ents = char_ents(doc)
    assert (27, 33, "PRODUCT") in ents and (0, 5, "ORG") in ents  # the ruler's, labels and bounds kept
    assert (37, 49, "LOC") in ents  # predicted around them
    for ent in doc.ents:  # the head's own entities carry its confidence, the ruler's none
        assert (ent._.confidence is None) == (ent.label_ in ("PRODUCT",) or ent.start_char == 0)

    caller = nlp.make_doc(text)
    caller.set_ents([Span(caller, 5, 7, label="GPE")], default="outside")  # "in Nairobiparis"
    for _, proc in nlp.pipeline:
        caller = proc(caller)
    assert (caller[5].idx, caller[6].idx + len(caller[6]), "GPE") in char_ents(caller)
    assert (0, 16, "PER") in char_ents(caller)


def test_spans_key_given_at_load_time_is_honoured(trained, tmp_path):
    nlp = trained.nlp
    nlp.to_disk(tmp_path)
    text, gold = TRAIN_DATA[1]
    loaded = spacy.load(tmp_path, config={"components": {"aligned_ner": {"spans_key": "x"}}})
    assert loaded.get_pipe("aligned_ner").cfg["spans_key"] == "x"
    doc = loaded(text)
    assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["x"]] == gold
    assert list(doc.ents) == []
    assert char_ents(spacy.load(tmp_path)(text)) == gold  # the saved setting otherwise


@pytest.mark.parametrize("how", ["disable", "exclude"])
def test_without_its_transformer_it_refuses_to_predict(trained, tmp_path, how):
    trained.nlp.to_disk(tmp_path)
    nlp = spacy.load(tmp_path, **{how: ["transformer"]})
    with pytest.raises(ValueError, match="no transformer output"):
        nlp(TRAIN_DATA[0][0])


def test_rehearse_and_add_label_say_what_to_do(trained):
    nlp = trained.nlp
    with pytest.raises(NotImplementedError, match="rehearsal"):
        nlp.rehearse(make_examples(nlp), sgd=Adam(1e-3))
    with pytest.raises(ValueError, match="cannot add a label to an initialized model.*entity_ruler"):
        nlp.get_pipe("aligned_ner").add_label("PRODUCT")


def test_factory_defaults_are_the_configs_settings():
    """nlp.add_pipe("aligned_ner") gets what configs/aligned_cpu.cfg uses, as spaCy's factories do."""
    config = util.load_config(CONFIG)["components"]["aligned_ner"]
    nlp = spacy.blank("en")
    nlp.add_pipe("aligned_ner")
    default = nlp.config["components"]["aligned_ner"]
    assert default["learn_rate_scale"] == config["learn_rate_scale"]
    for key in ("learn_transitions", "dropout", "features"):
        assert default["model"][key] == config["model"][key], key
    assert default["model"]["tok2vec"]["pooling"] == config["model"]["tok2vec"]["pooling"]
