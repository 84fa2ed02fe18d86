"""pipeline/alignment.py: the vectorised token-to-wordpiece alignment equals spacy-transformers'
`get_alignment_via_offset_mapping` on overlapping windows, odd whitespace, accents and several Docs,
and the TransformerModel.v1 forward uses it."""

import logging
import random

import numpy
import pytest
import spacy
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.span_getters import configure_strided_spans
from transformers import AutoTokenizer

from spacy_bert_ner.pipeline import alignment
from spacy_bert_ner.pipeline.alignment import offset_alignment
from spacy_bert_ner.pipeline.sentence_spans import configure_sentence_spans

WORDS = [
    "Jean-Luc",
    "Collomb",
    "visited",
    "Zürich",
    "on",
    "Monday",
    ",",
    "said",
    "AL-AIN",
    "(",
    "Reuters",
    ")",
    "3.5",
    "%",
    "naïve",
    "café",
    "U.S.",
    "\n",
    "  ",
    "the",
    "Ministry",
    "of",
    "Defence",
    "'s",
    "x",
]


def random_doc(nlp, rng: random.Random):
    n = rng.randint(0, 60)
    words = [rng.choice(WORDS) for _ in range(n)]
    spaces = [rng.random() < 0.8 for _ in range(n)]
    doc = spacy.tokens.Doc(nlp.vocab, words=words, spaces=spaces)
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0 or rng.random() < 0.15
    return doc


def assert_same_alignment(spans, offset_mapping):
    expected = get_alignment_via_offset_mapping(spans, offset_mapping)
    got = offset_alignment(spans, offset_mapping)
    assert got.lengths.tolist() == expected.lengths.tolist()
    assert got.dataXd.tolist() == expected.dataXd.tolist()
    assert got.dataXd.dtype == expected.dataXd.dtype and got.lengths.dtype == expected.lengths.dtype


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_equals_spacy_transformers_alignment(tiny_bert_dir, tiny_uncased_bert_dir, lowercase, seed):
    tokenizer = AutoTokenizer.from_pretrained(tiny_uncased_bert_dir if lowercase else tiny_bert_dir)
    nlp = spacy.blank("en")
    rng = random.Random(seed)
    docs = [doc for doc in (random_doc(nlp, rng) for _ in range(6)) if len(doc)]
    docs.append(docs[0])  # the same Doc twice in a batch is aligned once
    for getter in (configure_strided_spans(12, 8), configure_sentence_spans(window=12, stride=8)):
        spans = [span for doc_spans in getter(docs) for span in doc_spans]
        encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
        assert_same_alignment(spans, encoding["offset_mapping"])


def test_tokens_outside_every_span_get_no_wordpieces(tiny_bert_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    doc = spacy.blank("en")("Alice met Bob in Paris on Monday .")
    spans = [doc[1:3], doc[5:7]]
    encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
    assert_same_alignment(spans, encoding["offset_mapping"])
    lengths = offset_alignment(spans, encoding["offset_mapping"]).lengths
    assert lengths[0] == 0 and lengths[3] == 0 and all(lengths[[1, 2, 5, 6]] > 0)


def test_mismatched_batch_is_an_error():
    doc = spacy.blank("en")("One two")
    with pytest.raises(ValueError, match="Cannot align 1 spans with 2 rows"):
        offset_alignment([doc[:]], numpy.zeros((2, 4, 2), dtype="int64"))


def _tiny_transformer(tiny_bert_dir):
    """A blank English pipeline with an initialized TransformerModel.v1 over the tiny BERT."""
    nlp = spacy.blank("en")
    config = {
        "model": {
            "@architectures": "spacy_bert_ner.TransformerModel.v1",
            "name": str(tiny_bert_dir),
            "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 6},
        }
    }
    transformer = nlp.add_pipe("transformer", config=config)
    nlp.initialize()
    return nlp, transformer


def test_transformer_model_uses_the_vectorised_alignment(tiny_bert_dir):
    nlp, transformer = _tiny_transformer(tiny_bert_dir)
    assert transformer.model._func is alignment.forward
    doc = nlp("Jean-Luc Collomb visited Zürich on Monday, said the Ministry of Defence.")
    trf_data = doc._.trf_data
    spans = [span for doc_spans in transformer.model.attrs["get_spans"]([doc]) for span in doc_spans]
    tokenizer = transformer.model.tokenizer
    expected = get_alignment_via_offset_mapping(
        spans, huggingface_tokenize(tokenizer, [s.text for s in spans])["offset_mapping"]
    )
    assert trf_data.align.lengths.tolist() == expected.lengths.tolist()
    assert trf_data.align.dataXd.tolist() == expected.dataXd.tolist()


def test_spacy_transformers_memory_logger_still_works(tiny_bert_dir, caplog):
    nlp, transformer = _tiny_transformer(tiny_bert_dir)
    transformer.model.attrs["logger"] = logging.getLogger("trf-memory")
    with caplog.at_level(logging.INFO, logger="trf-memory"):
        nlp("Alice met Bob in Paris.")
    messages = [record.getMessage() for record in caplog.records]
    assert any("begin forward" in m for m in messages) and any(m.endswith("predict") for m in messages)


@pytest.mark.parametrize("getter", ["strided", "sentences"])
def test_split_by_doc_equals_spacy_transformers_split(tiny_bert_dir, getter):
    """`doc._.trf_data` is the TransformerData spacy-transformers' own split gives, Doc for Doc,
    empty Docs and a Doc seen twice included."""
    nlp, transformer = _tiny_transformer(tiny_bert_dir)
    if getter == "sentences":
        transformer.model.attrs["get_spans"] = configure_sentence_spans(window=8, stride=6)
    rng = random.Random(0)
    docs = [random_doc(nlp, rng) for _ in range(6)] + [spacy.tokens.Doc(nlp.vocab, words=[])]
    docs.append(next(doc for doc in docs if len(doc)))
    predicted = transformer.predict(docs)
    batch = alignment.DocSplitBatch(predicted.spans, predicted.wordpieces, predicted.model_output, predicted.align)
    expected = FullTransformerBatch.split_by_doc(batch)
    got = batch.split_by_doc()
    assert len(got) == len(expected) == len(docs)
    for ours, theirs in zip(got, expected):
        assert ours.align.lengths.tolist() == theirs.align.lengths.tolist()
        assert ours.align.dataXd.tolist() == theirs.align.dataXd.tolist()
        assert ours.wordpieces.input_ids.tolist() == theirs.wordpieces.input_ids.tolist()
        assert ours.wordpieces.strings == theirs.wordpieces.strings
        assert list(ours.model_output.keys()) == list(theirs.model_output.keys())
        for key, value in theirs.model_output.items():
            numpy.testing.assert_array_equal(ours.model_output[key], value)


@pytest.mark.parametrize("getter", ["strided", "sentences"])
def test_predicted_split_is_the_padded_split_cut_to_each_docs_longest_window(tiny_bert_dir, getter):
    """To predict, each Doc's TransformerData comes from the length buckets' outputs without the
    batch's padded layout: that layout's rows for the Doc's windows, cut to its longest window,
    the alignment moved to match, so every token pools the same wordpiece vectors."""
    nlp, transformer = _tiny_transformer(tiny_bert_dir)
    if getter == "sentences":
        transformer.model.attrs["get_spans"] = configure_sentence_spans(window=8, stride=6)
    rng = random.Random(1)
    docs = [random_doc(nlp, rng) for _ in range(6)] + [spacy.tokens.Doc(nlp.vocab, words=[])]
    docs += [docs[0], spacy.tokens.Doc(nlp.vocab, words="[PAD] [PAD] [PAD] [PAD] on Monday".split())]
    predicted = transformer.predict(docs)
    assert isinstance(predicted, alignment.BucketedBatch) and len(predicted._buckets) > 1
    padded = alignment.DocSplitBatch(predicted.spans, predicted.wordpieces, predicted.model_output, predicted.align)
    n_positions = predicted.wordpieces.input_ids.shape[1]
    for ours, theirs in zip(predicted.doc_data, padded.split_by_doc(), strict=True):
        assert ours.align.lengths.tolist() == theirs.align.lengths.tolist()
        if not theirs.wordpieces.lengths:
            assert not ours.wordpieces.lengths and not ours.model_output
            continue
        length = int(theirs.wordpieces.attention_mask.sum(axis=1).max())  # not `lengths`: "[PAD]" in a text
        assert ours.wordpieces.input_ids.tolist() == theirs.wordpieces.input_ids[:, :length].tolist()
        assert ours.wordpieces.strings == [strings[:length] for strings in theirs.wordpieces.strings]
        window, position = numpy.divmod(theirs.align.dataXd, n_positions)
        assert ours.align.dataXd.tolist() == (window * length + position).tolist()
        assert list(ours.model_output.keys()) == list(theirs.model_output.keys())
        numpy.testing.assert_array_equal(ours.model_output["last_hidden_state"], theirs.tensors[0][:, :length])
        numpy.testing.assert_array_equal(ours.model_output["pooler_output"], theirs.model_output["pooler_output"])


def test_a_docs_predicted_output_is_the_same_in_a_batch_and_alone(tiny_bert_dir):
    """The same layout, alignment and vectors at every real wordpiece, whatever the batch."""
    nlp, transformer = _tiny_transformer(tiny_bert_dir)
    rng = random.Random(2)
    docs = [random_doc(nlp, rng) for _ in range(5)]
    in_batch = transformer.predict(docs).doc_data
    for doc, batched in zip(docs, in_batch, strict=True):
        alone = transformer.predict([doc]).doc_data[0]
        assert batched.align.dataXd.tolist() == alone.align.dataXd.tolist()
        assert batched.wordpieces.input_ids.tolist() == alone.wordpieces.input_ids.tolist()
        real = alone.wordpieces.attention_mask.astype(bool)  # padded positions are not read
        numpy.testing.assert_allclose(batched.tensors[0][real], alone.tensors[0][real], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["tiny_bert_dir", "tiny_uncased_bert_dir", "tiny_mpnet_dir"])
def test_tokenize_equals_spacy_transformers_tokenize(request, model):
    tokenizer = AutoTokenizer.from_pretrained(str(request.getfixturevalue(model)), use_fast=True)
    texts = [" ".join(WORDS), "Zürich\n\n  café", "x", "U.S. naïve AL-AIN " * 4]
    ours, theirs = alignment.tokenize(tokenizer, texts), huggingface_tokenize(tokenizer, texts)
    assert sorted(ours.keys()) == sorted(theirs.keys())
    assert ours["input_texts"] == theirs["input_texts"] and ours["pad_token"] == theirs["pad_token"]
    for key in ("input_ids", "attention_mask", "offset_mapping"):
        numpy.testing.assert_array_equal(ours[key], theirs[key])


def test_tokenize_gives_unknown_pieces_the_unknown_token(tiny_text_file):
    """A Unigram model's encoding keeps an unknown piece's own text; the strings hold `<unk>`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = [("<pad>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("▁the", -1.0)] + [(c, -5.0) for c in "hetcaf"]
    backend = Tokenizer(models.Unigram(pieces, unk_id=1))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>")
    texts = ["the zq café", "the"]
    ours, theirs = alignment.tokenize(tokenizer, texts), huggingface_tokenize(tokenizer, texts)
    assert "<unk>" in theirs["input_texts"][0] and ours["input_texts"] == theirs["input_texts"]


def test_attentions_are_split_in_the_padded_layout(tiny_bert_dir):
    """Outputs with more than a position axis (attentions) are not gathered per Doc: one call's
    batch keeps spacy-transformers' padded split."""
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy_bert_ner.TransformerModel.v1",
        "name": str(tiny_bert_dir),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 6},
        "transformer_config": {"output_attentions": True},
        "bucket_overhead": 10_000,
    }
    transformer = nlp.add_pipe("transformer", config={"model": model})
    nlp.initialize()
    docs = [nlp("Alice met Bob in Paris on Monday and again in Berlin on Friday."), nlp("Hi.")]
    predicted = transformer.predict(docs)
    n_positions = predicted.wordpieces.input_ids.shape[1]
    for doc_data in predicted.doc_data:
        n_windows = doc_data.wordpieces.input_ids.shape[0]
        assert doc_data.model_output["attentions"][0].shape[::2] == (n_windows, n_positions)
