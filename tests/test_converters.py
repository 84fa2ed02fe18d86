"""The converters end to end through the command line.

The parts have their own modules: test_tags.py, test_repairs.py, test_source.py, test_docs.py,
test_split.py, the readers test_kaggle.py and test_conll.py; the real corpora test_real_corpora.py.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_m_cli_bad_input_exits_1_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Maria B-PER\nslept\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "spacy_bert_ner.cli", "convert-conll", str(tmp_path / "out"), "--train", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{bad}:2: expected 2 columns like the first token line, found 1" in " ".join(result.stdout.split())
