"""What the vectorised token-to-wordpiece alignment buys: spacy-transformers' own
(`get_alignment_via_offset_mapping`) against `pipeline/alignment.py`'s, on a trained pipeline's
windows of a `.spacy` file, alone and inside `nlp.pipe` (the same pipeline, its transformer's
forward switched between the two; passes alternate, best of `--repeats`). Nothing is asserted.

spacy-bert-ner bench alignment training/conll_aligned/model-best --data corpus/conll/dev.spacy
"""

import time
from pathlib import Path

import typer

from .common import Section, machine, run_and_show


def alignment_section(model: str, data: Path, batch_size: int, repeats: int, limit: int) -> Section:
    import spacy
    from spacy.tokens import DocBin
    from spacy_transformers.align import get_alignment_via_offset_mapping
    from spacy_transformers.layers import transformer_model
    from spacy_transformers.layers.transformer_model import huggingface_tokenize

    from ..evaluation.predictors import unannotated_copy
    from ..pipeline import alignment

    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))[: limit or None]
    docs = [unannotated_copy(nlp.vocab, doc) for doc in gold]
    n_words = sum(map(len, docs))
    transformer = nlp.get_pipe("transformer").model
    batches = [docs[i : i + batch_size] for i in range(0, len(docs), batch_size)]
    windows = [[span for spans in transformer.attrs["get_spans"](batch) for span in spans] for batch in batches]
    tokenize = transformer.tokenizer
    offsets = [huggingface_tokenize(tokenize, [s.text for s in spans])["offset_mapping"] for spans in windows]

    def align_all(align) -> float:
        start = time.perf_counter()
        for spans, offset_mapping in zip(windows, offsets):
            align(spans, offset_mapping)
        return time.perf_counter() - start

    def pipe_all(forward) -> float:
        transformer._func = forward
        start = time.perf_counter()
        for _ in nlp.pipe((unannotated_copy(nlp.vocab, doc) for doc in gold), batch_size=batch_size):
            pass
        return time.perf_counter() - start

    list(nlp.pipe(docs[:batch_size], batch_size=batch_size))  # warm-up
    variants = {"spacy-transformers": get_alignment_via_offset_mapping, "vectorised": alignment.offset_alignment}
    forwards = {"spacy-transformers": transformer_model.forward, "vectorised": alignment.forward}
    align_s = {name: min(align_all(f) for _ in range(repeats)) for name, f in variants.items()}
    pipe_s: dict[str, float] = {name: float("inf") for name in forwards}
    for _ in range(repeats):
        for name, forward in forwards.items():
            pipe_s[name] = min(pipe_s[name], pipe_all(forward))
    transformer._func = alignment.forward
    rows = [
        [name, f"{align_s[name]:.3f}", f"{pipe_s[name]:.2f}", f"{n_words / pipe_s[name]:,.0f}"] for name in variants
    ]
    notes = [
        f"{machine()}; {model} on {data} ({len(docs)} Docs, {n_words:,} words, {sum(map(len, windows))} windows, "
        f"with the gold tokens and sentence starts); batch {batch_size}; best of {repeats}.",
        f"Alignment alone: {align_s['spacy-transformers'] / align_s['vectorised']:.1f}x faster; "
        f"nlp.pipe: {pipe_s['spacy-transformers'] / pipe_s['vectorised']:.3f}x.",
    ]
    return Section("Token-to-wordpiece alignment", ["alignment", "align (s)", "nlp.pipe (s)", "words/sec"], rows, notes)


def main(
    model: str = typer.Argument(..., help="A trained pipeline folder or package name"),
    data: Path = typer.Option(..., help="A .spacy file to run on"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    repeats: int = typer.Option(3, help="Timed passes of each; the best is reported"),
    limit: int = typer.Option(0, help="Use only the first N Docs of the file (0: all)"),
    output: Path = typer.Option(None, help="Also write the table to this Markdown file"),
) -> None:
    """Time spacy-transformers' alignment against the vectorised one and print a table."""
    run_and_show(lambda: alignment_section(model, data, batch_size, repeats, limit), output)
