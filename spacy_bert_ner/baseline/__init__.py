"""The classic Hugging Face token-classification recipe, trained and scored on the project's
`.spacy` corpora: the baseline the spaCy pipeline is compared with."""

from .data import BaselineError, Chunk, align_labels, chunk_spans, encode_chunks, label_list, make_chunks, read_docs
from .predict import evaluate, predict_docs, score_docs, tags_to_spans
from .train import TrainOptions, train

__all__ = [
    "BaselineError",
    "Chunk",
    "TrainOptions",
    "align_labels",
    "chunk_spans",
    "encode_chunks",
    "evaluate",
    "label_list",
    "make_chunks",
    "predict_docs",
    "read_docs",
    "score_docs",
    "tags_to_spans",
    "train",
]
