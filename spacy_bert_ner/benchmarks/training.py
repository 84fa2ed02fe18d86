"""Training speed of configs: words/sec and peak RSS of spaCy's own training loop.

Each config runs in its own process: `init_nlp` (the config's initialization, labels from the
training corpus), then `train_while_improving` with the config's batcher, optimizer, dropout and
gradient accumulation for `--warmup` + `--steps` updates, timed over the last `--steps`, with no
evaluation. Peak RSS covers initialization and those updates (a full run can meet larger
batches; `/usr/bin/time -v python -m spacy train ...` gives a full run's peak). Nothing is asserted.

spacy-bert-ner bench training configs/aligned_cpu.cfg configs/ner_cpu.cfg \
    --train corpus/conll/train.spacy --dev corpus/conll/dev.spacy --transformer assets/models/minilm
"""

from pathlib import Path

import typer
from spacy.util import load_config
from wasabi import msg

from .common import Section, machine, run_and_show, run_worker, words_per_sec


def training_section(
    configs: list[Path],
    train: Path,
    dev: Path,
    transformer: str | None = None,
    steps: int = 30,
    warmup: int = 3,
) -> Section:
    header = ["config", "pipes", "steps", "words", "seconds", "s/step", "words/sec", "peak RSS (MB)"]
    rows = []
    for config in configs:
        overrides = {"paths.train": str(train), "paths.dev": str(dev)}
        if transformer is not None and "transformer" in load_config(config)["paths"]:
            overrides["paths.transformer"] = transformer
        msg.text(f"Training: {config} for {warmup} + {steps} steps ...")
        r = run_worker("training", config=str(config), overrides=overrides, steps=steps, warmup=warmup)
        rows.append(
            [
                str(config),
                "+".join(r["pipes"]),
                r["steps"],
                r["words"],
                f"{r['seconds']:.1f}",
                f"{r['seconds_per_step']:.2f}",
                words_per_sec(r["words_per_sec"]),
                f"{r['peak_rss_mb']:,.0f}",
            ]
        )
    notes = [
        f"{machine()}; train {train}; {warmup} warm-up steps, then {steps} timed; words are gold tokens; "
        f"encoder {transformer or '(from the config)'}."
    ]
    return Section("Training speed", header, rows, notes)


def main(
    configs: list[Path] = typer.Argument(..., help="Training configs (.cfg)"),
    train: Path = typer.Option(..., help="Training corpus (.spacy)"),
    dev: Path = typer.Option(..., help="Dev corpus (.spacy; only read by initialization)"),
    transformer: str | None = typer.Option(None, help="paths.transformer for transformer configs"),
    steps: int = typer.Option(30, min=1, help="Timed updates"),
    warmup: int = typer.Option(3, min=1, help="Untimed updates first"),
    output: Path | None = typer.Option(None, help="Also write the table as Markdown here"),
) -> None:
    """Training words/sec and peak RSS of each config (spaCy's loop, no evaluation)."""
    missing = [str(p) for p in (*configs, train, dev) if not p.exists()]
    if missing:
        msg.fail(f"Not found: {', '.join(missing)}", exits=1)
    run_and_show(lambda: training_section(configs, train, dev, transformer, steps, warmup), output)
