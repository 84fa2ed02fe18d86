"""Source files (Kaggle NER CSV, CoNLL column files) to spaCy DocBins, with stats and clear errors."""

from .conll import read_conll
from .convert import convert_conll, convert_kaggle
from .docs import DocBinBuilder, Document, Sentence, write_split
from .errors import ConversionError, OutputError
from .kaggle import read_kaggle
from .output import check_corpus, check_corpus_file
from .repairs import ConversionReport
from .split import group, split_items
from .tags import IOBDecoder, TagScheme, parse_tag

__all__ = [
    "ConversionError",
    "ConversionReport",
    "DocBinBuilder",
    "Document",
    "IOBDecoder",
    "OutputError",
    "Sentence",
    "TagScheme",
    "check_corpus",
    "check_corpus_file",
    "convert_conll",
    "convert_kaggle",
    "group",
    "parse_tag",
    "read_conll",
    "read_kaggle",
    "split_items",
    "write_split",
]
