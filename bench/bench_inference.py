"""Inference speed of trained pipelines on a fixed `.spacy` file: words/sec and peak RSS.

Each pipeline runs in its own subprocess (so peak RSS is its own), over the gold tokens of the
file (one Doc per stored Doc, no re-tokenization), after one warm-up batch; best of
`--repeats`. Batch size and process count are printed with the figures. Nothing is asserted.

python bench/bench_inference.py training/conll_ner/model-best training/conll_aligned/model-best \
    --data corpus/conll/dev.spacy
"""

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import MarkdownRenderer, msg

WORKER = r"""
import json, resource, sys, time
import spacy
from spacy.tokens import Doc, DocBin
model, data = sys.argv[1], sys.argv[2]
batch_size, n_process, repeats = (int(arg) for arg in sys.argv[3:6])
nlp = spacy.load(model)
refs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
def docs():
    return [Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]) for ref in refs]
n_words = sum(len(ref) for ref in refs)
list(nlp.pipe(docs()[:batch_size], batch_size=batch_size))  # warm-up
times = []
for _ in range(repeats):
    batch = docs()
    start = time.perf_counter()
    for _ in nlp.pipe(batch, batch_size=batch_size, n_process=n_process):
        pass
    times.append(time.perf_counter() - start)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"docs": len(refs), "words": n_words, "seconds": min(times), "times": times,
                  "words_per_sec": n_words / min(times), "peak_rss_mb": rss_mb, "pipes": nlp.pipe_names}))
"""


def measure(model: Path, data: Path, batch_size: int, n_process: int, repeats: int) -> Dict:
    args = [sys.executable, "-c", WORKER, str(model), str(data), str(batch_size), str(n_process), str(repeats)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        msg.fail(f"Benchmark of {model} failed", result.stderr[-2000:], exits=1)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(
    models: List[Path] = typer.Argument(..., help="Trained pipeline folders (or installed package names)"),
    data: Path = typer.Option(..., help="A .spacy file to run on"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    n_process: int = typer.Option(1, help="nlp.pipe processes"),
    repeats: int = typer.Option(2, help="Timed passes; the best is reported"),
    output: Optional[Path] = typer.Option(None, help="Also write the table as Markdown here"),
) -> None:
    """Words/sec and peak RSS of each pipeline on the same file, batch size and process count."""
    if not data.exists():
        msg.fail(f"Data file not found: {data}", exits=1)
    header = ["pipeline", "pipes", "docs", "words", "batch", "procs", "best (s)", "words/sec", "peak RSS (MB)"]
    rows = []
    for model in models:
        with msg.loading(f"Running {model} ..."):
            r = measure(model, data, batch_size, n_process, repeats)
        rows.append(
            [
                str(model),
                "+".join(r["pipes"]),
                r["docs"],
                r["words"],
                batch_size,
                n_process,
                f"{r['seconds']:.2f}",
                f"{r['words_per_sec']:,.0f}",
                f"{r['peak_rss_mb']:,.0f}",
            ]
        )
    msg.table(rows, header=header, divider=True)
    machine = f"Python {platform.python_version()}, {platform.machine()}, data {data}"
    msg.text(machine)
    if output is not None:
        md = MarkdownRenderer()
        md.add(md.table([[str(cell) for cell in row] for row in rows], header))
        md.add(machine)
        output.write_text(md.text + "\n", encoding="utf-8")
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    typer.run(main)
