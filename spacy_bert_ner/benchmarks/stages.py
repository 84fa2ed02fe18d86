"""Where a pass of `nlp.pipe` spends its time: a trained pipeline over a `.spacy` file's Docs
(gold tokens and sentence starts), each stage timed by a wall-clock wrapper around it (not a
profiler, which inflates Python-heavy stages several times), best pass of `--repeats`. Stages:
tokenizing the windows, the token-to-wordpiece alignment, the encoder (torch or ONNX Runtime, in
the precision asked for), the per-Doc split, and each component's `predict` and
`set_annotations` (for `aligned_ner`, the Viterbi decoding and the CRF marginals within it).
`--override` sets a config value at load, e.g. `components.transformer.model.int8_bucket_overhead=16`.
Nothing is asserted.

spacy-bert-ner bench stages training/conll_aligned/model-best --data corpus/conll/dev.spacy --precision int8
"""

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

from .common import Section, machine, run_and_show


class Timed:
    """A callable that adds its wall time to `totals[name]`; other attributes are the wrapped
    callable's (so `InLengthBuckets` still asks the wrapped `InPrecision` which engine it uses)."""

    def __init__(self, func: Callable, name: str, totals: Counter) -> None:
        self.func, self.name, self.totals = func, name, totals

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.totals[self.name] += time.perf_counter() - start

    def __get__(self, instance: Any, owner: type) -> Any:  # set on a class: a method of its instances
        return self if instance is None else functools.partial(self, instance)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.func, attribute)


@contextmanager
def timing(owner: Any, attribute: str, name: str, totals: Counter) -> Iterator[None]:
    """`owner.attribute` timed as `name` inside the block, as it was after it."""
    own = attribute in vars(owner)  # an instance's method lives on its class: delete the wrapper after
    original = getattr(owner, attribute)
    setattr(owner, attribute, Timed(original, name, totals))
    try:
        yield
    finally:
        if own:
            setattr(owner, attribute, original)
        else:
            delattr(owner, attribute)


def stages_section(
    model: str, data: Path, batch_size: int, repeats: int, limit: int, precision: str | None, overrides: list[str]
) -> Section:
    import spacy
    from spacy.tokens import DocBin

    from ..evaluation.predictors import unannotated_copy
    from ..pipeline import aligned_ner, alignment
    from ..pipeline.precision import predicting_precision

    config = dict(_parse_override(o) for o in overrides)
    if precision:
        config["components.transformer.model.precision"] = precision
    nlp = spacy.load(model, config=config)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))[: limit or None]
    n_words = sum(map(len, gold))
    # the stages timed inside the components' methods: (owner, attribute, component, method, stage)
    inner = [
        (alignment, "tokenize", "transformer", "predict", "tokenizing the windows"),
        (alignment, "offset_alignment", "transformer", "predict", "token-to-wordpiece alignment"),
        (alignment.DocSplitBatch, "split_by_doc", "transformer", "set_annotations", "split per Doc"),
        (aligned_ner, "viterbi_batch", "aligned_ner", "set_annotations", "Viterbi decoding"),
        (aligned_ner, "crf_marginals_batch", "aligned_ner", "set_annotations", "CRF marginals"),
    ]
    nested: dict[str, list[str]] = {}  # "component.method": the stages inside it, in order
    totals: Counter = Counter()
    with ExitStack() as stack:
        for owner, attribute, component, method, stage in inner:
            stack.enter_context(timing(owner, attribute, f"{component}: {stage}", totals))
            nested.setdefault(f"{component}.{method}", []).append(f"{component}: {stage}")
        for name, pipe in nlp.pipeline:
            for method in ("predict", "set_annotations"):
                if hasattr(pipe, method):
                    stack.enter_context(timing(pipe, method, f"{name}.{method}", totals))
            buckets = getattr(getattr(getattr(pipe, "model", None), "layers", [None])[0], "_func", None)
            if hasattr(buckets, "forward") and hasattr(buckets, "predict_buckets"):  # InLengthBuckets
                stack.enter_context(timing(buckets, "forward", f"{name}: encoder", totals))
                nested.setdefault(f"{name}.predict", []).append(f"{name}: encoder")
        list(nlp.pipe((unannotated_copy(nlp.vocab, doc) for doc in gold[:batch_size]), batch_size=batch_size))
        best_total, best = float("inf"), Counter()
        for _ in range(repeats):
            totals.clear()
            docs = [unannotated_copy(nlp.vocab, doc) for doc in gold]
            start = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=batch_size):
                pass
            total = time.perf_counter() - start
            if total < best_total:
                best_total, best = total, Counter(totals)
    rows = [["nlp.pipe", f"{best_total:.3f}", "100.0%"]]
    rows += [
        [stage, f"{seconds:.3f}", f"{100 * seconds / best_total:.1f}%"] for stage, seconds in _in_order(best, nested)
    ]
    notes = [
        f"{machine()}; {model} on {data} ({len(gold)} Docs, {n_words:,} words, gold tokens and sentence starts); "
        f"batch {batch_size}; the best of {repeats} passes ({n_words / best_total:,.0f} words/sec); "
        + ", ".join(f"{name} predicting in {chosen}" for name, chosen in predicting_precision(nlp).items())
        + (f"; overrides: {', '.join(overrides)}" if overrides else "")
        + ". Stages nest: the transformer's predict holds its tokenizing, alignment and encoder; "
        "its set_annotations the split per Doc; aligned_ner's set_annotations its decoding.",
    ]
    return Section("Where the time goes", ["stage", "seconds", "of the pass"], rows, notes)


def _in_order(totals: Counter, nested: dict[str, list[str]]) -> list[tuple[str, float]]:
    """Each component method's row, then the rows of the stages inside it; whatever else was timed last."""
    ordered: list[tuple[str, float]] = []
    for method_key in [key for key in totals if key.endswith((".predict", ".set_annotations"))]:
        ordered.append((method_key, totals[method_key]))
        ordered += [(stage, totals[stage]) for stage in nested.get(method_key, []) if stage in totals]
    listed = dict(ordered)
    return ordered + [(key, seconds) for key, seconds in totals.items() if key not in listed]


def _parse_override(override: str) -> tuple[str, Any]:
    import srsly

    key, sep, value = override.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"an override is KEY=VALUE (a config path and a JSON value), got {override!r}")
    try:
        return key, srsly.json_loads(value)
    except ValueError:
        return key, value


def main(
    model: str = typer.Argument(..., help="A trained pipeline folder or package name"),
    data: Path = typer.Option(..., help="A .spacy file to run on"),
    precision: str = typer.Option(None, help="float32, bfloat16, int8 or auto (default: the pipeline's own)"),
    override: list[str] = typer.Option([], help="A config value set at load, KEY=VALUE (repeatable)"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    repeats: int = typer.Option(3, help="Timed passes; the best is reported"),
    limit: int = typer.Option(0, help="Use only the first N Docs of the file (0: all)"),
    output: Path = typer.Option(None, help="Also write the table to this Markdown file"),
) -> None:
    """Time each stage of nlp.pipe and print a table."""
    run_and_show(lambda: stages_section(model, data, batch_size, repeats, limit, precision, override), output)
