"""The evaluation report: exact metrics on hand-made cases, seqeval agreement, the CLI end to end."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation import evaluate_docs
from spacy_bert_ner.evaluation.html import render_examples, select_examples
from spacy_bert_ner.evaluation.metrics import (
    MISSED,
    SPURIOUS,
    doc_spans,
    token_accuracy,
)
from spacy_bert_ner.evaluation.predictors import SpacyPredictor
from spacy_bert_ner.pipeline.decoding import doc_iob2_tags

ROOT = Path(__file__).resolve().parent.parent
ALIGNED_CPU_CFG = ROOT / "configs" / "aligned_cpu.cfg"

# (words, gold IOB2, predicted IOB2): one tricky case each.
CASES = {
    "type_mismatch": (
        ["Alice", "Smith", "joined", "Acme", "."],
        ["B-PER", "I-PER", "O", "B-ORG", "O"],
        ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ),
    "boundary_mismatch": (
        ["the", "United", "Nations", "met"],
        ["O", "B-ORG", "I-ORG", "O"],
        ["O", "O", "B-ORG", "O"],
    ),
    "adjacent_same_type": (
        ["Paris", "London", "trip"],
        ["B-LOC", "B-LOC", "O"],
        ["B-LOC", "I-LOC", "O"],
    ),
    "entity_at_end_correct": (
        ["met", "Marie", "Curie"],
        ["O", "B-PER", "I-PER"],
        ["O", "B-PER", "I-PER"],
    ),
    "entity_at_end_boundary": (
        ["in", "New", "York"],
        ["O", "B-LOC", "I-LOC"],
        ["O", "O", "B-LOC"],
    ),
    "spurious_only": (
        ["nothing", "here"],
        ["O", "O"],
        ["B-PER", "O"],
    ),
    "correct_at_start": (
        ["Tokyo", "is", "big"],
        ["B-LOC", "O", "O"],
        ["B-LOC", "O", "O"],
    ),
}


def make_docs(cases):
    vocab = spacy.blank("en").vocab
    gold = [Doc(vocab, words=words, ents=g) for words, g, _ in cases]
    pred = [Doc(vocab, words=words, ents=p) for words, _, p in cases]
    return gold, pred


def seqeval_gap(evaluation) -> float:
    """The largest difference between our numbers and seqeval's, over every type and average."""
    ours, theirs = evaluation, evaluation.seqeval
    assert set(ours.per_type) == set(theirs.per_type)
    pairs = [(ours.per_type[label], theirs.per_type[label]) for label in ours.per_type]
    pairs += [(ours.micro, theirs.micro), (ours.macro, theirs.macro), (ours.weighted, theirs.weighted)]
    gaps = [abs(ours.micro.f1 - theirs.micro_f1)]
    for a, b in pairs:
        assert a.support == b.support
        gaps += [abs(a.precision - b.precision), abs(a.recall - b.recall), abs(a.f1 - b.f1)]
    return max(gaps)


@pytest.fixture(scope="module")
def hand_made():
    return evaluate_docs(*make_docs(CASES.values()))


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory, tiny_bert_dir, tiny_corpus_dir) -> Path:
    """transformer + aligned_ner trained for 6 updates: some entities right, some wrong (a few seconds)."""
    out = tmp_path_factory.mktemp("report_model")
    overrides = {
        "paths.train": str(tiny_corpus_dir / "train.spacy"),
        "paths.dev": str(tiny_corpus_dir / "dev.spacy"),
        "paths.transformer": str(tiny_bert_dir),
        "training.max_steps": 6,
        "training.eval_frequency": 6,
        "training.accumulate_gradient": 1,
        "training.optimizer.learn_rate.initial_rate": 0.002,
        "training.optimizer.learn_rate.warmup_steps": 2,
        "training.optimizer.learn_rate.total_steps": 6,
        # the configs' 10x head learns the toy data perfectly in 6 updates: 1x leaves errors to score
        "components.aligned_ner.learn_rate_scale": 1.0,
    }
    train(ALIGNED_CPU_CFG, out, overrides=overrides, use_gpu=-1)
    return out / "model-last"


def test_spans_and_iob2_tags_keep_adjacent_entities_apart():
    words, gold, _ = CASES["adjacent_same_type"]
    doc = Doc(spacy.blank("en").vocab, words=words, ents=gold)
    assert doc_iob2_tags(doc) == ["B-LOC", "B-LOC", "O"]
    assert doc_spans(doc) == {(0, 1, "LOC"), (1, 2, "LOC")}
    words, gold, _ = CASES["entity_at_end_correct"]
    doc = Doc(spacy.blank("en").vocab, words=words, ents=gold)
    assert doc_spans(doc) == {(1, 3, "PER")}


def test_unannotated_tokens_are_outside():
    doc = Doc(spacy.blank("en").vocab, words=["no", "annotation"])
    assert doc_iob2_tags(doc) == ["O", "O"]


def test_entity_scores_per_type_exact(hand_made):
    counts = {label: (c.tp, c.fp, c.fn) for label, c in hand_made.counts.items()}
    assert counts == {"LOC": (1, 3, 3), "ORG": (0, 1, 2), "PER": (2, 1, 0)}
    per = hand_made.per_type
    assert (per["PER"].precision, per["PER"].recall, per["PER"].support) == (pytest.approx(2 / 3), 1.0, 2)
    assert per["PER"].f1 == pytest.approx(0.8)
    assert (per["ORG"].precision, per["ORG"].recall, per["ORG"].f1, per["ORG"].support) == (0.0, 0.0, 0.0, 2)
    assert (per["LOC"].precision, per["LOC"].recall, per["LOC"].f1) == (0.25, 0.25, 0.25)
    assert per["LOC"].support == 4


def test_micro_macro_and_weighted_averages(hand_made):
    micro, macro, weighted = hand_made.micro, hand_made.macro, hand_made.weighted
    # micro: pooled counts tp=3, fp=5, fn=5
    assert (micro.precision, micro.recall, micro.f1, micro.support) == (0.375, 0.375, 0.375, 8)
    # macro: unweighted mean of the three types' values; F1 is the mean of F1s
    assert macro.precision == pytest.approx((2 / 3 + 0 + 0.25) / 3)
    assert macro.recall == pytest.approx((1 + 0 + 0.25) / 3)
    assert macro.f1 == pytest.approx((0.8 + 0 + 0.25) / 3)
    # weighted by support (PER 2, ORG 2, LOC 4)
    assert weighted.precision == pytest.approx((2 * 2 / 3 + 4 * 0.25) / 8)
    assert weighted.f1 == pytest.approx((2 * 0.8 + 4 * 0.25) / 8)


def test_macro_is_not_micro_when_a_rare_type_fails():
    vocab = spacy.blank("en").vocab
    words = ["Paris", "Rome", "Oslo", "Acme"]
    gold = Doc(vocab, words=words, ents=["B-LOC", "B-LOC", "B-LOC", "B-ORG"])
    pred = Doc(vocab, words=words, ents=["B-LOC", "B-LOC", "B-LOC", "O"])
    evaluation = evaluate_docs([gold], [pred])
    assert evaluation.micro.precision == 1.0
    assert evaluation.micro.recall == 0.75
    assert evaluation.micro.f1 == pytest.approx(6 / 7)
    assert evaluation.macro.f1 == pytest.approx(0.5)  # (1.0 + 0.0) / 2
    assert seqeval_gap(evaluation) <= 1e-9


def test_confusion_counts_with_missed_and_spurious(hand_made):
    matrix = hand_made.confusion
    assert matrix.rows == ["LOC", "ORG", "PER", SPURIOUS]
    assert matrix.columns == ["LOC", "ORG", "PER", MISSED]
    assert matrix.counts == [
        [1, 0, 0, 3],  # LOC: Tokyo right; Paris, London, New York missed
        [1, 0, 0, 1],  # ORG: Acme labelled LOC; United Nations missed
        [0, 0, 2, 0],  # PER: both right
        [2, 1, 1, 0],  # spurious: Paris London, York; Nations; nothing
    ]
    assert matrix.cell("ORG", "LOC") == 1
    assert (matrix.missed, matrix.spurious, matrix.mislabelled, matrix.errors) == (4, 4, 1, 9)
    # The matrix and the P/R/F counts tell the same story.
    for i, label in enumerate(matrix.labels):
        counts = hand_made.counts[label]
        assert matrix.counts[i][i] == counts.tp
        assert sum(matrix.counts[i]) - counts.tp == counts.fn
        assert sum(row[i] for row in matrix.counts) - counts.tp == counts.fp


def test_token_accuracies(hand_made):
    tokens = hand_made.tokens
    # 23 tokens, 7 tags wrong: Acme, United, Nations, London, New, York, nothing
    assert (tokens.correct, tokens.tokens, tokens.accuracy) == (16, 23, 16 / 23)
    # 13 tokens inside a gold or predicted entity; right: Alice, Smith, Paris, Marie, Curie, Tokyo
    assert (tokens.entity_correct, tokens.entity_tokens, tokens.entity_accuracy) == (6, 13, 6 / 13)


def test_token_accuracy_counts_the_type_and_ignores_shared_outside():
    # Right boundaries, wrong type: every entity token is wrong.
    accuracy = token_accuracy([["O", "O", "O", "B-PER"]], [["O", "O", "O", "B-ORG"]])
    assert (accuracy.accuracy, accuracy.entity_accuracy) == (0.75, 0.0)
    # No entity on either side: plain accuracy 1, entity accuracy undefined.
    accuracy = token_accuracy([["O", "O"]], [["O", "O"]])
    assert (accuracy.accuracy, accuracy.entity_accuracy, accuracy.entity_tokens) == (1.0, None, 0)


@pytest.mark.parametrize("case", CASES)
def test_seqeval_agrees_on_each_tricky_case(case):
    evaluation = evaluate_docs(*make_docs([CASES[case]]))
    assert seqeval_gap(evaluation) <= 1e-9
    assert evaluation.agrees_with_seqeval


def test_seqeval_agrees_on_all_cases_together(hand_made):
    assert hand_made.seqeval.micro_f1 == pytest.approx(0.375, abs=1e-12)
    assert seqeval_gap(hand_made) <= 1e-9


def test_misaligned_documents_are_rejected():
    vocab = spacy.blank("en").vocab
    with pytest.raises(ValueError, match="differ"):
        evaluate_docs([Doc(vocab, words=["a", "b"])], [Doc(vocab, words=["a", "c"])])
    with pytest.raises(ValueError, match="1 gold documents but 0 predicted"):
        evaluate_docs([Doc(vocab, words=["a"])], [])


def test_spacy_predictor_keeps_gold_tokens_and_spaces(tiny_pipeline):
    predictor = SpacyPredictor(str(tiny_pipeline))
    gold = Doc(predictor.vocab, words=["We", "can't", "(", "Acme", ")"], spaces=[True, True, False, False, False])
    [doc] = predictor.predict([gold], batch_size=4)
    assert [t.text for t in doc] == [t.text for t in gold]
    assert doc.text == gold.text == "We can't (Acme)"
    assert len(predictor.nlp.make_doc(gold.text)) != len(gold)  # re-tokenizing would not align


def test_seqeval_agrees_on_model_output(tiny_pipeline, tiny_corpus_dir):
    predictor = SpacyPredictor(str(tiny_pipeline))
    nlp = predictor.nlp
    gold = list(DocBin().from_disk(tiny_corpus_dir / "dev.spacy").get_docs(nlp.vocab))
    pred = predictor.predict(gold, batch_size=4)
    evaluation = evaluate_docs(gold, pred)
    # Imperfect but not empty predictions, so the agreement means something.
    assert sum(c.predicted for c in evaluation.counts.values()) > 0
    assert 0.0 < evaluation.micro.f1 < 1.0
    assert seqeval_gap(evaluation) <= 1e-9
    # spaCy's own scorer sees the same entities.
    examples = [Example(p, g) for p, g in zip(pred, gold)]
    spacy_scores = Scorer.score_spans(examples, "ents")
    assert spacy_scores["ents_f"] == pytest.approx(evaluation.micro.f1, abs=1e-9)


def test_select_examples_most_errors_first():
    assert select_examples([0, 3, 1, 3], 3) == [1, 3, 2]
    assert select_examples([2], 5) == [0]
    assert select_examples([2, 1], 0) == []


def test_examples_html_marks_errors_on_both_sides():
    gold, pred = make_docs([CASES["correct_at_start"], CASES["type_mismatch"], CASES["boundary_mismatch"]])
    page = render_examples(gold, pred, n=2)
    assert page.count("<section>") == 2
    # Boundary error: missed + spurious = 2 errors; right boundaries, wrong label: 1 error.
    assert page.index("Document 3 of 3: 2 error(s)") < page.index("Document 2 of 3: 1 error(s)")
    assert "Document 1 of 3" not in page  # no errors
    assert "ORG ✗ predicted LOC" in page and "LOC ✗ gold ORG" in page
    assert "ORG ✗ missed" in page and "ORG ✗ spurious" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_report_cli_writes_all_files(tiny_pipeline, tiny_corpus_dir, tmp_path):
    out = tmp_path / "report"
    data = tiny_corpus_dir / "dev.spacy"
    # All 10 dev documents, so predicted marks are there whichever documents have the most errors.
    result = CliRunner().invoke(app, ["report", str(tiny_pipeline), str(data), str(out), "--n-examples", "10"])
    assert result.exit_code == 0, result.output
    assert "micro avg" in result.output and "macro avg" in result.output
    for name in ("report.json", "report.md", "confusion.png", "examples.html", "errors.jsonl"):
        assert (out / name).is_file(), name
        assert str(out / name) in result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["seqeval"]["agrees"]
    assert report["seqeval"]["micro_f1"] == pytest.approx(report["entities"]["micro"]["f1"], abs=1e-9)
    assert set(report["entities"]["per_type"]) <= {"PER", "ORG", "LOC"}
    assert report["confusion"]["rows"][-1] == SPURIOUS and report["confusion"]["columns"][-1] == MISSED
    assert report["tokens"]["tokens"] == report["data"]["tokens"] == report["speed"]["words"]
    assert report["speed"]["words_per_second"] > 0 and report["speed"]["batch_size"] == 32
    assert report["model"]["pipeline"] == ["transformer", "aligned_ner", "doc_cleaner"]

    markdown = (out / "report.md").read_text(encoding="utf-8")
    for text in ("| micro avg |", "| macro avg |", "Token accuracy", "Entity-token accuracy", "confusion.png"):
        assert text in markdown
    assert "## Errors the gold disputes" in markdown

    # errors.jsonl: one line per span error = each off-diagonal cell of the confusion (missed, spurious, mislabelled)
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    matrix = report["confusion"]
    off_diagonal = sum(
        n
        for row, counts in zip(matrix["rows"], matrix["counts"])
        for col, n in zip(matrix["columns"], counts)
        if row != col
    )
    assert len(errors) == off_diagonal
    assert len(errors) == report["gold_consistency"]["errors"] > 0
    assert {"text", "gold", "predicted", "elsewhere", "sentence", "disputed"} <= set(errors[0])
    assert all(e["gold"] != e["predicted"] for e in errors)

    png = (out / "confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000

    page = (out / "examples.html").read_text(encoding="utf-8")
    assert page.count("<section>") == 10
    gold_parts = [chunk.split('<div class="predicted">')[0] for chunk in page.split('<div class="gold">')[1:]]
    pred_parts = [chunk.split('<div class="gold">')[0] for chunk in page.split('<div class="predicted">')[1:]]
    assert len(gold_parts) == len(pred_parts) == 10
    assert any("<mark" in part for part in gold_parts)
    assert any("<mark" in part for part in pred_parts)
    assert "✗" in page  # the documents shown are those with errors


def _blank_model(path: Path) -> Path:
    spacy.blank("en").to_disk(path)
    return path


def _unannotated_data(path: Path) -> Path:
    DocBin(docs=[Doc(spacy.blank("en").vocab, words=["no", "entities", "here"])]).to_disk(path)
    return path


def _garbage_data(path: Path) -> Path:
    path.write_bytes(b"not a docbin")
    return path


@pytest.mark.parametrize(
    "make_model, make_data, message",
    [
        (lambda p: p / "missing-model", lambda p: _unannotated_data(p / "data.spacy"), "Model not found"),
        (lambda p: _blank_model(p / "model"), lambda p: p / "missing.spacy", "Data file not found"),
        (lambda p: _blank_model(p / "model"), lambda p: _unannotated_data(p / "data.spacy"), "no entity annotation"),
        (lambda p: _blank_model(p / "model"), lambda p: _garbage_data(p / "data.spacy"), "as a DocBin"),
    ],
    ids=["missing-model", "missing-data", "no-entities", "not-a-docbin"],
)
def test_report_cli_fails_clearly(tmp_path, make_model, make_data, message):
    model, data = make_model(tmp_path), make_data(tmp_path)
    result = CliRunner().invoke(app, ["report", str(model), str(data), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())  # wasabi wraps long messages
    assert not (tmp_path / "out").exists()


def test_report_command_exits_1_on_missing_model(tmp_path):
    data = _unannotated_data(tmp_path / "data.spacy")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), str(data), str(tmp_path)])
    assert result.exit_code == 1
    assert "Model not found" in result.output


def test_report_scores_a_baseline_folder_like_its_own_scorer(tiny_bert_dir, tiny_corpus_dir, tmp_path):
    """The classic-recipe baseline goes through the same report code as the spaCy pipelines, and
    the report's strict entity scores equal the baseline's own (spaCy scorer) evaluation."""
    from spacy_bert_ner.baseline import TrainOptions, evaluate, train

    options = TrainOptions(
        model=str(tiny_bert_dir),
        max_steps=30,
        eval_every=30,
        batch_size=8,
        learn_rate=2e-3,
        warmup_steps=3,
        device="cpu",
    )
    train(
        tiny_corpus_dir / "train.spacy",
        tiny_corpus_dir / "dev.spacy",
        tmp_path / "baseline",
        options,
        show_progress=False,
    )
    model, data, out = tmp_path / "baseline" / "model-best", tiny_corpus_dir / "dev.spacy", tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(model), str(data), str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    own = evaluate(model, data)
    assert report["entities"]["micro"]["f1"] == pytest.approx(own["ents_f"], abs=1e-9)
    assert report["entities"]["micro"]["f1"] > 0  # it learned something, so the comparison is not 0 == 0
    assert report["seqeval"]["agrees"]
    assert report["model"]["pipeline"] == ["AutoModelForTokenClassification"]
    assert report["model"]["transformer"] == str(tiny_bert_dir)
    assert (out / "confusion.png").is_file() and (out / "examples.html").is_file()


def test_report_without_the_evaluation_extra_says_which_to_install(tmp_path, monkeypatch):
    """Checked before the model is loaded or anything predicted."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "seqeval" else find_spec(name, *a)
    )
    data = _unannotated_data(tmp_path / "data.spacy")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), str(data), str(tmp_path / "out")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "The report needs seqeval" in output and "pip install -e '.[evaluation]'" in output
    assert "Model not found" not in output


def test_spacy_predictor_passes_the_gold_sentence_starts(tiny_pipeline):
    predictor = SpacyPredictor(str(tiny_pipeline))
    gold = Doc(predictor.vocab, words=["Bob", "left", ".", "Ann", "stayed", "."], sent_starts=[1, 0, 0, 1, 0, 0])
    [doc] = predictor.predict([gold], batch_size=4)
    assert [sent.start for sent in doc.sents] == [0, 3]
    [plain] = predictor.predict([Doc(predictor.vocab, words=["Bob", "left", "."])], batch_size=4)
    assert not plain.has_annotation("SENT_START") or [s.start for s in plain.sents] == [0]


def test_bootstrap_intervals_hold_the_score_and_are_seeded():
    from spacy_bert_ner.evaluation.metrics import bootstrap_f1, evaluate

    gold = [{(0, 1, "PER"), (3, 4, "LOC")}, {(0, 2, "ORG")}, {(1, 2, "PER")}, {(2, 3, "LOC")}] * 5
    pred = [{(0, 1, "PER")}, {(0, 2, "ORG"), (3, 4, "LOC")}, {(1, 2, "PER")}, {(2, 3, "ORG")}] * 5
    boot = bootstrap_f1(gold, pred, samples=500, seed=0)
    assert boot == bootstrap_f1(gold, pred, samples=500, seed=0)
    evaluation = evaluate(gold, pred, [["O"]] * len(gold), [["O"]] * len(gold))
    low, high = boot["micro"]
    assert low < evaluation.micro.f1 < high
    for label, (low, high) in boot["per_type"].items():
        assert 0.0 <= low <= evaluation.per_type[label].f1 <= high <= 1.0
    assert bootstrap_f1(gold, gold, samples=50)["micro"] == [1.0, 1.0]


def test_report_has_bootstrap_intervals(tiny_pipeline, tiny_corpus_dir, tmp_path):
    result = CliRunner().invoke(app, ["report", str(tiny_pipeline), str(tiny_corpus_dir / "dev.spacy"), str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    low, high = report["bootstrap"]["micro"]
    assert low <= report["entities"]["micro"]["f1"] <= high
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "95% bootstrap intervals of F1" in markdown
    micro = report["entities"]["micro"]
    assert f"| micro avg | {micro['f1']:.4f} | {low:.4f} - {high:.4f} | {micro['support']} |" in markdown
