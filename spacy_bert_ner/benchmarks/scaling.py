"""How inference scales: throughput and peak RSS at 1x, 4x and 16x a test file, and on one
document much longer than the encoder window.

Each row runs in its own process. The copies are streamed (Docs are made as `nlp.pipe` asks
for them and dropped after), so peak RSS shows what the pipeline itself holds, not the input.
The long document joins the words of the file's first Docs into one Doc of `--long-words`
words (hundreds of 128-token windows). Nothing is asserted.

spacy-bert-ner bench scaling training/conll_aligned/model-best --data corpus/conll/dev.spacy --limit 50
"""

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from wasabi import msg

from .common import Section, machine, run_and_show, run_worker, words_per_sec

FACTORS = (1, 4, 16)


def long_doc_file(data: Path, n_words: int, output: Path) -> int:
    """Write one Doc of (up to) `n_words` words, the file's Docs joined in order; its length."""
    from spacy.tokens import Doc, DocBin
    from spacy.vocab import Vocab

    vocab = Vocab()
    words = []
    for doc in DocBin().from_disk(data).get_docs(vocab):
        words.extend(t.text for t in doc)
        if len(words) >= n_words:
            break
    doc = Doc(vocab, words=words[:n_words])
    DocBin(docs=[doc]).to_disk(output)
    return len(doc)


def scaling_section(
    model: Path,
    data: Path,
    limit: int = 0,
    factors: Sequence[int] = FACTORS,
    long_words: int = 20000,
    batch_size: int = 32,
    repeats: int = 1,
) -> Section:
    header = ["pipeline", "input", "docs", "words", "best (s)", "words/sec", "peak RSS (MB)"]
    rows = []

    def row(label: str, r: dict[str, Any]) -> list[Any]:
        figures = [r["docs"], r["words"], f"{r['seconds']:.2f}", words_per_sec(r["words_per_sec"])]
        return [str(model), label, *figures, f"{r['peak_rss_mb']:,.0f}"]

    base = f"the file{f' (first {limit} Docs)' if limit else ''}"
    for factor in factors:
        msg.text(f"Scaling: {model} on {factor}x {base} ...")
        r = run_worker(
            "pipeline",
            model=str(model),
            data=str(data),
            batch_size=batch_size,
            repeats=repeats,
            limit=limit,
            copies=factor,
        )
        rows.append(row(f"{factor}x {base}", r))
    with tempfile.TemporaryDirectory() as tmp:
        long_path = Path(tmp) / "long.spacy"
        n_words = long_doc_file(data, long_words, long_path)
        msg.text(f"Scaling: {model} on one Doc of {n_words} words ...")
        r = run_worker("pipeline", model=str(model), data=str(long_path), batch_size=batch_size, repeats=repeats)
    rows.append(row(f"one Doc of {n_words:,} words", r))
    notes = [f"{machine()}; data {data}; batch {batch_size}, 1 process; best of {repeats}."]
    return Section("Inference scaling", header, rows, notes)


def main(
    model: Path = typer.Argument(..., help="A trained pipeline folder (or installed package name)"),
    data: Path = typer.Option(..., help="The test file (.spacy)"),
    limit: int = typer.Option(0, help="Use only the first N Docs of the file as 1x (0: all)"),
    long_words: int = typer.Option(20000, help="Words in the one long document"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    repeats: int = typer.Option(1, help="Timed passes; the best is reported"),
    output: Path | None = typer.Option(None, help="Also write the table as Markdown here"),
) -> None:
    """Throughput and peak RSS at 1x, 4x and 16x the test file, and on one very long document."""
    if not data.exists():
        msg.fail(f"Data file not found: {data}", exits=1)
    run_and_show(lambda: scaling_section(model, data, limit, FACTORS, long_words, batch_size, repeats), output)
