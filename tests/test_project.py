"""Smoke test of the whole project: the `all` workflow on the embedded default, then the wheel
it builds installed into a fresh virtual environment and loaded with `spacy.load`, offline."""

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import srsly

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["project.yml", "configs", "scripts", "spacy_bert_ner", "bench"]
HEADS = ("aligned", "ner")  # `all` trains the default head (aligned); ner is trained after it
PACKAGES = {head: f"en_bert_ner_sample_conll_{head}" for head in HEADS}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

pytestmark = pytest.mark.slow


def _run(cmd, cwd: Path, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    """A copy of the project after `spacy project run all`, the ner head's train, evaluate and
    package commands (shortened training), the baseline and the benchmark suite."""
    project = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            shutil.copy(source, project / name)
    env = {**os.environ, **OFFLINE}
    run = [sys.executable, "-m", "spacy", "project", "run"]
    _run([*run, "all", ".", "--vars.max_steps", "150"], cwd=project, env=env)
    for command in ("train", "evaluate", "package"):
        _run([*run, command, ".", "--vars.max_steps", "150", "--vars.head", "ner"], cwd=project, env=env)
    for command in ("baseline", "benchmark"):
        _run([*run, command, ".", "--vars.baseline_steps", "150"], cwd=project, env=env)
    return project


def test_baseline_and_benchmark_commands(project_dir: Path):
    report = json.loads((project_dir / "metrics" / "sample_conll_baseline_report" / "report.json").read_text())
    assert report["model"]["pipeline"] == ["AutoModelForTokenClassification"]
    assert report["entities"]["micro"]["f1"] > 0.5, report["entities"]["micro"]  # the recipe learns the samples
    assert json.loads((project_dir / "training" / "sample_conll_baseline" / "metrics.json").read_text())["train"][
        "steps"
    ] <= 150
    benchmarks = (project_dir / "metrics" / "sample_conll_benchmarks.md").read_text()
    for title in ("Conversion speed", "Inference speed", "Inference scaling", "Training speed"):
        assert f"## {title}" in benchmarks
    assert "vs ceiling" in benchmarks and "vs HF pipeline" in benchmarks


def test_all_workflow_converts_both_formats(project_dir: Path):
    for dataset, labels in [("sample_kaggle", {"geo", "gpe", "org", "per", "tim"}),
                            ("sample_conll", {"LOC", "MISC", "ORG", "PER"})]:
        stats = srsly.read_json(project_dir / "corpus" / dataset / "stats.json")
        assert set(stats["splits"]) == {"train", "dev", "test"}
        assert set(stats["total"]["entities_per_label"]) == labels
        assert stats["rejected_sentences"] == 0 and stats["repairs"] == {}
        assert sum(s["sentences"] for s in stats["splits"].values()) == stats["total"]["sentences"]


@pytest.mark.parametrize("head", HEADS)
def test_workflow_learns_the_samples(project_dir: Path, head: str):
    # The templated samples are easy: a model that trained at all finds their entities.
    metrics = json.loads((project_dir / "metrics" / f"sample_conll_{head}.json").read_text())
    assert metrics["ents_f"] > 0.8, metrics
    assert set(metrics["ents_per_type"]) == {"LOC", "MISC", "ORG", "PER"}


def test_wheels_install_and_load_offline_in_fresh_venv(project_dir: Path, tmp_path: Path):
    wheels = {}
    for head, package in PACKAGES.items():
        found = list((project_dir / "packages").glob(f"{package}-*/dist/{package}-*.whl"))
        assert len(found) == 1, found
        wheels[head] = found[0]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "torch==2.13.0"], cwd=tmp_path)  # first, so no CUDA build is pulled
    # spacy package lists spacy-bert-ner (the aligned_ner factory's distribution) as a requirement
    # of the aligned wheel; it is not on PyPI, so this repository provides it
    _run([*pip, ROOT, *wheels.values(), "-c", ROOT / "requirements.txt"], cwd=tmp_path)
    requires = _run([python, "-m", "pip", "show", PACKAGES["aligned"]], cwd=tmp_path).stdout
    assert "spacy-bert-ner" in requires
    script = (
        "import json, sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "doc = nlp('Angela Merkel met officials from the United Nations in Paris on Monday .')\n"
        "print(json.dumps({'pipes': nlp.pipe_names, 'ents': [(e.text, e.label_) for e in doc.ents],\n"
        "                  'confidence': [e._.get('confidence') if e.has_extension('confidence') else None\n"
        "                                 for e in doc.ents]}))\n"
    )
    # a bare environment: no project on the path, no network for the hub, no extra imports
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **OFFLINE}
    for head, package in PACKAGES.items():
        result = _run([python, "-c", script, package], cwd=tmp_path, env=env)
        loaded = json.loads(result.stdout.strip().splitlines()[-1])
        assert loaded["pipes"] == ["transformer", "aligned_ner" if head == "aligned" else "ner", "doc_cleaner"]
        assert ("Angela Merkel", "PER") in [tuple(e) for e in loaded["ents"]], loaded
        if head == "aligned":
            assert all(0.0 < c <= 1.0 for c in loaded["confidence"]), loaded
