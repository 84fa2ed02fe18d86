"""The whole benchmark suite in one command, written to one Markdown file.

Runs, each in its own process(es): conversion (the real corpora, skipped with a note when they
are absent), inference speed of the pipelines beside the bare-encoder ceiling and the
transformers pipeline and the classic recipe's own batched inference, the bare encoder in
float32 against CPU bfloat16 (in this process), inference scaling (1x/4x/16x and one long
document) of the first pipeline, `annotate` of the first pipeline (1 and 2 processes, Ray with 1
and 2 workers, beside a plain `nlp.pipe` loop, on 1x and 10x a stream of the test file's texts),
and training speed of the configs. Figures are printed and written; none is asserted.

spacy-bert-ner bench suite training/conll_aligned/model-best training/conll_ner/model-best \
    --data corpus/conll/dev.spacy --encoder assets/models/minilm \
    --hf-model training/conll_baseline/model-best \
    --config configs/aligned_cpu.cfg --config configs/ner_cpu.cfg \
    --train corpus/conll/train.spacy --output metrics/benchmarks.md
"""

from enum import Enum
from pathlib import Path

import typer
from wasabi import msg

from .annotation import COPIES, annotation_section
from .bfloat16 import bfloat16_section
from .common import Section, machine, show, write_markdown
from .conversion import CONLL_PATH, KAGGLE_PATH, convert_section
from .inference import inference_section, processes_section
from .scaling import FACTORS, scaling_section
from .training import training_section


class AnnotationRows(str, Enum):
    all = "all"
    local = "local"
    none = "none"


def conversion_or_skipped(kaggle: Path, conll: Path) -> Section:
    """The conversion table, or a one-row table saying which corpus file is missing."""
    missing = [str(path) for path in (kaggle, conll) if not path.is_file()]
    if missing:
        return Section("Conversion speed", ["skipped"], [[f"not found: {', '.join(missing)}"]])
    return convert_section(kaggle, conll)


def main(
    output: Path = typer.Argument(..., help="Markdown file for all tables, e.g. metrics/benchmarks.md"),
    pipelines: list[Path] = typer.Argument(..., help="Trained pipeline folders; the first also gets the scaling runs"),
    data: Path = typer.Option(..., help="Fixed test file (.spacy) for inference"),
    encoder: Path | None = typer.Option(None, help="Encoder folder for the bare forward-pass ceiling"),
    hf_model: Path | None = typer.Option(None, help="Token-classification model for the transformers pipeline row"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    repeats: int = typer.Option(2, help="Timed inference passes; the best is reported"),
    limit: int = typer.Option(0, help="Docs of the test file that make 1x in the scaling runs (0: all)"),
    long_words: int = typer.Option(20000, help="Words in the scaling run's one long document"),
    config: list[Path] = typer.Option([], help="Training config to time (repeatable)"),
    train: Path | None = typer.Option(None, help="Training corpus for the training-speed runs"),
    dev: Path | None = typer.Option(None, help="Dev corpus for initialization (default: --data)"),
    transformer: str | None = typer.Option(None, help="paths.transformer for the training-speed runs"),
    steps: int = typer.Option(30, help="Timed training steps per config"),
    annotation: AnnotationRows = typer.Option(
        AnnotationRows.all,
        help="Time `annotate` of the first pipeline: all (1 and 2 processes, and Ray: needs the ray extra), "
        "local (no Ray rows) or none",
    ),
    annotation_limit: int = typer.Option(50, help="Docs of the test file whose texts make the annotation stream's 1x"),
    kaggle: Path = typer.Option(KAGGLE_PATH, help="Kaggle CSV for the conversion benchmark"),
    conll: Path = typer.Option(CONLL_PATH, help="CoNLL train file for the conversion benchmark"),
) -> None:
    """Run conversion, inference, scaling and training benchmarks; print and write every table."""
    missing = [str(p) for p in (data, *config, *([train] if train else [])) if not p.exists()]
    if missing:
        msg.fail(f"Not found: {', '.join(missing)}", exits=1)
    if config and train is None:
        msg.fail("--config needs --train (the corpus to train on)", exits=1)
    sections: list[Section] = []
    try:
        sections.append(conversion_or_skipped(kaggle, conll))
        sections.append(inference_section(pipelines, data, batch_size, 1, repeats, encoder, hf_model))
        sections.append(processes_section(pipelines[0], data, batch_size, repeats))
        if encoder is not None:
            sections.append(bfloat16_section(encoder, windows=24, length=128, repeats=repeats))
        sections.append(scaling_section(pipelines[0], data, limit, FACTORS, long_words, batch_size))
        if annotation != AnnotationRows.none:
            ray = annotation == AnnotationRows.all
            sections.append(annotation_section(pipelines[0], data, 64, annotation_limit, COPIES, ray))
        if config:
            sections.append(training_section(config, train, dev or data, transformer, steps))
    except RuntimeError as err:
        msg.fail(str(err), exits=1)
    for section in sections:
        show(section)
    write_markdown(output, sections, title=f"Benchmarks ({machine()})")
