"""The evaluation report: a predictor (see predictors.py) runs on the tokens of a gold DocBin, and
the predictions are scored and written to four files.

OUTPUT_DIR/report.json   every number (scores, token accuracies, confusion, seqeval, speed, model)
OUTPUT_DIR/report.md     the same for people, with how each number is computed
OUTPUT_DIR/confusion.png the confusion matrix of entity matches
OUTPUT_DIR/examples.html gold and predicted entities of the documents with the most errors
OUTPUT_DIR/errors.jsonl  every entity error, its sentence, and how the gold labels the same words
                         elsewhere (gold_consistency.py): one JSON object a line, to review or sample
"""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .gold_consistency import span_errors, summarize
from .html import render_examples
from .metrics import SEQEVAL_TOLERANCE, Evaluation, bootstrap_f1, doc_spans, evaluate_docs
from .plots import plot_confusion
from .predictors import Predictor, ReportError
from .raw_text import score_raw_text

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CONFUSION_PNG = "confusion.png"
EXAMPLES_HTML = "examples.html"
ERRORS_JSONL = "errors.jsonl"


@dataclass
class ReportResult:
    report: dict[str, Any]
    evaluation: Evaluation
    paths: dict[str, Path]


def load_gold(path: Path, vocab: Vocab) -> list[Doc]:
    """The gold Docs of a .spacy file; they must carry entity annotation."""
    docs = read_docbin(path, vocab)
    if not docs:
        raise ReportError(f"{path} holds no documents")
    if not any(doc.has_annotation("ENT_IOB") for doc in docs):
        raise ReportError(f"{path} has no entity annotation (no token has an IOB tag); nothing to score against")
    if not any(doc.ents for doc in docs):
        raise ReportError(f"{path} has entity annotation but no gold entity; precision and recall are undefined")
    return docs


def read_docbin(path: Path, vocab: Vocab) -> list[Doc]:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"Data file not found: {path}")
    try:
        return list(DocBin().from_disk(path).get_docs(vocab))
    except Exception as err:  # zlib, msgpack and key errors alike: not a DocBin
        raise ReportError(f"Could not read {path} as a DocBin (.spacy) file: {err!r}") from err


def build_report(
    evaluation: Evaluation,
    model: dict[str, Any],
    data_path: Path,
    gold_docs: Sequence[Doc],
    seconds: float,
    batch_size: int,
    examples: dict[str, Any],
) -> dict[str, Any]:
    words = sum(len(doc) for doc in gold_docs)
    unannotated = sum(1 for doc in gold_docs for token in doc if token.ent_iob == 0)
    return {
        "model": model,
        "data": {"path": str(data_path), "docs": len(gold_docs), "tokens": words, "unannotated_tokens": unannotated},
        **evaluation.to_dict(),
        "speed": {
            "words": words,
            "seconds": seconds,
            "words_per_second": words / seconds if seconds > 0 else None,
            "batch_size": batch_size,
            "device": model.get("device", "cpu"),
        },
        "examples": examples,
    }


def write_report(
    predictor: Predictor,
    data_path: Path,
    output_dir: Path,
    n_examples: int = 20,
    batch_size: int = 32,
    raw_text: bool = False,
) -> ReportResult:
    """Everything the `report` command does except printing: predict on the gold tokens (timed),
    score, write the four files; with `raw_text`, also score `nlp(text)` by character offsets."""
    gold_docs = load_gold(Path(data_path), predictor.vocab)
    start = time.perf_counter()
    pred_docs = predictor.predict(gold_docs, batch_size)
    seconds = time.perf_counter() - start
    info = predictor.info
    evaluation = evaluate_docs(gold_docs, pred_docs)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / name for name in (REPORT_JSON, REPORT_MD, CONFUSION_PNG, EXAMPLES_HTML, ERRORS_JSONL)}
    errors = span_errors(gold_docs, pred_docs)
    with paths[ERRORS_JSONL].open("w", encoding="utf-8") as file:
        for error in errors:
            file.write(json.dumps(error.to_dict(), ensure_ascii=False) + "\n")
    html = render_examples(gold_docs, pred_docs, n_examples, title=f"{info['name']} on {data_path.name}", errors=errors)
    paths[EXAMPLES_HTML].write_text(html, encoding="utf-8")
    plot_confusion(evaluation.confusion, paths[CONFUSION_PNG], title=f"{info['name']} on {data_path.name}")
    examples = {
        "file": EXAMPLES_HTML,
        "selection": "most entity errors",
        "shown": min(max(n_examples, 0), len(gold_docs)),
    }
    report = build_report(evaluation, info, Path(data_path), gold_docs, seconds, batch_size, examples)
    report["gold_consistency"] = {"file": ERRORS_JSONL, **summarize(errors)}
    report["bootstrap"] = bootstrap_f1([doc_spans(d) for d in gold_docs], [doc_spans(d) for d in pred_docs])
    if raw_text:
        report["raw_text"] = raw_text_report(predictor, gold_docs, batch_size, evaluation)
    paths[REPORT_JSON].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[REPORT_MD].write_text(markdown_report(report), encoding="utf-8")
    return ReportResult(report, evaluation, paths)


def raw_text_report(
    predictor: Predictor, gold_docs: Sequence[Doc], batch_size: int, evaluation: Evaluation
) -> dict[str, Any]:
    """Scores on the documents as plain text, beside the gold-token micro F1."""
    predict_texts = getattr(predictor, "predict_texts", None)
    if predict_texts is None:
        raise ReportError(f"{predictor.info['name']}: raw-text scoring needs a spaCy pipeline (it runs nlp(text))")
    scores, _ = score_raw_text(gold_docs, lambda texts: predict_texts(texts, batch_size))
    gold_tokens = evaluation.micro.f1
    return {**scores, "gold_tokens_micro_f1": gold_tokens, "difference": scores["micro"]["f1"] - gold_tokens}


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def score_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The classification-report rows: one per type, then micro, macro and weighted averages."""
    entities = report["entities"]
    rows: list[list[Any]] = []
    named = [*entities["per_type"].items(), *((f"{k} avg", entities[k]) for k in ("micro", "macro", "weighted"))]
    for name, scores in named:
        rows.append([name, _num(scores["precision"]), _num(scores["recall"]), _num(scores["f1"]), scores["support"]])
    return rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """report.md: every section of the report, with how each number is computed."""
    sections = [
        *_md_header(report),
        *_md_entities(report),
        *_md_tokens(report),
        *_md_confusion(report),
        *_md_gold_consistency(report),
        *_md_raw_text(report),
        *_md_speed_and_examples(report),
    ]
    return "\n\n".join(sections) + "\n"


def _md_gold_consistency(report: dict[str, Any]) -> list[str]:
    consistency = report.get("gold_consistency")
    if consistency is None:
        return []
    pairs = list(consistency["disputed_by_pair"].items())[:10]
    table = _md_table(["gold → predicted", "disputed errors"], pairs, ["---", "---:"]) if pairs else ""
    return [
        "## Errors the gold disputes",
        f"Of {consistency['errors']} span errors (a boundary error counts on both sides), **{consistency['disputed']} "
        f"({consistency['disputed_share']:.1%})** are on words that the gold labels as the model did at other places "
        "in this file, at least as often as it labels them as here (e.g. `U.S.` gpe here, geo at two other places): "
        "questionable gold rather than clear model errors. Boundary errors (an entity of the other side overlapping "
        "the span) are never counted: they are the model's. They are marked *gold elsewhere: ...* in "
        f"[{EXAMPLES_HTML}]({EXAMPLES_HTML}); [{consistency['file']}]({consistency['file']}) lists every error with "
        "its sentence and those counts, to sample and check by hand.",
        table,
    ]


def _md_raw_text(report: dict[str, Any]) -> list[str]:
    raw = report.get("raw_text")
    if raw is None:
        return []
    rows = [
        [label, _num(v["precision"]), _num(v["recall"]), _num(v["f1"]), v["support"]]
        for label, v in [*raw["per_type"].items(), ("micro avg", raw["micro"])]
    ]
    return [
        "## Raw text (`nlp(text)`)",
        "Each document written as plain text (sentences on their own lines, tokens joined by their whitespace) and run "
        "through the whole pipeline, its own tokenizer included; entities match when their character offsets "
        f"and label equal a gold entity's. Micro F1 {_num(raw['micro']['f1'])} against "
        f"{_num(raw['gold_tokens_micro_f1'])} on the gold tokens ({raw['difference']:+.4f}).",
        _md_table(["type", "precision", "recall", "f1", "support"], rows, ["---"] + ["---:"] * 4),
    ]


def _md_header(report: dict[str, Any]) -> list[str]:
    model, data, entities = report["model"], report["data"], report["entities"]
    transformer = f", transformer `{model['transformer']}`" if "transformer" in model else ""
    unannotated = (
        f" {data['unannotated_tokens']} gold tokens have no entity annotation and count as O."
        if data["unannotated_tokens"]
        else ""
    )
    return [
        f"# NER evaluation: `{model['name']}` on `{Path(data['path']).name}`",
        f"- Model: `{model['path']}`: `{model['name']}` {model.get('version')}, pipeline "
        f"{' → '.join(model['pipeline'])}{transformer}, spaCy {model.get('spacy_version')}\n"
        f"- Data: `{data['path']}`: {data['docs']} documents, {data['tokens']} tokens, "
        f"{entities['gold']} gold entities, {entities['predicted']} predicted entities.{unannotated}\n"
        "- Prediction: the pipeline runs on Docs of exactly the gold tokens (same words, spaces and sentence starts, "
        "no re-tokenization), so every prediction aligns 1:1 with the gold.",
    ]


def _md_entities(report: dict[str, Any]) -> list[str]:
    entities, seqeval = report["entities"], report["seqeval"]
    score_table = _md_table(
        ["type", "precision", "recall", "f1", "support"], score_rows(report), ["---"] + ["---:"] * 4
    )
    verdict = "agree" if seqeval["agrees"] else f"**DISAGREE** (tolerance {SEQEVAL_TOLERANCE:g})"
    boot = report.get("bootstrap")
    intervals = []
    if boot is not None:
        scores = {**entities["per_type"], "micro avg": entities["micro"]}
        rows = [
            [label, _num(scores[label]["f1"]), f"{lo:.4f} - {hi:.4f}", scores[label]["support"]]
            for label, (lo, hi) in [*boot["per_type"].items(), ("micro avg", boot["micro"])]
        ]
        intervals = [
            f"**95% bootstrap intervals of F1** ({boot['samples']} resamples of the documents, seed {boot['seed']}): "
            "a gain smaller than an interval is hard to tell from the draw of documents.",
            _md_table(["type", "F1", "95% interval", "support"], rows, ["---", "---:", "---:", "---:"]),
        ]
    return [
        "## Entities (strict span match)",
        "A predicted entity counts as correct only if its first token, last token and label all equal a gold "
        "entity's (no partial credit; a wrong boundary is one false positive and one false negative).",
        score_table,
        "- precision = correct / predicted, recall = correct / gold (support), F1 = their harmonic mean; "
        "0 where undefined.\n"
        "- **micro avg**: the same on the counts pooled over all types.\n"
        f"- **macro avg**: unweighted mean of the {len(entities['labels'])} per-type precisions, recalls and F1s "
        "(types in the gold or the predictions).\n"
        "- **weighted avg**: the per-type values averaged with the gold support as weights.",
        f'**seqeval cross-check** (seqeval `f1_score`/`classification_report`, mode="strict", scheme=IOB2, one '
        f"IOB2 sequence per document): micro F1 {seqeval['micro_f1']:.6f}, ours {seqeval['ours_micro_f1']:.6f}, "
        f"|difference| {seqeval['abs_difference']:.2g}: they {verdict}.",
        *intervals,
    ]


def _md_tokens(report: dict[str, Any]) -> list[str]:
    tokens = report["tokens"]
    return [
        "## Tokens (IOB2 tags)",
        f"- **Token accuracy: {_num(tokens['accuracy'])}** ({tokens['correct']} of {tokens['tokens']} tokens): the "
        "share of all tokens whose predicted IOB2 tag (B-TYPE, I-TYPE or O, type included) equals the gold tag. "
        "One tag a word, so this is the token accuracy of first-subword token classifiers (a word's label read off "
        "its first wordpiece), computed over every word.\n"
        f"- **Entity-token accuracy: {_num(tokens['entity_accuracy'])}** ({tokens['entity_correct']} of "
        f"{tokens['entity_tokens']} tokens): the same comparison over only the tokens inside a gold entity or a "
        "predicted entity (tokens that are O in both are left out, so the O majority cannot inflate it).",
    ]


def _md_confusion(report: dict[str, Any]) -> list[str]:
    matrix = report["confusion"]
    confusion_rows = [[f"**{row}**", *counts] for row, counts in zip(matrix["rows"], matrix["counts"])]
    confusion_table = _md_table(
        ["gold \\ predicted", *matrix["columns"]], confusion_rows, ["---"] + ["---:"] * len(matrix["columns"])
    )
    return [
        "## Confusion of entity matches",
        f"![confusion matrix]({CONFUSION_PNG})",
        confusion_table,
        "Gold entities (rows) are paired with predicted entities (columns) of the same boundaries: the diagonal "
        "is correct, an off-diagonal cell is right boundaries with the wrong label. **missed**: a gold entity with "
        "no predicted entity of the same boundaries; **spurious**: a predicted entity with no gold entity of the "
        "same boundaries. A boundary error counts once as missed and once as spurious.",
    ]


def _md_speed_and_examples(report: dict[str, Any]) -> list[str]:
    speed = report["speed"]
    return [
        "## Speed",
        f"{speed['words']} words in {speed['seconds']:.3f} s = **{_num(speed['words_per_second'], 0)} words/s** "
        f"(one prediction pass, batch size {speed['batch_size']}, {speed['device']}; includes the first batch's "
        "warm-up, excludes loading).",
        "## Examples",
        f"[{EXAMPLES_HTML}]({EXAMPLES_HTML}): gold above predicted for the {report['examples']['shown']} documents "
        "with the most entity errors (missed + spurious + wrong label; ties in corpus order). Green: the other side "
        "has the same entity; red with ✗: it does not.",
    ]
