"""Measurements that run in a process of their own, so that each peak RSS is its own.

    spacy-bert-ner bench workers NAME '{"json": "kwargs"}'

prints one JSON line: the figures of worker NAME. The benchmark scripts start these through
`common.run_worker`; nothing here asserts anything.
"""

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from spacy_bert_ner.baseline.predict import peak_rss_mb

from .common import best_of


def _gold_docs(data: str, limit: int = 0) -> list[Any]:
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    docs = list(DocBin().from_disk(data).get_docs(Vocab()))
    return docs[:limit] if limit else docs


def _words(data: str, limit: int = 0) -> list[list[str]]:
    return [[t.text for t in doc] for doc in _gold_docs(data, limit)]


def _result(n_docs: int, n_words: int, times: list[float], pipes: list[str], **extra: Any) -> dict[str, Any]:
    best = min(times)
    return {
        "docs": n_docs,
        "words": n_words,
        "seconds": best,
        "times": times,
        "words_per_sec": n_words / best,
        "peak_rss_mb": peak_rss_mb(),
        "pipes": pipes,
        **extra,
    }


def pipeline(
    model: str,
    data: str,
    batch_size: int = 32,
    n_process: int = 1,
    repeats: int = 2,
    limit: int = 0,
    copies: int = 1,
    precision: str | None = None,
) -> dict[str, Any]:
    """Words/sec of `nlp.pipe` over the gold tokens and sentence starts of `data` (its first `limit`
    Docs, `copies` times over; as `report` runs a pipeline, and as the recipe gets its sentences),
    streamed: Docs are made as the pipeline asks for them and dropped after. With a `precision`,
    the transformer predicts in it (an int8 graph not saved with the pipeline is built during the
    warm-up, untimed)."""
    from spacy.tokens import Doc

    from spacy_bert_ner.evaluation.predictors import load_pipeline, unannotated_copy

    nlp = load_pipeline(model, precision)
    gold = _gold_docs(data, limit)

    def stream() -> Iterator[Doc]:
        for _ in range(copies):
            for doc in gold:
                yield unannotated_copy(nlp.vocab, doc)

    list(nlp.pipe((unannotated_copy(nlp.vocab, doc) for doc in gold[:batch_size]), batch_size=batch_size))  # warm-up

    def run() -> None:
        for _ in nlp.pipe(stream(), batch_size=batch_size, n_process=n_process):
            pass

    _, times, _ = best_of(repeats, run)
    return _result(len(gold) * copies, sum(map(len, gold)) * copies, times, nlp.pipe_names, **_windows(nlp))


def _windows(nlp: Any) -> dict[str, Any]:
    """The transformer's strided-window, sub-batch, length-bucket and bfloat16 settings, for the
    ceiling to copy ({} without one)."""
    if "transformer" not in nlp.pipe_names:
        return {}
    component = nlp.config["components"]["transformer"]
    get_spans = component["model"].get("get_spans", {})
    getter = str(get_spans.get("@span_getters", ""))
    if getter.startswith("spacy-transformers.strided_spans"):
        settings = {"window": get_spans["window"], "stride": get_spans["stride"], "spans": "strided"}
    elif getter.startswith("spacy_bert_ner.sentence_spans"):
        settings = {"window": get_spans.get("window", 128), "stride": get_spans.get("stride", 96), "spans": "sentences"}
    else:
        return {}
    settings["max_batch_items"] = component.get("max_batch_items", 4096)
    if component["model"]["@architectures"] == "spacy_bert_ner.TransformerModel.v1":
        from ..pipeline.precision import _precision_wrapper

        model = nlp.get_pipe("transformer").model
        settings["precision"] = _precision_wrapper(model).chosen()
        # the overhead the pipeline's own prediction uses (length_buckets.InLengthBuckets)
        settings["bucket_overhead"] = model.layers[0]._func.overhead(model.layers[0], False)
    return settings


class Int8Module:
    """A Hugging Face model's prediction run by ONNX Runtime on its int8 graph (the pipeline's
    engine, pipeline/onnx_int8.py), for the reference rows: called as the model is, returning its
    output fields; `eval`, `train`, `parameters` and `config` are the float model's."""

    def __init__(self, float_model: Any) -> None:
        from ..pipeline.onnx_int8 import Int8Graph

        self.float_model, self.config, self.graph = float_model, float_model.config, Int8Graph()
        self.graph.ensure(float_model)  # here, not under the predictor's inference_mode
        self.training = False

    def __call__(self, **inputs: Any) -> Any:
        import numpy
        import torch
        from transformers.file_utils import ModelOutput

        session = self.graph.session(self.float_model)
        feed = {i.name: numpy.asarray(inputs[i.name], dtype="int64") for i in session.get_inputs()}
        names = [output.name for output in session.get_outputs()]
        return ModelOutput({n: torch.from_numpy(a) for n, a in zip(names, session.run(None, feed))})

    def eval(self) -> "Int8Module":
        return self

    def train(self, mode: bool = True) -> "Int8Module":
        return self

    def parameters(self) -> Any:
        return self.float_model.parameters()


def encoder(
    model: str,
    data: str,
    batch_size: int = 32,
    repeats: int = 2,
    window: int = 128,
    stride: int = 96,
    max_batch_items: int = 4096,
    bucket_overhead: int | None = None,
    precision: str = "float32",
    limit: int = 0,
    spans: str = "strided",
) -> dict[str, Any]:
    """The ceiling: a bare forward pass of the encoder (AutoModel, no head) over the same Docs
    as the pipelines, batched the way spacy-transformers batches them: `batch_size` Docs at a
    time, split into length-sorted sub-batches of at most `max_batch_items` padded tokens, each
    Doc cut into strided windows of `window` tokens every `stride` (`spans="sentences"`: whole
    sentences packed into windows, as spacy_bert_ner.sentence_spans.v1 does); tokenization included. With
    `bucket_overhead`, each sub-batch's windows run in length buckets, as in this package's
    spacy_bert_ner.TransformerModel.v1; in `precision` as that architecture predicts in it (bfloat16:
    torch.autocast where the CPU has it natively; int8: ONNX Runtime on the same int8 graph)."""
    import torch
    from spacy_transformers.util import batch_by_length
    from transformers import AutoModel, AutoTokenizer

    from ..pipeline.cpu_bfloat16 import cpu_has_bfloat16
    from ..pipeline.length_buckets import length_buckets

    tokenizer = AutoTokenizer.from_pretrained(model, use_fast=True)
    bare = AutoModel.from_pretrained(model).eval()
    if precision == "int8":
        bare = Int8Module(bare)
    from ..pipeline.sentence_spans import sentence_windows, strided

    if spans not in ("strided", "sentences"):
        raise ValueError(f"spans must be 'strided' or 'sentences', got {spans!r}")
    cut = sentence_windows if spans == "sentences" else lambda doc, *sizes: strided(0, len(doc), *sizes)
    # each Doc as the words of its windows, cut as the pipeline's span getter cuts it
    # each Doc as its token count and the words of its windows, cut as the pipeline's span getter cuts it
    docs = [
        (range(len(doc)), [[t.text for t in doc[a:b]] for a, b in cut(doc, window, stride)])
        for doc in _gold_docs(data, limit)
    ]

    in_bfloat16 = precision == "bfloat16" and cpu_has_bfloat16()

    @torch.no_grad()
    @torch.autocast("cpu", dtype=torch.bfloat16, enabled=in_bfloat16)
    def forward(batch: list[tuple[range, list[list[str]]]]) -> None:
        for indices in batch_by_length([tokens for tokens, _ in batch], max_batch_items):
            texts = [words for i in indices for words in batch[i][1]]
            if not texts:
                continue
            encoded = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=512)
            lengths = [len(ids) for ids in encoded["input_ids"]]
            buckets = [range(len(texts))] if bucket_overhead is None else length_buckets(lengths, bucket_overhead)
            for bucket in buckets:
                inputs = tokenizer.pad({key: [values[i] for i in bucket] for key, values in encoded.items()})
                bare(**inputs.convert_to_tensors("pt"))

    forward(docs[:batch_size])  # warm-up

    def run() -> None:
        for i in range(0, len(docs), batch_size):
            forward(docs[i : i + batch_size])

    _, times, _ = best_of(repeats, run)
    settings = dict(
        window=window,
        stride=stride,
        spans=spans,
        max_batch_items=max_batch_items,
        bucket_overhead=bucket_overhead,
        precision="float32" if precision == "bfloat16" and not in_bfloat16 else precision,
    )
    return _result(len(docs), sum(len(tokens) for tokens, _ in docs), times, ["bare encoder forward"], **settings)


def hf_pipeline(model: str, data: str, batch_size: int = 32, repeats: int = 2, limit: int = 0) -> dict[str, Any]:
    """transformers' `pipeline("token-classification")` (aggregation "first", stride 64 for long
    texts) over the same texts, joined with spaces."""
    from transformers import pipeline as hf_pipeline_factory

    texts = [" ".join(words) for words in _words(data, limit)]
    tagger = hf_pipeline_factory(
        "token-classification", model=model, aggregation_strategy="first", stride=64, device=-1
    )
    tagger(texts[:batch_size], batch_size=batch_size)  # warm-up
    _, times, _ = best_of(repeats, lambda: tagger(texts, batch_size=batch_size))
    n_words = sum(len(text.split(" ")) for text in texts)
    return _result(len(texts), n_words, times, ["transformers token-classification pipeline"])


def recipe(
    model: str, data: str, batch_size: int = 32, repeats: int = 2, limit: int = 0, precision: str = "float32"
) -> dict[str, Any]:
    """The classic recipe's own batched inference, as the `report` command runs it: the fine-tuned
    AutoModelForTokenClassification over the gold tokens, first-subword tags, batched chunks; in
    `precision` the way the pipeline runs it (bfloat16: Trainer's bf16 autocast; int8: its int8
    graph on ONNX Runtime)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    from ..baseline.predict import BaselinePredictor

    predictor = BaselinePredictor(model)
    predictor.settings = {**predictor.settings, "bf16": precision == "bfloat16"}
    if precision == "int8":
        predictor.model = Int8Module(predictor.model)
    docs = list(DocBin().from_disk(data).get_docs(Vocab()))
    docs = docs[:limit] if limit else docs
    predictor.predict(docs[:batch_size], batch_size)  # warm-up
    _, times, _ = best_of(repeats, lambda: predictor.predict(docs, batch_size))
    return _result(
        len(docs), sum(len(doc) for doc in docs), times, ["classic recipe (batched, report)"], precision=precision
    )


def training(config: str, overrides: dict[str, Any], steps: int = 30, warmup: int = 3) -> dict[str, Any]:
    """Training words/sec of a config: spaCy's own training loop (`train_while_improving`, the
    config's batcher, optimizer, dropout and gradient accumulation) for `warmup` + `steps` updates,
    timed over the last `steps` (no evaluation). Peak RSS covers initialization and training."""
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import create_train_batches, train_while_improving
    from spacy.util import load_config, registry, resolve_dot_names

    config_obj = load_config(config, overrides=overrides, interpolate=False)
    nlp = init_nlp(config_obj)
    resolved = nlp.config.interpolate()
    settings = registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    (train_corpus,) = resolve_dot_names(resolved, [settings["train_corpus"]])
    batches = create_train_batches(nlp, train_corpus, settings["batcher"], settings["max_epochs"])
    loop = train_while_improving(
        nlp,
        settings["optimizer"],
        batches,
        lambda: (0.0, {}),
        dropout=settings["dropout"],
        eval_frequency=10**9,
        accumulate_gradient=settings["accumulate_gradient"],
        patience=0,
        max_steps=warmup + steps,
        exclude=settings["frozen_components"],
        annotating_components=settings["annotating_components"],
        before_update=None,
    )
    start, start_words, info = 0.0, 0, {"words": 0}
    for _, info, _ in loop:
        if info["step"] == warmup - 1:
            start, start_words = time.perf_counter(), info["words"]
        if info["step"] == warmup + steps - 1:
            break
    seconds = time.perf_counter() - start
    words = info["words"] - start_words
    return {
        "steps": steps,
        "words": words,
        "seconds": seconds,
        "words_per_sec": words / seconds,
        "seconds_per_step": seconds / steps,
        "peak_rss_mb": peak_rss_mb(),
        "pipes": nlp.pipe_names,
    }


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "pipeline": pipeline,
    "encoder": encoder,
    "hf_pipeline": hf_pipeline,
    "recipe": recipe,
    "training": training,
}

if __name__ == "__main__":
    name, kwargs = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(WORKERS[name](**kwargs)))
