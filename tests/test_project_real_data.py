"""The README's real-data workflows as users run them: `spacy project run conll` and `kaggle` on
small files of the real formats at the default asset paths (every step, package included), then the
classic-recipe baseline and the benchmark suite on the converted CoNLL corpus."""

import json
import os
from pathlib import Path

import pytest
import spacy
import srsly
from conftest import NUMBER, column, markdown_tables
from workflows import OFFLINE, RUN, SHORT, copy_project, place_real_format_assets, run

# the benchmark suite on a few Docs with short runs (its tables, not its figures, are checked); Ray:
# test_annotate_ray.py
BENCH = ["--vars.bench_repeats", "1", "--vars.bench_limit", "3", "--vars.bench_steps", "2"]
BENCH += ["--vars.bench_annotation", "local"]


@pytest.fixture(scope="module")
def real_data_project(tmp_path_factory) -> Path:
    """A fresh copy of the project where the README's `conll` and `kaggle` workflows ran, with the
    data at the default asset paths and the tiny BERT as the transformer; then `baseline` and
    `benchmark` on the conll corpus."""
    project = copy_project(tmp_path_factory.mktemp("real_data_project"))
    env = {**os.environ, **OFFLINE}
    for command in ("make-samples", "make-tiny-bert"):
        run([*RUN, command, "."], cwd=project, env=env)
    place_real_format_assets(project)
    for dataset in ("conll", "kaggle"):
        run([*RUN, dataset, ".", "--vars.dataset", dataset, *SHORT], cwd=project, env=env)
    conll = ["--vars.dataset", "conll", "--vars.transformer", "assets/models/tiny-bert"]
    run([*RUN, "baseline", ".", *conll, "--vars.baseline_steps", "150"], cwd=project, env=env)
    run([*RUN, "benchmark", ".", *conll, *BENCH], cwd=project, env=env)
    return project


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["conll", "kaggle"])
def test_real_data_workflow_runs_every_step(real_data_project: Path, dataset: str):
    project = real_data_project
    stats = srsly.read_json(project / "corpus" / dataset / "stats.json")
    assert set(stats["splits"]) == {"train", "dev", "test"}
    assert stats["rejected_sentences"] == 0
    metrics = json.loads((project / "metrics" / f"{dataset}_aligned.json").read_text())
    assert metrics["ents_f"] is not None
    report = json.loads((project / "metrics" / f"{dataset}_aligned_report" / "report.json").read_text())
    assert report["data"]["docs"] == stats["splits"]["test"]["docs"]
    name = f"en_bert_ner_{dataset}_aligned"
    assert len(list((project / "packages").glob(f"{name}-*/dist/{name}-*.whl"))) == 1
    meta = json.loads(next((project / "packages").glob(f"{name}-*/meta.json")).read_text())
    assert meta["sources"] and meta["license"] and meta["description"]
    assert not any(req.startswith("spacy-bert-ner") for req in meta["requirements"])


@pytest.mark.slow
def test_baseline_command_trains_and_reports_the_recipe(real_data_project: Path):
    report = json.loads((real_data_project / "metrics" / "conll_baseline_report" / "report.json").read_text())
    assert report["model"]["pipeline"] == ["AutoModelForTokenClassification"]
    assert report["entities"]["micro"]["f1"] > 0.5, report["entities"]["micro"]  # the recipe learns the samples
    assert (
        json.loads((real_data_project / "training" / "conll_baseline" / "metrics.json").read_text())["train"]["steps"]
        <= 150
    )


@pytest.mark.slow
def test_benchmark_command_writes_every_table(real_data_project: Path):
    """The project's `benchmark` (bench suite, with BENCH): every table, each figure a number, and
    the scaling rows really 1x, 4x and 16x the words. Figures are never asserted."""
    text = (real_data_project / "metrics" / "conll_benchmarks.md").read_text(encoding="utf-8")
    tables = markdown_tables(text)
    assert list(tables) == [
        "Conversion speed",
        "Inference speed",
        "Processes (n_process)",
        "bfloat16 on the CPU",
        "Inference scaling",
        "Annotation",
        "Training speed",
    ]
    conversion = tables["Conversion speed"]  # the real-format files at the default asset paths
    assert [step[:3] for step in column(conversion, "step")] == ["(a)", "(b)", "(c)"]
    assert all(NUMBER.match(v) for v in column(conversion, "best (s)"))
    ratios = column(conversion, "ours / pandas")  # pandas reads the Kaggle CSV only
    assert NUMBER.match(ratios[0]) and NUMBER.match(ratios[1]) and ratios[2] == ""
    # the ceiling copies the pipeline's windows (configs/aligned_cpu.cfg's; test_bench.py checks
    # that other settings are copied too)
    config = spacy.util.load_config(real_data_project / "training" / "conll_aligned" / "model-best" / "config.cfg")
    spans = config["components"]["transformer"]["model"]["get_spans"]
    assert f"Ceiling: strided windows of {spans['window']} tokens every {spans['stride']}" in " ".join(text.split())

    inference = tables["Inference speed"]
    assert len(inference) == 5  # header, the pipeline, the ceiling, the transformers pipeline, the recipe
    assert all(NUMBER.match(v) for v in column(inference, "words/sec") + column(inference, "peak RSS (MB)"))
    assert NUMBER.match(column(inference, "vs ceiling")[0]) and NUMBER.match(column(inference, "vs HF pipeline")[0])
    assert NUMBER.match(column(inference, "vs recipe")[0])

    processes = tables["Processes (n_process)"]
    assert column(processes, "n_process") == ["1", "2"]
    assert all(NUMBER.match(v) for v in column(processes, "words/sec"))

    bfloat16 = tables["bfloat16 on the CPU"]
    assert column(bfloat16, "pass") == ["forward + backward (train mode)", "forward (eval, no_grad)"]

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
