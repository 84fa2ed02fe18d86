"""Training configs: both validate, share one design, and train end-to-end on CPU."""

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import spacy
from spacy import util
from spacy.cli.debug_config import debug_config
from spacy.cli.train import train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# head -> the pipe it trains; configs/<head>_<device>.cfg
HEADS = {"ner": "ner", "aligned": "aligned_ner"}
CPU_CFG = CONFIGS / "ner_cpu.cfg"


def config_path(head: str, device: str) -> Path:
    return CONFIGS / f"{head}_{device}.cfg"


def gpu_on_cpu_overrides(model_dir: Path) -> list[str]:
    """The minimal command-line overrides that let the GPU config train on a CPU.

    The hub model is swapped for a local folder (paths.transformer names the model in
    both configs) and the gradient scaler (CUDA only) is switched off.
    mixed_precision = true only warns on a CPU (autocast disables itself),
    and spaCy applies gpu_allocator only with --gpu-id >= 0.
    """
    return [
        "--paths.transformer", str(model_dir),
        "--components.transformer.model.grad_scaler_config.enabled", "false",
    ]  # fmt: skip


ABSENT = "<absent>"
# Everything that may differ between the two configs: (GPU value, CPU value).
DEVICE_SETTINGS = {
    "paths.transformer": ("bert-base-cased", None),
    "system.gpu_allocator": ("pytorch", None),
    "nlp.batch_size": (128, 64),
    "components.transformer.model.mixed_precision": (True, False),
    "components.transformer.model.grad_scaler_config.enabled": (True, False),
    "training.batcher.size": (2000, 1000),
}

FAST_TRAINING = {"training.max_steps": 4, "training.eval_frequency": 2}
LABELS = {"PER", "ORG", "LOC"}


def _flatten(section: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in section.items():
        if isinstance(value, dict) and not key.startswith("@"):
            flat.update(_flatten(value, f"{prefix}{key}."))
            if not value:
                flat[f"{prefix}{key}"] = {}
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _corpus_overrides(corpus_dir: Path) -> dict:
    return {
        "paths.train": str(corpus_dir / "train.spacy"),
        "paths.dev": str(corpus_dir / "dev.spacy"),
    }


def _check_trained_pipeline(model_dir: Path, pipe: str = "ner", encoder: str = "transformer") -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # autocast on CPU, if mixed precision
        nlp = spacy.load(model_dir)
        docs = list(nlp.pipe(["Alice Smith works for Google in Paris .", "Nothing happened ."]))
    assert set(nlp.get_pipe(pipe).labels) == LABELS
    for doc in docs:
        assert isinstance(doc.ents, tuple)
        assert {ent.label_ for ent in doc.ents} <= LABELS
    if encoder == "transformer":
        # the transformer's output is dropped once the head has used it
        assert nlp.pipe_names == [encoder, pipe, "doc_cleaner"]
        assert all(doc._.trf_data is None for doc in docs)
    else:
        assert nlp.pipe_names == [encoder, pipe]


@pytest.mark.parametrize("head", HEADS)
def test_configs_share_one_design(head):
    gpu = _flatten(util.load_config(config_path(head, "gpu"), interpolate=False))
    cpu = _flatten(util.load_config(config_path(head, "cpu"), interpolate=False))
    differing = {k for k in gpu.keys() | cpu.keys() if gpu.get(k, ABSENT) != cpu.get(k, ABSENT)}
    assert differing == set(DEVICE_SETTINGS)
    for key, (gpu_value, cpu_value) in DEVICE_SETTINGS.items():
        assert (gpu.get(key, ABSENT), cpu.get(key, ABSENT)) == (gpu_value, cpu_value), key


@pytest.mark.parametrize("device", ["gpu", "cpu"])
@pytest.mark.parametrize("head", HEADS)
def test_config_validates(head, device, tiny_corpus_dir, tiny_bert_dir):
    path = config_path(head, device)
    overrides = _corpus_overrides(tiny_corpus_dir)
    if device == "cpu":
        overrides["paths.transformer"] = str(tiny_bert_dir)
    debug_config(path, overrides=overrides)  # what `spacy debug config` runs
    config = util.load_config(path, overrides=overrides, interpolate=True)
    nlp = util.load_model_from_config(config, auto_fill=False, validate=True)
    assert nlp.pipe_names == ["transformer", HEADS[head], "doc_cleaner"]
    # The configs are complete: auto-filling them adds nothing.
    filled = util.load_model_from_config(config, auto_fill=True).config.interpolate()
    assert filled == config


def test_cpu_config_requires_transformer_path(tiny_corpus_dir):
    with pytest.raises(SystemExit):
        debug_config(CPU_CFG, overrides=_corpus_overrides(tiny_corpus_dir))


def test_heads_differ_only_in_the_head():
    for device in ("gpu", "cpu"):
        ner = _flatten(util.load_config(config_path("ner", device), interpolate=False))
        aligned = _flatten(util.load_config(config_path("aligned", device), interpolate=False))
        differing = {k for k in ner.keys() | aligned.keys() if ner.get(k, ABSENT) != aligned.get(k, ABSENT)}
        heads = ("components.ner", "components.aligned_ner")
        assert {k for k in differing if not k.startswith(heads)} == {"nlp.pipeline"}


@pytest.mark.parametrize("head", HEADS)
def test_cpu_config_trains(head, tmp_path, tiny_bert_dir, tiny_corpus_dir):
    # Train from a copy of the model folder, deleted before loading the result:
    # the saved pipeline must carry the transformer weights and tokenizer itself.
    model_copy = Path(shutil.copytree(tiny_bert_dir, tmp_path / "tiny-bert"))
    overrides = {
        **_corpus_overrides(tiny_corpus_dir),
        "paths.transformer": str(model_copy),
        **FAST_TRAINING,
    }
    train(config_path(head, "cpu"), tmp_path / "out", overrides=overrides, use_gpu=-1)
    shutil.rmtree(model_copy)
    for name in ("model-last", "model-best"):
        _check_trained_pipeline(tmp_path / "out" / name, HEADS[head])


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS)
def test_gpu_config_trains_on_cpu_from_command_line(head, tmp_path, tiny_bert_dir, tiny_corpus_dir):
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "spacy", "train", str(config_path(head, "gpu")), "--output", str(out),
        "--paths.train", str(tiny_corpus_dir / "train.spacy"),
        "--paths.dev", str(tiny_corpus_dir / "dev.spacy"),
        "--training.max_steps", "4", "--training.eval_frequency", "2",
        *gpu_on_cpu_overrides(tiny_bert_dir),
    ]  # fmt: skip
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using CPU" in result.stdout
    _check_trained_pipeline(out / "model-best", HEADS[head])


def test_cnn_config_validates_and_trains(tmp_path, tiny_corpus_dir):
    """The efficient option: no transformer, same corpora, same schedule overrides as the others."""
    path = CONFIGS / "cnn_cpu.cfg"
    overrides = {**_corpus_overrides(tiny_corpus_dir), **FAST_TRAINING, "training.optimizer.learn_rate.total_steps": 4}
    debug_config(path, overrides=overrides)
    train(path, tmp_path / "out", overrides=overrides, use_gpu=-1)
    _check_trained_pipeline(tmp_path / "out" / "model-best", "ner", encoder="tok2vec")
