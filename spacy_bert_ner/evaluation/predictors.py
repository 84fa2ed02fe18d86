"""What the report scores: a predictor that tags the gold tokens of a corpus.

The report knows nothing of how a system is loaded or run; it asks a `Predictor` for its
vocab, a description (`info`), and predicted Docs on exactly the gold tokens. `SpacyPredictor`
runs a spaCy pipeline; the classic-recipe baseline brings its own (baseline/predict.py).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab


class ReportError(ValueError):
    """A user-facing failure: a missing or unreadable model or data file, data without entities."""


class Predictor(Protocol):
    """Predicts entities on Docs of given tokens."""

    vocab: Vocab
    info: dict[str, Any]  # path, name, version, spacy_version, pipeline, labels, device (+ transformer)

    def predict(self, gold_docs: Sequence[Doc], batch_size: int) -> list[Doc]:
        """Docs of exactly the gold tokens, with predicted `doc.ents`."""
        ...


class SpacyPredictor:
    """A spaCy pipeline (folder or installed package) run with `nlp.pipe` on the gold tokens."""

    def __init__(self, model: str, gpu_id: int = -1, precision: str | None = None) -> None:
        use_device(gpu_id)
        self.nlp = load_pipeline(model, precision)
        self.vocab = self.nlp.vocab
        self.info = {**pipeline_info(self.nlp, model), "device": f"gpu:{gpu_id}" if gpu_id >= 0 else "cpu"}

    def predict(self, gold_docs: Sequence[Doc], batch_size: int) -> list[Doc]:
        # The corpora keep gold tokenization; re-tokenizing the text could split or merge tokens.
        # Their sentence boundaries come along, so no entity is predicted across one.
        return list(self.nlp.pipe((unannotated_copy(self.vocab, gold) for gold in gold_docs), batch_size=batch_size))

    def predict_texts(self, texts: Sequence[str], batch_size: int) -> list[Doc]:
        """The pipeline on raw text, its own tokenizer included."""
        return list(self.nlp.pipe(texts, batch_size=batch_size))


def unannotated_copy(vocab: Vocab, gold: Doc) -> Doc:
    """A Doc of the gold tokens, spaces and sentence starts, and nothing else."""
    words, spaces = [t.text for t in gold], [bool(t.whitespace_) for t in gold]
    if not gold.has_annotation("SENT_START"):
        return Doc(vocab, words=words, spaces=spaces)
    return Doc(vocab, words=words, spaces=spaces, sent_starts=[bool(t.is_sent_start) for t in gold])


def use_device(gpu_id: int) -> None:
    """Select the GPU before the model loads, so its weights go there (as `spacy evaluate --gpu-id`)."""
    if gpu_id < 0:
        return
    try:
        spacy.require_gpu(gpu_id)
    except ValueError as err:
        raise ReportError(f"Cannot use GPU {gpu_id}: {err}") from err


def check_model(model: str) -> None:
    """Fail early, before a slow load, when `model` is neither a folder nor an installed package."""
    if not Path(model).exists() and not spacy.util.is_package(model):
        raise ReportError(f"Model not found: {model} is neither a folder nor an installed pipeline package")


def load_pipeline(model: str, precision: str | None = None) -> Language:
    """A pipeline folder or an installed pipeline package, as `spacy.load` takes it; with a
    `precision`, its transformer predicting in that instead of its config's."""
    from ..pipeline.precision import PRECISIONS, set_precision

    check_model(model)
    if precision is not None and precision not in PRECISIONS:  # before the slow load
        raise ReportError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    try:
        nlp = spacy.load(model)
        if precision is not None and not set_precision(nlp, precision):
            raise ReportError(
                f"{model}: --precision needs a spacy_bert_ner.TransformerModel.v1 transformer; it has none"
            )
        return nlp
    except (OSError, ValueError, KeyError) as err:
        raise ReportError(f"Could not load the pipeline {model}: {err}") from err


def pipeline_info(nlp: Language, model: str) -> dict[str, Any]:
    meta = nlp.meta
    info = {
        "path": str(model),
        "name": f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
        "version": meta.get("version"),
        "spacy_version": meta.get("spacy_version"),
        "pipeline": list(nlp.pipe_names),
        "labels": {name: list(getattr(pipe, "labels", [])) for name, pipe in nlp.pipeline},
    }
    config = nlp.config.interpolate()  # a saved config names the model as ${paths.transformer}
    transformer = config.get("components", {}).get("transformer", {}).get("model", {}).get("name")
    if transformer is not None:
        info["transformer"] = str(transformer)
    return info
