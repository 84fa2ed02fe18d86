"""Running the project as users do: a copy of it in a temporary folder, `spacy project run`
offline, and the sample files of the real formats placed at the default asset paths."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["project.yml", "configs", "scripts", "spacy_bert_ner"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
RUN = [sys.executable, "-m", "spacy", "project", "run"]
SHORT = [
    *("--vars.max_steps", "20", "--vars.warmup_steps", "5", "--vars.eval_frequency", "10"),
    *("--vars.transformer", "assets/models/tiny-bert"),
]


def run(cmd, cwd: Path, env=None) -> subprocess.CompletedProcess:
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
