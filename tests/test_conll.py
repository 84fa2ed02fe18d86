"""The CoNLL column reader and `convert_conll`, on small hand-written files (made-up sentences)."""

from pathlib import Path

import pytest
import srsly
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.converters import ConversionError, ConversionReport, TagScheme, convert_conll, read_conll
from spacy_bert_ner.converters.conll import EMPTY_DOCUMENT
from spacy_bert_ner.converters.tags import B_START_IOB1, I_START

DOCSTART = "-DOCSTART- -X- O O"
# CoNLL-2003 layout and tags (IOB1: B- only where an entity follows one of its type).
# Lines: 1 DOCSTART, 3-10 sentence 1, 12-16 sentence 2, 18 DOCSTART, 20-24 sentence 3.
IOB1 = f"""\
{DOCSTART}

Maria NNP I-NP I-PER
Lopez NNP I-NP I-PER
met VBD I-VP O
Tony NNP I-NP I-PER
Blair NNP I-NP I-PER
in IN I-PP O
Oslo NNP I-NP I-LOC
. . O O

Berlin NNP I-NP I-LOC
London NNP I-NP B-LOC
flights NNS I-NP O
resumed VBD I-VP O
. . O O

{DOCSTART}

German JJ I-NP I-MISC
troops NNS I-NP O
left VBD I-VP O
Kyoto NNP I-NP I-LOC
. . O O

"""
IOB2 = f"""\
{DOCSTART}

Maria NNP I-NP B-PER
Lopez NNP I-NP I-PER
met VBD I-VP O
Tony NNP I-NP B-PER
Blair NNP I-NP I-PER
in IN I-PP O
Oslo NNP I-NP B-LOC
. . O O

Berlin NNP I-NP B-LOC
London NNP I-NP B-LOC
flights NNS I-NP O
resumed VBD I-VP O
. . O O

{DOCSTART}

German JJ I-NP B-MISC
troops NNS I-NP O
left VBD I-VP O
Kyoto NNP I-NP B-LOC
. . O O

"""
WORDS = [
    [["Maria", "Lopez", "met", "Tony", "Blair", "in", "Oslo", "."], ["Berlin", "London", "flights", "resumed", "."]],
    [["German", "troops", "left", "Kyoto", "."]],
]
TAGS = [
    [["NNP", "NNP", "VBD", "NNP", "NNP", "IN", "NNP", "."], ["NNP", "NNP", "NNS", "VBD", "."]],
    [["JJ", "NNS", "VBD", "NNP", "."]],
]
ENTS = [
    [("Maria Lopez", "PER", 0, 2), ("Tony Blair", "PER", 3, 5), ("Oslo", "LOC", 6, 7), ("Berlin", "LOC", 8, 9)]
    + [("London", "LOC", 9, 10)],
    [("German", "MISC", 0, 1), ("Kyoto", "LOC", 3, 4)],
]
N_I_STARTS = 6  # I- tags that start an entity in IOB1 (everything but London)
N_B_STARTS = 6  # B- tags that do not follow an entity of their type in IOB2


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line - 1] = new
    return "\n".join(lines)


def without_docstarts(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith("-DOCSTART-")).lstrip("\n")


def words_of(documents) -> list[list[list[str]]]:
    return [[sent.words for sent in doc] for doc in documents]


def read_docs(path: Path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


@pytest.mark.parametrize("docstart", ["-DOCSTART- -X- O O", "-DOCSTART- -X- -X- O", "-DOCSTART-\t-X-\t-X-\tO"])
def test_read_conll_both_docstart_forms_give_the_same_docs(tmp_path, docstart):
    expected = read_conll(write(tmp_path / "a.conll", IOB1))
    documents = read_conll(write(tmp_path / "b.conll", IOB1.replace(DOCSTART, docstart)))
    assert documents == expected
    assert words_of(documents) == WORDS


def test_convert_conll_docs_keep_tags_entities_and_sentences(tmp_path):
    path = write(tmp_path / "eng.train", IOB1)
    convert_conll({"train": path}, tmp_path / "out")
    docs = read_docs(tmp_path / "out" / "train.spacy")
    assert [[[t.text for t in sent] for sent in doc.sents] for doc in docs] == WORDS
    assert [[[t.tag_ for t in sent] for sent in doc.sents] for doc in docs] == TAGS
    assert [[(e.text, e.label_, e.start, e.end) for e in doc.ents] for doc in docs] == ENTS
    assert all(doc.has_unknown_spaces for doc in docs)


@pytest.mark.parametrize("text", [IOB1, IOB2], ids=["iob1", "iob2"])
@pytest.mark.parametrize("n_sents,sizes", [(1, [1, 1, 1]), (2, [2, 1]), (10, [3])])
def test_read_conll_without_docstart_groups_n_sents_per_doc(tmp_path, text, n_sents, sizes):
    path = write(tmp_path / "train.txt", without_docstarts(text))
    documents = read_conll(path, n_sents=n_sents)
    assert [len(doc) for doc in documents] == sizes
    assert [sent.words for doc in documents for sent in doc] == [s for doc in WORDS for s in doc]


def test_read_conll_ignores_n_sents_when_the_file_has_docstarts(tmp_path):
    assert words_of(read_conll(write(tmp_path / "eng.train", IOB1), n_sents=1)) == WORDS


@pytest.mark.parametrize(
    "text,scheme", [(IOB1, "iob1"), (IOB2, "iob2"), (without_docstarts(IOB2), "iob2")], ids=["iob1", "iob2", "bare"]
)
def test_read_conll_detects_the_scheme_and_reads_the_same_entities(tmp_path, text, scheme):
    path = write(tmp_path / "eng.train", text)
    report = ConversionReport()
    documents = read_conll(path, report=report)
    assert report.schemes == {str(path): scheme}
    assert not report.repairs
    expected = read_conll(write(tmp_path / "iob2", IOB2))
    assert [sent.ents for doc in documents for sent in doc] == [sent.ents for doc in expected for sent in doc]


def test_read_conll_iob1_b_between_adjacent_entities_gives_two(tmp_path):
    documents = read_conll(write(tmp_path / "eng.train", IOB1))
    assert documents[0][1].ents == ["B-LOC", "B-LOC", "O", "O", "O"]
    assert documents[0][0].ents == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]


def test_read_conll_explicit_iob2_on_iob1_file_reports_i_starts(tmp_path):
    path = write(tmp_path / "eng.train", IOB1)
    report = ConversionReport()
    documents = read_conll(path, scheme=TagScheme.iob2, report=report)
    assert documents == read_conll(path)
    assert report.schemes == {str(path): "iob2"}
    assert report.repairs == {I_START: N_I_STARTS}
    assert report.repair_examples[I_START] == [f"{path}:{line}" for line in (3, 6, 9, 12, 20)]


def test_read_conll_explicit_iob1_on_iob2_file_reports_b_starts(tmp_path):
    path = write(tmp_path / "eng.train", IOB2)
    report = ConversionReport()
    read_conll(path, scheme="iob1", report=report)
    assert report.schemes == {str(path): "iob1"}
    assert report.repairs == {B_START_IOB1: N_B_STARTS}


@pytest.mark.parametrize("text,scheme", [(IOB1, "iob2"), (IOB2, "iob1")])
def test_read_conll_strict_rejects_tags_of_the_other_scheme(tmp_path, text, scheme):
    path = write(tmp_path / "eng.train", text)
    with pytest.raises(ConversionError, match=rf"invalid {scheme.upper()} tag\(s\), first at {path}:3"):
        read_conll(path, scheme=scheme, strict=True)


@pytest.mark.parametrize("text", [IOB1, IOB2], ids=["iob1", "iob2"])
def test_read_conll_strict_auto_accepts_either_valid_scheme(tmp_path, text):
    assert words_of(read_conll(write(tmp_path / "eng.train", text), strict=True)) == WORDS


def test_read_conll_mixed_i_start_in_iob2_file_is_a_repair(tmp_path):
    path = write(tmp_path / "eng.train", replace_line(IOB2, 23, "Kyoto NNP I-NP I-LOC"))
    report = ConversionReport()
    documents = read_conll(path, report=report)
    assert report.schemes == {str(path): "iob2"}
    assert report.repair_examples == {I_START: [f"{path}:23"]}
    assert documents[1][0].ents[3] == "B-LOC"


def test_read_conll_two_columns_have_no_pos(tmp_path):
    two = "\n".join(" ".join(line.split()[::3]) if line.strip() else "" for line in IOB1.split("\n"))
    assert two.startswith("-DOCSTART- O\n\nMaria I-PER\n")
    path = write(tmp_path / "train.txt", two)
    documents = read_conll(path)
    assert words_of(documents) == WORDS
    assert all(sent.tags is None for doc in documents for sent in doc)
    convert_conll({"train": path}, tmp_path / "out")
    docs = read_docs(tmp_path / "out" / "train.spacy")
    assert {t.tag_ for doc in docs for t in doc} == {""}
    assert [[(e.text, e.label_, e.start, e.end) for e in doc.ents] for doc in docs] == ENTS


def test_read_conll_tab_separated(tmp_path):
    tabbed = IOB1.replace(" ", "\t")
    assert read_conll(write(tmp_path / "a.tsv", tabbed)) == read_conll(write(tmp_path / "b.txt", IOB1))


def test_read_conll_crlf(tmp_path):
    assert read_conll(write(tmp_path / "a", IOB1.replace("\n", "\r\n"))) == read_conll(write(tmp_path / "b", IOB1))


@pytest.mark.parametrize("name", ["eng.train", "train.txt", "dev.conll", "test.iob", "NOEXTENSION"])
def test_read_conll_any_file_name(tmp_path, name):
    assert words_of(read_conll(write(tmp_path / name, IOB1))) == WORDS


def test_read_conll_keeps_a_leading_bom_out_of_the_first_docstart(tmp_path):
    path = write(tmp_path / "eng.train", "\ufeff" + IOB1)
    documents = read_conll(path)
    assert words_of(documents) == WORDS
    assert documents == read_conll(write(tmp_path / "plain", IOB1))


@pytest.mark.parametrize("word", ["5\u00a0km", "x\u0085y", "a\u2009b", "caf\u00e9"])
def test_read_conll_splits_columns_on_spaces_and_tabs_only(tmp_path, word):
    # Unicode whitespace inside a word (a no-break space, latin-1's U+0085 ...) is part of the word.
    path = write(tmp_path / "eng.train", replace_line(IOB1, 5, f"{word} VBD I-VP O"))
    documents = read_conll(path)
    assert documents[0][0].words[2] == word
    assert documents[0][0].tags[2] == "VBD"


def test_read_conll_latin1_u0085_stays_in_its_word(tmp_path):
    path = tmp_path / "eng.train"
    path.write_bytes(replace_line(IOB1, 5, "x\x85y VBD I-VP O").encode("latin-1"))
    documents = read_conll(path, encoding="latin-1")
    assert documents[0][0].words[2] == "x\u0085y"
    assert words_of(documents)[1] == WORDS[1]


@pytest.mark.parametrize(
    "line,new,problem",
    [
        (4, "Lopez NNP I-PER", "expected 4 columns like the first token line, found 3: 'Lopez NNP I-PER'"),
        (13, "London NNP I-NP B-LOC extra", "expected 4 columns like the first token line, found 5"),
        (22, "left VBD I-VP U-LOC", "unknown entity tag 'U-LOC'"),
        (23, "Kyoto NNP I-NP E-LOC", "other schemes (BILUO/BIOES)"),
        (6, "Tony NNP I-NP B-", "entity tag 'B-' has an empty or padded type"),
        (7, "Blair NNP I-NP LOC", "unknown entity tag 'LOC'"),
    ],
)
def test_read_conll_bad_line_names_file_line_and_problem(tmp_path, line, new, problem):
    path = write(tmp_path / "eng.train", replace_line(IOB1, line, new))
    with pytest.raises(ConversionError) as excinfo:
        read_conll(path)
    assert (excinfo.value.path, excinfo.value.line) == (str(path), line)
    assert str(excinfo.value).startswith(f"{path}:{line}: ")
    assert problem in str(excinfo.value)


def test_read_conll_one_column_file(tmp_path):
    path = write(tmp_path / "words.txt", "Hello\nworld\n")
    with pytest.raises(ConversionError, match=r"words\.txt:1: expected at least 2 columns"):
        read_conll(path)


@pytest.mark.parametrize("line", [3, 14, 24])
def test_read_conll_invalid_utf8_names_the_line(tmp_path, line):
    lines = IOB1.encode("utf-8").split(b"\n")
    lines[line - 1] = b"caf\xe9 NN I-NP O"
    path = tmp_path / "eng.train"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConversionError) as excinfo:
        read_conll(path)
    assert str(excinfo.value).startswith(f"{path}:{line}: byte(s) b'\\xe9' cannot be decoded as utf-8")
    assert read_conll(path, encoding="latin-1")[0 if line < 18 else 1]


@pytest.mark.parametrize(
    "data,problem", [(b"", "file is empty"), (b"\n \n\t\n", "file is empty"), (b"-DOCSTART- -X- O O\n\n", "no token")]
)
def test_read_conll_without_tokens(tmp_path, data, problem):
    path = tmp_path / "eng.train"
    path.write_bytes(data)
    with pytest.raises(ConversionError, match=problem) as excinfo:
        read_conll(path)
    assert str(excinfo.value).startswith(f"{path}: ")


def test_read_conll_empty_document_is_a_repair_not_dropped_silently(tmp_path):
    text = IOB1.replace(f"{DOCSTART}\n\nGerman", f"{DOCSTART}\n\n{DOCSTART}\n\nGerman")
    path = write(tmp_path / "eng.train", text)
    report = ConversionReport()
    documents = read_conll(path, report=report)
    assert words_of(documents) == WORDS
    assert report.repairs == {EMPTY_DOCUMENT: 1}
    assert report.repair_examples[EMPTY_DOCUMENT] == [f"{path}:20"]


def test_read_conll_trailing_docstart_is_a_repair(tmp_path):
    report = ConversionReport()
    documents = read_conll(write(tmp_path / "eng.train", IOB1 + DOCSTART + "\n"), report=report)
    assert words_of(documents) == WORDS
    assert report.repairs == {EMPTY_DOCUMENT: 1}


def test_read_conll_skip_bad_sentences_rejects_only_that_sentence(tmp_path):
    path = write(tmp_path / "eng.train", replace_line(IOB1, 13, "London NNP I-NP"))
    report = ConversionReport()
    documents = read_conll(path, skip_bad_sentences=True, report=report)
    assert words_of(documents) == [[WORDS[0][0]], WORDS[1]]
    (rejection,) = report.rejections
    assert (rejection.path, rejection.line, rejection.tokens) == (str(path), 13, 5)
    assert "expected 4 columns" in rejection.problem


def test_convert_conll_counts_add_up(tmp_path):
    train = write(tmp_path / "eng.train", replace_line(IOB1, 13, "London NNP I-NP"))
    dev = write(tmp_path / "eng.testa", IOB2)
    summary = convert_conll({"train": train, "dev": dev, "test": None}, tmp_path / "out", skip_bad_sentences=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dev.spacy", "stats.json", "train.spacy"]
    assert srsly.read_json(tmp_path / "out" / "stats.json") == summary
    assert summary["splits"]["train"] == {
        "docs": 2,
        "sentences": 2,
        "tokens": 13,
        "entities": 5,
        "entities_per_label": {"LOC": 2, "MISC": 1, "PER": 2},
    }
    assert summary["splits"]["dev"]["sentences"] == 3
    assert summary["total"]["sentences"] + summary["rejected_sentences"] == 6
    assert summary["tag_schemes"] == {str(train): "iob1", str(dev): "iob2"}
    assert summary["sources"] == [str(train), str(dev)]


runner = CliRunner()


def output_of(result) -> str:
    """The CLI's output with wasabi's line wrapping undone (it never breaks a word)."""
    return " ".join(result.output.split())


def test_cli_convert_conll_help():
    result = runner.invoke(app, ["convert-conll", "--help"])
    assert result.exit_code == 0
    assert "--train" in result.output and "--scheme" in result.output


def test_cli_help_lists_the_converters():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "convert-kaggle" in result.output and "convert-conll" in result.output


def test_cli_convert_conll_good_input(tmp_path):
    train = write(tmp_path / "eng.train", IOB1)
    dev = write(tmp_path / "eng.testa", IOB2)
    result = runner.invoke(app, ["convert-conll", str(tmp_path / "out"), "--train", str(train), "--dev", str(dev)])
    assert result.exit_code == 0, result.output
    assert "6 sentences read = 6 written + 0 rejected" in output_of(result)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dev.spacy", "stats.json", "train.spacy"]


def test_cli_convert_conll_bad_input_exits_1_with_file_and_line(tmp_path):
    train = write(tmp_path / "eng.train", replace_line(IOB1, 13, "London NNP I-NP"))
    result = runner.invoke(app, ["convert-conll", str(tmp_path / "out"), "--train", str(train)])
    assert result.exit_code == 1
    assert f"{train}:13: expected 4 columns" in output_of(result)


def test_cli_convert_conll_needs_a_file(tmp_path):
    result = runner.invoke(app, ["convert-conll", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Give at least one of --train, --dev, --test" in output_of(result)
