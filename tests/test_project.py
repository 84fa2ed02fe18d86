"""The project as users run it: project.yml as weasel reads it, the `all` workflow on the embedded
default, the `conll` and `kaggle` workflows on small files of the real formats at the default asset
paths (every step, package included), and the wheels they build installed into a fresh virtual
environment and loaded offline from another directory, with and without the library beside them."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import spacy
import srsly
from conftest import NUMBER, column, markdown_tables
from spacy.tokens import DocBin
from spacy.training import Example
from weasel.util import load_project_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["project.yml", "configs", "scripts", "spacy_bert_ner"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
RUN = [sys.executable, "-m", "spacy", "project", "run"]
SHORT = [
    *("--vars.max_steps", "20", "--vars.warmup_steps", "5", "--vars.eval_frequency", "10"),
    *("--vars.transformer", "assets/models/tiny-bert"),
]


def _run(cmd, cwd: Path, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def copy_project(destination: Path) -> Path:
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, destination / name)
    return destination


# --- project.yml as weasel reads it ---------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"vars.conll_train": "/data/my conll/train.txt", "vars.dataset": "conll"}])
def test_every_dep_and_output_is_one_path(overrides):
    """Each entry of deps/outputs is one path after weasel substitutes the variables (a list of
    whole-variable entries in a row comes back from weasel as one comma-joined string)."""
    config = load_project_config(ROOT, overrides=overrides)
    values = {key.split(".", 1)[1]: value for key, value in overrides.items()}
    variables = {**config["vars"], **values}
    for command in config["commands"]:
        for key in ("deps", "outputs", "outputs_no_cache"):
            for entry in command.get(key, []):
                assert ", " not in entry, (command["name"], key, entry)
    convert = next(c for c in config["commands"] if c["name"] == "convert-conll")
    for name in ("conll_train", "conll_dev", "conll_test"):
        assert variables[name] in convert["deps"], (name, convert["deps"])


def test_commands_run_the_package_cli():
    """project.yml reaches everything through the one CLI, whose commands exist."""
    from typer.main import get_command

    from spacy_bert_ner.cli import app

    cli = get_command(app)
    config = load_project_config(ROOT)
    for command in config["commands"]:
        for line in command["script"]:
            if line.startswith("python -m spacy_bert_ner.cli "):
                words = line.split()[3:]
                group = cli.commands[words[0]]
                assert group is not None, line
                if words[0] in ("baseline", "bench"):
                    assert words[1] in group.commands, line


def test_readme_commands_block_is_current(tmp_path):
    """The README ends with weasel's generated block (`spacy project document`); it matches project.yml."""
    copy = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", copy)
    _run([sys.executable, "-m", "spacy", "project", "document", ROOT, "--output", copy], cwd=tmp_path)
    assert copy.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")


# --- the workflows through `spacy project run` ----------------------------------------------


# the benchmark suite on a few Docs with short runs (its tables, not its figures, are checked); Ray:
# test_annotate_ray.py
BENCH = ["--vars.bench_repeats", "1", "--vars.bench_limit", "3", "--vars.bench_steps", "2"]
BENCH += ["--vars.bench_annotation", "local"]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    """One copy of the project, every workflow through `spacy project run`: `all` on the embedded
    default, the ner head's train, evaluate and package, the baseline and the benchmark suite
    (shortened training); then, with the real-format samples at the default asset paths, the
    README's `conll` and `kaggle` workflows (every step, package included) on the tiny BERT."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    env = {**os.environ, **OFFLINE}
    _run([*RUN, "all", ".", "--vars.max_steps", "150"], cwd=project, env=env)
    for command in ("train", "evaluate", "package"):
        _run([*RUN, command, ".", "--vars.max_steps", "150", "--vars.head", "ner"], cwd=project, env=env)
    _run([*RUN, "baseline", ".", "--vars.baseline_steps", "150"], cwd=project, env=env)
    # before the real-format assets are placed: the conversion table says it skipped them
    _run([*RUN, "benchmark", ".", *BENCH], cwd=project, env=env)
    place_real_format_assets(project)
    for dataset in ("conll", "kaggle"):
        _run([*RUN, dataset, ".", "--vars.dataset", dataset, *SHORT], cwd=project, env=env)
    return project


def place_real_format_assets(project: Path) -> dict[str, Path]:
    """The sample files (the real formats: CoNLL IOB1 with -DOCSTART-, the Kaggle cp1252 CSV with
    CRLF and first-row sentence ids) at the project's default asset paths, the CSV gzipped as the
    default `kaggle_csv` expects."""
    samples = project / "assets" / "samples"
    placed = {
        "conll_train": project / "assets" / "conll2003" / "eng.train",
        "conll_dev": project / "assets" / "conll2003" / "eng.testa",
        "conll_test": project / "assets" / "conll2003" / "eng.testb",
        "kaggle_csv": project / "assets" / "kaggle" / "ner_dataset.csv.gz",
    }
    for path in placed.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(samples / "conll_sample.train", placed["conll_train"])
    shutil.copy(samples / "conll_sample.testa", placed["conll_dev"])
    shutil.copy(samples / "conll_sample.testb", placed["conll_test"])
    placed["kaggle_csv"].write_bytes(gzip.compress((samples / "kaggle_sample.csv").read_bytes()))
    return placed


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["conll", "kaggle"])
def test_real_data_workflow_runs_every_step(project_dir: Path, dataset: str):
    project = project_dir
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
def test_baseline_command_trains_and_reports_the_recipe(project_dir: Path):
    report = json.loads((project_dir / "metrics" / "sample_conll_baseline_report" / "report.json").read_text())
    assert report["model"]["pipeline"] == ["AutoModelForTokenClassification"]
    assert report["entities"]["micro"]["f1"] > 0.5, report["entities"]["micro"]  # the recipe learns the samples
    assert (
        json.loads((project_dir / "training" / "sample_conll_baseline" / "metrics.json").read_text())["train"]["steps"]
        <= 150
    )


@pytest.mark.slow
def test_benchmark_command_writes_every_table(project_dir: Path):
    """The project's `benchmark` (bench suite, with BENCH_ARGS): every table, each figure a number, and
    the scaling rows really 1x, 4x and 16x the words. Figures are never asserted."""
    text = (project_dir / "metrics" / "sample_conll_benchmarks.md").read_text(encoding="utf-8")
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
    assert "ner_dataset.csv.gz" in tables["Conversion speed"][1][0]  # skipped, and says why
    # the ceiling copies the pipeline's windows (configs/aligned_cpu.cfg's; test_bench.py checks
    # that other settings are copied too)
    config = spacy.util.load_config(project_dir / "training" / "sample_conll_aligned" / "model-best" / "config.cfg")
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


@pytest.mark.slow
def test_average_command_averages_the_last_checkpoints(project_dir: Path):
    """train kept the last 3 evaluations' checkpoints; `average` writes model-avg from the last 2, and
    `--vars.model model-avg` points the later commands at it."""
    checkpoints = project_dir / "training" / "sample_conll_aligned" / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["step-100", "step-150", "step-50"]
    result = _run([*RUN, "average", "."], cwd=project_dir, env={**os.environ, **OFFLINE})
    assert "Averaged 2 checkpoints" in result.stdout and "step-100, step-150" in result.stdout
    nlp = spacy.load(project_dir / "training" / "sample_conll_aligned" / "model-avg")
    docs = DocBin().from_disk(project_dir / "corpus" / "sample_conll" / "test.spacy").get_docs(nlp.vocab)
    scores = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in docs])
    assert scores["ents_f"] > 0.8, scores
    config = load_project_config(project_dir, overrides={"vars.model": "model-avg"})
    evaluate = next(c for c in config["commands"] if c["name"] == "evaluate")
    assert evaluate["deps"][0] == "training/sample_conll_aligned/model-avg"


@pytest.mark.slow
def test_all_workflow_converts_both_formats(project_dir: Path):
    for dataset, labels in [
        ("sample_kaggle", {"geo", "gpe", "org", "per", "tim"}),
        ("sample_conll", {"LOC", "MISC", "ORG", "PER"}),
    ]:
        stats = srsly.read_json(project_dir / "corpus" / dataset / "stats.json")
        assert set(stats["splits"]) == {"train", "dev", "test"}
        assert set(stats["total"]["entities_per_label"]) == labels
        assert stats["rejected_sentences"] == 0 and stats["repairs"] == {}
        assert sum(s["sentences"] for s in stats["splits"].values()) == stats["total"]["sentences"]


@pytest.mark.slow
def test_all_workflow_annotates_the_sample_text(project_dir: Path):
    summary = json.loads((project_dir / "annotated" / "sample_conll_aligned" / "docs.summary.json").read_text())
    lines = (project_dir / "assets" / "samples" / "sample_text.txt").read_text(encoding="utf-8").splitlines()
    assert summary["read"] == summary["written"] == len(lines) and summary["rejected"] == 0
    first = json.loads((project_dir / "annotated" / "sample_conll_aligned" / "docs-00000.jsonl").open().readline())
    assert first["text"] == lines[0] and first["entities"]


@pytest.mark.slow
@pytest.mark.parametrize("head", ["aligned", "ner"])
def test_workflow_learns_the_samples(project_dir: Path, head: str):
    # The templated samples are easy: a model that trained at all finds their entities.
    metrics = json.loads((project_dir / "metrics" / f"sample_conll_{head}.json").read_text())
    assert metrics["ents_f"] > 0.8, metrics
    assert set(metrics["ents_per_type"]) == {"LOC", "MISC", "ORG", "PER"}


# --- the wheels on their own ----------------------------------------------------------------

LOAD_SCRIPT = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp('Angela Merkel met officials from the United Nations in Paris on Monday .')
pipe = nlp.get_pipe(nlp.pipe_names[1])
print(json.dumps({'pipes': nlp.pipe_names, 'ents': [(e.text, e.label_) for e in doc.ents],
                  'confidence': [e._.get('confidence') if e.has_extension('confidence') else None
                                 for e in doc.ents],
                  'implementation': type(pipe).__module__}))
"""


def wheels(project: Path) -> dict[str, Path]:
    found = {}
    for package in ("en_bert_ner_sample_conll_aligned", "en_bert_ner_sample_conll_ner"):
        paths = list((project / "packages").glob(f"{package}-*/dist/{package}-*.whl"))
        assert len(paths) == 1, paths
        found[package] = paths[0]
    return found


def load_in(python: Path, package: str, cwd: Path) -> dict:
    # a bare environment: no project on the path, no network for the hub, no extra imports
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), **OFFLINE}
    result = _run([python, "-c", LOAD_SCRIPT, package], cwd=cwd, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_wheels_install_and_load_on_their_own_then_beside_the_library(project_dir: Path, tmp_path: Path):
    built = wheels(project_dir)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # no .pyc compiled ahead (torch has thousands of modules): what the loads import compiles then
    pip: list = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
    _run([*pip, "torch==2.13.0"], cwd=tmp_path)  # first, so no CUDA build is pulled
    # the wheels alone: their requirements come from the index (pinned as this repository pins them;
    # pip takes no extras in a constraints file)
    constraints = tmp_path / "constraints.txt"
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    constraints.write_text("\n".join(re.sub(r"\[.*\]", "", pin) for pin in pins) + "\n", encoding="utf-8")
    _run([*pip, *built.values(), "-c", constraints], cwd=tmp_path)
    installed = _run([python, "-m", "pip", "list", "--format=json"], cwd=tmp_path).stdout
    names = {item["name"].lower() for item in json.loads(installed)}
    assert "spacy-bert-ner" not in names
    assert not names & {"pandas", "matplotlib", "seqeval", "scikit-learn", "typer-slim"} - {"typer"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for package in built:
        loaded = load_in(python, package, elsewhere)
        head = "aligned_ner" if package.endswith("aligned") else "ner"
        assert loaded["pipes"] == ["transformer", head, "doc_cleaner"]
        assert ("Angela Merkel", "PER") in [tuple(e) for e in loaded["ents"]], loaded
        if head == "aligned_ner":
            assert all(0.0 < c <= 1.0 for c in loaded["confidence"]), loaded
            assert loaded["implementation"] == "en_bert_ner_sample_conll_aligned.aligned_ner"
            alone = loaded
    # the library installed as well: no duplicate registration, and its implementation is used
    _run([*pip, "--no-deps", ROOT], cwd=tmp_path)
    beside = load_in(python, "en_bert_ner_sample_conll_aligned", elsewhere)
    assert beside["implementation"] == "spacy_bert_ner.pipeline.aligned_ner"
    assert beside["ents"] == alone["ents"]
