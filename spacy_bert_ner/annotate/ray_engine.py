"""`annotate --engine ray`: the same shards, with the pipeline run by Ray Data actors.

The driver reads and checks the records as on one machine and hands the documents of a window of
shards to Ray as a dataset; `map_batches` runs them through `PipelineActor`s, each of which loads
the pipeline once (from a package name or a path every node can read) and returns every Doc
serialized, entities and confidences included. Ray keeps the dataset's order, so the driver writes
each shard as its Docs stream back, with the writer the local engine uses. A worker that dies is
restarted and its batch retried by Ray Data (its actors are restartable by default); the output
is keyed by shard and position, so nothing is duplicated.

Without an address, `ray.init()` starts a local instance; with `--address` (or RAY_ADDRESS) it
joins a running cluster, whose nodes need this package, the pipeline and its dependencies.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import numpy
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from .reader import Record, pipeline_input
from .run import Annotator


class PipelineActor:
    """A Ray actor holding one loaded pipeline; called with batches of records as columns."""

    def __init__(self, model: str, batch_size: int, precision: str | None = None) -> None:
        from ..evaluation.predictors import load_pipeline

        self.nlp = load_pipeline(model, precision)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, numpy.ndarray]) -> dict[str, numpy.ndarray]:
        columns = zip(batch["text"], batch["words"], batch["spaces"], batch["has_tokens"])
        inputs = [
            pipeline_input(self.nlp.vocab, text, words if has_tokens else None, spaces)
            for text, words, spaces, has_tokens in columns
        ]
        docs = self.nlp.pipe(inputs, batch_size=self.batch_size)
        serialized = [doc.to_bytes(exclude=["tensor"]) for doc in docs]
        return {"position": batch["position"], "doc": numpy.asarray(serialized, dtype=object)}


def ray_annotator(
    model: str,
    *,
    batch_size: int = 64,
    num_workers: int = 2,
    cpus_per_worker: float = 1.0,
    address: str | None = None,
    precision: str | None = None,
) -> Annotator:
    """An annotator for `annotate_files` that runs the pipeline on Ray (started or joined here)."""
    import ray

    if not Span.has_extension("confidence"):  # read back from the actors' Docs on the driver
        Span.set_extension("confidence", default=None)
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False

    def annotate(records: list[Record]) -> Iterable[Doc]:
        dataset = ray.data.from_items([_row(record) for record in records])
        annotated = dataset.map_batches(
            PipelineActor,
            fn_constructor_kwargs={"model": model, "batch_size": batch_size, "precision": precision},
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_cpus=cpus_per_worker,
            batch_format="numpy",
        )
        return _docs_in_order(annotated.iter_rows(), [record.position for record in records])

    return annotate


def _row(record: Record) -> dict[str, Any]:
    has_tokens = record.words is not None
    return {
        "position": record.position,
        "text": record.text,
        "words": record.words if has_tokens else [],
        "spaces": record.spaces if has_tokens else [],
        "has_tokens": has_tokens,
    }


def _docs_in_order(rows: Iterator[dict[str, Any]], positions: list[int]) -> Iterator[Doc]:
    """The Docs, checked against the positions they were sent in (Ray keeps the order)."""
    vocab = Vocab()
    for expected, row in zip(positions, rows):
        if int(row["position"]) != expected:
            raise RuntimeError(f"Ray returned document {row['position']} where {expected} was due")
        yield Doc(vocab).from_bytes(row["doc"])
