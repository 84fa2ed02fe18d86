"""spacy_bert_ner.sentence_spans.v1: windows of whole sentences, every token in exactly one window."""

import pickle

import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import registry

from spacy_bert_ner.pipeline.sentence_spans import configure_sentence_spans, sentence_windows, strided

VOCAB = spacy.blank("en").vocab


def make_doc(sentence_lengths, sents=True):
    words = [f"w{i}" for i in range(sum(sentence_lengths))]
    starts = [i == 0 for n in sentence_lengths for i in range(n)]
    return Doc(VOCAB, words=words, sent_starts=starts if sents else None)


def test_whole_sentences_packed_up_to_the_window():
    doc = make_doc([4, 3, 5, 2, 6])
    assert sentence_windows(doc, 8, 4) == [(0, 7), (7, 14), (14, 20)]


def test_each_token_once_and_windows_start_at_sentence_starts():
    doc = make_doc([7, 1, 9, 3, 3, 10, 2, 5])
    windows = sentence_windows(doc, 10, 5)
    covered = [i for start, end in windows for i in range(start, end)]
    assert covered == list(range(len(doc)))
    assert all(end - start <= 10 and doc[start].is_sent_start for start, end in windows)


def test_a_sentence_over_the_window_gets_strided_windows():
    doc = make_doc([3, 12, 2])
    assert sentence_windows(doc, 5, 4) == [(0, 3), (3, 8), (7, 12), (11, 15), (15, 17)]
    assert strided(3, 15, 5, 4) == [(3, 8), (7, 12), (11, 15)]


def test_a_doc_without_sentences_gets_strided_windows():
    assert sentence_windows(make_doc([10], sents=False), 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert sentence_windows(Doc(VOCAB, words=[]), 4, 3) == []


def test_getter_returns_spans_per_doc_and_pickles():
    get_spans = configure_sentence_spans(window=8, stride=4)
    docs = [make_doc([4, 3, 5]), make_doc([2])]
    spans = pickle.loads(pickle.dumps(get_spans))(docs)
    assert [[(span.start, span.end) for span in doc_spans] for doc_spans in spans] == [[(0, 7), (7, 12)], [(0, 2)]]


@pytest.mark.parametrize("window,stride", [(0, 1), (4, 0), (4, 5)])
def test_bad_settings_are_refused(window, stride):
    with pytest.raises(ValueError, match="sentence_spans"):
        configure_sentence_spans(window=window, stride=stride)


def test_found_through_entry_points(found_through_entry_points):
    found = found_through_entry_points("span_getters", "spacy_bert_ner.sentence_spans.v1")
    assert found == "configure_sentence_spans"
    assert registry.span_getters.get("spacy_bert_ner.sentence_spans.v1") is configure_sentence_spans


def test_pipeline_with_sentence_windows_trains_and_round_trips(tiny_bert_dir, tmp_path):
    """The getter in a config: the transformer sees one window per packed sentence group, the head
    learns through it, and the saved pipeline loads with the same getter and predictions."""
    from spacy import util
    from test_aligned_ner import TRAIN_DATA, make_examples, make_nlp, train

    util.fix_random_seed(0)
    nlp = make_nlp(
        tiny_bert_dir,
        pooling="mean",
        **{
            "components.transformer.model.get_spans": {
                "@span_getters": "spacy_bert_ner.sentence_spans.v1",
                "window": 8,
                "stride": 4,
            }
        },
    )
    nlp.add_pipe("sentencizer", first=True)
    losses = train(nlp, make_examples(nlp), 60)
    assert losses["aligned_ner"] < 1.0
    text = TRAIN_DATA[0][0] + " " + TRAIN_DATA[1][0]
    doc = nlp(text)
    expected = sentence_windows(doc, 8, 4)
    assert len(expected) > 1 and len(doc._.trf_data.wordpieces.strings) == len(expected)
    # each token in exactly one window: the tokens align to every real wordpiece once ([CLS]/[SEP] aside)
    wordpieces = doc._.trf_data.wordpieces
    real_pieces = int(wordpieces.attention_mask.sum()) - 2 * len(expected)
    assert int(doc._.trf_data.align.lengths.sum()) == real_pieces
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert (
        loaded.config["components"]["transformer"]["model"]["get_spans"]["@span_getters"]
        == "spacy_bert_ner.sentence_spans.v1"
    )
    assert [(e.text, e.label_) for e in loaded(text).ents] == [(e.text, e.label_) for e in doc.ents]
