"""Annotating corpora with a trained pipeline: text, JSONL or DocBin in; JSONL or DocBin shards
out, written atomically and resumed on a rerun; on one machine (`nlp.pipe`) or on a Ray cluster."""

from .reader import BadRecord, Record, input_files, read_records
from .run import Summary, annotate_files, pipe_annotator

__all__ = ["BadRecord", "Record", "Summary", "annotate_files", "input_files", "pipe_annotator", "read_records"]
