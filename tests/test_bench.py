"""The benchmark commands on a tiny pipeline: each writes its table, its figures are numbers, and the
bare-encoder ceiling copies the pipeline's own settings. Figures are printed, never asserted. The
whole suite runs as the project's `benchmark` command (test_project.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from conftest import NUMBER, column, markdown_tables
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.pipeline.cpu_bfloat16 import cpu_has_bfloat16
from spacy_bert_ner.pipeline.precision import auto_precision

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_inference_rounds_run_every_system_in_turn(tiny_pipeline, tiny_bert_dir, tiny_corpus_dir, tmp_path):
    """Each round runs the pipeline, then the bare encoder with the windows, sub-batches, buckets and
    precision the pipeline itself uses (tiny_pipeline's are not the config's), in each precision
    asked for; `auto` names what it chose. The transformers pipeline and recipe rows:
    test_project_real_data.py's benchmark test."""
    output = tmp_path / "inference.md"
    args = ["-m", "spacy_bert_ner.cli", "bench", "inference", str(tiny_pipeline), "--data"]
    args += [str(tiny_corpus_dir / "dev.spacy"), "--encoder", str(tiny_bert_dir), "--precisions", "float32,auto"]
    args += ["--repeats", "1", "--rounds", "2", "--output", str(output)]
    result = _run(args)
    assert result.returncode == 0, result.stderr[-2000:]
    said = " ".join(result.stdout.split())  # wasabi wraps long lines
    assert said.count("round 1/2: ") == 4 and said.count("round 2/2: ") == 4
    text = output.read_text(encoding="utf-8")
    assert "best of 1 passes in each of 2 rounds" in text
    ceiling = "Ceiling: strided windows of 64 tokens every 48, sub-batches of at most 4096 padded tokens"
    assert f"{ceiling}, in length buckets (overhead 32 wordpieces)." in " ".join(text.split())
    table = markdown_tables(text)["Inference speed"]
    assert len(table) == 5 and all(NUMBER.match(v) for v in column(table, "vs ceiling")[::2])
    chosen = f"auto: {auto_precision()}"  # int8 where the CPU has VNNI or AMX (onnxruntime is installed)
    assert column(table, "precision") == ["float32", "float32", chosen, chosen]


def test_suite_skips_the_conversion_table_naming_the_missing_file(tmp_path):
    from spacy_bert_ner.benchmarks.suite import conversion_or_skipped

    present = tmp_path / "eng.train"
    present.write_text("-DOCSTART- -X- -X- O\n", encoding="utf-8")
    section = conversion_or_skipped(tmp_path / "missing.csv", present)
    assert section.title == "Conversion speed" and section.rows == [[f"not found: {tmp_path / 'missing.csv'}"]]


def test_ceiling_copies_sentence_windows(tiny_pipeline, tiny_bert_dir, tiny_corpus_dir):
    """A pipeline on spacy_bert_ner.sentence_spans.v1 gives the ceiling sentence windows, which cover
    every token once (strided windows of 64 every 48 would cover some twice)."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_bert_ner.benchmarks import workers
    from spacy_bert_ner.pipeline.sentence_spans import sentence_windows

    get_spans = {"@span_getters": "spacy_bert_ner.sentence_spans.v1", "window": 64, "stride": 48}
    nlp = spacy.load(tiny_pipeline, config={"components.transformer.model.get_spans": get_spans})
    settings = workers._windows(nlp)
    assert {key: settings[key] for key in ("window", "stride", "spans")} == {
        "window": 64,
        "stride": 48,
        "spans": "sentences",
    }
    data = str(tiny_corpus_dir / "dev.spacy")
    figures = workers.encoder(str(tiny_bert_dir), data, repeats=1, **settings)
    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    assert figures["spans"] == "sentences" and figures["words"] == sum(map(len, docs))
    windows = [w for doc in docs for w in sentence_windows(doc, 64, 48)]
    assert sum(end - start for start, end in windows) == figures["words"]  # each token in one window


@pytest.mark.slow
def test_annotation_runs_in_each_precision_asked(tiny_pipeline, tiny_corpus_dir, tmp_path):
    output = tmp_path / "annotation.md"
    args = ["-m", "spacy_bert_ner.cli", "bench", "annotation", str(tiny_pipeline), "--data"]
    args += [str(tiny_corpus_dir / "dev.spacy"), "--no-ray", "--copies", "2", "--precisions", "float32,int8"]
    result = _run([*args, "--output", str(output)])
    assert result.returncode == 0, result.stderr[-2000:]
    table = markdown_tables(output.read_text(encoding="utf-8"))["Annotation"]
    runs = [
        "nlp.pipe loop",
        "annotate, 1 process",
        "annotate, 2 processes",
        "annotate, 1 process",
        "annotate, 2 processes",
    ]
    assert column(table, "run") == runs
    assert column(table, "precision") == ["as configured"] + ["float32"] * 2 + ["int8"] * 2
    assert column(table, "input") == ["2x"] * 5
    assert all(NUMBER.match(v) for v in column(table, "words/sec") + column(table, "driver peak RSS (MB)"))


def test_annotation_stream_holds_the_texts_copies_times(tiny_corpus_dir, tmp_path):
    import srsly
    from spacy.tokens import DocBin

    from spacy_bert_ner.benchmarks.annotation import stream_file

    docs = list(DocBin().from_disk(tiny_corpus_dir / "dev.spacy").get_docs(spacy.blank("en").vocab))
    n_docs, n_words = stream_file(tiny_corpus_dir / "dev.spacy", 3, tmp_path / "stream.jsonl")
    texts = [line["text"] for line in srsly.read_jsonl(tmp_path / "stream.jsonl")]
    assert (n_docs, n_words) == (3 * len(docs), 3 * sum(len(doc) for doc in docs))
    assert texts == [doc.text for doc in docs] * 3


def test_annotation_bench_refuses_an_unknown_precision(tmp_path):
    data = tmp_path / "dev.spacy"
    data.write_bytes(b"")
    result = CliRunner().invoke(app, ["bench", "annotation", "model", "--data", str(data), "--precisions", "fp8"])
    assert result.exit_code == 1 and "--precisions must name" in " ".join(result.output.split())


@pytest.mark.slow
def test_stages_bench_times_each_stage_of_a_pass(tiny_pipeline, tiny_corpus_dir, tmp_path):
    output = tmp_path / "stages.md"
    args = ["bench", "stages", str(tiny_pipeline), "--data", str(tiny_corpus_dir / "dev.spacy"), "--repeats", "1"]
    args += ["--override", "components.transformer.model.bucket_overhead=0", "--output", str(output)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = markdown_tables(output.read_text(encoding="utf-8"))["Where the time goes"]
    stages = column(table, "stage")
    assert stages[0] == "nlp.pipe" and "transformer: encoder" in stages and "aligned_ner: Viterbi decoding" in stages
    order = ["transformer.predict", "transformer: tokenizing the windows", "transformer: encoder"]
    order += ["transformer.set_annotations", "transformer: split per Doc", "aligned_ner.predict"]
    order += ["aligned_ner.set_annotations", "aligned_ner: Viterbi decoding", "aligned_ner: CRF marginals"]
    assert [stage for stage in stages if stage in order] == order  # each stage below the method it runs in
    seconds = dict(zip(stages, map(float, column(table, "seconds"))))
    assert 0 < seconds["transformer: encoder"] < seconds["transformer.predict"] <= seconds["nlp.pipe"]
    assert "bucket_overhead=0" in output.read_text(encoding="utf-8")


def test_stages_bench_names_a_malformed_override(tmp_path):
    args = ["bench", "stages", str(tmp_path / "no-model"), "--data", str(tmp_path / "dev.spacy"), "--override", "x"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "KEY=VALUE" in result.output
