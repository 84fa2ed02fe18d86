"""The benchmark suite runs end to end on a tiny pipeline and writes every table. Figures are
printed, never asserted: these tests check that each table is there, that its figures are
numbers, and that the scaling rows really hold 1x, 4x and 16x the words."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.baseline import TrainOptions, train
from spacy_bert_ner.cli import app
from spacy_bert_ner.pipeline.cpu_bfloat16 import cpu_has_bfloat16

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"^[\d,]+(\.\d+)?x?$")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_bert_dir, tiny_corpus_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("bench_pipeline")
    result = _run(
        [
            "-m",
            "spacy",
            "train",
            "configs/aligned_cpu.cfg",
            "--output",
            str(output),
            "--paths.train",
            str(tiny_corpus_dir / "train.spacy"),
            "--paths.dev",
            str(tiny_corpus_dir / "dev.spacy"),
            "--paths.transformer",
            str(tiny_bert_dir),
            "--training.max_steps",
            "2",
            "--training.eval_frequency",
            "1",
            # not the config's 128/96 and 64: the ceiling row must copy the pipeline's own settings
            "--components.transformer.model.get_spans.window",
            "64",
            "--components.transformer.model.get_spans.stride",
            "48",
            "--components.transformer.model.bucket_overhead",
            "32",
            "--components.transformer.model.cpu_bfloat16",
            "true",
        ]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return output / "model-last"


@pytest.fixture(scope="module")
def tiny_token_classifier(tiny_bert_dir, tiny_corpus_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("bench_baseline")
    options = TrainOptions(model=str(tiny_bert_dir), max_steps=2, eval_every=2, batch_size=8, device="cpu")
    train(tiny_corpus_dir / "train.spacy", tiny_corpus_dir / "dev.spacy", output, options, show_progress=False)
    return output / "model-best"


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """{section title: rows of cells} of a Markdown file written by the suite."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            tables[title] = []
        elif line.startswith("|") and title is not None and not set(line) <= set("|-: "):
            tables[title].append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


def column(rows: list[list[str]], name: str) -> list[str]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


def test_suite_writes_every_table(tiny_pipeline, tiny_token_classifier, tiny_bert_dir, tiny_corpus_dir, tmp_path):
    output = tmp_path / "bench.md"
    result = _run(
        [
            "-m",
            "spacy_bert_ner.cli",
            "bench",
            "suite",
            str(output),
            str(tiny_pipeline),
            "--data",
            str(tiny_corpus_dir / "dev.spacy"),
            "--encoder",
            str(tiny_bert_dir),
            "--hf-model",
            str(tiny_token_classifier),
            "--repeats",
            "1",
            "--limit",
            "3",
            "--long-words",
            "600",
            "--config",
            "configs/aligned_cpu.cfg",
            "--train",
            str(tiny_corpus_dir / "train.spacy"),
            "--transformer",
            str(tiny_bert_dir),
            "--steps",
            "2",
            "--kaggle",
            str(tmp_path / "missing.csv"),
            "--annotation-limit",
            "3",
            "--no-annotation-ray",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text(encoding="utf-8")
    tables = markdown_tables(text)
    ceiling = "Ceiling: strided windows of 64 tokens every 48, sub-batches of at most 4096 padded tokens"
    precision = "bfloat16 (torch.autocast on the CPU)" if cpu_has_bfloat16() else "float32"
    assert f"{ceiling}, in length buckets (overhead 32 wordpieces), in {precision}." in text
    assert list(tables) == [
        "Conversion speed",
        "Inference speed",
        "Processes (n_process)",
        "bfloat16 on the CPU",
        "Inference scaling",
        "Annotation",
        "Training speed",
    ]
    assert "missing.csv" in tables["Conversion speed"][1][0]  # skipped, and says why

    inference = tables["Inference speed"]
    assert len(inference) == 5  # header, the pipeline, the ceiling, the transformers pipeline, the recipe
    assert all(NUMBER.match(v) for v in column(inference, "words/sec") + column(inference, "peak RSS (MB)"))
    assert NUMBER.match(column(inference, "vs ceiling")[0]) and NUMBER.match(column(inference, "vs HF pipeline")[0])
    assert NUMBER.match(column(inference, "vs recipe")[0])

    processes = tables["Processes (n_process)"]
    assert column(processes, "n_process") == ["1", "2"]
    assert all(NUMBER.match(v) for v in column(processes, "words/sec"))

    scaling = tables["Inference scaling"]
    words = [int(w.replace(",", "")) for w in column(scaling, "words")]
    assert len(words) == 4 and words[1] == 4 * words[0] and words[2] == 16 * words[0]
    assert column(scaling, "docs")[:3] == ["3", "12", "48"]
    assert column(scaling, "input")[3].startswith("one Doc of") and column(scaling, "docs")[3] == "1"

    annotation = tables["Annotation"]
    runs = ["nlp.pipe loop", "annotate, 1 process", "annotate, 2 processes"]
    assert column(annotation, "run") == runs * 2 and column(annotation, "input") == ["1x"] * 3 + ["10x"] * 3
    n_words = [int(w.replace(",", "")) for w in column(annotation, "words")]
    assert n_words[3:] == [10 * n_words[0]] * 3
    assert all(NUMBER.match(v) for v in column(annotation, "words/sec") + column(annotation, "driver peak RSS (MB)"))

    training = tables["Training speed"]
    assert column(training, "steps") == ["2"] and NUMBER.match(column(training, "words/sec")[0])


def test_missing_inputs_fail_clearly(tmp_path):
    result = _run(
        [
            "-m",
            "spacy_bert_ner.cli",
            "bench",
            "suite",
            str(tmp_path / "b.md"),
            "some/model",
            "--data",
            str(tmp_path / "nope.spacy"),
        ]
    )
    assert result.returncode == 1
    assert "nope.spacy" in result.stdout + result.stderr


def test_bfloat16_bench_prints_both_precisions(tiny_bert_dir, tmp_path):
    output = tmp_path / "bf16.md"
    args = [
        "-m",
        "spacy_bert_ner.cli",
        "bench",
        "bfloat16",
        str(tiny_bert_dir),
        "--windows",
        "2",
        "--length",
        "16",
        "--repeats",
        "1",
    ]
    result = _run([*args, "--output", str(output)])
    assert result.returncode == 0, result.stderr[-2000:]
    table = markdown_tables(output.read_text(encoding="utf-8"))["bfloat16 on the CPU"]
    assert column(table, "pass") == ["forward + backward (train mode)", "forward (eval, no_grad)"]
    for name in ("float32 (s)", "bfloat16 (s)", "speed-up"):
        assert all(NUMBER.match(value) for value in column(table, name))
    assert f"native bfloat16: {cpu_has_bfloat16()}" in output.read_text(encoding="utf-8")


def test_alignment_bench_times_both_alignments(tiny_pipeline, tiny_corpus_dir, tmp_path):
    output = tmp_path / "alignment.md"
    args = ["-m", "spacy_bert_ner.cli", "bench", "alignment", str(tiny_pipeline)]
    args += ["--data", str(tiny_corpus_dir / "dev.spacy"), "--repeats", "1", "--output", str(output)]
    result = _run(args)
    assert result.returncode == 0, result.stderr[-2000:]
    table = markdown_tables(output.read_text(encoding="utf-8"))["Token-to-wordpiece alignment"]
    assert column(table, "alignment") == ["spacy-transformers", "vectorised"]
    for name in ("align (s)", "nlp.pipe (s)", "words/sec"):
        assert all(NUMBER.match(value) for value in column(table, name))


def test_conversion_bench_help():
    result = CliRunner().invoke(app, ["bench", "conversion", "--help"])
    assert result.exit_code == 0
    assert "--repeats" in result.output and "--output" in result.output


def test_conversion_bench_missing_file_exits_1_naming_it(tmp_path):
    missing = tmp_path / "nope.csv"
    result = CliRunner().invoke(app, ["bench", "conversion", "--kaggle", str(missing), "--conll", str(missing)])
    assert result.exit_code == 1
    assert f"Input file(s) not found: {missing}" in " ".join(result.output.split())


def test_inference_rounds_run_every_system_in_turn(tiny_pipeline, tiny_token_classifier, tiny_corpus_dir, tmp_path):
    output = tmp_path / "inference.md"
    args = ["-m", "spacy_bert_ner.cli", "bench", "inference", str(tiny_pipeline), "--data"]
    args += [str(tiny_corpus_dir / "dev.spacy"), "--hf-model", str(tiny_token_classifier)]
    args += ["--repeats", "1", "--rounds", "2", "--output", str(output)]
    result = _run(args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("round 1/2: ") == 3 and result.stdout.count("round 2/2: ") == 3
    text = output.read_text(encoding="utf-8")
    assert "best of 1 passes in each of 2 rounds" in text
    table = markdown_tables(text)["Inference speed"]
    assert len(table) == 4 and NUMBER.match(column(table, "vs recipe")[0])
