"""Command line of the baseline: `train` and `evaluate` (scripts/baseline.py calls this app).

python scripts/baseline.py train TRAIN.spacy DEV.spacy OUTPUT_DIR --model assets/models/minilm
python scripts/baseline.py evaluate OUTPUT_DIR/model-best TEST.spacy OUTPUT.json
"""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

app = typer.Typer(
    help="The classic Hugging Face token-classification recipe on .spacy corpora: the baseline to beat.",
    no_args_is_help=True,
)

DEVICE_HELP = "torch device: auto (cuda if available), cpu, cuda, cuda:1 ..."


@app.command("train")
def train_cli(
    train_path: Path = typer.Argument(..., help="Training corpus (.spacy, gold ents)"),
    dev_path: Path = typer.Argument(..., help="Dev corpus (.spacy): scored while training, picks model-best"),
    output_dir: Path = typer.Argument(..., help="Folder for model-best/ and metrics.json"),
    model: str = typer.Option(..., help="Hugging Face model folder (or hub name), e.g. assets/models/minilm"),
    max_steps: Optional[int] = typer.Option(None, help="Step budget; default 3 epochs. The LR schedule spans it"),
    max_minutes: Optional[float] = typer.Option(None, help="Wall-clock budget in minutes (evaluation included)"),
    batch_size: int = typer.Option(16, help="Examples (sentences, or Doc chunks with --unit doc) per batch"),
    learn_rate: float = typer.Option(5e-5, help="Peak AdamW learning rate"),
    warmup_steps: int = typer.Option(100, help="Linear warmup steps, then linear decay to 0 at max-steps"),
    max_length: int = typer.Option(256, help="Wordpieces per chunk, special tokens included"),
    unit: str = typer.Option(
        "sentence", help="Example unit: sentence (the tutorial's) or doc (whole Docs, packed into max-length chunks)"
    ),
    eval_every: int = typer.Option(200, help="Score the dev set every N steps (and at the end)"),
    seed: int = typer.Option(0, help="Seed of the weights of the new head and of the shuffle"),
    eval_batch_size: int = typer.Option(32, help="Batch size of dev scoring and the inference speed"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    bf16: bool = typer.Option(False, "--bf16", help="Forward passes under torch.autocast(bfloat16), Trainer's bf16"),
) -> None:
    """Fine-tune MODEL on TRAIN, keep the best DEV checkpoint in OUTPUT_DIR/model-best, write metrics.json."""
    from .data import BaselineError
    from .train import TrainOptions, train

    options = TrainOptions(
        model=model,
        max_steps=max_steps,
        max_minutes=max_minutes,
        batch_size=batch_size,
        learn_rate=learn_rate,
        warmup_steps=warmup_steps,
        max_length=max_length,
        unit=unit,
        eval_every=eval_every,
        seed=seed,
        eval_batch_size=eval_batch_size,
        device=device,
        bf16=bf16,
    )
    try:
        train(train_path, dev_path, output_dir, options)
    except BaselineError as err:
        msg.fail("Baseline training failed", str(err), exits=1)


@app.command("evaluate")
def evaluate_cli(
    model_dir: Path = typer.Argument(..., help="A trained baseline folder (OUTPUT_DIR/model-best)"),
    data_path: Path = typer.Argument(..., help="Corpus to score (.spacy, gold ents)"),
    output_path: Optional[Path] = typer.Argument(None, help="JSON file for the scores"),
    batch_size: int = typer.Option(32, help="Inference batch size (chunks)"),
    max_length: Optional[int] = typer.Option(None, help="Wordpieces per chunk; default: as trained"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Score a trained baseline on DATA with spaCy's NER scorer (as `spacy evaluate` does)."""
    from .data import BaselineError
    from .predict import evaluate

    try:
        metrics = evaluate(
            model_dir, data_path, output_path, batch_size=batch_size, max_length=max_length, device=device
        )
    except BaselineError as err:
        msg.fail("Baseline evaluation failed", str(err), exits=1)
    rows = [
        (label, f"{100 * s['p']:.2f}", f"{100 * s['r']:.2f}", f"{100 * s['f']:.2f}")
        for label, s in sorted(metrics["ents_per_type"].items())
    ]
    rows.append(("ALL", *(f"{100 * metrics[k]:.2f}" for k in ("ents_p", "ents_r", "ents_f"))))
    msg.table(rows, header=("", "P", "R", "F"), divider=True)
    msg.good(
        f"{metrics['inference']['words']} words at {metrics['speed']:.0f} words/s (batch {batch_size})",
        f"Saved to {output_path}" if output_path else "",
    )


if __name__ == "__main__":
    app()
