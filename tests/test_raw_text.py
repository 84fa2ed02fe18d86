"""Scoring on raw text (spacy_bert_ner/evaluation/raw_text.py, `report --raw-text`): documents
written back as text with exact gold character offsets; matching by offsets and label."""

import json

import spacy
from spacy.tokens import Doc, Span
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation.raw_text import document_text, gold_char_spans, score_raw_text


def gold_doc() -> Doc:
    nlp = spacy.blank("en")
    words = ["Jean-Luc", "Picard", "visited", "Paris", ".", "He", "left", "."]
    doc = Doc(
        nlp.vocab,
        words=words,
        spaces=[True, True, True, False, False, True, False, False],
        sent_starts=[True, False, False, False, False, True, False, False],
    )
    doc.ents = [Span(doc, 0, 2, "PER"), Span(doc, 3, 4, "LOC")]
    return doc


def test_document_text_puts_sentences_on_lines_and_keeps_offsets():
    doc = gold_doc()
    text, offsets = document_text(doc)
    assert text == "Jean-Luc Picard visited Paris.\nHe left."
    assert [text[o : o + len(t)] for o, t in zip(offsets, doc)] == [t.text for t in doc]
    spans = gold_char_spans(doc, offsets)
    assert {(text[s:e], label) for s, e, label in spans} == {("Jean-Luc Picard", "PER"), ("Paris", "LOC")}


def test_offsets_and_labels_must_match_exactly():
    doc = gold_doc()
    nlp = spacy.blank("en")

    def predict(texts):
        predicted = [nlp.make_doc(text) for text in texts]
        tokens = {t.text: t.i for t in predicted[0]}
        # spaCy splits "Jean-Luc" into three tokens: an entity on "Luc Picard" misses the gold one
        predicted[0].ents = [
            Span(predicted[0], tokens["Luc"], tokens["Luc"] + 2, "PER"),
            Span(predicted[0], tokens["Paris"], tokens["Paris"] + 1, "LOC"),
        ]
        return predicted

    scores, texts = score_raw_text([doc], predict)
    assert texts == ["Jean-Luc Picard visited Paris.\nHe left."]
    assert scores["per_type"]["LOC"]["f1"] == 1.0
    assert scores["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["micro"]["precision"] == scores["micro"]["recall"] == 0.5


def test_report_raw_text_mode(trained_pipeline_dir, tmp_path):
    from conftest import OVERFIT_DATA
    from spacy.tokens import DocBin

    nlp = spacy.load(trained_pipeline_dir)
    docs = []
    for text, ents in OVERFIT_DATA:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        docs.append(doc)
    data = tmp_path / "gold.spacy"
    DocBin(docs=docs).to_disk(data)
    result = CliRunner().invoke(
        app, ["report", str(trained_pipeline_dir), str(data), str(tmp_path / "r"), "--raw-text"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    raw = report["raw_text"]
    assert raw["gold_tokens_micro_f1"] == report["entities"]["micro"]["f1"]
    assert raw["micro"]["f1"] == 1.0  # one sentence a document, tokens as spaCy splits them: the same entities
    assert "## Raw text" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "Raw text (nlp(text), character offsets)" in " ".join(result.output.split())
