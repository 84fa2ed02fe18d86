"""Annotating a stream: `annotate` with 1 and 2 processes and on Ray with 1 and 2 workers, beside a
plain `nlp.pipe` loop, on 1x and 10x a test file's text.

The test file's documents become a JSONL stream (their text, one a line; 10x is the same lines ten
times). Each run is its own command (`spacy-bert-ner annotate ...`, or a `nlp.pipe` loop over the
lines), timed from start to exit, so model loading and Ray's start-up are in the figures; the
words/sec beside them excludes nothing. A sampler reads the resident memory of the command's process
tree every 0.2 s: the driver's peak and the largest worker's (spaCy's n_process workers, or Ray's
actors and its own processes). Neither should grow with the input: shards are streamed. Nothing
is asserted.

spacy-bert-ner bench annotation training/conll_aligned/model-best --data corpus/conll/dev.spacy
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer
from wasabi import msg

from .common import Section, machine, run_and_show, words_per_sec

COPIES = (1, 10)
PIPE_LOOP = """
import sys, json, spacy
nlp = spacy.load(sys.argv[1])
texts = (json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8"))
for doc in nlp.pipe(texts, batch_size=int(sys.argv[3])):
    pass
"""


def stream_file(data: Path, copies: int, output: Path, limit: int = 0) -> tuple[int, int]:
    """Write the Docs' texts as JSONL, `copies` times over; (documents, words)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    docs = list(DocBin().from_disk(data).get_docs(Vocab()))
    docs = docs[:limit] if limit else docs
    with output.open("w", encoding="utf-8") as file:
        for _ in range(copies):
            for i, doc in enumerate(docs):
                file.write(json.dumps({"id": i, "text": doc.text}) + "\n")
    return len(docs) * copies, sum(len(doc) for doc in docs) * copies


def measure(command: list[str]) -> dict[str, float]:
    """Wall seconds of the command, peak RSS (MB) of its own process and of its largest descendant."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                for proc in [root, *root.children(recursive=True)]:
                    peaks[proc.pid] = max(peaks.get(proc.pid, 0.0), proc.memory_info().rss / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    driver = peaks.pop(process.pid, 0.0)
    return {"seconds": seconds, "driver_mb": driver, "worker_mb": max(peaks.values(), default=0.0)}


def annotation_section(
    model: Path,
    data: Path,
    batch_size: int = 64,
    limit: int = 0,
    copies=COPIES,
    ray: bool = True,
    precisions: list[str] | None = None,
) -> Section:
    """One row a run and input size. With `precisions`, the annotate runs are repeated in each
    (`annotate --precision`); the loop keeps the pipeline's own."""
    cli = [sys.executable, "-m", "spacy_bert_ner.cli", "annotate", str(model)]
    runs: list[tuple[str, str, list[str] | None]] = [("nlp.pipe loop", "as configured", None)]
    for mode in precisions or [None]:
        chosen = ["--precision", mode] if mode else []
        runs += [
            ("annotate, 1 process", mode or "as configured", ["--n-process", "1", *chosen]),
            ("annotate, 2 processes", mode or "as configured", ["--n-process", "2", *chosen]),
        ]
        if ray:
            runs += [
                (
                    "annotate, Ray, 1 worker",
                    mode or "as configured",
                    ["--engine", "ray", "--num-workers", "1", *chosen],
                ),
                (
                    "annotate, Ray, 2 workers",
                    mode or "as configured",
                    ["--engine", "ray", "--num-workers", "2", *chosen],
                ),
            ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in copies:
            source = Path(tmp) / f"stream{factor}.jsonl"
            n_docs, n_words = stream_file(data, factor, source, limit)
            for name, mode, options in runs:
                msg.text(f"Annotation: {name}, {mode}, {factor}x ...")
                output = Path(tmp) / f"{factor}-{len(rows)}" / "out.jsonl"
                if options is None:
                    command = [sys.executable, "-c", PIPE_LOOP, str(model), str(source), str(batch_size)]
                else:
                    command = [*cli, str(source), str(output), "--batch-size", str(batch_size), *options]
                m = measure(command)
                rows.append(
                    [
                        name,
                        mode,
                        f"{factor}x",
                        n_docs,
                        n_words,
                        f"{m['seconds']:.1f}",
                        words_per_sec(n_words / m["seconds"]),
                        f"{m['driver_mb']:,.0f}",
                        f"{m['worker_mb']:,.0f}" if m["worker_mb"] else "",
                    ]
                )
    notes = [
        f"{machine()}; {model} on the text of {data}{f' (first {limit} Docs)' if limit else ''}; batch size "
        f"{batch_size}; wall clock from start to exit (loading and start-up included); peak RSS sampled every "
        "0.2 s. Ray's start-up is the 1x Ray row's seconds less the 1-process row's, roughly."
    ]
    header = [
        "run",
        "precision",
        "input",
        "docs",
        "words",
        "seconds",
        "words/sec",
        "driver peak RSS (MB)",
        "largest worker (MB)",
    ]
    return Section("Annotation", header, rows, notes)


def main(
    model: Path = typer.Argument(..., help="A trained pipeline folder (or installed package name)"),
    data: Path = typer.Option(..., help="A .spacy file whose texts make the stream"),
    batch_size: int = typer.Option(64, help="nlp.pipe batch size"),
    limit: int = typer.Option(0, help="Use only the first N Docs of the file as 1x (0: all)"),
    ray: bool = typer.Option(True, help="Include the Ray rows (needs the ray extra)"),
    output: Path | None = typer.Option(None, help="Also write the table as Markdown here"),
    copies: str = typer.Option("1,10", help="Input sizes, comma-separated multiples of the file's text"),
    precisions: str | None = typer.Option(
        None, help="Comma-separated, e.g. float32,bfloat16,int8: the annotate runs in each (default: as configured)"
    ),
) -> None:
    """Words/sec and peak RSS of annotate (1 and 2 processes, Ray 1 and 2 workers) and nlp.pipe."""
    if not data.exists():
        msg.fail(f"Data file not found: {data}", exits=1)
    from ..pipeline.precision import PRECISIONS

    try:
        factors = tuple(int(value) for value in copies.split(","))
    except ValueError:
        msg.fail(f"--copies must be comma-separated whole numbers, got {copies!r}", exits=1)
    modes = [mode.strip() for mode in precisions.split(",")] if precisions else None
    unknown = sorted(set(modes or []) - set(PRECISIONS))
    if unknown or any(factor < 1 for factor in factors):
        msg.fail(
            f"--precisions must name {', '.join(PRECISIONS)} and --copies be >= 1",
            f"got {precisions!r}, {copies!r}",
            exits=1,
        )
    run_and_show(lambda: annotation_section(model, data, batch_size, limit, factors, ray, modes), output)
