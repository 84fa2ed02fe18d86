"""BERT-quality NER for spaCy: data converters, offline encoders, and pipeline components."""

__version__ = "0.1.0"
