"""Reading source files (`converters/source.py`): missing files, broken archives, encodings, BOMs."""

import gzip

import pytest

from spacy_bert_ner.converters import ConversionError
from spacy_bert_ner.converters.source import read_text


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
    path.write_bytes("\ufeffword O\n".encode())
    assert read_text(path, encoding)[:2] == ("word O\n", str(path))
