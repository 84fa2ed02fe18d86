"""The classic Hugging Face recipe baseline: first-subword label alignment, chunking of long Docs,
lenient IOB decoding, a few training steps end to end (model-best, metrics.json), predict_docs,
the wall-clock budget, evaluate and the command line. All on the tiny random BERT."""

import json
from pathlib import Path
from typing import Any

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from transformers import AutoTokenizer
from typer.testing import CliRunner

from spacy_bert_ner.baseline import (
    BaselineError,
    TrainOptions,
    align_labels,
    chunk_spans,
    encode_chunks,
    evaluate,
    make_chunks,
    predict_docs,
    read_docs,
    score_docs,
    tags_to_spans,
    train,
)
from spacy_bert_ner.baseline.data import IGNORE_INDEX, budget, count_pieces
from spacy_bert_ner.baseline.predict import annotate_with, load_model
from spacy_bert_ner.cli import app
from spacy_bert_ner.pipeline.decoding import doc_iob2_tags

# Characters the tiny vocab knows, in an unseen word: several wordpieces, not [UNK].
MULTI_PIECE_WORD = "Ahmedsmithnairobi"
STEPS, EVAL_EVERY, MAX_LENGTH = 6, 3, 10
METRICS_KEYS = {
    "model",
    "model_best",
    "best_step",
    "ents_p",
    "ents_r",
    "ents_f",
    "ents_per_type",
    "speed",
    "inference",
    "train",
    "labels",
    "peak_rss_mb",
    "history",
    "options",
}
SENTENCES = [
    "Alice Smith works for Google in Paris .",
    "Bob flew from London to Tokyo on Monday .",
    "Nothing much happened in the village today .",
    "A spokesperson for Siemens said Marie Curie would visit paris soon .",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    return AutoTokenizer.from_pretrained(str(tiny_bert_dir), use_fast=True)


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tiny_corpus_dir, tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """(output_dir, metrics) of a few steps on the tiny corpus; chunks so small that Docs get cut."""
    output_dir = tmp_path_factory.mktemp("baseline")
    options = TrainOptions(
        model=str(tiny_bert_dir),
        max_steps=STEPS,
        eval_every=EVAL_EVERY,
        batch_size=8,
        learn_rate=1e-3,
        warmup_steps=2,
        max_length=MAX_LENGTH,
        device="cpu",
    )
    metrics = train(
        tiny_corpus_dir / "train.spacy", tiny_corpus_dir / "dev.spacy", output_dir, options, show_progress=False
    )
    return output_dir, metrics


def sentences_doc(sentences: list[str]) -> Doc:
    """A multi-sentence Doc with sentence boundaries set, as the converters write them."""
    words: list[str] = []
    sent_starts: list[bool] = []
    for sentence in sentences:
        tokens = sentence.split()
        words += tokens
        sent_starts += [True] + [False] * (len(tokens) - 1)
    return Doc(spacy.blank("en").vocab, words=words, sent_starts=sent_starts)


def test_first_subword_gets_the_label_others_and_specials_ignored(tokenizer):
    words = ["Alice", MULTI_PIECE_WORD, "works", "."]
    doc = Doc(spacy.blank("en").vocab, words=words, ents=["B-PER", "B-LOC", "O", "O"])
    n_pieces = [len(tokenizer.tokenize(word)) for word in words]
    assert n_pieces[1] >= 3 and "[UNK]" not in tokenizer.tokenize(MULTI_PIECE_WORD)
    label2id = {"O": 0, "B-LOC": 1, "B-PER": 2}
    chunks = make_chunks([doc], tokenizer, max_length=64)
    (feature,) = encode_chunks([doc], chunks, tokenizer, label2id, max_length=64)
    expected = [IGNORE_INDEX]  # [CLS]
    for tag, n in zip(doc_iob2_tags(doc), n_pieces):
        expected += [label2id[tag]] + [IGNORE_INDEX] * (n - 1)
    expected.append(IGNORE_INDEX)  # [SEP]
    assert feature["labels"] == expected
    assert len(feature["input_ids"]) == len(expected)
    assert feature["input_ids"][0] == tokenizer.cls_token_id and feature["input_ids"][-1] == tokenizer.sep_token_id


def test_tag_unseen_in_training_is_ignored():
    assert align_labels([None, 0, 1, 1, None], ["B-ORG", "O"], {"O": 0}) == [-100, -100, 0, -100, -100]


@pytest.mark.parametrize(
    "counts,sent_starts,limit,expected",
    [
        ([3, 3, 3, 3], [0, 2], 12, [(0, 4)]),  # fits: the whole Doc
        ([3, 3, 3, 3], [0, 2], 7, [(0, 2), (2, 4)]),  # cut at the sentence boundary
        ([2, 2, 2, 2, 2], [0, 1, 2, 3, 4], 4, [(0, 2), (2, 4), (4, 5)]),  # whole sentences packed
        ([3, 3, 3, 3], [0], 7, [(0, 2), (2, 4)]),  # one long sentence: cut between tokens
        ([1, 10, 1], [0], 5, [(0, 1), (1, 2), (2, 3)]),  # a word over the limit stands alone
        ([0, 2, 0, 2], [0, 2], 2, [(0, 2), (2, 4)]),  # tokens without wordpieces
        ([], [0], 5, []),
    ],
)
def test_chunk_spans(counts, sent_starts, limit, expected):
    assert chunk_spans(numpy.asarray(counts, dtype="int64"), sent_starts, limit) == expected


@pytest.mark.parametrize(
    "counts,sent_starts,limit,expected",
    [
        ([3, 3, 3, 3], [0, 2], 12, [(0, 2), (2, 4)]),  # fits, but each sentence stands alone
        ([2, 2, 2, 2, 2], [0, 1, 2, 3, 4], 4, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
        ([3, 3, 3, 3], [0], 7, [(0, 2), (2, 4)]),  # one long sentence: still cut between tokens
        ([], [0], 5, []),
    ],
)
def test_chunk_spans_unpacked(counts, sent_starts, limit, expected):
    assert chunk_spans(numpy.asarray(counts, dtype="int64"), sent_starts, limit, pack=False) == expected


def test_units_sentence_per_example_or_packed_doc(tokenizer):
    doc = sentences_doc(SENTENCES)
    by_sentence = make_chunks([doc], tokenizer, max_length=256, unit="sentence")
    assert [(c.start, c.end) for c in by_sentence] == [(s.start, s.end) for s in doc.sents]
    by_doc = make_chunks([doc], tokenizer, max_length=256, unit="doc")
    assert [(c.start, c.end) for c in by_doc] == [(0, len(doc))]
    with pytest.raises(BaselineError, match="unit: must be one of sentence, doc, got 'paragraph'"):
        make_chunks([doc], tokenizer, max_length=256, unit="paragraph")


@pytest.mark.parametrize("unit", ["sentence", "doc"])
@pytest.mark.parametrize("with_sents", [True, False])
def test_long_doc_chunks_keep_every_token_exactly_once(tokenizer, with_sents, unit):
    # 4 short sentences, one sentence longer than a whole chunk, then 4 more short ones
    long_sentence = " ".join(SENTENCES).replace(" .", "") + " ."
    doc = sentences_doc(SENTENCES + [long_sentence] + SENTENCES)
    if not with_sents:
        doc = Doc(doc.vocab, words=[t.text for t in doc])
    max_length = 24
    limit = budget(tokenizer, max_length)
    counts = count_pieces(tokenizer, [doc])[0]
    assert counts[doc[len(doc) - 30 :].start : len(doc)].sum() > limit
    chunks = make_chunks([doc, Doc(doc.vocab, words=[])], tokenizer, max_length, unit)
    assert len(chunks) > 3 and {c.doc for c in chunks} == {0}
    covered = [i for c in chunks for i in range(c.start, c.end)]
    assert covered == list(range(len(doc)))
    assert all(0 < c.n_pieces <= limit and c.n_pieces == counts[c.start : c.end].sum() for c in chunks)
    if with_sents:
        starts = {sent.start for sent in doc.sents}
        long_start = doc[sum(len(s.split()) for s in SENTENCES) :].start
        long_end = long_start + len(long_sentence.split())
        # chunks start at sentence starts, except inside the sentence that is too long
        assert all(c.start in starts or long_start < c.start < long_end for c in chunks)


def test_i_after_o_starts_an_entity():
    doc = Doc(spacy.blank("en").vocab, words="a b c d e f g".split())
    tags = ["I-PER", "O", "I-PER", "I-PER", "B-LOC", "I-ORG", "I-ORG"]
    spans = [(s.start, s.end, s.label_) for s in tags_to_spans(doc, tags)]
    assert spans == [(0, 1, "PER"), (2, 4, "PER"), (4, 5, "LOC"), (5, 7, "ORG")]


def test_score_docs_matches_gold_against_itself(tiny_corpus_dir):
    docs = read_docs(tiny_corpus_dir / "dev.spacy")
    scores = score_docs(docs, docs)
    assert scores["ents_f"] == 1.0 and set(scores["ents_per_type"]) == {"PER", "ORG", "LOC"}
    empty = [doc.copy() for doc in docs]
    for doc in empty:
        doc.set_ents([], default="outside")
    assert score_docs(empty, docs)["ents_r"] == 0.0


def test_training_writes_model_best_and_metrics(trained):
    output_dir, metrics = trained
    best = output_dir / "model-best"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "baseline.json"):
        assert (best / name).is_file(), name
    on_disk = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(metrics))
    assert METRICS_KEYS <= set(on_disk)
    assert on_disk["train"]["steps"] == STEPS and on_disk["train"]["stopped_by"] == "max_steps"
    assert on_disk["train"]["seconds"] > 0 and on_disk["train"]["words_per_second"] > 0
    assert on_disk["speed"] > 0 and on_disk["inference"]["batch_size"] == 32
    assert on_disk["peak_rss_mb"] > 0
    assert [entry["step"] for entry in on_disk["history"]] == [EVAL_EVERY, 2 * EVAL_EVERY]
    assert on_disk["best_step"] in (EVAL_EVERY, 2 * EVAL_EVERY)
    assert set(TrainOptions.__dataclass_fields__) <= set(on_disk["options"])
    labels = on_disk["labels"]
    assert labels[0] == "O" and labels[1:] == sorted(labels[1:]) and "B-PER" in labels
    assert json.loads((best / "config.json").read_text())["id2label"] == {str(i): tag for i, tag in enumerate(labels)}
    # Docs were cut: the tiny corpus' sentences do not fit in MAX_LENGTH wordpieces
    assert on_disk["train"]["chunks"] > on_disk["train"]["docs"]


def test_predict_docs_same_tokens_valid_ents(trained, tiny_corpus_dir):
    output_dir, metrics = trained
    docs = read_docs(tiny_corpus_dir / "dev.spacy")
    gold_ents = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
    docs.append(Doc(docs[0].vocab, words=["Alice", " ", MULTI_PIECE_WORD * 5, "."]))  # no piece; truncated
    predicted = predict_docs(output_dir / "model-best", docs)
    assert len(predicted) == len(docs)
    for pred, doc in zip(predicted, docs):
        assert pred is not doc and [t.text for t in pred] == [t.text for t in doc]
        end = 0
        for ent in pred.ents:
            assert end <= ent.start < ent.end <= len(pred) and ent.label_ in {"PER", "ORG", "LOC"}
            end = ent.end
    assert predicted[-1][1].ent_iob_ == "O"
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs[:-1]] == gold_ents  # inputs untouched
    # the checkpoint on disk reproduces the scores in metrics.json
    assert score_docs(predicted[:-1], docs[:-1])["ents_f"] == pytest.approx(metrics["ents_f"])


def test_max_minutes_stops_training(tiny_bert_dir, tiny_corpus_dir, tmp_path):
    options = TrainOptions(
        model=str(tiny_bert_dir), max_steps=1000, max_minutes=1e-6, eval_every=1000, batch_size=8, device="cpu"
    )
    metrics = train(
        tiny_corpus_dir / "train.spacy", tiny_corpus_dir / "dev.spacy", tmp_path, options, show_progress=False
    )
    assert metrics["train"]["steps"] == 1 and metrics["train"]["stopped_by"] == "max_minutes"
    assert (tmp_path / "model-best" / "config.json").is_file()


def linear_output_dtypes(model: torch.nn.Module) -> tuple[set, list]:
    """(the dtypes the model's Linear layers output, the hook handles) once forward hooks are in."""
    dtypes: set = set()
    handles = [
        module.register_forward_hook(lambda _m, _i, output: dtypes.add(output.dtype))
        for module in model.modules()
        if isinstance(module, torch.nn.Linear)
    ]
    return dtypes, handles


def train_briefly(model_dir: Path, corpus_dir: Path, output_dir: Path, bf16: bool) -> dict[str, Any]:
    options = TrainOptions(
        model=str(model_dir), max_steps=2, eval_every=2, batch_size=8, warmup_steps=1, device="cpu", bf16=bf16
    )
    return train(corpus_dir / "train.spacy", corpus_dir / "dev.spacy", output_dir, options, show_progress=False)


def test_bf16_trains_and_predicts_under_autocast(tiny_bert_dir, tiny_corpus_dir, tmp_path):
    fp32 = train_briefly(tiny_bert_dir, tiny_corpus_dir, tmp_path / "fp32", bf16=False)
    bf16 = train_briefly(tiny_bert_dir, tiny_corpus_dir, tmp_path / "bf16", bf16=True)
    # same seed and data: only the precision of the forward passes differs
    assert bf16["history"][0]["loss"] != fp32["history"][0]["loss"]
    assert bf16["history"][0]["loss"] == pytest.approx(fp32["history"][0]["loss"], rel=0.05)
    assert bf16["inference"]["bf16"] is True and fp32["inference"]["bf16"] is False
    # the setting travels with the checkpoint, so evaluating it runs in bfloat16 too
    model, tokenizer, settings = load_model(tmp_path / "bf16" / "model-best", "cpu")
    assert settings["bf16"] is True
    docs = read_docs(tiny_corpus_dir / "dev.spacy")
    for run_in_bf16, expected in ((True, torch.bfloat16), (False, torch.float32)):
        dtypes, handles = linear_output_dtypes(model)
        annotate_with(model, tokenizer, {**settings, "bf16": run_in_bf16}, docs)
        for handle in handles:
            handle.remove()
        assert dtypes == {expected}
    assert next(model.parameters()).dtype == torch.float32  # the weights stay float32


def test_evaluate_cli_writes_scores(trained, tiny_corpus_dir, tmp_path):
    output_dir, metrics = trained
    output = tmp_path / "scores" / "test.json"
    result = CliRunner().invoke(
        app, ["baseline", "evaluate", str(output_dir / "model-best"), str(tiny_corpus_dir / "dev.spacy"), str(output)]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(output.read_text(encoding="utf-8"))
    assert scores["ents_f"] == pytest.approx(metrics["ents_f"])
    assert scores["inference"]["words"] == sum(len(doc) for doc in read_docs(tiny_corpus_dir / "dev.spacy"))
    assert evaluate(output_dir / "model-best", tiny_corpus_dir / "dev.spacy")["ents_p"] == scores["ents_p"]


def test_cli_reports_a_missing_corpus(tiny_bert_dir, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "baseline",
            "train",
            str(tmp_path / "nope.spacy"),
            str(tmp_path / "dev.spacy"),
            str(tmp_path),
            "--model",
            str(tiny_bert_dir),
        ],
    )
    assert result.exit_code == 1
    assert "nope.spacy: corpus file not found" in " ".join(result.output.split())


def test_learns_the_tiny_corpus(tiny_bert_dir, tiny_corpus_dir, tmp_path):
    """The recipe really trains: a few dozen steps take the random tiny BERT to a good dev F."""
    options = TrainOptions(
        model=str(tiny_bert_dir),
        max_steps=60,
        eval_every=60,
        batch_size=8,
        learn_rate=2e-3,
        warmup_steps=5,
        device="cpu",
    )
    metrics = train(
        tiny_corpus_dir / "train.spacy", tiny_corpus_dir / "dev.spacy", tmp_path, options, show_progress=False
    )
    assert metrics["ents_f"] > 0.9, metrics["history"]
