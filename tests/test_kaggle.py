"""The Kaggle NER CSV reader and `convert_kaggle`, on small hand-written files.

The samples mimic the real file's layout (cp1252, CRLF, `Sentence: N` on first rows only,
IOB2) but every sentence here is made up.
"""

import gzip
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import srsly
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.converters import ConversionError, ConversionReport, convert_kaggle, read_kaggle
from spacy_bert_ner.converters.kaggle import BLANK_ROW, DUPLICATE_ID
from spacy_bert_ner.converters.tags import I_START

Line = str | bytes

HEADER = "Sentence #,Word,POS,Tag"
# line 1 is the header; sentence 1 is on lines 2-9, sentence 2 on 10-15, sentence 3 on 16-18
ROWS: list[Line] = [
    "Sentence: 1,Ana,NNP,B-per",
    ",Lopez,NNP,I-per",
    ",visited,VBD,O",
    ",Lake,NNP,B-geo",
    ",Victoria,NNP,I-geo",
    ",on,IN,O",
    ",Friday,NNP,B-tim",
    ",.,.,O",
    "Sentence: 2,Acme,NNP,B-org",
    ",Corp,NNP,I-org",
    ",hired,VBD,O",
    ",12,CD,O",
    ",engineers,NNS,O",
    ",.,.,O",
    "Sentence: 3,Rain,NN,O",
    ",fell,VBD,O",
    ",.,.,O",
]
WORDS = [
    ["Ana", "Lopez", "visited", "Lake", "Victoria", "on", "Friday", "."],
    ["Acme", "Corp", "hired", "12", "engineers", "."],
    ["Rain", "fell", "."],
]
ENTS = [("Ana Lopez", "per"), ("Lake Victoria", "geo"), ("Friday", "tim"), ("Acme Corp", "org")]


def csv_bytes(rows: Sequence[Line], header: Line = HEADER, newline: bytes = b"\r\n") -> bytes:
    lines = [header, *rows]
    return b"".join((line if isinstance(line, bytes) else line.encode("cp1252")) + newline for line in lines)


def write_csv(path: Path, rows: Sequence[Line] = ROWS, **kwargs) -> Path:
    path.write_bytes(csv_bytes(rows, **kwargs))
    return path


def replace_line(rows: Sequence[Line], line: int, new: Line) -> list[Line]:
    """`rows` with file line `line` (1 = header, so rows[line - 2]) replaced."""
    rows = list(rows)
    rows[line - 2] = new
    return rows


def read_docs(path: Path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".zip"])
def test_read_kaggle_reads_csv_gzip_and_zip_alike(tmp_path, suffix):
    data = csv_bytes(ROWS)
    path = tmp_path / f"ner_dataset{suffix}"
    if suffix == ".csv":
        path.write_bytes(data)
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(data))
    else:
        write_zip(path, {"ner_dataset.csv": data, "README.txt": b"not a csv", "__MACOSX/._ner_dataset.csv": b"\0"})
    sentences = read_kaggle(path)
    assert [s.words for s in sentences] == WORDS


@pytest.mark.parametrize(
    "members,found",
    [({"README.txt": b"hello"}, "found 0: []"), ({"a.csv": b"x", "b.csv": b"y"}, "found 2: ['a.csv', 'b.csv']")],
)
def test_read_kaggle_zip_without_exactly_one_csv_names_the_zip(tmp_path, members, found):
    path = write_zip(tmp_path / "archive.zip", members)
    with pytest.raises(ConversionError) as excinfo:
        read_kaggle(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert "expected exactly one '*.csv' file in the zip" in str(excinfo.value)
    assert found in str(excinfo.value)


def test_read_kaggle_error_inside_zip_names_archive_and_member(tmp_path):
    data = csv_bytes(replace_line(ROWS, 4, ",visited,VBD,X-foo"))
    path = write_zip(tmp_path / "archive.zip", {"data/ner.csv": data})
    with pytest.raises(ConversionError, match=r"archive\.zip!data/ner\.csv:4: unknown entity tag 'X-foo'"):
        read_kaggle(path)


@pytest.mark.parametrize(
    "raw,word",
    [
        (b"Korea\x92s", "Korea\u2019s"),
        (b"caf\xe9", "caf\u00e9"),
        (b"5\xa0storm", "5\u00a0storm"),
        (b"wait\x85", "wait\u2026"),
        (b"\x93quoted\x94", "\u201cquoted\u201d"),
    ],
)
def test_read_kaggle_decodes_cp1252(tmp_path, raw, word):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 4, b"," + raw + b",NN,O"))
    sentences = read_kaggle(path)
    assert sentences[0].words[2] == word
    assert [len(s.words) for s in sentences] == [len(w) for w in WORDS]


def test_read_kaggle_keeps_u0085_inside_a_word(tmp_path):
    # Read as latin-1, byte 0x85 is U+0085, a line break to str.splitlines(): the row must not split.
    rows = replace_line(ROWS, 4, b",x\x85y,NN,O")
    rows = replace_line(rows, 12, ",hired,VBD,BAD")
    path = write_csv(tmp_path / "ner.csv", rows)
    with pytest.raises(ConversionError, match=r"ner\.csv:12: unknown entity tag 'BAD'"):
        read_kaggle(path, encoding="latin-1")
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 4, b",x\x85y,NN,O"))
    sentences = read_kaggle(path, encoding="latin-1")
    assert sentences[0].words[2] == "x\u0085y"
    assert sentences[0].tags[2] == "NN"
    assert [len(s.words) for s in sentences] == [len(w) for w in WORDS]


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_read_kaggle_accepts_crlf_and_lf(tmp_path, newline):
    sentences = read_kaggle(write_csv(tmp_path / "ner.csv", newline=newline))
    assert [s.words for s in sentences] == WORDS
    assert [s.line for s in sentences] == [2, 10, 16]
    assert not any("\r" in word for s in sentences for word in s.words + s.tags + s.ents)


def test_read_kaggle_sentence_id_only_on_first_row(tmp_path):
    sentences = read_kaggle(write_csv(tmp_path / "ner.csv"))
    assert [s.words for s in sentences] == WORDS
    assert sentences[1].tags == ["NNP", "NNP", "VBD", "CD", "NNS", "."]
    assert sentences[1].ents == ["B-org", "I-org", "O", "O", "O", "O"]


def test_read_kaggle_header_columns_in_any_order(tmp_path):
    reordered = [
        ",".join(cells[i] for i in (1, 3, 0, 2)) for cells in (row.split(",") for row in ROWS if isinstance(row, str))
    ]
    path = write_csv(tmp_path / "ner.csv", reordered, header="Word,Tag,Sentence #,POS")
    expected = read_kaggle(write_csv(tmp_path / "plain.csv"))
    assert read_kaggle(path) == expected


@pytest.mark.parametrize("header", ["Sentence #,Word,Tag", "Sentence #,Word,POS,Label", "", "\ufeffWord,POS,Tag"])
def test_read_kaggle_header_missing_a_column_names_line_1(tmp_path, header):
    path = write_csv(tmp_path / "ner.csv", header=header.encode("utf-8"))
    with pytest.raises(ConversionError) as excinfo:
        read_kaggle(path, encoding="utf-8")
    assert excinfo.value.line == 1
    assert str(excinfo.value).startswith(f"{path}:1: header lacks column(s)")


def test_read_kaggle_strips_a_bom_from_the_header(tmp_path):
    path = write_csv(tmp_path / "ner.csv", header=("\ufeff" + HEADER).encode("utf-8"))
    assert [s.words for s in read_kaggle(path, encoding="utf-8")] == WORDS


@pytest.mark.parametrize(
    "line,row,problem",
    [
        (5, ",Lake,NNP", "expected 4 columns"),
        (11, ",Corp,NNP,I-org,extra", "expected 4 columns"),
        (8, ",Friday,NNP,X-foo", "unknown entity tag 'X-foo'"),
        (3, ",Lopez,NNP,U-per", "unknown entity tag 'U-per'"),
        (3, ",Lopez,NNP,L-per", "other schemes (BILUO/BIOES)"),
        (4, ",visited,VBD,per", "unknown entity tag 'per'"),
        (7, ",on,IN,B-", "entity tag 'B-' has an empty or padded type"),
        (7, ",on,IN,B- geo", "entity tag 'B- geo' has an empty or padded type"),
        (16, "Sentence: 3,,NN,O", "empty 'Word'"),
        (13, b",1\x812,CD,O", r"byte(s) b'\x81' cannot be decoded as cp1252"),
        (2, ",Ana,NNP,B-per", "the first data row has no sentence id"),
    ],
)
def test_read_kaggle_bad_row_names_file_line_and_problem(tmp_path, line, row, problem):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, line, row))
    with pytest.raises(ConversionError) as excinfo:
        read_kaggle(path)
    assert (excinfo.value.path, excinfo.value.line) == (str(path), line)
    assert str(excinfo.value).startswith(f"{path}:{line}: ")
    assert problem in str(excinfo.value)


@pytest.mark.parametrize(
    "data,problem",
    [(b"", "file is empty"), (b"\r\n\r\n", "file is empty"), (csv_bytes([]), "no data rows after the header")],
)
def test_read_kaggle_without_data_names_file_and_problem(tmp_path, data, problem):
    path = tmp_path / "ner.csv"
    path.write_bytes(data)
    with pytest.raises(ConversionError) as excinfo:
        read_kaggle(path)
    assert str(excinfo.value) == f"{path}: {problem}"


def test_read_kaggle_missing_file(tmp_path):
    with pytest.raises(ConversionError, match="file not found"):
        read_kaggle(tmp_path / "nope.csv")


def test_read_kaggle_repairs_i_after_o_and_reports_where(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 8, ",Friday,NNP,I-tim"))
    report = ConversionReport()
    sentences = read_kaggle(path, report=report)
    assert sentences[0].ents[6] == "B-tim"
    assert report.repairs == {I_START: 1}
    assert report.repair_examples[I_START] == [f"{path}:8"]
    assert report.schemes == {str(path): "iob2"}


def test_read_kaggle_i_after_other_type_starts_a_new_entity(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 3, ",Lopez,NNP,I-org"))
    report = ConversionReport()
    assert read_kaggle(path, report=report)[0].ents[:2] == ["B-per", "B-org"]
    assert report.repair_examples[I_START] == [f"{path}:3"]


def test_read_kaggle_strict_rejects_i_after_o(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 8, ",Friday,NNP,I-tim"))
    with pytest.raises(ConversionError, match=rf"1 invalid IOB2 tag\(s\), first at {path}:8"):
        read_kaggle(path, strict=True)


def test_read_kaggle_strict_accepts_valid_iob2(tmp_path):
    report = ConversionReport()
    assert len(read_kaggle(write_csv(tmp_path / "ner.csv"), strict=True, report=report)) == 3
    assert not report.repairs


def test_read_kaggle_repeated_sentence_id_is_a_separate_sentence_and_reported(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 16, "Sentence: 1,Rain,NN,O"))
    report = ConversionReport()
    assert [s.words for s in read_kaggle(path, report=report)] == WORDS
    assert report.repair_examples[DUPLICATE_ID] == [f"{path}:16"]


def test_read_kaggle_blank_row_is_reported(tmp_path):
    path = write_csv(tmp_path / "ner.csv", [*ROWS[:8], "", *ROWS[8:]])
    report = ConversionReport()
    assert [s.words for s in read_kaggle(path, report=report)] == WORDS
    assert report.repair_examples[BLANK_ROW] == [f"{path}:10"]


@pytest.mark.parametrize(
    "line,row,problem",
    [
        (11, ",Corp,NNP", "expected 4 columns"),
        (12, ",hired,VBD,U-org", "unknown entity tag 'U-org'"),
        (15, ",.,.,B-", "empty or padded type"),
    ],
)
def test_read_kaggle_skip_bad_sentences_rejects_the_whole_sentence(tmp_path, line, row, problem):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, line, row))
    report = ConversionReport()
    sentences = read_kaggle(path, skip_bad_sentences=True, report=report)
    assert [s.words for s in sentences] == [WORDS[0], WORDS[2]]
    assert len(report.rejections) == 1
    rejection = report.rejections[0]
    assert (rejection.path, rejection.line, rejection.tokens) == (str(path), line, len(WORDS[1]))
    assert problem in rejection.problem
    assert str(rejection).startswith(f"{path}:{line}: ")


def test_read_kaggle_skip_bad_sentences_records_the_first_problem_of_a_sentence(tmp_path):
    rows = replace_line(ROWS, 4, ",visited,VBD,X-foo")
    rows = replace_line(rows, 6, ",Victoria,NNP,I-geo,extra")
    report = ConversionReport()
    sentences = read_kaggle(write_csv(tmp_path / "ner.csv", rows), skip_bad_sentences=True, report=report)
    assert [s.words for s in sentences] == WORDS[1:]
    assert [(r.line, r.tokens) for r in report.rejections] == [(4, len(WORDS[0]))]


def test_read_kaggle_skip_bad_sentences_still_needs_a_first_sentence_id(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 2, ",Ana,NNP,B-per"))
    with pytest.raises(ConversionError, match=":2: the first data row has no sentence id"):
        read_kaggle(path, skip_bad_sentences=True)


def test_convert_kaggle_docs_keep_tags_entities_and_sentences(tmp_path):
    path = write_csv(tmp_path / "ner.csv")
    convert_kaggle(path, tmp_path / "out", ratios=(1.0, 0.0, 0.0), n_sents=3)
    (doc,) = read_docs(tmp_path / "out" / "train.spacy")
    assert [t.text for t in doc] == [w for words in WORDS for w in words]
    assert [t.tag_ for t in doc][:8] == ["NNP", "NNP", "VBD", "NNP", "NNP", "IN", "NNP", "."]
    assert [(e.text, e.label_) for e in doc.ents] == ENTS
    assert [(e.start, e.end) for e in doc.ents] == [(0, 2), (3, 5), (6, 7), (8, 10)]
    assert [[t.text for t in sent] for sent in doc.sents] == WORDS
    assert doc.has_unknown_spaces
    assert read_docs(tmp_path / "out" / "dev.spacy") == read_docs(tmp_path / "out" / "test.spacy") == []


@pytest.mark.parametrize("n_sents,sizes", [(1, [1, 1, 1]), (2, [2, 1]), (3, [3]), (10, [3])])
def test_convert_kaggle_groups_n_sents_sentences_per_doc(tmp_path, n_sents, sizes):
    convert_kaggle(write_csv(tmp_path / "ner.csv"), tmp_path / "out", ratios=(1.0, 0.0, 0.0), n_sents=n_sents)
    docs = read_docs(tmp_path / "out" / "train.spacy")
    assert [len(list(doc.sents)) for doc in docs] == sizes
    assert [t.text for doc in docs for t in doc] == [w for words in WORDS for w in words]


def many_sentences(n: int) -> list[str]:
    rows = []
    for i in range(1, n + 1):
        rows += [f"Sentence: {i},Person{i},NNP,B-per", ",slept,VBD,O", ",.,.,O"]
    return rows


def test_convert_kaggle_writes_splits_and_stats_that_add_up(tmp_path):
    path = write_csv(tmp_path / "ner.csv", many_sentences(95))
    summary = convert_kaggle(path, tmp_path / "out", n_sents=2, seed=3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dev.spacy",
        "stats.json",
        "test.spacy",
        "train.spacy",
    ]
    assert srsly.read_json(tmp_path / "out" / "stats.json") == summary
    splits = summary["splits"]
    assert [splits[s]["docs"] for s in ("train", "dev", "test")] == [38, 5, 5]
    for key in ("docs", "sentences", "tokens", "entities"):
        assert sum(stats[key] for stats in splits.values()) == summary["total"][key]
    assert summary["total"] == {
        "docs": 48,
        "sentences": 95,
        "tokens": 285,
        "entities": 95,
        "entities_per_label": {"per": 95},
    }
    names = []
    for split, stats in splits.items():
        docs = read_docs(tmp_path / "out" / f"{split}.spacy")
        assert len(docs) == stats["docs"]
        assert sum(len(doc) for doc in docs) == stats["tokens"]
        assert sum(len(doc.ents) for doc in docs) == stats["entities"]
        names += [doc[0].text for doc in docs]
    assert sorted(names) == sorted(f"Person{i}" for i in range(1, 96, 2))


def test_convert_kaggle_split_is_seeded(tmp_path):
    path = write_csv(tmp_path / "ner.csv", many_sentences(60))

    def first_words(seed: int, out: str) -> list[str]:
        convert_kaggle(path, tmp_path / out, n_sents=1, seed=seed)
        return [doc[0].text for doc in read_docs(tmp_path / out / "dev.spacy")]

    assert first_words(0, "a") == first_words(0, "b")
    assert first_words(0, "a") != first_words(1, "c")


def test_convert_kaggle_counts_read_as_written_plus_rejected(tmp_path):
    rows = replace_line(ROWS, 11, ",Corp,NNP")
    summary = convert_kaggle(
        write_csv(tmp_path / "ner.csv", rows), tmp_path / "out", ratios=(1.0, 0.0, 0.0), skip_bad_sentences=True
    )
    assert summary["total"]["sentences"] == 2
    assert summary["rejected_sentences"] == 1
    assert summary["rejected_tokens"] == len(WORDS[1])
    assert summary["total"]["sentences"] + summary["rejected_sentences"] == len(WORDS)
    (rejection,) = summary["rejections"]
    assert rejection["line"] == 11 and "expected 4 columns" in rejection["problem"]
    assert summary["total"]["tokens"] + summary["rejected_tokens"] == sum(len(w) for w in WORDS)


def test_convert_kaggle_reports_repairs_in_stats(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 8, ",Friday,NNP,I-tim"))
    summary = convert_kaggle(path, tmp_path / "out")
    assert summary["repairs"] == {I_START: {"count": 1, "examples": [f"{path}:8"]}}
    assert summary["tag_schemes"] == {str(path): "iob2"}


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_convert_kaggle_bad_ratios(tmp_path, ratios):
    with pytest.raises(ValueError, match="ratios"):
        convert_kaggle(write_csv(tmp_path / "ner.csv"), tmp_path / "out", ratios=ratios)


runner = CliRunner()


def output_of(result) -> str:
    """The CLI's output with wasabi's line wrapping undone (it never breaks a word)."""
    return " ".join(result.output.split())


def test_cli_convert_kaggle_help():
    result = runner.invoke(app, ["convert-kaggle", "--help"])
    assert result.exit_code == 0
    assert "--skip-bad-sentences" in output_of(result)


def test_cli_convert_kaggle_good_input(tmp_path):
    path = write_csv(tmp_path / "ner.csv", many_sentences(20))
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out"), "--n-sents", "2"])
    assert result.exit_code == 0, result.output
    assert "20 sentences read = 20 written + 0 rejected" in output_of(result)
    assert srsly.read_json(tmp_path / "out" / "stats.json")["total"]["sentences"] == 20


def test_cli_convert_kaggle_bad_input_exits_1_with_file_and_line(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 7, ",on,IN,U-geo"))
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{path}:7: unknown entity tag 'U-geo'" in output_of(result)
    assert not (tmp_path / "out").exists()


def test_cli_convert_kaggle_skip_bad_sentences(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 7, ",on,IN,U-geo"))
    args = ["convert-kaggle", str(path), str(tmp_path / "out"), "--skip-bad-sentences"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 sentences read = 2 written + 1 rejected" in output_of(result)
    assert f"{path}:7: unknown entity tag 'U-geo'" in output_of(result)


def test_cli_convert_kaggle_strict_exits_1(tmp_path):
    path = write_csv(tmp_path / "ner.csv", replace_line(ROWS, 8, ",Friday,NNP,I-tim"))
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out"), "--strict"])
    assert result.exit_code == 1
    assert f"first at {path}:8" in output_of(result)


def test_cli_convert_kaggle_bad_ratios_exit_1(tmp_path):
    path = write_csv(tmp_path / "ner.csv")
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out"), "--ratios", "0.9", "0.2", "0"])
    assert result.exit_code == 1
    assert "split ratios must be non-negative and sum to 1" in output_of(result)
