"""DocBin writing (`converters/docs.py`): the fast builder matches spaCy's public path, the gold
tokenization is kept, and the split stats match what is stored."""

import pytest
import spacy
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH, SENT_START, SPACY, TAG
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus
from spacy.vocab import Vocab

from spacy_bert_ner.converters import DocBinBuilder, Document, Sentence, write_split


def sent(words: str, tags, ents: str, line: int = 1) -> Sentence:
    return Sentence(words.split(), tags.split() if isinstance(tags, str) else tags, ents.split(), line)


DOCUMENTS = {
    "tagged": [
        [
            sent(
                "Ana Lopez met Kofi Annan in Paris .",
                "NNP NNP VBD NNP NNP IN NNP .",
                "B-per I-per O B-per I-per O B-geo O",
            ),
            sent("Berlin London flights resumed", "NNP NNP NNS VBD", "B-geo B-geo O O"),
            sent("Hi", "UH", "O"),
            sent("United Nations", "NNP NNP", "B-org I-org"),
        ],
        [sent("Paris again .", "NNP RB .", "B-geo O O"), sent("per O B-per", "NN NN NN", "O O O")],
    ],
    "untagged": [
        [sent("Maria Lopez visited Tokyo", None, "B-PER I-PER O B-LOC"), sent("It rained .", None, "O O O")],
        [sent("Zürich – café “naïve”", None, "B-LOC O O O")],
    ],
    "single": [[sent("Reuters", "NNP", "B-ORG")]],
    "empty POS": [[sent("Oslo is", ["", "VBZ"], "B-geo O"), sent("cold", [""], "O")]],
}
COMPARED_ATTRS = [ORTH, TAG, ENT_IOB, ENT_TYPE, SENT_START, SPACY]


def public_docbin(documents: list[Document]) -> DocBin:
    """What the fast builder must match: Doc(...) from words, tags, sent_starts, IOB2 ents + DocBin.add."""
    vocab = Vocab()
    docbin = DocBin()
    for document in documents:
        words = [w for s in document for w in s.words]
        tags = None if any(s.tags is None for s in document) else [t for s in document for t in s.tags]
        sent_starts = [i == 0 for s in document for i in range(len(s.words))]
        ents = [e for s in document for e in s.ents]
        docbin.add(Doc(vocab, words=words, tags=tags, sent_starts=sent_starts, ents=ents))
    return docbin


def read_back(docbin: DocBin) -> list[Doc]:
    return list(DocBin().from_bytes(docbin.to_bytes()).get_docs(Vocab()))


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_docbin_builder_matches_public_spacy_path(name):
    documents = DOCUMENTS[name]
    builder = DocBinBuilder()
    for document in documents:
        builder.add(document)
    fast, public = read_back(builder.docbin), read_back(public_docbin(documents))
    assert len(fast) == len(public) == len(documents)
    for ours, theirs in zip(fast, public):
        assert ours.to_array(COMPARED_ATTRS).tolist() == theirs.to_array(COMPARED_ATTRS).tolist()
        assert ours.has_unknown_spaces and theirs.has_unknown_spaces
        assert [t.text for t in ours] == [t.text for t in theirs]
        assert [t.tag_ for t in ours] == [t.tag_ for t in theirs]
        assert [(e.start, e.end, e.label_) for e in ours.ents] == [(e.start, e.end, e.label_) for e in theirs.ents]
        assert [s.text for s in ours.sents] == [s.text for s in theirs.sents]
        assert ours.cats == theirs.cats == {}
        assert len(ours.spans) == len(theirs.spans) == 0


def test_docbin_builder_entities_and_sentences():
    builder = DocBinBuilder()
    builder.add(DOCUMENTS["tagged"][0])
    (doc,) = read_back(builder.docbin)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Ana Lopez", "per"),
        ("Kofi Annan", "per"),
        ("Paris", "geo"),
        ("Berlin", "geo"),
        ("London", "geo"),
        ("United Nations", "org"),
    ]
    assert [s.text for s in doc.sents] == [
        "Ana Lopez met Kofi Annan in Paris .",
        "Berlin London flights resumed",
        "Hi",
        "United Nations",
    ]


GOLD_WORDS = ["U.S.-led", "forces", "don't", "pay", "$5", "for", "e-mail", "in", "N.Y.", "at", "3.5%", "rates"]


def test_corpus_keeps_the_gold_tokenization(tmp_path):
    nlp = spacy.blank("en")
    text = " ".join(GOLD_WORDS)
    assert [t.text for t in nlp.make_doc(text)] != GOLD_WORDS  # spaCy's tokenizer would split these
    ents = ["B-GPE", "O", "O", "O", "B-MONEY", "O", "O", "O", "B-GPE", "O", "B-PERCENT", "O"]
    document = [Sentence(GOLD_WORDS[:8], None, ents[:8], 1), Sentence(GOLD_WORDS[8:], None, ents[8:], 2)]
    write_split([document], tmp_path / "train.spacy")
    (example,) = list(Corpus(tmp_path / "train.spacy")(nlp))
    assert [t.text for t in example.predicted] == GOLD_WORDS
    assert [t.text for t in example.reference] == GOLD_WORDS
    assert [(e.text, e.label_) for e in example.reference.ents] == [
        ("U.S.-led", "GPE"),
        ("$5", "MONEY"),
        ("N.Y.", "GPE"),
        ("3.5%", "PERCENT"),
    ]
    assert example.get_aligned_ner() == [
        "U-GPE",
        "O",
        "O",
        "O",
        "U-MONEY",
        "O",
        "O",
        "O",
        "U-GPE",
        "O",
        "U-PERCENT",
        "O",
    ]


def test_write_split_stats_match_the_docbin(tmp_path):
    documents = DOCUMENTS["tagged"]
    stats = write_split(documents, tmp_path / "sub" / "x.spacy")
    docs = list(DocBin().from_disk(tmp_path / "sub" / "x.spacy").get_docs(Vocab()))
    assert (stats.docs, stats.sentences, stats.tokens) == (2, 6, 21)
    assert stats.docs == len(docs)
    assert stats.tokens == sum(len(doc) for doc in docs)
    assert sum(stats.entities.values()) == sum(len(doc.ents) for doc in docs) == 7
    assert stats.entities == {"per": 2, "geo": 4, "org": 1}
