"""Reading documents to annotate: text files (one document a line), JSONL, or .spacy DocBins,
plain or gzipped, from files, directories or globs; streamed, every record numbered.

A bad record (invalid JSON, a missing or non-string text field, bytes that are not UTF-8) is a
`BadRecord`: the caller either stops on it (`path:line: problem`) or writes it to a rejects file.
"""

import glob
import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..errors import InputError

TEXT_SUFFIXES = (".txt", ".text")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
DOCBIN_SUFFIXES = (".spacy",)
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Record:
    """One document read: where it is (file, 1-based line or DocBin index), its text or tokens, and
    the fields passed through to the output (a JSONL line's other fields)."""

    position: int  # 0-based over all inputs, in reading order (set by read_records)
    source: str
    line: int
    text: str
    words: list[str] | None = None  # a DocBin's tokens, kept as they are
    spaces: list[bool] | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class BadRecord:
    position: int
    source: str
    line: int
    problem: str
    raw: str  # the line as read (undecodable bytes shown as escapes)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.problem}"


def input_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The files behind each input: a file, a directory (its files of a known kind, sorted) or a
    glob (sorted). An input that names nothing is an error."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _kind(p) is not None)
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
        if not found:
            raise InputError(item, None, "no input files here (expected .txt, .jsonl or .spacy, optionally .gz)")
        for file in found:
            if _kind(file) is None:
                raise InputError(file, None, "unknown input kind: name it .txt, .jsonl or .spacy (optionally .gz)")
        files.extend(found)
    return files


def read_records(files: Sequence[Path], text_field: str = "text") -> Iterator[Record | BadRecord]:
    """Every document of every file, in order, numbered from 0."""
    position = 0
    for path in files:
        kind = _kind(path)
        if kind == "spacy":
            items = _docbin_records(path)
        else:
            items = _line_records(path, kind == "jsonl", text_field)
        for item in items:
            item.position = position
            yield item
            position += 1


def _kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in TEXT_SUFFIXES:
        return "text"
    if last in JSONL_SUFFIXES:
        return "jsonl"
    if last in DOCBIN_SUFFIXES:
        return "spacy"
    return None


def pipeline_input(vocab: Vocab, text: str, words: list[str] | None, spaces: list[bool] | None) -> Doc | str:
    """What `nlp.pipe` gets for a record: its text, or a Doc of its tokens where it has them (a DocBin's)."""
    return text if words is None else Doc(vocab, words=list(words), spaces=[bool(s) for s in spaces or []])


def count_records(files: Sequence[Path]) -> int | None:
    """The number of records, where it is cheap to know (uncompressed text and JSONL); else None."""
    total = 0
    for path in files:
        if _kind(path) == "spacy" or _is_gzip(path):
            return None
        last = b"\n"
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                total += chunk.count(b"\n")
                last = chunk[-1:]
        total += last != b"\n"  # a last line without a line break
    return total


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == GZIP_MAGIC


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if _is_gzip(path) else path.open("rb")


def _line_records(path: Path, is_jsonl: bool, text_field: str) -> Iterator[Record | BadRecord]:
    try:
        with _open_bytes(path) as file:
            for number, raw in enumerate(file, 1):
                yield _parse_line(path, number, raw, is_jsonl, text_field)
    except (OSError, EOFError) as err:  # a damaged gzip stream, a vanished file
        raise InputError(path, None, f"cannot read the file: {err}") from err


def _parse_line(path: Path, number: int, raw: bytes, is_jsonl: bool, text_field: str) -> Record | BadRecord:
    source = str(path)
    line = raw.rstrip(b"\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        shown = line.decode("utf-8", errors="backslashreplace")
        return BadRecord(-1, source, number, f"not UTF-8 (byte {err.start + 1}): {err.reason}", shown)
    if not is_jsonl:
        return Record(-1, source, number, text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return BadRecord(-1, source, number, f"invalid JSON: {err.msg} (column {err.colno})", text)
    if not isinstance(value, dict):
        return BadRecord(-1, source, number, f"expected a JSON object, got {type(value).__name__}", text)
    if text_field not in value:
        return BadRecord(-1, source, number, f"no {text_field!r} field", text)
    if not isinstance(value[text_field], str):
        kind = type(value[text_field]).__name__
        return BadRecord(-1, source, number, f"field {text_field!r} is a {kind}, not a string", text)
    fields = {key: item for key, item in value.items() if key != text_field}
    return Record(-1, source, number, value[text_field], fields=fields)


def _docbin_records(path: Path) -> Iterator[Record]:
    try:
        with _open_bytes(path) as file:
            docs = DocBin().from_bytes(file.read()).get_docs(Vocab())
        for index, doc in enumerate(docs, 1):
            words = [token.text for token in doc]
            spaces = [bool(token.whitespace_) for token in doc]
            yield Record(-1, str(path), index, doc.text, words=words, spaces=spaces)
    except InputError:
        raise
    except Exception as err:  # msgpack, zlib and key errors alike: not a DocBin
        raise InputError(path, None, f"not a readable DocBin (.spacy) file: {err!r}") from err
