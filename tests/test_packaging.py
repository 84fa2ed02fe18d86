"""The wheel's requirements: what a pipeline runs, spaCy pinned to the minor version trained with,
never this library (its runtime modules travel inside the wheel)."""

import json

import spacy
from spacy import util

from spacy_bert_ner.packaging import LIBRARY, set_requirements


def requirement_names(requirements: list[str]) -> list[str]:
    return [util.split_requirement(req)[0] for req in requirements]


def test_requirements_pin_the_spacy_trained_with(tmp_path):
    meta_path = tmp_path / "meta.json"
    meta_path.write_text(json.dumps({"spacy_version": ">=3.8.1,<3.9.0", "requirements": [f"{LIBRARY}>=0.1"]}))
    requirements = set_requirements(meta_path)
    assert "spacy>=3.8.1,<3.9.0" in requirements
    assert LIBRARY not in requirement_names(requirements)
    names = requirement_names(requirements)
    assert {"spacy", "spacy-transformers", "transformers", "torch", "numpy"} <= set(names)
    assert len(names) == len(set(names))
    assert json.loads(meta_path.read_text())["requirements"] == requirements


def test_requirements_keep_a_spacy_pin_already_given(tmp_path):
    meta_path = tmp_path / "meta.json"
    meta_path.write_text(json.dumps({"spacy_version": ">=3.8.1,<3.9.0", "requirements": ["spacy>=3.8.5,<3.9.0"]}))
    requirements = set_requirements(meta_path)
    assert [req for req in requirements if req.startswith("spacy") and "transformers" not in req] == [
        "spacy>=3.8.5,<3.9.0"
    ]


def test_requirements_without_a_spacy_version_pin_the_running_one(tmp_path):
    meta_path = tmp_path / "meta.json"
    meta_path.write_text(json.dumps({}))
    assert f"spacy{util.get_minor_version_range(spacy.__version__)}" in set_requirements(meta_path)
