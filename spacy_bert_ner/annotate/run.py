"""`annotate` on one machine: read, run the pipeline with `nlp.pipe`, write shards, resume.

Memory stays bounded whatever the input size: records are read as a stream and held one shard at
a time; the pipeline sees them as a generator. Shards already on disk are skipped (their input is
still read, to count it), so a rerun after an interruption or a fixed bad line picks up where the
last complete shard ends.
"""

import time
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from ..errors import InputError
from .reader import BadRecord, Record, input_files, read_records
from .shards import (
    ShardWriter,
    check_output,
    count_written,
    rejects_path,
    shard_path,
    write_rejects,
    write_summary,
)

Item = Union[Record, BadRecord]
# called with the shard's documents as a list of records; returns their annotated Docs, in order
Annotator = Callable[[List[Record]], Iterable[Doc]]


@dataclass
class Summary:
    read: int = 0  # counted as the reader yields them
    written: int = 0  # counted as the shard writers write them
    rejected: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.rejected


def pipe_annotator(nlp: Language, batch_size: int, n_process: int) -> Annotator:
    """Docs from `nlp.pipe`: raw text through the pipeline's tokenizer, a DocBin's tokens kept."""

    def annotate(records: List[Record]) -> Iterable[Doc]:
        inputs = (Doc(nlp.vocab, words=r.words, spaces=r.spaces) if r.words is not None else r.text for r in records)
        return nlp.pipe(inputs, batch_size=batch_size, n_process=n_process)

    return annotate


def annotate_files(
    inputs: Sequence[Union[str, Path]],
    output: Path,
    annotator: Annotator,
    *,
    text_field: str = "text",
    shard_size: int = 10_000,
    skip_bad: bool = False,
    progress: Optional[Callable[[int], None]] = None,
) -> Summary:
    """Annotate every input record into shards of `output`; returns the counts. A bad record stops
    the run with `file:line: problem` (complete shards stay), unless `skip_bad`."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    output = Path(output)
    check_output(output)
    files = input_files(inputs)
    summary, start = Summary(), time.perf_counter()
    for index, items in enumerate(_chunks(read_records(files, text_field), shard_size)):
        good = [item for item in items if isinstance(item, Record)]
        bad = [item for item in items if isinstance(item, BadRecord)]
        summary.read += len(items)
        path = shard_path(output, index)
        if path.exists():  # finished by an earlier run
            summary.shards_skipped += 1
            summary.written += count_written(path)
            summary.rejected += len(bad)
        else:
            if bad and not skip_bad:
                raise InputError(bad[0].source, bad[0].line, f"{bad[0].problem} (use --skip-bad to set it aside)")
            if bad:
                write_rejects(rejects_path(output, index), bad)
                summary.rejected += len(bad)
            summary.written += _write_shard(path, good, annotator)
            summary.shards_written += 1
        if progress is not None:
            progress(len(items))
    summary.seconds = time.perf_counter() - start
    write_summary(output, {**asdict(summary), "inputs": [str(f) for f in files], "shard_size": shard_size})
    return summary


def _write_shard(path: Path, records: List[Record], annotator: Annotator) -> int:
    writer = ShardWriter(path)
    with writer.open():
        docs = annotator(records) if records else []
        for record, doc in _zip_exact(records, docs):
            writer.add(record, doc)
    return writer.count


def _zip_exact(records: List[Record], docs: Iterable[Doc]) -> Iterator[Tuple[Record, Doc]]:
    count = 0
    for record, doc in zip(records, docs):
        count += 1
        yield record, doc
    if count != len(records):
        raise RuntimeError(f"the pipeline returned {count} documents for {len(records)}")


def _chunks(items: Iterable[Item], size: int) -> Iterator[List[Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def count_input_lines(files: Sequence[Path]) -> Optional[int]:
    """The number of records, where it is cheap to know (uncompressed text and JSONL); else None."""
    total = 0
    for path in files:
        if path.suffix in (".gz", ".spacy"):
            return None
        with path.open("rb") as file:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
            if path.stat().st_size and not _ends_with_newline(path):
                total += 1
    return total


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, 2)
        return file.read(1) == b"\n"
