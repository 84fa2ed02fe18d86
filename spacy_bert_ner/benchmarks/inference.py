"""Inference speed of trained pipelines on a fixed `.spacy` file: words/sec and peak RSS.

Each pipeline runs in its own process (so peak RSS is its own), over the gold tokens of the
file (one Doc per stored Doc, no re-tokenization), after one warm-up batch; best of
`--repeats`. Batch size and process count are printed with the figures. Nothing is asserted.

Two reference rows put the figures in context, and each pipeline is shown as a multiple of them:
- `--encoder DIR`, the ceiling: a bare forward pass of that encoder (AutoModel, no head) over the
  same Docs in the same batches, split into length-sorted sub-batches and strided windows the
  way spacy-transformers does, with the first transformer pipeline's own settings (window,
  stride, max_batch_items, and length buckets where its transformer runs in them; 128 tokens
  every 96, 4096 and one call a sub-batch if none has them), tokenization included. Goal: the
  pipelines at >= 0.8x of it.
- `--hf-model DIR`: transformers' `pipeline("token-classification")` (aggregation "first",
  stride 64 for long texts) with a token-classification model of the same encoder, e.g. the
  classic-recipe baseline (training/<dataset>_baseline/model-best), on the same texts.
  Goal: the pipelines at >= 1.5x of it.

spacy-bert-ner bench inference training/conll_aligned/model-best --data corpus/conll/dev.spacy \
    --encoder assets/models/minilm --hf-model training/conll_baseline/model-best
"""

from pathlib import Path
from typing import Any

import typer
from wasabi import msg

from .common import Section, machine, run_and_show, run_worker, words_per_sec


def inference_section(
    models: list[Path],
    data: Path,
    batch_size: int = 32,
    n_process: int = 1,
    repeats: int = 2,
    encoder: Path | None = None,
    hf_model: Path | None = None,
    limit: int = 0,
    rounds: int = 1,
    precisions: list[str] | None = None,
) -> Section:
    """Measure each pipeline and the reference rows; one table row each. With several `rounds`,
    every system runs once a round (a fresh process each time), so a machine whose speed drifts
    slows all of them alike; each row keeps its best pass over all rounds. With `precisions`,
    each pipeline runs in each of them, and the ceiling and the recipe run in each as their peers
    (the recipe in float32 stays the reference every row is a multiple of)."""
    modes: list[str | None] = list(precisions) if precisions else [None]
    runs: list[tuple[str, str, dict[str, Any]]] = []
    window_source: dict[int, int] = {}  # a ceiling run -> the pipeline run whose windows it copies
    for mode in modes:
        first_pipeline = len(runs)
        runs += [(str(model), "pipeline", {"n_process": n_process, **_mode(mode)}) for model in models]
        if encoder is not None:
            window_source[len(runs)] = first_pipeline
            runs.append((str(encoder), "encoder", _mode(mode)))
        if hf_model is not None:
            runs.append((str(hf_model), "recipe", {"precision": mode or "float32"}))
    if hf_model is not None:
        runs.append((str(hf_model), "hf_pipeline", {}))
        if not {None, "float32"} & set(modes):
            runs.append((str(hf_model), "recipe", {"precision": "float32"}))
    best: list[dict[str, Any] | None] = [None] * len(runs)
    for round_ in range(rounds):
        for i, (model, worker, extra) in enumerate(runs):
            source = best[window_source[i]] if i in window_source and models else None
            if source is not None:  # the pipeline's windows, in the precision it chose (auto resolved)
                extra = {**extra, **_window_settings(source)}
            label = f"round {round_ + 1}/{rounds}: " if rounds > 1 else ""
            msg.text(f"Inference: {label}{model} ({worker}{f', {extra}' if extra else ''}) ...")
            figures = run_worker(
                worker, model=model, data=str(data), batch_size=batch_size, repeats=repeats, limit=limit, **extra
            )
            best[i] = _better(best[i], figures)
    results = [(model, worker, extra, r) for (model, worker, extra), r in zip(runs, best)]
    reference = {
        (worker, figures.get("precision", "float32")): figures["words_per_sec"]
        for _, worker, _, figures in results
        if worker != "pipeline"
    }

    def ratio(speed: float, worker: str, ref: tuple[str, str]) -> str:
        return f"{speed / reference[ref]:.2f}x" if ref in reference and worker == "pipeline" else ""

    has = {worker for worker, _ in reference}
    peers = precisions is not None and "recipe" in has
    header = ["pipeline", "precision", "pipes", "docs", "words", "batch", "procs", "best (s)", "words/sec"]
    header += ["vs ceiling"] if "encoder" in has else []
    header += ["vs HF pipeline"] if "hf_pipeline" in has else []
    header += ["vs recipe"] if "recipe" in has else []
    header += ["vs recipe, same precision"] if peers else []
    header += ["peak RSS (MB)"]
    rows = []
    for model, worker, extra, r in results:
        mode = r.get("precision", "float32" if worker != "pipeline" else "")
        shown = f"auto: {mode}" if extra.get("precision") == "auto" else mode
        row = [model if worker == "pipeline" else f"{model} ({worker})", shown, "+".join(r["pipes"]), r["docs"]]
        row += [r["words"], batch_size, extra.get("n_process", 1), f"{r['seconds']:.2f}"]
        row.append(words_per_sec(r["words_per_sec"]))
        speed = r["words_per_sec"]
        row += [ratio(speed, worker, ("encoder", mode))] if "encoder" in has else []
        row += [ratio(speed, worker, ("hf_pipeline", "float32"))] if "hf_pipeline" in has else []
        row += [ratio(speed, worker, ("recipe", "float32"))] if "recipe" in has else []
        row += [ratio(speed, worker, ("recipe", mode))] if peers else []
        row.append(f"{r['peak_rss_mb']:,.0f}")
        rows.append(row)
    notes = [
        f"{machine()}; data {data}{f' (first {limit} Docs)' if limit else ''}; best of {repeats}"
        + (f" passes in each of {rounds} rounds (every system once a round, in turn)" if rounds > 1 else "")
        + ". The "
        "recipe row is the classic recipe's own batched inference (as `report` runs it), the HF pipeline "
        "row transformers' `pipeline()` on the same model. A pipeline's precision is the one it predicted "
        "in (`auto` resolved on this CPU); the ceiling runs the windows of the pipeline measured before it."
    ]
    ceiling = next((figures for _, worker, _, figures in results if worker == "encoder"), None)
    if ceiling is not None:
        buckets = ceiling.get("bucket_overhead")
        notes.append(
            f"Ceiling: {_windows_text(ceiling)}, "
            f"sub-batches of at most {ceiling['max_batch_items']} padded tokens"
            + (f", in length buckets (overhead {buckets} wordpieces)." if buckets is not None else ", one call each.")
        )
    return Section("Inference speed", header, rows, notes)


def processes_section(model: Path, data: Path, batch_size: int = 32, repeats: int = 2, limit: int = 0) -> Section:
    """`nlp.pipe` words/sec of one pipeline with 1 and 2 processes (n_process), same data and batch."""
    rows = []
    for n_process in (1, 2):
        msg.text(f"Processes: {model} with n_process={n_process} ...")
        r = run_worker(
            "pipeline",
            model=str(model),
            data=str(data),
            batch_size=batch_size,
            repeats=repeats,
            limit=limit,
            n_process=n_process,
        )
        rows.append(
            [str(model), n_process, r["docs"], r["words"], f"{r['seconds']:.2f}", words_per_sec(r["words_per_sec"])]
        )
    speedup = float(rows[1][-1].replace(",", "")) / float(rows[0][-1].replace(",", ""))
    notes = [
        f"{machine()}; data {data}{f' (first {limit} Docs)' if limit else ''}; batch size {batch_size}; best of "
        f"{repeats}; 2 processes give {speedup:.2f}x the words/sec of 1 (each worker runs torch on one thread)."
    ]
    return Section(
        "Processes (n_process)", ["pipeline", "n_process", "docs", "words", "best (s)", "words/sec"], rows, notes
    )


def _better(best: dict[str, Any] | None, figures: dict[str, Any]) -> dict[str, Any]:
    """The faster of two measurements of one system, with the larger peak RSS and every pass's time."""
    if best is None:
        return figures
    faster = figures if figures["seconds"] < best["seconds"] else best
    return {
        **faster,
        "times": best["times"] + figures["times"],
        "peak_rss_mb": max(best["peak_rss_mb"], figures["peak_rss_mb"]),
    }


def _windows_text(figures: dict[str, Any]) -> str:
    if figures.get("spans") == "sentences":
        return f"whole sentences packed into windows of at most {figures['window']} tokens"
    return f"strided windows of {figures['window']} tokens every {figures['stride']}"


def _mode(precision: str | None) -> dict[str, str]:
    return {"precision": precision} if precision else {}


def _window_settings(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("window", "stride", "spans", "max_batch_items", "bucket_overhead", "precision")
    return {key: figures[key] for key in keys if key in figures}


def main(
    models: list[Path] = typer.Argument(..., help="Trained pipeline folders (or installed package names)"),
    data: Path = typer.Option(..., help="A .spacy file to run on"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    n_process: int = typer.Option(1, help="nlp.pipe processes"),
    repeats: int = typer.Option(2, help="Timed passes; the best is reported"),
    rounds: int = typer.Option(1, help="Run every system this many times, in turn; the best pass is reported"),
    limit: int = typer.Option(0, help="Use only the first N Docs of the file (0: all)"),
    output: Path | None = typer.Option(None, help="Also write the table as Markdown here"),
    encoder: Path | None = typer.Option(None, help="Encoder folder for the bare forward-pass ceiling row"),
    hf_model: Path | None = typer.Option(None, help="Token-classification model for the transformers pipeline row"),
    precisions: str | None = typer.Option(
        None, help="Comma-separated, e.g. float32,bfloat16,int8,auto: each pipeline, the ceiling and the recipe in each"
    ),
) -> None:
    """Words/sec and peak RSS of each pipeline on the same file, batch size and process count."""
    if not data.exists():
        msg.fail(f"Data file not found: {data}", exits=1)
    run_and_show(
        lambda: inference_section(
            models, data, batch_size, n_process, repeats, encoder, hf_model, limit, rounds, _precisions(precisions)
        ),
        output,
    )


def _precisions(option: str | None) -> list[str] | None:
    from ..pipeline.precision import PRECISIONS

    if option is None:
        return None
    names = [name.strip() for name in option.split(",") if name.strip()]
    unknown = [name for name in names if name not in PRECISIONS]
    if unknown or not names:
        msg.fail(f"--precisions: {', '.join(unknown) or 'none given'}; choose from {', '.join(PRECISIONS)}", exits=1)
    return names
