"""spacy_bert_ner.TransformerModel.v1 (pipeline/transformer.py, length_buckets.py, cpu_bfloat16.py,
precision.py, onnx_int8.py): the transformer run in length buckets gives the outputs and the gradients
of spacy-transformers' single padded call, with less padding; in CPU bfloat16 it computes in bfloat16
and hands on float32; in int8 it predicts on ONNX Runtime near float32 and trains in float32."""

import contextlib
import itertools
import os
import random

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import FullTransformerBatch
from thinc.api import Model
from transformers.file_utils import ModelOutput

import spacy_bert_ner.pipeline.cpu_bfloat16 as cpu_bfloat16_module
import spacy_bert_ner.pipeline.onnx_int8 as onnx_int8
import spacy_bert_ner.pipeline.precision as precision_module
from spacy_bert_ner.pipeline.cpu_bfloat16 import cpu_has_bfloat16
from spacy_bert_ner.pipeline.length_buckets import InLengthBuckets, length_buckets
from spacy_bert_ner.pipeline.onnx_int8 import build_int8_graph, cpu_has_int8_dot_products, weights_sha256
from spacy_bert_ner.pipeline.precision import check_precision

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def padded_cost(buckets: list[list[int]], lengths: list[int], overhead: int) -> int:
    return sum(len(b) * max(lengths[i] for i in b) + overhead for b in buckets)


def set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1 :]]


@pytest.mark.parametrize("seed", range(30))
def test_buckets_cover_every_sequence_once_at_the_least_cost(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 40) for _ in range(rng.randint(1, 7))]
    overhead = rng.choice([0, 5, 30])
    buckets = [list(map(int, b)) for b in length_buckets(lengths, overhead)]
    assert sorted(itertools.chain(*buckets)) == list(range(len(lengths)))
    best = min(padded_cost(p, lengths, overhead) for p in set_partitions(list(range(len(lengths)))))
    assert padded_cost(buckets, lengths, overhead) == best


def test_bucket_count_follows_the_overhead():
    lengths = [100, 100, 98, 10, 9, 10, 60]
    assert len(length_buckets(lengths, 10_000)) == 1
    assert len(length_buckets([7] * 5, 0)) == 1
    assert [sorted(map(int, b)) for b in length_buckets(lengths, 0)] == [[0, 1], [2], [6], [3, 5], [4]]
    assert length_buckets([], 10) == []


def build(arch: str, tiny_bert_dir, **settings) -> Model:
    get_spans = registry.span_getters.get("spacy-transformers.strided_spans.v1")(window=8, stride=6)
    make = registry.architectures.get(arch)
    model = make(
        name=str(tiny_bert_dir),
        get_spans=get_spans,
        tokenizer_config={"use_fast": True},
        transformer_config=dict(NO_DROPOUT),
        **settings,
    )
    model.initialize()
    return model


@pytest.fixture
def docs() -> list[Doc]:
    nlp = spacy.blank("en")
    words = "Alice Smith works for Acme Corp in Berlin and visits Paris with Bob Jones every spring".split()
    rng = random.Random(0)
    # 1 to 30 tokens: Docs of one short window up to several windows with short tails
    return [Doc(nlp.vocab, words=[rng.choice(words) for _ in range(n)]) for n in (30, 3, 17, 9, 1, 22, 12)]


def real_positions(batch: FullTransformerBatch) -> numpy.ndarray:
    return numpy.asarray(batch.wordpieces.attention_mask, dtype=bool)


@pytest.mark.parametrize("pad_token_in_text", [False, True])
def test_outputs_equal_the_single_padded_call(tiny_bert_dir, docs, pad_token_in_text):
    if pad_token_in_text:  # read as the pad token: spacy-transformers' `lengths` miss those wordpieces
        docs = docs + [Doc(docs[0].vocab, words="[PAD] [PAD] [PAD] Alice in Berlin".split())]
    single = build("spacy-transformers.TransformerModel.v3", tiny_bert_dir)
    bucketed = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, bucket_overhead=0)
    expected, got = single.predict(docs), bucketed.predict(docs)
    assert len(length_buckets(got.wordpieces.lengths, 0)) > 1  # the test really splits the batch
    assert got.model_output.last_hidden_state.shape == expected.model_output.last_hidden_state.shape
    real = real_positions(expected)
    want = expected.model_output.last_hidden_state.numpy()[real]
    numpy.testing.assert_allclose(got.model_output.last_hidden_state.numpy()[real], want, rtol=1e-4, atol=1e-5)
    numpy.testing.assert_allclose(got.model_output.pooler_output, expected.model_output.pooler_output, atol=1e-5)
    assert not got.model_output.last_hidden_state.numpy()[~real].any()  # zeros at padding
    for got_doc, expected_doc in zip(got.doc_data, expected.doc_data):  # what listeners receive
        mask = numpy.asarray(expected_doc.wordpieces.attention_mask, dtype=bool)
        length = got_doc.tensors[0].shape[1]  # the Doc's longest window: cut only at padding
        assert length == mask.sum(axis=1).max() and not mask[:, length:].any()
        want = expected_doc.tensors[0][mask]
        numpy.testing.assert_allclose(got_doc.tensors[0][mask[:, :length]], want, rtol=1e-4, atol=1e-5)
        assert got_doc.align.lengths.tolist() == expected_doc.align.lengths.tolist()


def hidden_and_grads(model: Model, docs: list[Doc]):
    """The last hidden state (real positions) and each parameter's gradient for a fixed random
    gradient of the output."""
    output, backprop = model.begin_update(docs)
    generator = torch.Generator().manual_seed(0)
    d_hidden = torch.randn(output.model_output.last_hidden_state.shape, generator=generator)
    d_hidden *= torch.as_tensor(real_positions(output))[..., None]  # listeners send nothing at padding
    backprop(
        FullTransformerBatch(
            spans=output.spans,
            wordpieces=output.wordpieces,
            model_output=ModelOutput(last_hidden_state=d_hidden),
            align=output.align,
        )
    )
    hidden = output.model_output.last_hidden_state[torch.as_tensor(real_positions(output))]
    params = model.transformer.named_parameters()
    return hidden, {name: p.grad.clone() for name, p in params if p.grad is not None}


def test_gradients_equal_the_single_padded_call(tiny_bert_dir, docs):
    _, single = hidden_and_grads(build("spacy-transformers.TransformerModel.v3", tiny_bert_dir), docs)
    _, bucketed = hidden_and_grads(build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir), docs)
    assert single.keys() == bucketed.keys() and len(single) > 10
    for name, want in single.items():
        # float rounding only: summation order differs with the batch shapes and the thread count
        atol = 1e-4 * float(want.abs().max()) + 1e-6  # key biases: zero up to rounding in both
        torch.testing.assert_close(bucketed[name], want, rtol=1e-3, atol=atol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.skipif(not cpu_has_bfloat16(), reason="this CPU has no native bfloat16")
def test_cpu_bfloat16_computes_in_bfloat16_and_hands_on_float32(tiny_bert_dir, docs):
    """Outputs and gradients near float32's (bfloat16 keeps 8 bits of mantissa), but not equal to
    them: the products really ran in bfloat16. What leaves the layer is float32."""
    hidden32, grads32 = hidden_and_grads(build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir), docs)
    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, cpu_bfloat16=True)
    hidden16, grads16 = hidden_and_grads(model, docs)
    assert hidden16.dtype == torch.float32
    assert model.predict(docs).model_output.pooler_output.dtype == torch.float32
    assert not torch.equal(hidden16, hidden32)
    assert float((hidden16 - hidden32).norm() / hidden32.norm()) < 0.02
    assert grads16.keys() == grads32.keys()
    assert all(grad.dtype == torch.float32 for grad in grads16.values())
    flat32 = torch.cat([grads32[name].flatten() for name in grads32])
    flat16 = torch.cat([grads16[name].flatten() for name in grads32])
    assert float((flat16 - flat32).norm() / flat32.norm()) < 0.05
    for name, want in grads32.items():  # each tensor that is not zero in exact arithmetic points the same way
        if float(want.norm()) > 1e-3 * float(flat32.norm()):
            assert float(torch.nn.functional.cosine_similarity(grads16[name].flatten(), want.flatten(), dim=0)) > 0.99


def test_cpu_bfloat16_caps_onednn_primitive_cache_unless_set(tiny_bert_dir, monkeypatch):
    env = cpu_bfloat16_module.ONEDNN_CACHE_ENV
    monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(cpu_bfloat16_module, "cpu_has_amx_bfloat16", lambda: False)
    build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir)
    assert env not in os.environ  # float32 leaves it alone
    build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, cpu_bfloat16=True)
    assert os.environ[env] == str(cpu_bfloat16_module.ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv(env, "32")
    build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, cpu_bfloat16=True)
    assert os.environ[env] == "32"


def test_cpu_bfloat16_leaves_onednn_cache_alone_on_amx(tiny_bert_dir, monkeypatch):
    env = cpu_bfloat16_module.ONEDNN_CACHE_ENV
    monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(cpu_bfloat16_module, "cpu_has_amx_bfloat16", lambda: True)
    build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, cpu_bfloat16=True, precision="bfloat16")
    assert env not in os.environ  # AMX primitives are dear to make again: oneDNN's own cap


@pytest.mark.parametrize("is_train", [False, True])
def test_bfloat16_buckets_of_a_batch_share_one_autocast(tiny_bert_dir, docs, monkeypatch, is_train):
    """The length buckets of a call run inside one autocast (the weights cast once, not once a
    bucket), to the same outputs as an autocast a bucket."""
    monkeypatch.setattr(cpu_bfloat16_module, "cpu_has_bfloat16", lambda: True)  # emulated where not native
    entered = []

    def counted() -> object:
        entered.append(1)
        return cpu_bfloat16_module.autocast_once()

    def hidden(model: Model) -> torch.Tensor:
        output = model.begin_update(docs)[0] if is_train else model.predict(docs)
        return output.model_output.last_hidden_state

    settings = {"bucket_overhead": 0, "precision": "bfloat16", "cpu_bfloat16": is_train}
    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, **settings)
    monkeypatch.setattr(precision_module, "autocast_once", counted)
    once = hidden(model)
    assert len(entered) == 1  # one call of the layer, several buckets (test_outputs_equal_the_single_padded_call)
    monkeypatch.setattr(precision_module, "autocast_once", contextlib.nullcontext)
    torch.testing.assert_close(once, hidden(model), rtol=0, atol=0)
    float32 = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, bucket_overhead=0)
    monkeypatch.setattr(precision_module, "autocast_once", counted)
    hidden(float32)
    assert len(entered) == 1  # float32 enters none


def test_cpu_bfloat16_falls_back_to_float32_with_a_warning(tiny_bert_dir, docs, monkeypatch):
    monkeypatch.setattr(cpu_bfloat16_module, "native_bfloat16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        assert not cpu_bfloat16_module.cpu_has_bfloat16.__wrapped__()
    monkeypatch.setattr(cpu_bfloat16_module, "cpu_has_bfloat16", lambda: False)
    hidden32, grads32 = hidden_and_grads(build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir), docs)
    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, cpu_bfloat16=True)
    hidden, grads = hidden_and_grads(model, docs)
    torch.testing.assert_close(hidden, hidden32, rtol=0, atol=0)
    for name, want in grads32.items():
        torch.testing.assert_close(grads[name], want, rtol=0, atol=0)


@pytest.mark.parametrize("setting", ["bucket_overhead", "int8_bucket_overhead"])
def test_negative_overhead_is_an_error(tiny_bert_dir, setting):
    with pytest.raises(ValueError, match=setting):
        registry.architectures.get("spacy_bert_ner.TransformerModel.v1")(
            name=str(tiny_bert_dir), get_spans=lambda docs: [], **{setting: -1}
        )


class PredictsIn:
    """A stand-in for precision.InPrecision: only whether it predicts on the int8 graph."""

    def __init__(self, int8: bool) -> None:
        self.int8 = int8

    def predicts_in_int8(self, model: Model) -> bool:
        return self.int8


@pytest.mark.parametrize("int8,is_train,expected", [(True, False, 8), (True, True, 64), (False, False, 64)])
def test_int8_predictions_count_an_extra_call_at_their_own_overhead(int8, is_train, expected):
    assert InLengthBuckets(PredictsIn(int8), 64, 8).overhead(Model("stand-in", lambda *a: a), is_train) == expected


def test_a_model_off_the_cpu_never_predicts_on_the_int8_graph(tiny_bert_dir):
    """spacy-transformers hands the layer numpy wordpieces on a GPU too: the model's device decides."""
    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir)  # float32: no graph built at init
    in_precision = model.layers[0]._func.forward
    in_precision.set("int8")
    assert in_precision.predicts_in_int8(model.layers[0])
    assert in_precision.predicts_in(model.layers[0]) == "int8"
    model.layers[0].shims[0]._model.to("meta")  # weights on another device than the CPU
    assert not in_precision.predicts_in_int8(model.layers[0])
    assert in_precision.predicts_in(model.layers[0]) == "float32 (GPU)"
    assert model.layers[0]._func.overhead(model.layers[0], False) == model.layers[0]._func.bucket_overhead


def test_architecture_is_found_without_imports(found_through_entry_points):
    found = found_through_entry_points("architectures", "spacy_bert_ner.TransformerModel.v1")
    assert found == "transformer_model_in_length_buckets"


# --- precision (pipeline/precision.py, onnx_int8.py) -----------------------------------------


def int8_beside_float32(tiny_bert_dir, **settings) -> tuple[Model, Model]:
    float32 = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir)
    int8 = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8", **settings)
    int8.layers[0].shims[0]._model.load_state_dict(float32.layers[0].shims[0]._model.state_dict())
    return float32, int8


def test_int8_predicts_on_onnx_runtime_near_float32(tiny_bert_dir, docs):
    float32, int8 = int8_beside_float32(tiny_bert_dir)
    expected, got = float32.predict(docs), int8.predict(docs)
    real = torch.as_tensor(real_positions(expected))
    want, hidden = expected.model_output.last_hidden_state, got.model_output.last_hidden_state
    assert hidden.dtype == torch.float32 and hidden.shape == want.shape
    assert not torch.equal(hidden[real], want[real])  # the products really ran in int8
    assert float((hidden[real] - want[real]).norm() / want[real].norm()) < 0.05
    # the pooler (tanh over [CLS], which the pipeline does not read) magnifies the int8 error: 0.075
    # at most on a 2-core AMD EPYC with AVX2 only, where ONNX Runtime's int8 sums can saturate
    pooler_atol = 0.05 if cpu_has_int8_dot_products() else 0.15
    torch.testing.assert_close(
        got.model_output.pooler_output, expected.model_output.pooler_output, atol=pooler_atol, rtol=0
    )
    graph = int8.layers[0].attrs["int8_graph"]
    assert graph.onnx is not None and graph.weights_sha256 == weights_sha256(int8.transformer)


@pytest.mark.slow
def test_int8_graph_keeps_feed_forward_outputs_in_float32(tiny_bert_dir):
    import onnx

    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8")
    graph = onnx.load_from_string(build_int8_graph(model.transformer))
    quantized = [n for n in graph.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    float_matmuls = [n for n in graph.graph.node if n.op_type == "MatMul"]
    layers = model.transformer.config.num_hidden_layers
    assert len(quantized) >= 4 * layers  # query, key, value, attention output, intermediate
    assert len(float_matmuls) >= layers  # each layer's feed-forward output (and attention's own products)
    assert len(onnx.load_from_string(build_int8_graph(model.transformer, keep_ffn_output_float=False)).graph.node)


def test_int8_trains_in_float32_and_rebuilds_after_an_update(tiny_bert_dir, docs):
    float32, int8 = int8_beside_float32(tiny_bert_dir)
    hidden32, grads32 = hidden_and_grads(float32, docs)
    hidden8, grads8 = hidden_and_grads(int8, docs)
    torch.testing.assert_close(hidden8, hidden32, rtol=0, atol=0)  # training sees float32 only
    before = int8.predict(docs).model_output.last_hidden_state.clone()
    with torch.no_grad():
        for parameter in int8.transformer.parameters():
            parameter.mul_(1.5)  # an in-place update, as an optimizer step
    after = int8.predict(docs).model_output.last_hidden_state
    assert not torch.allclose(after, before)  # a graph of the new weights
    assert int8.layers[0].attrs["int8_graph"].weights_sha256 == weights_sha256(int8.transformer)


@pytest.mark.slow
def test_int8_graph_is_saved_with_the_model_and_checked_at_load(tiny_bert_dir, docs, monkeypatch):
    _, int8 = int8_beside_float32(tiny_bert_dir)
    want = int8.predict(docs).model_output.last_hidden_state
    saved = int8.to_bytes()
    loaded = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8").from_bytes(saved)
    monkeypatch.setattr(onnx_int8, "build_int8_graph", lambda *a, **k: pytest.fail("rebuilt a matching graph"))
    torch.testing.assert_close(loaded.predict(docs).model_output.last_hidden_state, want, rtol=0, atol=0)
    monkeypatch.undo()
    stale = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8").from_bytes(saved)
    with torch.no_grad():
        next(stale.transformer.parameters()).add_(0.5)  # weights that are not the graph's
    with pytest.warns(UserWarning, match="built from other weights"):
        stale.predict(docs)
    assert stale.layers[0].attrs["int8_graph"].weights_sha256 == weights_sha256(stale.transformer)


def test_int8_model_pickles_with_its_graph_and_no_session(tiny_bert_dir, docs):
    import pickle

    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8")
    want = model.predict(docs).model_output.last_hidden_state
    copy = pickle.loads(pickle.dumps(model))
    assert copy.layers[0].attrs["int8_graph"]._session is None
    torch.testing.assert_close(copy.predict(docs).model_output.last_hidden_state, want)


def test_int8_without_onnxruntime_is_a_clear_error(tiny_bert_dir, docs, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name.startswith("onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    model = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="int8")
    built = model.layers[0].attrs["int8_graph"]
    model.layers[0].attrs["int8_graph"] = onnx_int8.Int8Graph(built.onnx, built.weights_sha256, loaded=True)
    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(onnx_int8.Int8EngineError, match="runs on ONNX Runtime.*pip install 'onnxruntime"):
        model.predict(docs)  # a loaded graph and no ONNX Runtime to run it
    model.layers[0].attrs["int8_graph"] = onnx_int8.Int8Graph()
    with pytest.raises(onnx_int8.Int8EngineError, match="builds its graph.*pip install 'onnxruntime"):
        model.predict(docs)  # no graph and nothing to build one with


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({}, "float32"),
        ({"int8": True}, "int8"),
        ({"cpu_bfloat16": True}, "bfloat16"),
        ({"cpu_bfloat16": True, "precision": "float32"}, "float32"),
        ({"precision": "auto"}, "auto"),
        ({"int8": True, "precision": "int8"}, "int8"),
    ],
)
def test_older_settings_map_to_a_precision(settings, expected):
    assert (
        check_precision(settings.get("precision"), settings.get("int8", False), settings.get("cpu_bfloat16", False))
        == expected
    )


@pytest.mark.parametrize(
    "settings,message",
    [({"precision": "fp16"}, "precision must be one of"), ({"precision": "float32", "int8": True}, "contradicts")],
)
def test_bad_precision_settings_are_clear_errors(tiny_bert_dir, settings, message):
    with pytest.raises(ValueError, match=message):
        build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, **settings)


def test_auto_picks_int8_then_native_bfloat16_then_float32(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_amx_bfloat16", lambda: False)
    monkeypatch.setattr(precision_module.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(precision_module, "cpu_has_int8_dot_products", lambda: True)
    assert precision_module.auto_precision() == "int8"
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda: True)
    monkeypatch.setattr(precision_module, "cpu_has_int8_dot_products", lambda: False)
    assert precision_module.auto_precision() == "bfloat16"  # no VNNI: ONNX Runtime's int8 sums may saturate
    monkeypatch.setattr(precision_module, "cpu_has_int8_dot_products", lambda: True)
    monkeypatch.setattr(precision_module.importlib.util, "find_spec", lambda name: None)
    assert precision_module.auto_precision() == "bfloat16"
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda: False)
    assert precision_module.auto_precision() == "float32"


def test_auto_picks_bfloat16_ahead_of_int8_on_amx(monkeypatch):
    monkeypatch.setattr(precision_module.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(precision_module, "cpu_has_int8_dot_products", lambda: True)
    monkeypatch.setattr(precision_module, "cpu_has_amx_bfloat16", lambda: True)
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda: True)
    assert precision_module.auto_precision() == "bfloat16"
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda: False)  # AMX flag, oneDNN without it
    assert precision_module.auto_precision() == "int8"


@pytest.mark.parametrize(
    "machine,flags,expected",
    [
        ("x86_64", {"avx2": True, "avx512_vnni": True}, True),
        ("AMD64", {"avx2": True, "avx_vnni": True}, True),
        ("x86_64", {"avx2": True, "amx_int8": True}, True),
        ("x86_64", {"avx2": True, "avx512_f": True, "avx512_bf16": False}, False),
        ("aarch64", {}, False),
    ],
)
def test_int8_dot_products_read_from_the_cpu_capabilities(monkeypatch, machine, flags, expected):
    monkeypatch.setattr(onnx_int8.platform, "machine", lambda: machine)
    monkeypatch.setattr(onnx_int8.torch.cpu, "get_capabilities", lambda: flags)
    assert onnx_int8.cpu_has_int8_dot_products() is expected


def test_int8_asked_for_on_an_x86_cpu_without_vnni_warns_once_and_predicts(tiny_bert_dir, docs, monkeypatch):
    monkeypatch.setattr(onnx_int8.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(onnx_int8.torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_vnni": False})
    onnx_int8.warn_if_int8_may_saturate.cache_clear()
    try:
        with pytest.warns(UserWarning, match="no VNNI or AMX int8 instructions.*can saturate"):
            float32, int8 = int8_beside_float32(tiny_bert_dir)
            got = int8.predict(docs).model_output.last_hidden_state
        assert onnx_int8.warn_if_int8_may_saturate() is True  # cached: warned once this process
        assert got.shape == float32.predict(docs).model_output.last_hidden_state.shape
    finally:
        onnx_int8.warn_if_int8_may_saturate.cache_clear()


def test_auto_predicts_as_the_precision_it_picks(tiny_bert_dir, docs, monkeypatch):
    monkeypatch.setattr(precision_module, "auto_precision", lambda: "int8")
    float32, auto = int8_beside_float32(tiny_bert_dir)
    auto = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="auto")
    auto.layers[0].shims[0]._model.load_state_dict(float32.layers[0].shims[0]._model.state_dict())
    _, int8 = int8_beside_float32(tiny_bert_dir)
    torch.testing.assert_close(
        auto.predict(docs).model_output.last_hidden_state, int8.predict(docs).model_output.last_hidden_state
    )
    monkeypatch.setattr(precision_module, "auto_precision", lambda: "float32")
    again = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="auto")
    again.layers[0].shims[0]._model.load_state_dict(float32.layers[0].shims[0]._model.state_dict())
    torch.testing.assert_close(
        again.predict(docs).model_output.last_hidden_state, float32.predict(docs).model_output.last_hidden_state
    )


def test_auto_falls_back_with_a_warning_where_int8_cannot_run(tiny_bert_dir, docs, monkeypatch):
    float32 = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir)
    monkeypatch.setattr(precision_module, "auto_precision", lambda: "float32")
    auto = build("spacy_bert_ner.TransformerModel.v1", tiny_bert_dir, precision="auto")
    auto.layers[0].shims[0]._model.load_state_dict(float32.layers[0].shims[0]._model.state_dict())
    monkeypatch.setattr(precision_module, "auto_precision", lambda: "int8")
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda: False)
    auto.layers[0]._func.forward._chosen = None  # chosen again, now as int8

    def cannot_build(*args, **kwargs):
        raise onnx_int8.Int8EngineError("no exporter")

    monkeypatch.setattr(onnx_int8, "build_int8_graph", cannot_build)
    with pytest.warns(UserWarning, match="int8 cannot run .*no exporter.*predicting in float32"):
        got = auto.predict(docs).model_output.last_hidden_state
    torch.testing.assert_close(got, float32.predict(docs).model_output.last_hidden_state)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_onnx_runtime_sessions_are_closed_before_a_fork():
    """ONNX Runtime is not fork-safe (a forked n_process worker can hang in a lock its parent's
    session threads held): no session crosses a fork, in the child or in the parent."""
    graph = onnx_int8.Int8Graph(b"graph", "sha256")
    graph._session, graph._session_pid = object(), os.getpid()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if graph._session is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert graph._session is None and graph._session_pid is None


def test_a_session_made_in_another_process_is_not_used(monkeypatch):
    """A fork that skips Python's fork hooks still gets a session of its own."""
    float_model = torch.nn.Linear(2, 2)
    graph = onnx_int8.Int8Graph(b"graph", onnx_int8.weights_sha256(float_model))
    monkeypatch.setattr(onnx_int8, "_new_session", lambda onnx: ("session of", os.getpid()))
    graph._session, graph._session_pid = "the parent's session", os.getpid() + 1
    assert graph.session(float_model) == ("session of", os.getpid())
    assert graph.session(float_model) is graph._session  # made once in this process
