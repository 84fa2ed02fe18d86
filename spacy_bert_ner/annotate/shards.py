"""Writing annotated documents in shards: one file per `shard_size` input records, each written to a
temporary file and renamed into place, so a shard that exists is complete and a rerun skips it.

    OUTPUT = annotated/news.jsonl  ->  annotated/news-00000.jsonl, news-00001.jsonl, ...
                                       annotated/news-00000.rejects.jsonl (with --skip-bad)
                                       annotated/news.summary.json (at the end)
"""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from spacy.tokens import Doc, DocBin, Span

from ..errors import InputError
from .reader import BadRecord, Record

OUTPUT_SUFFIXES = (".jsonl", ".spacy")


def check_output(output: Path) -> None:
    if output.suffix not in OUTPUT_SUFFIXES:
        raise InputError(output, None, "the output's extension chooses its format: .jsonl or .spacy")
    if output.parent.exists() and not output.parent.is_dir():
        raise InputError(output.parent, None, "the output's folder is a file")


def shard_path(output: Path, index: int, suffix: str = "") -> Path:
    return output.with_name(f"{output.stem}-{index:05d}{suffix or output.suffix}")


def rejects_path(output: Path, index: int) -> Path:
    return shard_path(output, index, ".rejects.jsonl")


def summary_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.summary.json")


@contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """A temporary file beside `path`, renamed onto it when the block ends without an error (and
    removed otherwise), so `path` either does not exist or is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def entity_dicts(doc: Doc) -> list[dict[str, Any]]:
    has_confidence = Span.has_extension("confidence")
    return [
        {
            "start": ent.start_char,
            "end": ent.end_char,
            "label": ent.label_,
            "text": ent.text,
            "confidence": ent._.confidence if has_confidence else None,
        }
        for ent in doc.ents
    ]


def json_line(record: Record, doc: Doc) -> str:
    """The record's passed-through fields, then its text and entities (character offsets)."""
    return json.dumps({**record.fields, "text": doc.text, "entities": entity_dicts(doc)}, ensure_ascii=False) + "\n"


def write_rejects(path: Path, bad: list[BadRecord]) -> None:
    with atomic_file(path) as file:
        for item in bad:
            line = {"source": item.source, "line": item.line, "problem": item.problem, "raw": item.raw}
            file.write(json.dumps(line, ensure_ascii=False) + "\n")


def write_summary(output: Path, summary: dict[str, Any]) -> None:
    with atomic_file(summary_path(output)) as file:
        json.dump(summary, file, indent=2)


class ShardWriter:
    """Writes one shard's annotated documents in the output's format; `count` is what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.docbin = DocBin(store_user_data=True) if path.suffix == ".spacy" else None

    @contextmanager
    def open(self) -> Iterator["ShardWriter"]:
        mode = "wb" if self.docbin is not None else "w"
        with atomic_file(self.path, mode) as file:
            self._file = file
            yield self
            if self.docbin is not None:
                file.write(self.docbin.to_bytes())

    def add(self, record: Record, doc: Doc) -> None:
        if self.docbin is not None:
            self.docbin.add(doc)
        else:
            self._file.write(json_line(record, doc))
        self.count += 1


def count_written(path: Path) -> int:
    """Documents in a finished shard (for a rerun's totals)."""
    if path.suffix == ".spacy":
        return len(DocBin().from_disk(path))
    with path.open("rb") as file:
        return sum(1 for _ in file)
