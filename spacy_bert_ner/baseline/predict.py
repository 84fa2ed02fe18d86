"""Prediction and scoring for the baseline, on the same Docs and with the same scorer as spaCy.

Each word takes the argmax tag of its first subword. The tags are decoded leniently, the
usual practice (and what `spacy.training.iob_utils.iob_to_biluo` does): an I-X that does not
continue an X entity (after O, after an entity of another type, or first) starts a new X
entity. Scores are spaCy's `get_ner_prf` on Examples (predicted Doc vs gold Doc, same tokens),
so they compare directly with `spacy evaluate`.
"""

import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.training.iob_utils import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab

from .data import OUTSIDE, BaselineError, chunk_words, make_chunks, read_docs

# Saved next to the model in model-best: what prediction must do the same way as training.
SETTINGS_FILE = "baseline.json"
DEFAULT_MAX_LENGTH = 256
DEFAULT_UNIT = "sentence"


def tags_to_spans(doc: Doc, tags: Sequence[str]) -> list[Span]:
    """Entity spans of IOB2 tags, decoded leniently (an I-X that continues no X entity starts one)."""
    return biluo_tags_to_spans(doc, iob_to_biluo(list(tags)))


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def bf16_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """Trainer's `bf16=True`: the forward pass under torch.autocast(bfloat16) when enabled."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def prediction_settings(settings: dict[str, Any], max_length: int | None = None) -> dict[str, Any]:
    """How a saved baseline predicts (max_length, unit, bf16): as it was trained, unless max_length is given."""
    return {
        "max_length": max_length or settings.get("max_length", DEFAULT_MAX_LENGTH),
        "unit": settings.get("unit", DEFAULT_UNIT),
        "bf16": settings.get("bf16", False),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@torch.inference_mode()
def predict_tags(
    model,
    tokenizer,
    docs: Sequence[Doc],
    *,
    batch_size: int = 32,
    max_length: int = DEFAULT_MAX_LENGTH,
    unit: str = DEFAULT_UNIT,
    bf16: bool = False,
) -> list[list[str]]:
    """IOB2 tag per token of each Doc from the first-subword argmax.

    Chunks are batched by length (fewer pad tokens; the order does not change the results).
    Tokens without any subword (dropped by the tokenizer, or truncated) get O. `bf16` runs the
    model under torch.autocast(bfloat16), as Trainer's `bf16=True` does.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    id2label = model.config.id2label
    chunks = make_chunks(docs, tokenizer, max_length, unit)
    words = chunk_words(docs, chunks)
    order = sorted(range(len(chunks)), key=lambda i: chunks[i].n_pieces)
    tags = [[OUTSIDE] * len(doc) for doc in docs]
    for b in range(0, len(order), batch_size):
        batch = order[b : b + batch_size]
        encoding = tokenizer(
            [words[i] for i in batch],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        with bf16_autocast(device, bf16):
            predicted = model(**encoding.to(device)).logits.argmax(-1).tolist()
        for row, i in enumerate(batch):
            chunk = chunks[i]
            previous = None
            for position, word_id in enumerate(encoding.word_ids(row)):
                if word_id is not None and word_id != previous:
                    tags[chunk.doc][chunk.start + word_id] = id2label[predicted[row][position]]
                previous = word_id
    model.train(was_training)
    return tags


def annotate(docs: Sequence[Doc], tags: Sequence[Sequence[str]]) -> list[Doc]:
    """Copies of the Docs with their ents replaced by the decoded tags (all else O)."""
    predicted = []
    for doc, doc_tags in zip(docs, tags):
        copy = doc.copy()
        copy.set_ents(tags_to_spans(copy, doc_tags), default="outside")
        predicted.append(copy)
    return predicted


def load_model(model_dir: str | Path, device: str = "auto") -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, settings) of a saved baseline folder (model-best)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise BaselineError(model_dir, "not a saved model folder (no config.json)")
    settings_path = model_dir / SETTINGS_FILE
    settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir))
    model.to(resolve_device(device))
    model.eval()
    return model, tokenizer, settings


def annotate_with(
    model,
    tokenizer,
    settings: dict[str, Any],
    docs: Sequence[Doc],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[Doc]:
    """Copies of `docs` (same tokens) with `doc.ents` predicted by a loaded baseline; `max_length`
    and the example unit default to the ones it was trained with (its `settings`)."""
    tags = predict_tags(model, tokenizer, docs, batch_size=batch_size, **prediction_settings(settings, max_length))
    return annotate(docs, tags)


def predict_docs(
    model_dir: str | Path,
    docs: Sequence[Doc],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    device: str = "auto",
) -> list[Doc]:
    """Copies of `docs` (same tokens) with `doc.ents` predicted by the baseline in `model_dir`."""
    model, tokenizer, settings = load_model(model_dir, device)
    return annotate_with(model, tokenizer, settings, docs, batch_size=batch_size, max_length=max_length)


def score_docs(predicted: Sequence[Doc], gold: Sequence[Doc]) -> dict[str, Any]:
    """Entity-level strict P/R/F, overall and per type, as `spacy evaluate` reports them
    (ents_p/ents_r/ents_f in 0-1; 0.0 rather than None when there is nothing to score)."""
    scores = get_ner_prf(Example(p, g) for p, g in zip(predicted, gold))
    return {
        "ents_p": scores["ents_p"] or 0.0,
        "ents_r": scores["ents_r"] or 0.0,
        "ents_f": scores["ents_f"] or 0.0,
        "ents_per_type": scores["ents_per_type"] or {},
    }


def timed_scores(
    model,
    tokenizer,
    docs: Sequence[Doc],
    *,
    batch_size: int,
    max_length: int,
    unit: str = DEFAULT_UNIT,
    bf16: bool = False,
) -> dict[str, Any]:
    """Scores plus inference speed (words/sec of tagging and decoding; model loading excluded)."""
    n_words = sum(len(doc) for doc in docs)
    start = time.perf_counter()
    tags = predict_tags(model, tokenizer, docs, batch_size=batch_size, max_length=max_length, unit=unit, bf16=bf16)
    predicted = annotate(docs, tags)
    seconds = time.perf_counter() - start
    return {
        **score_docs(predicted, docs),
        "speed": n_words / seconds if seconds > 0 else 0.0,
        "inference": {
            "words": n_words,
            "docs": len(docs),
            "seconds": seconds,
            "words_per_second": n_words / seconds if seconds > 0 else 0.0,
            "batch_size": batch_size,
            "max_length": max_length,
            "unit": unit,
            "bf16": bf16,
            "device": str(next(model.parameters()).device),
        },
    }


def evaluate(
    model_dir: str | Path,
    data_path: str | Path,
    output_path: str | Path | None = None,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Score a trained baseline on a `.spacy` file; write the scores as JSON if `output_path`."""
    docs = read_docs(data_path)
    model, tokenizer, settings = load_model(model_dir, device)
    metrics = {
        "model_dir": str(model_dir),
        "model": settings.get("model"),
        "data": str(data_path),
        **timed_scores(model, tokenizer, docs, batch_size=batch_size, **prediction_settings(settings, max_length)),
        "peak_rss_mb": peak_rss_mb(),
    }
    if output_path is not None:
        output_path = Path(output_path)
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def is_baseline_model(model: str | Path) -> bool:
    """A folder saved by the classic-recipe baseline (`spacy-bert-ner baseline train`)."""
    return (Path(model) / SETTINGS_FILE).is_file()


class BaselinePredictor:
    """The classic recipe as the evaluation report's predictor (see evaluation/predictors.py)."""

    def __init__(self, model_dir: str | Path, gpu_id: int = -1) -> None:
        device = f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu"
        self.model, self.tokenizer, self.settings = load_model(model_dir, device)
        self.vocab = Vocab()
        types = sorted({tag.split("-", 1)[1] for tag in self.settings.get("labels", []) if "-" in tag})
        self.info = {
            "path": str(model_dir),
            "name": "classic recipe (AutoModelForTokenClassification)",
            "version": None,
            "spacy_version": None,
            "pipeline": ["AutoModelForTokenClassification"],
            "labels": {"token_classification": types},
            "transformer": self.settings.get("model"),
            "device": "gpu:" + str(gpu_id) if gpu_id >= 0 else "cpu",
        }

    def predict(self, gold_docs: Sequence[Doc], batch_size: int) -> list[Doc]:
        return annotate_with(self.model, self.tokenizer, self.settings, gold_docs, batch_size=batch_size)
