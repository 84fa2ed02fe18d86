"""Inference speed of trained pipelines on a fixed `.spacy` file: words/sec and peak RSS.

Each pipeline runs in its own subprocess (so peak RSS is its own), over the gold tokens of the
file (one Doc per stored Doc, no re-tokenization), after one warm-up batch; best of
`--repeats`. Batch size and process count are printed with the figures. Nothing is asserted.

Two reference rows put the figures in context:
- `--encoder DIR`, the ceiling: a bare forward pass of that encoder (AutoModel, no head) over the
  same documents in the same batches, cut into the pipelines' windows (128 tokens, stride 96),
  tokenization included;
- `--hf-model DIR`: transformers' `pipeline("token-classification")` (aggregation "first",
  stride 64 for long texts) with a token-classification model of the same encoder, e.g. the
  classic-recipe baseline (training/<dataset>_baseline/model-best), on the same texts.

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


CEILING_WORKER = r"""
import json, resource, sys, time
import torch
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from transformers import AutoModel, AutoTokenizer
model_dir, data = sys.argv[1], sys.argv[2]
batch_size, n_process, repeats = (int(arg) for arg in sys.argv[3:6])
WINDOW, STRIDE = 128, 96
tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
encoder = AutoModel.from_pretrained(model_dir).eval()
docs = [[t.text for t in doc] for doc in DocBin().from_disk(data).get_docs(Vocab())]
n_words = sum(len(words) for words in docs)
def windows(words):
    starts = range(0, max(len(words) - WINDOW, 0) + STRIDE, STRIDE)
    return [words[i : i + WINDOW] for i in starts if words[i : i + WINDOW]]
def run(batch):
    spans = [span for words in batch for span in windows(words)]
    if not spans:
        return
    inputs = tokenizer(
        spans, is_split_into_words=True, padding=True, truncation=True, max_length=512, return_tensors="pt"
    )
    with torch.no_grad():
        encoder(**inputs)
run(docs[:batch_size])  # warm-up
times = []
for _ in range(repeats):
    start = time.perf_counter()
    for i in range(0, len(docs), batch_size):
        run(docs[i : i + batch_size])
    times.append(time.perf_counter() - start)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"docs": len(docs), "words": n_words, "seconds": min(times), "times": times,
                  "words_per_sec": n_words / min(times), "peak_rss_mb": rss_mb, "pipes": ["bare encoder forward"]}))
"""

HF_PIPELINE_WORKER = r"""
import json, resource, sys, time
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from transformers import pipeline
model_dir, data = sys.argv[1], sys.argv[2]
batch_size, n_process, repeats = (int(arg) for arg in sys.argv[3:6])
texts = [" ".join(t.text for t in doc) for doc in DocBin().from_disk(data).get_docs(Vocab())]
n_words = sum(len(text.split(" ")) for text in texts)
tagger = pipeline("token-classification", model=model_dir, aggregation_strategy="first", stride=64, device=-1)
tagger(texts[:batch_size], batch_size=batch_size)  # warm-up
times = []
for _ in range(repeats):
    start = time.perf_counter()
    tagger(texts, batch_size=batch_size)
    times.append(time.perf_counter() - start)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"docs": len(texts), "words": n_words, "seconds": min(times), "times": times,
                  "words_per_sec": n_words / min(times), "peak_rss_mb": rss_mb,
                  "pipes": ["transformers token-classification pipeline"]}))
"""


def measure(model: Path, data: Path, batch_size: int, n_process: int, repeats: int, worker: str = WORKER) -> Dict:
    args = [sys.executable, "-c", worker, str(model), str(data), str(batch_size), str(n_process), str(repeats)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Benchmark of {model} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(
    models: List[Path] = typer.Argument(..., help="Trained pipeline folders (or installed package names)"),
    data: Path = typer.Option(..., help="A .spacy file to run on"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    n_process: int = typer.Option(1, help="nlp.pipe processes"),
    repeats: int = typer.Option(2, help="Timed passes; the best is reported"),
    output: Optional[Path] = typer.Option(None, help="Also write the table as Markdown here"),
    encoder: Optional[Path] = typer.Option(None, help="Encoder folder for the bare forward-pass ceiling row"),
    hf_model: Optional[Path] = typer.Option(None, help="Token-classification model for the transformers pipeline row"),
) -> None:
    """Words/sec and peak RSS of each pipeline on the same file, batch size and process count."""
    if not data.exists():
        msg.fail(f"Data file not found: {data}", exits=1)
    header = ["pipeline", "pipes", "docs", "words", "batch", "procs", "best (s)", "words/sec", "peak RSS (MB)"]
    rows = []
    runs = [(model, WORKER) for model in models]
    runs += [(encoder, CEILING_WORKER)] if encoder is not None else []
    runs += [(hf_model, HF_PIPELINE_WORKER)] if hf_model is not None else []
    for model, worker in runs:
        procs = n_process if worker == WORKER else 1
        msg.text(f"Running {model} ...")
        try:
            r = measure(model, data, batch_size, procs, repeats, worker)
        except RuntimeError as err:
            msg.fail(str(err), exits=1)
        rows.append(
            [
                str(model),
                "+".join(r["pipes"]),
                r["docs"],
                r["words"],
                batch_size,
                procs,
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
