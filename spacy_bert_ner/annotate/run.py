"""`annotate` on one machine: read, run the pipeline with `nlp.pipe`, write shards, resume.

Memory stays bounded whatever the input size: records are read as a stream and held one shard at
a time; the pipeline sees them as a generator. Shards already on disk are skipped (their input is
still read, to count it), so a rerun after an interruption or a fixed bad line picks up where the
last complete shard ends.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

from spacy.language import Language
from spacy.tokens import Doc

from ..errors import InputError
from .reader import BadRecord, Record, input_files, pipeline_input, read_records
from .shards import (
    ShardWriter,
    check_output,
    count_written,
    rejects_path,
    shard_path,
    write_rejects,
    write_summary,
)

Item = Record | BadRecord
T = TypeVar("T")
# called with the shard's documents as a list of records; returns their annotated Docs, in order
Annotator = Callable[[list[Record]], Iterable[Doc]]


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
    """Docs from `nlp.pipe`: raw text through the pipeline's tokenizer, a DocBin's tokens kept.
    With several processes, an int8 graph the pipeline does not carry (a training folder) is
    built once here, not in every worker."""
    if n_process > 1:
        from ..pipeline.precision import build_int8_graphs

        build_int8_graphs(nlp)

    def annotate(records: list[Record]) -> Iterable[Doc]:
        inputs = (pipeline_input(nlp.vocab, r.text, r.words, r.spaces) for r in records)
        return nlp.pipe(inputs, batch_size=batch_size, n_process=n_process)

    return annotate


def annotate_files(
    inputs: Sequence[str | Path],
    output: Path,
    annotator: Annotator,
    *,
    text_field: str = "text",
    shard_size: int = 10_000,
    skip_bad: bool = False,
    window: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Annotate every input record into shards of `output`; returns the counts. The annotator is
    called once for the documents of `window` shards in a row (a cluster engine wants more than one
    shard's work at a time). A bad record stops the run with `file:line: problem` after the shards
    before it are written, unless `skip_bad`."""
    if shard_size < 1 or window < 1:
        raise ValueError(f"shard_size and window must be at least 1, got {shard_size} and {window}")
    output = Path(output)
    check_output(output)
    files = input_files(inputs)
    summary, start = Summary(), time.perf_counter()
    shards = enumerate(_chunks(read_records(files, text_field), shard_size))
    for group in _chunks(shards, window):
        todo = []
        for index, items in group:
            summary.read += len(items)
            bad = [item for item in items if isinstance(item, BadRecord)]
            path = shard_path(output, index)
            if path.exists():  # finished by an earlier run
                summary.shards_skipped += 1
                summary.written += count_written(path)
                summary.rejected += len(bad)
            elif bad and not skip_bad:
                _write_shards(output, todo, annotator, summary)
                raise InputError(bad[0].source, bad[0].line, f"{bad[0].problem} (use --skip-bad to set it aside)")
            else:
                todo.append((index, items))
            if progress is not None:
                progress(len(items))
        _write_shards(output, todo, annotator, summary)
    summary.seconds = time.perf_counter() - start
    write_summary(output, {**asdict(summary), "inputs": [str(f) for f in files], "shard_size": shard_size})
    return summary


def _write_shards(output: Path, shards: list[tuple[int, list[Item]]], annotator: Annotator, summary: Summary) -> None:
    """One annotator call for the good records of `shards`; each shard written as its Docs arrive."""
    if not shards:
        return
    records = [item for _, items in shards for item in items if isinstance(item, Record)]
    docs = iter(annotator(records) if records else [])
    for index, items in shards:
        good = [item for item in items if isinstance(item, Record)]
        bad = [item for item in items if isinstance(item, BadRecord)]
        if bad:
            write_rejects(rejects_path(output, index), bad)
            summary.rejected += len(bad)
        summary.written += _write_shard(shard_path(output, index), good, islice(docs, len(good)))
        summary.shards_written += 1
    if next(docs, None) is not None:
        raise RuntimeError(f"the pipeline returned more documents than the {len(records)} it was given")


def _write_shard(path: Path, records: list[Record], docs: Iterable[Doc]) -> int:
    writer = ShardWriter(path)
    with writer.open():
        for record, doc in _zip_exact(records, docs):
            writer.add(record, doc)
    return writer.count


def _zip_exact(records: list[Record], docs: Iterable[Doc]) -> Iterator[tuple[Record, Doc]]:
    count = 0
    for record, doc in zip(records, docs):
        count += 1
        yield record, doc
    if count != len(records):
        raise RuntimeError(f"the pipeline returned {count} documents for {len(records)}")


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
