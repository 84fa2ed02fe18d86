"""What the benchmark scripts share: a table section, the worker launcher, Markdown output."""

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasabi import MarkdownRenderer, msg

# the project's default asset paths of the real corpora (not shipped: see the README)
KAGGLE_PATH = Path("assets/kaggle/ner_dataset.csv.gz")
CONLL_PATH = Path("assets/conll2003/eng.train")


@dataclass
class Section:
    """One benchmark's table: a title, a header, rows of cells, and notes printed beneath."""

    title: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_worker(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run `workers.NAME(**kwargs)` in a fresh Python process and return its figures."""
    args = [sys.executable, "-m", "spacy_bert_ner.benchmarks.workers", name, json.dumps(kwargs)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Benchmark worker {name}({kwargs}) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def best_of(repeats: int, func: Callable[[], Any], warmup: bool = False) -> tuple[float, list[float], Any]:
    """Best wall time of `repeats` calls, every time, and the last call's result; with `warmup`,
    one untimed call first."""
    if warmup:
        func()
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), times, result


def machine() -> str:
    return f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"


def show(section: Section) -> None:
    msg.divider(section.title)
    msg.table([[str(cell) for cell in row] for row in section.rows], header=section.header, divider=True, max_col=80)
    for note in section.notes:
        msg.text(note)


def to_markdown(sections: Sequence[Section], title: str | None = None) -> str:
    md = MarkdownRenderer()
    if title:
        md.add(md.title(1, title))
    for section in sections:
        md.add(md.title(2, section.title))
        md.add(md.table([[str(cell) for cell in row] for row in section.rows], section.header))
        for note in section.notes:
            md.add(note)
    return md.text + "\n"


def write_markdown(path: Path, sections: Sequence[Section], title: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_markdown(sections, title), encoding="utf-8")
    msg.good(f"Saved {path}")


def words_per_sec(value: float) -> str:
    return f"{value:,.0f}"


def run_and_show(build: Callable[[], Section], output: Path | None = None) -> None:
    """Build a section (a failed worker exits 1 with its error), print it, write it if asked."""
    try:
        section = build()
    except RuntimeError as err:
        msg.fail(str(err), exits=1)
    show(section)
    if output is not None:
        write_markdown(output, [section])
