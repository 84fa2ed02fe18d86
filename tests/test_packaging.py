"""The wheel's requirements: what a pipeline runs, spaCy pinned to the minor version trained with,
ONNX Runtime where it may predict in int8, never this library (its runtime modules travel inside
the wheel); the packaged copy in the precision asked for, its int8 graph built in."""

import json

import pytest
import spacy
from spacy import util
from spacy.util import load_config

import spacy_bert_ner.pipeline.onnx_int8 as onnx_int8
import spacy_bert_ner.pipeline.precision as precision_module
from spacy_bert_ner.packaging import LIBRARY, PackagingError, set_requirements, with_precision


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


def test_requirements_name_onnxruntime_only_for_a_pipeline_that_may_predict_in_int8(tmp_path):
    meta_path = tmp_path / "meta.json"
    meta_path.write_text(json.dumps({}))
    assert "onnxruntime" not in requirement_names(set_requirements(meta_path))
    meta_path.write_text(json.dumps({}))
    assert "onnxruntime" in requirement_names(set_requirements(meta_path, onnxruntime=True))


@pytest.mark.parametrize("precision", ["auto", "int8"])
def test_packaged_copy_predicts_in_the_precision_asked_with_its_int8_graph_inside(
    trained_pipeline_dir, tmp_path, monkeypatch, precision
):
    packaged, uses_int8 = with_precision(trained_pipeline_dir, precision, tmp_path / "packaged")
    assert uses_int8 and packaged != trained_pipeline_dir
    config = load_config(packaged / "config.cfg", interpolate=False)
    assert config["components"]["transformer"]["model"]["precision"] == precision
    monkeypatch.setattr(onnx_int8, "build_int8_graph", lambda *a, **k: pytest.fail("the graph was not packaged"))
    monkeypatch.setattr(precision_module, "auto_precision", lambda: "int8")
    nlp = spacy.load(packaged)
    text = "Alice Smith works for Acme Corp in Berlin."
    assert [e.label_ for e in nlp(text).ents] == [e.label_ for e in spacy.load(trained_pipeline_dir)(text).ents]
    assert nlp.get_pipe("transformer").model.layers[0].attrs["int8_graph"].loaded


def test_packaged_as_configured_is_the_pipeline_itself(trained_pipeline_dir, tmp_path):
    assert with_precision(trained_pipeline_dir, None, tmp_path / "unused") == (trained_pipeline_dir, False)
    assert not (tmp_path / "unused").exists()
    with pytest.raises(PackagingError, match="--precision must be one of"):
        with_precision(trained_pipeline_dir, "fp8", tmp_path / "bad")
