"""Errors against gold that labels the same words two ways are found and counted."""

import spacy
from spacy.tokens import Doc, Span

from spacy_bert_ner.evaluation.gold_consistency import span_errors, summarize

VOCAB = spacy.blank("en").vocab


def doc(words, ents, sent_starts=None):
    d = Doc(VOCAB, words=words, sent_starts=sent_starts)
    d.ents = [Span(d, s, e, label=label) for s, e, label in ents]
    return d


def test_mislabel_that_the_gold_makes_elsewhere_is_disputed():
    words = ["the", "U.S.", "said"]
    gold = [doc(words, [(1, 2, "geo")]), doc(words, [(1, 2, "gpe")]), doc(words, [(1, 2, "gpe")])]
    pred = [doc(words, [(1, 2, "gpe")]), doc(words, [(1, 2, "gpe")]), doc(words, [(1, 2, "gpe")])]
    [error] = span_errors(gold, pred)
    assert (error.doc, error.text, error.gold, error.predicted) == (0, "U.S.", "geo", "gpe")
    # this occurrence itself is not counted: elsewhere the gold says gpe twice, geo never
    assert error.elsewhere == {"gpe": 2}
    assert error.disputed
    assert summarize([error]) == {
        "errors": 1,
        "disputed": 1,
        "disputed_share": 1.0,
        "disputed_by_pair": {"geo -> gpe": 1},
    }


def test_an_error_the_rest_of_the_gold_does_not_support_is_not_disputed():
    words = ["in", "Paris", "today"]
    gold = [doc(words, [(1, 2, "geo")]), doc(words, [(1, 2, "geo")])]
    pred = [doc(words, [(1, 2, "org")]), doc(words, [(1, 2, "geo")])]
    [error] = span_errors(gold, pred)
    assert error.elsewhere == {"geo": 1}
    assert not error.disputed


def test_missed_entity_whose_words_are_o_elsewhere_and_boundary_errors_give_two_sides():
    gold = [
        doc(["on", "Monday", "morning"], [(1, 2, "tim")]),
        doc(["on", "Monday", "night"], []),
        doc(["New", "York", "City"], [(0, 3, "geo")]),
        doc(["in", "New", "York"], [(1, 3, "geo")]),
    ]
    pred = [
        doc(["on", "Monday", "morning"], []),
        doc(["on", "Monday", "night"], []),
        doc(["New", "York", "City"], [(0, 2, "geo")]),
        doc(["in", "New", "York"], [(1, 3, "geo")]),
    ]
    errors = span_errors(gold, pred)
    assert [(e.text, e.gold, e.predicted) for e in errors] == [
        ("Monday", "tim", "O"),
        ("New York", "O", "geo"),
        ("New York City", "geo", "O"),
    ]
    monday, new_york, city = errors
    assert monday.elsewhere == {"O": 1} and monday.disputed
    # "New York" inside the gold "New York City" is neither that span nor O: left out of the
    # counts; and a boundary error is the model's, however the words are labelled elsewhere
    assert new_york.elsewhere == {"geo": 1} and new_york.boundary and not new_york.disputed
    assert city.elsewhere == {} and city.boundary and not city.disputed
    assert not monday.boundary


def test_error_carries_its_sentence():
    words = ["A", "b", ".", "Obama", "spoke", "."]
    gold = [doc(words, [(3, 4, "per")], sent_starts=[True, False, False, True, False, False])]
    pred = [doc(words, [], sent_starts=[True, False, False, True, False, False])]
    [error] = span_errors(gold, pred)
    assert error.sentence == "Obama spoke ."
    assert error.to_dict()["disputed"] is False


def test_examples_page_notes_disputed_errors():
    from spacy_bert_ner.evaluation.html import render_examples

    words = ["the", "U.S.", "said"]
    gold = [doc(words, [(1, 2, "geo")]), doc(words, [(1, 2, "gpe")]), doc(words, [(1, 2, "gpe")])]
    pred = [doc(words, [(1, 2, "gpe")]) for _ in gold]
    page = render_examples(gold, pred, n=1, errors=span_errors(gold, pred))
    assert "geo ✗ predicted gpe · gold elsewhere: 2 gpe" in page
    assert "· gold elsewhere" not in render_examples(gold, pred, n=1)
