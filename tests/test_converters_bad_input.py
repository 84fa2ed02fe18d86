"""Bad input (issue 14): every input ends in a correct conversion, a correct conversion with
each repair reported, or a ConversionError naming file, line and problem; never a silent
wrong result, a raw traceback or a hang. Small made-up files, one test (or more) per class."""

import bz2
import codecs
import gzip
import io
import lzma
import os
import signal
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.cli import app, print_summary
from spacy_bert_ner.converters import (
    ConversionError,
    ConversionReport,
    check_corpus,
    convert_conll,
    convert_kaggle,
    read_conll,
    read_kaggle,
)
from spacy_bert_ner.converters import convert as convert_module
from spacy_bert_ner.converters.kaggle import DUPLICATE_ID, REPEATED_ID, UNESCAPED_QUOTE
from spacy_bert_ner.converters.sentence_reader import PADDED_WORD

HEADER = "Sentence #,Word,POS,Tag"
# lines 2-6 sentence 1, lines 7-10 sentence 2
KAGGLE_ROWS = [
    "Sentence: 1,New,NNP,B-geo",
    ",York,NNP,I-geo",
    ",is,VBZ,O",
    ",big,JJ,O",
    ",.,.,O",
    "Sentence: 2,Ana,NNP,B-per",
    ",went,VBD,O",
    ",home,NN,O",
    ",.,.,O",
]
KAGGLE_WORDS = [["New", "York", "is", "big", "."], ["Ana", "went", "home", "."]]
CONLL = "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n. . O O\n"
CONLL_WORDS = [["EU", "rejects"], ["Peter", "Blackburn", "."]]

runner = CliRunner()


def kaggle_text(rows: list[str] = KAGGLE_ROWS, newline: str = "\r\n") -> str:
    return "".join(line + newline for line in [HEADER, *rows])


def write(path: Path, data, encoding: str = "cp1252") -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def replace(rows: list[str], line: int, new: str) -> list[str]:
    """`rows` with file line `line` (1 is the header) replaced."""
    rows = list(rows)
    rows[line - 2] = new
    return rows


def conll_words(documents) -> list[list[str]]:
    return [sentence.words for document in documents for sentence in document]


def ents_of(sentences) -> list[list[str]]:
    return [sentence.ents for sentence in sentences]


def error_of(function, *args, **kwargs) -> ConversionError:
    with pytest.raises(ConversionError) as excinfo:
        function(*args, **kwargs)
    return excinfo.value


def output_of(result) -> str:
    return " ".join(result.output.split())


# --- silent wrong results -------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"], ids=["cr", "crlf", "lf"])
def test_conll_any_line_ending_gives_the_same_sentences(tmp_path, newline):
    # CR-only (old Mac) was read as one line: one token "EU" tagged PER, reported as success.
    documents = read_conll(write(tmp_path / "eng.train", CONLL.replace("\n", newline)))
    assert conll_words(documents) == CONLL_WORDS
    assert [s.ents for d in documents for s in d] == [["B-ORG", "O"], ["B-PER", "I-PER", "O"]]


@pytest.mark.parametrize("newline", ["\r", "\n"], ids=["cr", "lf"])
def test_kaggle_any_line_ending_gives_the_same_sentences(tmp_path, newline):
    sentences = read_kaggle(write(tmp_path / "ner.csv", kaggle_text(newline=newline)))
    assert [s.words for s in sentences] == KAGGLE_WORDS
    assert [s.line for s in sentences] == [2, 7]


def test_kaggle_unescaped_quote_word_is_read_literally_and_reported(tmp_path):
    # The csv quoting used to swallow the rows after `"` into one token tagged O.
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 4, ',",`,O')))
    report = ConversionReport()
    sentences = read_kaggle(path, report=report)
    assert [s.words for s in sentences] == [["New", "York", '"', "big", "."], KAGGLE_WORDS[1]]
    assert ents_of(sentences)[0][:2] == ["B-geo", "I-geo"] and ents_of(sentences)[1][0] == "B-per"
    assert report.repair_examples[UNESCAPED_QUOTE] == [f"{path}:4"]
    assert report.sentences_read == 2


def test_kaggle_quote_that_cannot_be_read_names_the_line_it_starts_on(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 3, ',"York,big,NNP,I-geo')))
    err = error_of(read_kaggle, path)
    assert (err.path, err.line) == (str(path), 3)
    assert "'\"' the CSV quoting cannot read" in err.problem


def test_kaggle_escaped_quotes_and_commas_are_valid_csv(tmp_path):
    rows = replace(replace(KAGGLE_ROWS, 4, ',"""",`,O'), 5, ',"1,000",CD,O')
    report = ConversionReport()
    sentences = read_kaggle(write(tmp_path / "ner.csv", kaggle_text(rows)), report=report)
    assert sentences[0].words == ["New", "York", '"', "1,000", "."]
    assert not report.repairs


def test_kaggle_utf8_is_detected_and_reported(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 2, "Sentence: 1,Zürich,NNP,B-geo")), "utf-8")
    report = ConversionReport()
    assert read_kaggle(path, report=report)[0].words[0] == "Zürich"  # was "ZÃ¼rich"
    assert report.encodings == {str(path): "utf-8 (detected)"}


def test_kaggle_cp1252_is_still_detected(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 2, "Sentence: 1,Zürich,NNP,B-geo")))
    report = ConversionReport()
    assert read_kaggle(path, report=report)[0].words[0] == "Zürich"
    assert report.encodings == {str(path): "cp1252 (detected)"}


def test_kaggle_encoding_can_still_be_forced(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 2, "Sentence: 1,Zürich,NNP,B-geo")), "utf-8")
    report = ConversionReport()
    assert read_kaggle(path, encoding="cp1252", report=report)[0].words[0] == "ZÃ¼rich"
    assert report.encodings == {str(path): "cp1252 (given)"}


def test_cli_convert_kaggle_says_which_encoding_it_read(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 2, "Sentence: 1,Zürich,NNP,B-geo")), "utf-8")
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"'{path}': 'utf-8 (detected)'" in output_of(result)


@pytest.mark.parametrize("word", [" Paris", "Paris ", " Paris ", "\u00a0Paris", "Paris\t"])
def test_kaggle_padded_word_is_stripped_and_reported(tmp_path, word):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 3, f",{word},NNP,I-geo")), "utf-8")
    report = ConversionReport()
    sentences = read_kaggle(path, report=report)
    assert sentences[0].words[:2] == ["New", "Paris"]
    assert report.repair_examples[PADDED_WORD] == [f"{path}:3"]


@pytest.mark.parametrize("word", [" ", "   ", "\u00a0"])
def test_kaggle_whitespace_word_is_an_error_or_a_rejected_sentence(tmp_path, word):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 7, f"Sentence: 2,{word},NNP,B-per")), "utf-8")
    err = error_of(read_kaggle, path)
    assert (err.line, err.problem) == (7, f"the word {word!r} is only whitespace")
    report = ConversionReport()
    assert [s.words for s in read_kaggle(path, skip_bad_sentences=True, report=report)] == KAGGLE_WORDS[:1]
    assert [(r.line, r.tokens) for r in report.rejections] == [(7, 4)]


def test_conll_word_padded_with_unicode_space_is_stripped_and_reported(tmp_path):
    path = write(tmp_path / "eng.train", CONLL.replace("Peter NNP", "\u3000Peter NNP"), "utf-8")
    report = ConversionReport()
    assert conll_words(read_conll(path, report=report)) == CONLL_WORDS
    assert report.repair_examples[PADDED_WORD] == [f"{path}:4"]
    with pytest.raises(ConversionError, match=r"eng\.train:4: the word '\\xa0' is only whitespace"):
        read_conll(write(tmp_path / "eng.train", CONLL.replace("Peter NNP", "\u00a0 NNP"), "utf-8"))


def test_kaggle_forward_filled_sentence_ids_group_by_id_and_say_so(tmp_path):
    # pandas' re-export names the sentence on every row; "New York" stays one entity, and the
    # reading is a repair counted once a sentence, at its first repeated row.
    rows = [("Sentence: 1" if i < 5 else "Sentence: 2") + row[row.index(",") :] for i, row in enumerate(KAGGLE_ROWS)]
    path = write(tmp_path / "ner.csv", kaggle_text(rows))
    report = ConversionReport()
    sentences = read_kaggle(path, report=report)
    assert [s.words for s in sentences] == KAGGLE_WORDS
    assert ents_of(sentences)[0][:2] == ["B-geo", "I-geo"]
    assert dict(report.repairs) == {REPEATED_ID: 2}
    assert report.repair_examples[REPEATED_ID] == [f"{path}:3", f"{path}:8"]
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "corpus"), "--ratios", "1", "0", "0"])
    assert result.exit_code == 0, result.output
    assert "sentence id repeated on the next row" in " ".join(result.output.split())


def test_kaggle_repeated_id_only_on_some_rows_is_one_sentence_reported(tmp_path):
    # one sentence id written twice in a row ("Sentence: 2" on its first two rows only)
    rows = [*KAGGLE_ROWS[:5], KAGGLE_ROWS[5], "Sentence: 2" + KAGGLE_ROWS[6], *KAGGLE_ROWS[7:]]
    report = ConversionReport()
    sentences = read_kaggle(write(tmp_path / "ner.csv", kaggle_text(rows)), report=report)
    assert [s.words for s in sentences] == KAGGLE_WORDS
    assert dict(report.repairs) == {REPEATED_ID: 1}


def test_kaggle_id_seen_before_is_still_a_reported_new_sentence(tmp_path):
    rows = KAGGLE_ROWS + ["Sentence: 1,Rain,NN,O"]
    report = ConversionReport()
    sentences = read_kaggle(write(tmp_path / "ner.csv", kaggle_text(rows)), report=report)
    assert [s.words for s in sentences] == [*KAGGLE_WORDS, ["Rain"]]
    assert report.repair_examples[DUPLICATE_ID] == [f"{tmp_path / 'ner.csv'}:11"]


@pytest.mark.parametrize("char", ["\x1c", "\x1d", "\x1e", "\x1f", "\x0b", "\x0c", "\x00"])
def test_conll_control_character_line_is_an_error_not_a_sentence_break(tmp_path, char):
    # str.split() takes \x1c-\x1f for whitespace: such a line silently split a sentence.
    path = write(tmp_path / "eng.train", CONLL.replace("Blackburn NNP", f"{char}\nBlackburn NNP"), "utf-8")
    err = error_of(read_conll, path)
    assert (err.path, err.line) == (str(path), 5)
    assert f"control character U+{ord(char):04X}" in err.problem
    report = ConversionReport()
    assert conll_words(read_conll(path, skip_bad_sentences=True, report=report)) == CONLL_WORDS[:1]
    assert [(r.line, r.tokens) for r in report.rejections] == [(5, 4)]


def test_conll_control_character_inside_a_word_is_an_error(tmp_path):
    path = write(tmp_path / "eng.train", CONLL.replace("Peter", "Pe\x1cter"), "utf-8")
    assert error_of(read_conll, path).line == 4


def test_kaggle_control_character_is_an_error(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 8, ",we\x1fnt,VBD,O")))
    err = error_of(read_kaggle, path)
    assert (err.line, err.problem) == (8, "control character U+001F at column 4: not text")


@pytest.mark.parametrize("docstart", ["-docstart- -X- O O", "-DocStart- -X- -X- O"])
def test_conll_docstart_in_any_case_starts_a_document(tmp_path, docstart):
    text = f"{docstart}\n\n{CONLL}\n{docstart}\n\nRain NN I-NP O\n"
    documents = read_conll(write(tmp_path / "eng.train", text))
    assert [[s.words for s in d] for d in documents] == [CONLL_WORDS, [["Rain"]]]


def test_convert_conll_rerun_with_fewer_splits_leaves_no_stale_split(tmp_path):
    path = write(tmp_path / "eng.train", CONLL)
    out = tmp_path / "out"
    convert_conll({"train": path, "dev": path, "test": path}, out)
    summary = convert_conll({"train": path}, out)
    assert sorted(p.name for p in out.iterdir()) == ["stats.json", "train.spacy"]
    assert list(summary["splits"]) == ["train"]
    assert check_corpus(out, verify=True) == summary


def test_summary_counts_sentences_read_apart_from_written(tmp_path):
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 8, ",went,VBD,U-per")))
    summary = convert_kaggle(path, tmp_path / "out", ratios=(1, 0, 0), skip_bad_sentences=True)
    assert (summary["sentences_read"], summary["total"]["sentences"], summary["rejected_sentences"]) == (2, 1, 1)
    assert (summary["tokens_read"], summary["total"]["tokens"], summary["rejected_tokens"]) == (9, 5, 4)


def test_a_lost_sentence_is_caught_and_nothing_is_written(tmp_path, monkeypatch):
    # "read" used to be written + rejected, so the closing line could not fail.
    rows = [f"Sentence: {i},Word{i},NN,O" for i in range(1, 31)]
    path = write(tmp_path / "ner.csv", kaggle_text(rows))
    real_group = convert_module.group
    monkeypatch.setattr(convert_module, "group", lambda items, size: real_group(items, size)[:-1])
    err = error_of(convert_kaggle, path, tmp_path / "out", n_sents=2)
    assert "30 sentences (30 tokens) read, but 28 (28) written + 0 (0) rejected" in str(err)
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["convert-kaggle", str(path), str(tmp_path / "out"), "--n-sents", "2"])
    assert result.exit_code == 1
    assert "30 sentences (30 tokens) read, but 28 (28) written" in output_of(result)


def test_cli_summary_fails_when_read_is_not_written_plus_rejected(tmp_path, capsys):
    total = {"docs": 1, "sentences": 9, "tokens": 20, "entities": 0, "entities_per_label": {}}
    summary = {
        "splits": {"train": total},
        "total": total,
        "sentences_read": 10,
        "encodings": {},
        "tag_schemes": {},
        "repairs": {},
        "rejected_sentences": 0,
        "rejected_tokens": 0,
        "rejections": [],
    }
    with pytest.raises(SystemExit) as excinfo:
        print_summary(summary, tmp_path)
    assert excinfo.value.code == 1
    assert "10 sentences read != 9 written + 0 rejected" in " ".join(capsys.readouterr().out.split())


# --- raw tracebacks and hangs ---------------------------------------------------------------

DATA = kaggle_text().encode("cp1252")


def zip_bytes(data: bytes = DATA, method: int = zipfile.ZIP_DEFLATED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("ner.csv", data)
    return bytearray(buffer.getvalue())


def zip_with(method_id: int = None, flags: int = 0) -> bytes:
    """A stored zip whose local and central headers claim another method or flags."""
    data = zip_bytes(method=zipfile.ZIP_STORED)
    central = data.find(b"PK\x01\x02")
    if method_id is not None:
        data[8:10] = data[central + 10 : central + 12] = struct.pack("<H", method_id)
    data[6] |= flags
    data[central + 8] |= flags
    return bytes(data)


def flipped(data: bytes, at: int, mask: int = 0xFF) -> bytes:
    data = bytearray(data)
    data[at] ^= mask
    return bytes(data)


GZIP = gzip.compress(DATA, mtime=0)
DAMAGED = {
    "gzip deflate stream (zlib.error)": ("ner.csv.gz", flipped(GZIP, 10, 0x06), "not a readable gzip file"),
    "gzip crc": ("ner.csv.gz", flipped(GZIP, len(GZIP) // 2), "not a readable gzip file"),
    "gzip truncated (EOFError)": ("ner.csv.gz", GZIP[: len(GZIP) // 2], "not a readable gzip file"),
    "zip deflate stream (zlib.error)": ("ner.zip", flipped(zip_bytes(), 37, 0x06), "not a readable zip file"),
    "zip crc (BadZipFile)": ("ner.zip", flipped(zip_bytes(method=zipfile.ZIP_STORED), 40, 1), "Bad CRC-32"),
    "zip truncated": ("ner.zip", bytes(zip_bytes()[:60]), "not a readable zip file"),
    "zip deflate64 (NotImplementedError)": ("ner.zip", zip_with(method_id=9), "compression method is not supported"),
    "zip encrypted (RuntimeError)": ("ner.zip", zip_with(flags=1), "encrypted"),
    "zip bzip2 member (OSError)": ("ner.zip", flipped(zip_bytes(method=zipfile.ZIP_BZIP2), 45), "not a readable zip"),
    "bzip2": ("ner.csv.bz2", flipped(bz2.compress(DATA), 20), "not a readable bzip2 file"),
    "xz (LZMAError)": ("ner.csv.xz", lzma.compress(DATA)[:-20], "not a readable xz file"),
}


@pytest.mark.parametrize("name,data,problem", list(DAMAGED.values()), ids=list(DAMAGED))
def test_damaged_archive_is_a_conversion_error(tmp_path, name, data, problem):
    path = write(tmp_path / name, data)
    err = error_of(read_kaggle, path)
    assert str(err).startswith(f"{path}: ")
    assert problem in err.problem


def test_kaggle_field_longer_than_the_csv_limit_names_its_line(tmp_path):
    long_word = "x" * 140_000
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 9, f',"{long_word}",NN,O')))
    err = error_of(read_kaggle, path)
    assert err.line == 9 and "longer than the csv module's limit (131,072 characters)" in err.problem
    path = write(tmp_path / "ner.csv", kaggle_text(replace(KAGGLE_ROWS, 9, f",{long_word},NN,O")))
    assert read_kaggle(path)[1].words[2] == long_word  # unquoted: no csv limit applies


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("reader", [read_kaggle, read_conll])
def test_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "ner.csv"
    os.mkfifo(fifo)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("reading a FIFO blocked"))
    signal.alarm(20)
    try:
        err = error_of(reader, fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert str(err) == f"{fifo}: expected a regular file, got a FIFO (named pipe)"


def test_character_device_is_refused(tmp_path):
    if not Path(os.devnull).exists() or os.name != "posix":
        pytest.skip("needs /dev/null")
    assert error_of(read_conll, Path(os.devnull)).problem == "expected a regular file, got a character device"


# --- misleading errors ----------------------------------------------------------------------


def zip_of(data: bytes) -> bytes:
    return bytes(zip_bytes(data))


@pytest.mark.parametrize(
    "name,pack",
    [
        ("NER.CSV.GZ", lambda d: gzip.compress(d)),
        ("NER.ZIP", zip_of),
        ("ner.csv.bz2", bz2.compress),
        ("ner.csv.xz", lzma.compress),
        ("ner.csv", zip_of),  # a zip renamed .csv
        ("ner.csv", lambda d: gzip.compress(d)),
        ("ner_dataset", bz2.compress),
    ],
)
def test_compression_is_recognised_by_content(tmp_path, name, pack):
    path = write(tmp_path / name, pack(DATA))
    assert [s.words for s in read_kaggle(path)] == KAGGLE_WORDS


def test_conll_compressed_file_is_read(tmp_path):
    path = write(tmp_path / "eng.train.gz", gzip.compress(CONLL.encode()))
    assert conll_words(read_conll(path)) == CONLL_WORDS


@pytest.mark.parametrize(
    "name,data,problem",
    [
        ("ner.csv.gz", DATA, "not a readable gzip file: it starts with b'Sentence', not a gzip header"),
        ("ner.zip", DATA, "not a readable zip file"),
        ("ner.csv.zst", b"\x28\xb5\x2f\xfd" + DATA, "a zstd archive, which is not read here"),
        ("ner.csv", b"7z\xbc\xaf\x27\x1c" + DATA, "a 7z archive, which is not read here"),
    ],
)
def test_unreadable_compression_is_named(tmp_path, name, data, problem):
    err = error_of(read_kaggle, write(tmp_path / name, data))
    assert problem in err.problem
    assert "cp1252" not in err.problem


def test_tar_inside_gzip_is_named(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("ner.csv")
        info.size = len(DATA)
        archive.addfile(info, io.BytesIO(DATA))
    path = write(tmp_path / "ner.tar.gz", gzip.compress(buffer.getvalue()))
    assert error_of(read_kaggle, path).problem == "the gzip data is a tar archive; extract the text file from it first"


def test_kaggle_utf8_bom_is_read_when_detected(tmp_path):
    path = write(tmp_path / "ner.csv", codecs.BOM_UTF8 + kaggle_text().encode("utf-8"))
    assert [s.words for s in read_kaggle(path)] == KAGGLE_WORDS


def test_kaggle_utf8_bom_with_a_forced_encoding_says_so(tmp_path):
    # Was: "header lacks column(s)", with no hint about the BOM.
    path = write(tmp_path / "ner.csv", codecs.BOM_UTF8 + kaggle_text().encode("utf-8"))
    err = error_of(read_kaggle, path, encoding="cp1252")
    assert err.line == 1
    assert "starts with a UTF-8 byte-order mark, but the encoding given is cp1252" in err.problem


def test_kaggle_header_with_a_bom_read_as_text_hints_at_it(tmp_path):
    path = write(tmp_path / "ner.csv", codecs.BOM_UTF8 * 2 + kaggle_text().encode("utf-8"))
    err = error_of(read_kaggle, path)
    assert err.line == 1 and "UTF-8 byte-order mark read as text" in err.problem


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_is_detected_for_kaggle_and_named_for_conll(tmp_path, codec):
    bom = codecs.BOM_UTF16_BE if codec.endswith("be") else b""
    path = write(tmp_path / "ner.csv", bom + kaggle_text().encode(codec))
    assert [s.words for s in read_kaggle(path)] == KAGGLE_WORDS
    path = write(tmp_path / "eng.train", bom + CONLL.encode(codec))
    err = error_of(read_conll, path)
    assert "UTF-16 byte-order mark, but the encoding given is utf-8: pass --encoding utf-16" in err.problem
    assert conll_words(read_conll(path, encoding="utf-16")) == CONLL_WORDS


def test_utf16_without_bom_hints_at_utf16(tmp_path):
    path = write(tmp_path / "eng.train", CONLL.encode("utf-16-le"))
    err = error_of(read_conll, path)
    assert err.line == 1 and "is the file UTF-16?" in err.problem


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"], ids=["cr", "lf", "crlf"])
def test_decode_error_names_the_physical_line(tmp_path, newline):
    data = CONLL.replace("\n", newline).encode().replace(b"Blackburn", b"Blackb\xffrn")
    err = error_of(read_conll, write(tmp_path / "eng.train", data))
    assert (err.line, err.problem[:28]) == (5, "byte(s) b'\\xff' cannot be de")


@pytest.mark.parametrize("line", [2, 3, 9])
def test_kaggle_unreadable_quote_names_its_own_line_not_a_later_one(tmp_path, line):
    row = KAGGLE_ROWS[line - 2]
    rows = replace(KAGGLE_ROWS, line, row.replace(",", ',"a,b', 1) if line == 2 else ',"x,y,NN,O')
    err = error_of(read_kaggle, write(tmp_path / "ner.csv", kaggle_text(rows)))
    assert err.line == line


def test_kaggle_header_problems_name_line_1(tmp_path):
    err = error_of(read_kaggle, write(tmp_path / "ner.csv", '"Sentence #,Word,POS,Tag\r\n' + kaggle_text()[25:]))
    assert err.line == 1
    assert error_of(read_kaggle, write(tmp_path / "ner.csv", "\r\n" + kaggle_text())).line == 1


def test_kaggle_first_data_row_problems_name_line_2(tmp_path):
    rows = replace(KAGGLE_ROWS, 2, ",New,NNP,B-geo")
    assert error_of(read_kaggle, write(tmp_path / "ner.csv", kaggle_text(rows))).line == 2
    rows = replace(KAGGLE_ROWS, 2, "Sentence: 1,New,NNP,X-geo")
    assert error_of(read_kaggle, write(tmp_path / "ner.csv", kaggle_text(rows))).line == 2
