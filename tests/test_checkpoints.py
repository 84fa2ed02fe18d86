"""The CheckpointLogger: a copy of the pipeline saved at each evaluation, the `keep` most recent kept,
and `average` taking the last N of them."""

import io
from pathlib import Path

import pytest
import spacy
from conftest import ALIGNED_CPU_CFG
from spacy.cli.train import train
from typer.testing import CliRunner

from spacy_bert_ner.averaging import expand_checkpoints
from spacy_bert_ner.checkpoints import list_checkpoints, make_checkpoint_logger, save_checkpoint
from spacy_bert_ner.cli import app


def _overrides(tiny_bert_dir: Path, tiny_corpus_dir: Path, keep: int) -> dict:
    return {
        "paths.transformer": str(tiny_bert_dir),
        "paths.train": str(tiny_corpus_dir / "train.spacy"),
        "paths.dev": str(tiny_corpus_dir / "dev.spacy"),
        "training.max_steps": 8,
        "training.eval_frequency": 2,
        "training.logger": {
            "@loggers": "spacy_bert_ner.CheckpointLogger.v1",
            "keep": keep,
            "logger": {"@loggers": "spacy.ConsoleLogger.v1", "progress_bar": False},
        },
    }


@pytest.fixture(scope="module")
def trained_with_checkpoints(tiny_bert_dir, tiny_corpus_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("trained")
    stale = output / "checkpoints" / "step-9999"  # an earlier run's, must not be mixed in
    stale.mkdir(parents=True)
    train(ALIGNED_CPU_CFG, output, overrides=_overrides(tiny_bert_dir, tiny_corpus_dir, keep=3))
    return output


def test_keeps_the_most_recent_evaluations(trained_with_checkpoints):
    checkpoints = list_checkpoints(trained_with_checkpoints / "checkpoints")
    assert [path.name for path in checkpoints] == ["step-4", "step-6", "step-8"]
    # the earlier run's step-9999 is gone, no partial copy is left
    assert {path.name for path in (trained_with_checkpoints / "checkpoints").iterdir()} == {
        "step-4",
        "step-6",
        "step-8",
    }


def test_last_checkpoint_is_the_final_model(trained_with_checkpoints):
    last = spacy.load(trained_with_checkpoints / "checkpoints" / "step-8")
    final = spacy.load(trained_with_checkpoints / "model-last")
    text = "Marie Curie flew from Paris to Tokyo on Monday ."
    assert last.pipe_names == final.pipe_names
    assert last.get_pipe("aligned_ner").model.to_bytes() == final.get_pipe("aligned_ner").model.to_bytes()
    assert [(e.text, e.label_) for e in last(text).ents] == [(e.text, e.label_) for e in final(text).ents]


def test_average_takes_the_last_checkpoints_of_the_folder(trained_with_checkpoints, tmp_path):
    folder = trained_with_checkpoints / "checkpoints"
    assert [p.name for p in expand_checkpoints([folder], last=2)] == ["step-6", "step-8"]
    result = CliRunner().invoke(app, ["average", str(folder), str(tmp_path / "avg"), "--last", "2"])
    assert result.exit_code == 0, result.output
    assert "step-6, step-8" in result.output
    assert spacy.load(tmp_path / "avg").pipe_names == spacy.load(folder / "step-8").pipe_names


def test_keep_zero_keeps_every_checkpoint(tmp_path, trained_pipeline_dir):
    for step in (2, 4, 6):
        save_checkpoint(trained_pipeline_dir, tmp_path, step, keep=0)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-2", "step-4", "step-6"]
    save_checkpoint(trained_pipeline_dir, tmp_path, 8, keep=1)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-8"]
    assert list_checkpoints(tmp_path / "absent") == []


def test_failed_copy_leaves_nothing_and_training_goes_on(tmp_path):
    """A copy that fails (here: the saved pipeline is gone; a full disk alike) warns, leaves no partial
    folder that could pass for a checkpoint, and does not stop the run."""
    out, err = io.StringIO(), io.StringIO()
    logged = []
    inner = lambda nlp, stdout, stderr: (logged.append, lambda: None)  # noqa: E731
    log_step, _ = make_checkpoint_logger(inner, keep=3)(spacy.blank("en"), out, err)
    log_step({"step": 2, "output_path": str(tmp_path / "model-last")})
    log_step(None)
    assert logged == [{"step": 2, "output_path": str(tmp_path / "model-last")}, None]
    assert "Checkpoint at step 2 not saved" in err.getvalue()
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_without_output_path_warns_once(tmp_path):
    err = io.StringIO()
    inner = lambda nlp, stdout, stderr: (lambda info: None, lambda: None)  # noqa: E731
    log_step, _ = make_checkpoint_logger(inner)(spacy.blank("en"), io.StringIO(), err)
    log_step({"step": 2})
    log_step({"step": 4})
    assert err.getvalue().count("No output path") == 1


def test_negative_keep_is_refused():
    with pytest.raises(ValueError, match="keep"):
        make_checkpoint_logger(lambda *args: None, keep=-1)


def test_logger_is_found_without_imports(found_through_entry_points):
    assert found_through_entry_points("loggers", "spacy_bert_ner.CheckpointLogger.v1") == "make_checkpoint_logger"
