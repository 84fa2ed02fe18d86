"""The project as users run it: project.yml as weasel reads it, the `all` workflow on the embedded
default and the ner head, and the wheels they build installed into a fresh virtual environment and
loaded offline from another directory, with and without the library beside them. The real-data
workflows, the baseline and the benchmark: test_project_real_data.py (the two files run on the two
pytest-xdist workers side by side)."""

import json
import os
import re
import shutil
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import spacy
import srsly
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from spacy.tokens import DocBin
from spacy.training import Example
from weasel.util import load_project_config
from workflows import OFFLINE, ROOT, RUN, copy_project, run

from spacy_bert_ner.pipeline.precision import auto_precision

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
    run([sys.executable, "-m", "spacy", "project", "document", ROOT, "--output", copy], cwd=tmp_path)
    assert copy.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")


# --- the workflows through `spacy project run` ----------------------------------------------


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    """A copy of the project after `spacy project run all` and the ner head's train, evaluate and
    package (shortened training). The real-data workflows: test_project_real_data.py."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    env = {**os.environ, **OFFLINE}
    run([*RUN, "all", ".", "--vars.max_steps", "100"], cwd=project, env=env)
    for command in ("train", "evaluate", "package"):
        run([*RUN, command, ".", "--vars.max_steps", "100", "--vars.head", "ner"], cwd=project, env=env)
    return project


@pytest.mark.slow
def test_average_command_averages_the_last_checkpoints(project_dir: Path):
    """train kept the last 3 evaluations' checkpoints; `average` writes model-avg from the last 2, and
    `--vars.model model-avg` points the later commands at it."""
    checkpoints = project_dir / "training" / "sample_conll_aligned" / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["step-0", "step-100", "step-50"]
    result = run([*RUN, "average", "."], cwd=project_dir, env={**os.environ, **OFFLINE})
    assert "Averaged 2 checkpoints" in result.stdout and "step-50, step-100" in result.stdout
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
import importlib, json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp('Angela Merkel met officials from the United Nations in Paris on Monday .')
pipe = nlp.get_pipe(nlp.pipe_names[1])
# the runtime in use: the library's where it is installed beside (its entry points win), else the wheel's
runtime = sys.modules.get('spacy_bert_ner.pipeline.precision') or importlib.import_module(sys.argv[1] + '.precision')
print(json.dumps({'pipes': nlp.pipe_names, 'ents': [(e.text, e.label_) for e in doc.ents],
                  'confidence': [e._.get('confidence') if e.has_extension('confidence') else None
                                 for e in doc.ents],
                  'implementation': type(pipe).__module__,
                  'precision': runtime.predicting_precision(nlp)}))
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
    result = run([python, "-c", LOAD_SCRIPT, package], cwd=cwd, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_wheels_install_and_load_on_their_own_then_beside_the_library(project_dir: Path, tmp_path: Path):
    built = wheels(project_dir)
    for package, wheel in built.items():  # pip refuses a spaCy the pipeline was not trained with
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(f"{package}-0.1.0.dist-info/METADATA").decode("utf-8")
        lines = metadata.splitlines()
        required = [Requirement(line.split(": ", 1)[1]) for line in lines if line.startswith("Requires-Dist: ")]
        trained_with = SpecifierSet(spacy.util.get_minor_version_range(spacy.__version__))
        assert [req.specifier for req in required if req.name == "spacy"] == [trained_with], required
        assert "onnxruntime" in [req.name for req in required]  # packaged in `auto`, the default
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # no .pyc compiled ahead (torch has thousands of modules): what the loads import compiles then
    pip: list = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
    run([*pip, "torch==2.13.0"], cwd=tmp_path)  # first, so no CUDA build is pulled
    # the wheels alone: their requirements come from the index (pinned as this repository pins them;
    # pip takes no extras in a constraints file)
    constraints = tmp_path / "constraints.txt"
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    constraints.write_text("\n".join(re.sub(r"\[.*\]", "", pin) for pin in pins) + "\n", encoding="utf-8")
    run([*pip, *built.values(), "-c", constraints], cwd=tmp_path)
    installed = run([python, "-m", "pip", "list", "--format=json"], cwd=tmp_path).stdout
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
        # `auto`: int8 from the graph inside the wheel, on a CPU where auto picks it (VNNI or AMX)
        assert loaded["precision"] == {"transformer": auto_precision()}
        if head == "aligned_ner":
            assert all(0.0 < c <= 1.0 for c in loaded["confidence"]), loaded
            assert loaded["implementation"] == "en_bert_ner_sample_conll_aligned.aligned_ner"
            alone = loaded
    # the library installed as well: no duplicate registration, and its implementation is used
    run([*pip, "--no-deps", ROOT], cwd=tmp_path)
    beside = load_in(python, "en_bert_ner_sample_conll_aligned", elsewhere)
    assert beside["implementation"] == "spacy_bert_ner.pipeline.aligned_ner"
    assert beside["ents"] == alone["ents"]
