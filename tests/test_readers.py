"""spacy_bert_ner.ChunkedCorpus.v1: long Docs cut into sentence-packed chunks, nothing lost."""

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.util import registry


def make_doc(vocab, n_sents: int, sent_len: int) -> Doc:
    """n_sents sentences of sent_len tokens; each sentence's second and third tokens are a PER."""
    words = [f"w{i}" for i in range(n_sents * sent_len)]
    sent_starts = [i % sent_len == 0 for i in range(len(words))]
    doc = Doc(vocab, words=words, sent_starts=sent_starts)
    doc.ents = [Span(doc, s + 1, s + 3, label="PER") for s in range(0, len(words), sent_len)]
    return doc


@pytest.fixture
def corpus_path(tmp_path):
    vocab = spacy.blank("en").vocab
    docs = [make_doc(vocab, 10, 7), make_doc(vocab, 2, 7)]  # 70 tokens, 14 tokens
    path = tmp_path / "train.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def read(path, max_doc_tokens):
    nlp = spacy.blank("en")
    reader = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")(path, max_doc_tokens=max_doc_tokens)
    return list(reader(nlp))


def test_long_docs_become_sentence_chunks_and_nothing_is_lost(corpus_path):
    examples = read(corpus_path, 30)
    # 70 tokens in sentences of 7: chunks of 4 sentences (28 tokens), 4, 2; then the short Doc whole
    assert [len(eg.reference) for eg in examples] == [28, 28, 14, 14]
    whole = read(corpus_path, 0)
    assert [t.text for eg in examples for t in eg.reference] == [t.text for eg in whole for t in eg.reference]
    ents = [(e.text, e.label_) for eg in examples for e in eg.reference.ents]
    assert ents == [(e.text, e.label_) for eg in whole for e in eg.reference.ents]
    for eg in examples:
        assert [t.text for t in eg.predicted] == [t.text for t in eg.reference]
        assert eg.reference[0].is_sent_start


def test_short_docs_and_no_limit_pass_through(corpus_path):
    assert [len(eg.reference) for eg in read(corpus_path, 0)] == [70, 14]
    assert [len(eg.reference) for eg in read(corpus_path, 70)] == [70, 14]


def test_a_sentence_over_the_limit_is_cut_between_tokens(tmp_path):
    vocab = spacy.blank("en").vocab
    path = tmp_path / "long.spacy"
    DocBin(docs=[make_doc(vocab, 1, 25)]).to_disk(path)
    assert [len(eg.reference) for eg in read(path, 10)] == [10, 10, 5]


def test_negative_limit_is_an_error(corpus_path):
    with pytest.raises(ValueError, match="max_doc_tokens"):
        read(corpus_path, -1)


def test_reader_is_found_without_imports(found_through_entry_points):
    assert found_through_entry_points("readers", "spacy_bert_ner.ChunkedCorpus.v1") == "create_chunked_corpus"


def test_oversample_repeats_examples_holding_a_rare_label(tmp_path):
    vocab = spacy.blank("en").vocab
    rare = make_doc(vocab, 1, 7)
    rare.ents = [Span(rare, 0, 1, label="ART"), Span(rare, 1, 3, label="PER")]
    path = tmp_path / "train.spacy"
    DocBin(docs=[make_doc(vocab, 1, 7), rare, Doc(vocab, words=["no", "ents"])]).to_disk(path)
    nlp = spacy.blank("en")
    reader = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")(path, oversample={"ART": 3, "PER": 2})
    labels = [sorted({e.label_ for e in eg.reference.ents}) for eg in reader(nlp)]
    # a PER-only Doc twice, the ART Doc three times (the largest of its labels), no entities once
    assert labels == [["PER"]] * 2 + [["ART", "PER"]] * 3 + [[]]


@pytest.mark.parametrize("times", [0, -1, 1.5, True])
def test_oversample_needs_whole_positive_counts(corpus_path, times):
    with pytest.raises(ValueError, match="oversample"):
        registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")(corpus_path, oversample={"PER": times})


@pytest.mark.parametrize("max_doc_tokens", [0, 30])
def test_sentence_starts_copies_the_gold_sentences_onto_the_predicted_docs(corpus_path, max_doc_tokens):
    nlp = spacy.blank("en")
    make = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")
    with_sents = list(make(corpus_path, max_doc_tokens=max_doc_tokens, sentence_starts=True)(nlp))
    assert len(with_sents) == len(read(corpus_path, max_doc_tokens))
    for eg in with_sents:
        assert eg.predicted.has_annotation("SENT_START")
        assert [s.start for s in eg.predicted.sents] == [s.start for s in eg.reference.sents]
        assert [t.text for t in eg.predicted] == [t.text for t in eg.reference]
        assert not eg.predicted.ents
    for eg in read(corpus_path, max_doc_tokens):
        assert not eg.predicted.has_annotation("SENT_START")


def test_sentence_starts_leaves_docs_without_gold_sentences_alone(tmp_path):
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Anna", "lives", "in", "Oslo"])
    doc.ents = [Span(doc, 0, 1, label="PER")]
    path = tmp_path / "nosents.spacy"
    DocBin(docs=[doc]).to_disk(path)
    make = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")
    (eg,) = list(make(path, sentence_starts=True)(nlp))
    assert not eg.predicted.has_annotation("SENT_START")
    assert [(e.text, e.label_) for e in eg.reference.ents] == [("Anna", "PER")]


def test_sentence_starts_keeps_the_predicted_tokens_where_they_differ_from_the_gold(tmp_path):
    # a DocBin with real spaces: spaCy's Corpus tokenizes the text, "don't" -> "do", "n't"
    nlp = spacy.blank("en")
    words = ["Go", "now", ".", "don't", "stop", "."]
    spaces = [True, False, True, True, False, False]
    doc = Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=[True, False, False, True, False, False])
    path = tmp_path / "spaces.spacy"
    DocBin(docs=[doc], store_user_data=False).to_disk(path)
    make = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")
    (plain,) = list(make(path, max_doc_tokens=0)(nlp))
    (eg,) = list(make(path, max_doc_tokens=0, sentence_starts=True)(nlp))
    tokens = ["Go", "now", ".", "do", "n't", "stop", "."]
    assert [t.text for t in eg.predicted] == [t.text for t in plain.predicted] == tokens
    assert [s.text for s in eg.predicted.sents] == ["Go now.", "don't stop."]


def test_oversampling_a_label_no_entity_has_warns(corpus_path):
    reader = registry.readers.get("spacy_bert_ner.ChunkedCorpus.v1")(corpus_path, oversample={"per": 3})
    with pytest.warns(UserWarning, match=r"no entity .* \['per'\]"):
        examples = list(reader(spacy.blank("en")))
    assert len(examples) == len(read(corpus_path, 256))  # PER, not per: nothing repeated
