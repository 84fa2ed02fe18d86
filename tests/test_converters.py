"""Shared converter parts (tags, sources, DocBin writing, splits) and the real corpora's counts.

The Kaggle and CoNLL readers have their own modules (test_kaggle.py, test_conll.py).
"""

import gzip
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import spacy
from hypothesis import given
from hypothesis import strategies as st
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH, SENT_START, SPACY, TAG
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus
from spacy.vocab import Vocab

from spacy_bert_ner.converters import (
    ConversionError,
    ConversionReport,
    DocBinBuilder,
    Document,
    IOBDecoder,
    Sentence,
    convert_conll,
    convert_kaggle,
    group,
    parse_tag,
    split_items,
    write_split,
)
from spacy_bert_ner.converters.source import read_text
from spacy_bert_ner.converters.tags import B_START_IOB1, I_START

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KAGGLE = DATA / "kaggle-ner" / "ner_dataset.csv.gz"
ENG_TRAIN = DATA / "conll2003" / "eng.train"
ENG_TESTA = DATA / "conll2003" / "eng.testa"


# --- tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag,parsed",
    [
        ("O", ("O", "")),
        ("B-PER", ("B", "PER")),
        ("I-geo", ("I", "geo")),
        ("B-B-X", ("B", "B-X")),
        ("I-a b", ("I", "a b")),
    ],
)
def test_parse_tag_valid(tag, parsed):
    assert parse_tag(tag) == parsed


@pytest.mark.parametrize(
    "tag,problem",
    [
        ("", "unknown entity tag"),
        ("o", "unknown entity tag"),
        ("PER", "unknown entity tag"),
        ("X-foo", "unknown entity tag"),
        ("U-PER", "BILUO/BIOES"),
        ("L-PER", "BILUO/BIOES"),
        ("E-PER", "BILUO/BIOES"),
        ("S-PER", "BILUO/BIOES"),
        ("b-PER", "unknown entity tag"),
        ("B-", "empty or padded type"),
        ("I-", "empty or padded type"),
        ("B- PER", "empty or padded type"),
        ("B-PER ", "empty or padded type"),
    ],
)
def test_parse_tag_invalid(tag, problem):
    with pytest.raises(ValueError, match=problem):
        parse_tag(tag)


@pytest.mark.parametrize(
    "tags,iob2",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),
        (["I-PER", "I-LOC"], ["B-PER", "B-LOC"]),
        (["B-PER", "I-PER", "B-LOC"], ["B-PER", "I-PER", "B-LOC"]),
        (["O", "O"], ["O", "O"]),
    ],
)
def test_iob_decoder_normalises_to_iob2(tags, iob2):
    decoder = IOBDecoder("file")
    out, prev = [], ""
    for line, tag in enumerate(tags, start=1):
        ent, prev = decoder.decode(tag, prev, line)
        out.append(ent)
    assert out == iob2


def decode_all(decoder: IOBDecoder, tags: List[str]) -> None:
    prev = ""
    for line, tag in enumerate(tags, start=1):
        _, prev = decoder.decode(tag, prev, line)


@pytest.mark.parametrize(
    "tags,scheme,repairs",
    [
        (["I-PER", "O", "I-LOC", "B-LOC"], "iob1", {}),
        (["B-PER", "O", "B-LOC", "B-LOC"], "iob2", {}),
        (["B-PER", "O", "B-LOC", "I-ORG"], "iob2", {I_START: 1}),
        (["I-PER", "B-LOC"], "iob1", {B_START_IOB1: 1}),
        (["O", "O"], "iob2", {}),
    ],
)
def test_iob_decoder_detects_scheme_and_reports_repairs(tags, scheme, repairs):
    decoder = IOBDecoder("file")
    decode_all(decoder, tags)
    report = ConversionReport()
    assert decoder.resolve(report).value == scheme
    assert report.schemes == {"file": scheme}
    assert report.repairs == repairs


def test_iob_decoder_strict_error_names_first_location():
    decoder = IOBDecoder("corpus.txt", scheme="iob2")
    decode_all(decoder, ["O", "O", "I-PER", "O", "I-LOC"])
    with pytest.raises(ConversionError, match=r"^corpus\.txt: 2 invalid IOB2 tag\(s\), first at corpus\.txt:3: "):
        decoder.resolve(ConversionReport(), strict=True)


def test_report_keeps_few_examples_but_counts_all():
    report = ConversionReport()
    for line in range(1, 21):
        report.repair("kind", "f", line)
    assert report.repairs["kind"] == 20
    assert report.repair_examples["kind"] == [f"f:{line}" for line in range(1, 6)]
    assert report.to_dict()["repairs"] == {"kind": {"count": 20, "examples": report.repair_examples["kind"]}}


# --- sources --------------------------------------------------------------------------------


def test_read_text_not_found(tmp_path):
    with pytest.raises(ConversionError, match=r"missing\.csv: file not found$"):
        read_text(tmp_path / "missing.csv", "utf-8")


def test_read_text_directory(tmp_path):
    with pytest.raises(ConversionError, match="expected a file, got a directory"):
        read_text(tmp_path, "utf-8")


@pytest.mark.parametrize(
    "name,problem", [("data.csv.gz", "not a readable gzip file"), ("data.zip", "not a readable zip")]
)
def test_read_text_broken_archive(tmp_path, name, problem):
    path = tmp_path / name
    path.write_bytes(b"plain text, not an archive\n")
    with pytest.raises(ConversionError, match=problem) as excinfo:
        read_text(path, "utf-8", member_suffix=".csv")
    assert str(excinfo.value).startswith(f"{path}: ")


def test_read_text_unknown_encoding(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"word O\n")
    with pytest.raises(ConversionError, match="unknown encoding 'klingon'"):
        read_text(path, "klingon")


def test_read_text_gzip_decode_error_names_the_line(tmp_path):
    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress(b"one O\r\ntwo O\r\nthr\xffee O\r\n"))
    with pytest.raises(ConversionError, match=r"a\.txt\.gz:3: byte\(s\) b'\\xff' cannot be decoded as utf-8"):
        read_text(path, "utf-8")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_read_text_drops_a_bom(tmp_path, encoding):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffword O\n".encode("utf-8"))
    assert read_text(path, encoding)[:2] == ("word O\n", str(path))


# --- DocBin writing -------------------------------------------------------------------------


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


def public_docbin(documents: List[Document]) -> DocBin:
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


def read_back(docbin: DocBin) -> List[Doc]:
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


# --- splits ---------------------------------------------------------------------------------


def test_split_items_same_seed_same_split():
    items = list(range(200))
    assert split_items(items, (0.8, 0.1, 0.1), seed=7) == split_items(items, (0.8, 0.1, 0.1), seed=7)


def test_split_items_different_seed_different_split():
    items = list(range(200))
    assert split_items(items, (0.8, 0.1, 0.1), seed=0) != split_items(items, (0.8, 0.1, 0.1), seed=1)


@pytest.mark.parametrize(
    "ratios,problem",
    [
        ((0.8, 0.2), "expected 3 split ratios"),
        ((0.5, 0.2, 0.2, 0.1), "expected 3 split ratios"),
        ((0.8, 0.1, 0.2), "must be non-negative and sum to 1"),
        ((0.8, 0.1, 0.05), "must be non-negative and sum to 1"),
        ((1.1, -0.1, 0.0), "must be non-negative and sum to 1"),
    ],
)
def test_split_items_bad_ratios(ratios, problem):
    with pytest.raises(ValueError, match=problem):
        split_items(list(range(10)), ratios, seed=0)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 101, 4796])
@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (1 / 3, 1 / 3, 1 / 3), (0.7, 0.2, 0.1), (1, 0, 0), (0, 0, 1)])
def test_split_items_puts_every_item_in_exactly_one_part_in_source_order(n, ratios):
    items = list(range(n))
    parts = split_items(items, ratios, seed=0)
    assert len(parts) == 3
    assert sorted(i for part in parts for i in part) == items
    assert all(part == sorted(part) for part in parts)
    for part, ratio in zip(parts, ratios):
        assert abs(len(part) - ratio * n) <= 1


@given(n=st.integers(0, 500), seed=st.integers(0, 2**32), cut=st.tuples(st.integers(0, 100), st.integers(0, 100)))
def test_split_items_partitions_any_input(n, seed, cut):
    low, high = sorted(cut)
    ratios = (low / 100, (high - low) / 100, (100 - high) / 100)
    parts = split_items(list(range(n)), ratios, seed)
    assert sorted(i for part in parts for i in part) == list(range(n))


def test_split_items_sizes():
    assert [len(p) for p in split_items(list(range(100)), (0.8, 0.1, 0.1), seed=0)] == [80, 10, 10]


@pytest.mark.parametrize(
    "n,size,sizes", [(0, 3, []), (1, 3, [1]), (7, 3, [3, 3, 1]), (9, 3, [3, 3, 3]), (4, 1, [1, 1, 1, 1])]
)
def test_group(n, size, sizes):
    groups = group(list(range(n)), size)
    assert [len(g) for g in groups] == sizes
    assert [i for g in groups for i in g] == list(range(n))


@pytest.mark.parametrize("size", [0, -1])
def test_group_size_must_be_positive(size):
    with pytest.raises(ValueError, match="group size must be at least 1"):
        group([1, 2], size)


# --- the module's own entry point -----------------------------------------------------------


def test_python_m_cli_bad_input_exits_1_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Maria B-PER\nslept\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "spacy_bert_ner.cli", "convert-conll", str(tmp_path / "out"), "--train", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{bad}:2: expected 2 columns like the first token line, found 1" in " ".join(result.stdout.split())


# --- the real corpora (../shared/data, read-only; absent in a fresh clone) -------------------


def needs(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"real data not found: {', '.join(missing)} (see ../shared/data/README.md)")


@pytest.fixture(scope="module")
def kaggle_output(tmp_path_factory):
    needs(KAGGLE)
    output_dir = tmp_path_factory.mktemp("kaggle")
    return convert_kaggle(KAGGLE, output_dir), output_dir


@pytest.fixture(scope="module")
def conll_output(tmp_path_factory):
    needs(ENG_TRAIN, ENG_TESTA)
    output_dir = tmp_path_factory.mktemp("conll")
    return convert_conll({"train": ENG_TRAIN, "dev": ENG_TESTA}, output_dir), output_dir


def test_real_kaggle_counts(kaggle_output):
    summary, _ = kaggle_output
    total = summary["total"]
    assert (total["sentences"], total["tokens"], total["entities"]) == (47_959, 1_048_575, 111_891)
    assert total["entities_per_label"] == {
        "geo": 37_644,
        "tim": 20_333,
        "org": 20_143,
        "per": 16_990,
        "gpe": 15_870,
        "art": 402,
        "eve": 308,
        "nat": 201,
    }
    assert summary["repairs"] == {}
    assert summary["rejected_sentences"] == 0
    assert summary["tag_schemes"] == {str(KAGGLE): "iob2"}


def test_real_kaggle_splits_add_up(kaggle_output):
    summary, output_dir = kaggle_output
    splits = summary["splits"]
    for key in ("docs", "sentences", "tokens", "entities"):
        assert sum(stats[key] for stats in splits.values()) == summary["total"][key]
    assert [splits[s]["docs"] for s in ("train", "dev", "test")] == [3837, 479, 480]
    docs = list(DocBin().from_disk(output_dir / "dev.spacy").get_docs(Vocab()))
    assert len(docs) == splits["dev"]["docs"]
    assert sum(len(doc) for doc in docs) == splits["dev"]["tokens"]
    assert sum(len(doc.ents) for doc in docs) == splits["dev"]["entities"]
    assert sum(len(list(doc.sents)) for doc in docs) == splits["dev"]["sentences"]


def test_real_kaggle_cp1252_words(kaggle_output):
    _, output_dir = kaggle_output
    words = set()
    for split in ("train", "dev", "test"):
        for doc in DocBin().from_disk(output_dir / f"{split}.spacy").get_docs(Vocab()):
            words.update(t.text for t in doc if not t.text.isascii())
    assert "Korea\u2019s" in words
    assert "5\u00a0storm" in words
    assert not any("\u0085" in word or "\ufffd" in word for word in words)


@pytest.mark.parametrize(
    "split,path,counts,per_label",
    [
        ("train", ENG_TRAIN, (946, 14_041, 203_621, 23_499), {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
        ("dev", ENG_TESTA, (216, 3_250, 51_362, 5_942), {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    ],
)
def test_real_conll_counts(conll_output, split, path, counts, per_label):
    summary, output_dir = conll_output
    stats = summary["splits"][split]
    assert (stats["docs"], stats["sentences"], stats["tokens"], stats["entities"]) == counts
    assert stats["entities_per_label"] == per_label
    assert summary["tag_schemes"][str(path)] == "iob1"
    docs = list(DocBin().from_disk(output_dir / f"{split}.spacy").get_docs(Vocab()))
    assert len(docs) == counts[0]
    assert sum(len(doc) for doc in docs) == counts[2]


def test_real_conll_reports_its_few_b_starts(conll_output):
    # eng.train has two B- tags that do not follow an entity of their type (not valid IOB1):
    # they are kept as entity starts and reported, not silently changed.
    summary, _ = conll_output
    assert summary["repairs"].keys() == {B_START_IOB1}
    assert summary["repairs"][B_START_IOB1]["count"] == 2
    assert all(where.startswith(f"{ENG_TRAIN}:") for where in summary["repairs"][B_START_IOB1]["examples"])
    assert summary["rejected_sentences"] == 0
