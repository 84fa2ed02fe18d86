"""Checkpoint averaging: every weight (thinc's and the transformer's torch state) is the mean."""

import numpy
import pytest
import spacy
import torch
from thinc.api import PyTorchShim
from typer.testing import CliRunner

from spacy_bert_ner.averaging import average_checkpoints
from spacy_bert_ner.cli import app
from spacy_bert_ner.errors import InputError


def _weights(nlp) -> dict[str, numpy.ndarray]:
    """Every floating-point weight of the pipeline, by component, node and name."""
    weights = {}
    for name, component in nlp.components:
        model = getattr(component, "model", None)
        if model is None:
            continue
        for i, node in enumerate(model.walk()):
            for param in node.param_names:
                if node.has_param(param):
                    weights[f"{name}/{i}/{param}"] = numpy.array(node.get_param(param))
            for shim in node.shims:
                if isinstance(shim, PyTorchShim):
                    for key, value in shim._model.state_dict().items():
                        if torch.is_floating_point(value):
                            weights[f"{name}/{i}/torch/{key}"] = value.numpy().copy()
    return weights


@pytest.fixture(scope="module")
def shifted_checkpoint(trained_pipeline_dir, tmp_path_factory):
    """The trained pipeline with every weight moved by +0.5 (a stand-in for a later checkpoint)."""
    nlp = spacy.load(trained_pipeline_dir)
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        for node in model.walk() if model is not None else []:
            for param in node.param_names:
                if node.has_param(param):
                    node.set_param(param, node.get_param(param) + 0.5)
            for shim in node.shims:
                if isinstance(shim, PyTorchShim):
                    with torch.no_grad():
                        for value in shim._model.state_dict().values():
                            if torch.is_floating_point(value):
                                value += 0.5
    path = tmp_path_factory.mktemp("shifted")
    nlp.to_disk(path)
    return path


def test_average_is_the_mean_of_every_weight(trained_pipeline_dir, shifted_checkpoint, tmp_path):
    first = _weights(spacy.load(trained_pipeline_dir))
    assert any("/torch/" in key for key in first) and any("/torch/" not in key for key in first)
    average_checkpoints([trained_pipeline_dir, shifted_checkpoint], tmp_path / "avg")
    averaged = _weights(spacy.load(tmp_path / "avg"))
    assert averaged.keys() == first.keys()
    for key, value in first.items():
        numpy.testing.assert_allclose(averaged[key], value + 0.25, atol=1e-5, err_msg=key)


def test_average_of_a_checkpoint_with_itself_predicts_the_same(trained_pipeline_dir, tmp_path):
    average_checkpoints([trained_pipeline_dir, trained_pipeline_dir], tmp_path / "avg")
    text = "Angela Merkel visited Paris and met officials of Siemens."
    expected = [(e.start_char, e.end_char, e.label_) for e in spacy.load(trained_pipeline_dir)(text).ents]
    got = [(e.start_char, e.end_char, e.label_) for e in spacy.load(tmp_path / "avg")(text).ents]
    assert got == expected


def test_average_refuses_other_pipelines(trained_pipeline_dir, tmp_path):
    other = spacy.load(trained_pipeline_dir)
    other.remove_pipe("doc_cleaner")
    other.to_disk(tmp_path / "other")
    with pytest.raises(InputError, match="differs"):
        average_checkpoints([trained_pipeline_dir, tmp_path / "other"], tmp_path / "avg")
    assert not (tmp_path / "avg").exists()


def test_average_cli_needs_two_checkpoints(trained_pipeline_dir, tmp_path):
    result = CliRunner().invoke(app, ["average", str(trained_pipeline_dir), str(tmp_path / "avg")])
    assert result.exit_code == 1
    assert "at least two checkpoints" in result.output
    assert not (tmp_path / "avg").exists()
