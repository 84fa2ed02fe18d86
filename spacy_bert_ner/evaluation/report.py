"""The evaluation report: load a pipeline (or a classic-recipe baseline folder) and a gold
DocBin, predict, score, write four files.

OUTPUT_DIR/report.json   every number (scores, token accuracies, confusion, seqeval, speed, model)
OUTPUT_DIR/report.md     the same for people, with how each number is computed
OUTPUT_DIR/confusion.png the confusion matrix of entity matches
OUTPUT_DIR/examples.html gold and predicted entities of the documents with the most errors
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .html import render_examples
from .metrics import SEQEVAL_TOLERANCE, Evaluation, evaluate_docs
from .plots import plot_confusion

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CONFUSION_PNG = "confusion.png"
EXAMPLES_HTML = "examples.html"


class ReportError(ValueError):
    """A user-facing failure: a missing or unreadable model or data file, data without entities."""


@dataclass
class ReportResult:
    report: Dict[str, Any]
    evaluation: Evaluation
    paths: Dict[str, Path]


def use_device(gpu_id: int) -> None:
    """Select the GPU before the model loads, so its weights go there (as `spacy evaluate --gpu-id`)."""
    if gpu_id < 0:
        return
    try:
        spacy.require_gpu(gpu_id)
    except ValueError as err:
        raise ReportError(f"Cannot use GPU {gpu_id}: {err}") from err


def load_pipeline(model: str) -> Language:
    """A pipeline folder or an installed pipeline package, as `spacy.load` takes it."""
    if not Path(model).exists() and not spacy.util.is_package(model):
        raise ReportError(f"Model not found: {model} is neither a folder nor an installed pipeline package")
    try:
        return spacy.load(model)
    except (OSError, ValueError, KeyError) as err:
        raise ReportError(f"Could not load the pipeline {model}: {err}") from err


def load_gold(path: Path, vocab: Vocab) -> List[Doc]:
    """The gold Docs of a .spacy file; they must carry entity annotation."""
    docs = read_docbin(path, vocab)
    if not docs:
        raise ReportError(f"{path} holds no documents")
    if not any(doc.has_annotation("ENT_IOB") for doc in docs):
        raise ReportError(f"{path} has no entity annotation (no token has an IOB tag); nothing to score against")
    if not any(doc.ents for doc in docs):
        raise ReportError(f"{path} has entity annotation but no gold entity; precision and recall are undefined")
    return docs


def read_docbin(path: Path, vocab: Vocab) -> List[Doc]:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"Data file not found: {path}")
    try:
        return list(DocBin().from_disk(path).get_docs(vocab))
    except Exception as err:  # zlib, msgpack and key errors alike: not a DocBin
        raise ReportError(f"Could not read {path} as a DocBin (.spacy) file: {err!r}") from err


def prediction_input(nlp: Language, gold: Doc) -> Doc:
    """An unannotated Doc of exactly the gold tokens, so predictions align 1:1 with the gold.

    The corpora keep gold tokenization; re-tokenizing the text could split or merge tokens.
    """
    return Doc(nlp.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])


def predict(nlp: Language, gold_docs: Sequence[Doc], batch_size: int) -> Tuple[List[Doc], float]:
    """Predicted Docs and the seconds the nlp.pipe pass took (Doc creation excluded)."""
    inputs = [prediction_input(nlp, doc) for doc in gold_docs]
    start = time.perf_counter()
    predicted = list(nlp.pipe(inputs, batch_size=batch_size))
    return predicted, time.perf_counter() - start


def model_info(nlp: Language, model: str) -> Dict[str, Any]:
    meta = nlp.meta
    info = {
        "path": str(model),
        "name": f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
        "version": meta.get("version"),
        "spacy_version": meta.get("spacy_version"),
        "pipeline": list(nlp.pipe_names),
        "labels": {name: list(getattr(pipe, "labels", [])) for name, pipe in nlp.pipeline},
    }
    config = nlp.config.interpolate()  # a saved config names the model as ${paths.transformer}
    transformer = config.get("components", {}).get("transformer", {}).get("model", {}).get("name")
    if transformer is not None:
        info["transformer"] = str(transformer)
    return info


def is_baseline_model(model: str) -> bool:
    """A folder saved by the classic-recipe baseline (`scripts/baseline.py train`)."""
    from ..baseline.predict import SETTINGS_FILE

    return (Path(model) / SETTINGS_FILE).is_file()


def predict_with_baseline(
    model: str, gold_docs: Sequence[Doc], batch_size: int, gpu_id: int
) -> Tuple[List[Doc], float, Dict[str, Any]]:
    """The baseline's predicted Docs on the gold tokens, the seconds they took (loading excluded,
    as in `predict`) and its model info."""
    from ..baseline.data import BaselineError
    from ..baseline.predict import annotate_with, load_model

    try:
        hf_model, tokenizer, settings = load_model(model, f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu")
    except (BaselineError, OSError, ValueError) as err:
        raise ReportError(f"Could not load the baseline model {model}: {err}") from err
    start = time.perf_counter()
    predicted = annotate_with(hf_model, tokenizer, settings, gold_docs, batch_size=batch_size)
    seconds = time.perf_counter() - start
    types = sorted({tag.split("-", 1)[1] for tag in settings.get("labels", []) if "-" in tag})
    info = {
        "path": str(model),
        "name": "classic recipe (AutoModelForTokenClassification)",
        "version": None,
        "spacy_version": None,
        "pipeline": ["AutoModelForTokenClassification"],
        "labels": {"token_classification": types},
        "transformer": settings.get("model"),
    }
    return predicted, seconds, info


def build_report(
    evaluation: Evaluation,
    model: Dict[str, Any],
    data_path: Path,
    gold_docs: Sequence[Doc],
    seconds: float,
    batch_size: int,
    gpu_id: int,
    examples: Dict[str, Any],
) -> Dict[str, Any]:
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
            "device": f"gpu:{gpu_id}" if gpu_id >= 0 else "cpu",
        },
        "examples": examples,
    }


def write_report(
    model: str,
    data_path: Path,
    output_dir: Path,
    n_examples: int = 20,
    batch_size: int = 32,
    gpu_id: int = -1,
) -> ReportResult:
    """Everything the `report` command does except printing."""
    data_path = Path(data_path)
    if not data_path.is_file():  # before the (slow) model load
        raise ReportError(f"Data file not found: {data_path}")
    if is_baseline_model(model):
        gold_docs = load_gold(data_path, Vocab())
        pred_docs, seconds, info = predict_with_baseline(model, gold_docs, batch_size, gpu_id)
    else:
        use_device(gpu_id)
        nlp = load_pipeline(model)
        gold_docs = load_gold(data_path, nlp.vocab)
        pred_docs, seconds = predict(nlp, gold_docs, batch_size)
        info = model_info(nlp, model)
    evaluation = evaluate_docs(gold_docs, pred_docs)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / name for name in (REPORT_JSON, REPORT_MD, CONFUSION_PNG, EXAMPLES_HTML)}
    html = render_examples(gold_docs, pred_docs, n_examples, title=f"{info['name']} on {data_path.name}")
    paths[EXAMPLES_HTML].write_text(html, encoding="utf-8")
    plot_confusion(evaluation.confusion, paths[CONFUSION_PNG], title=f"{info['name']} on {data_path.name}")
    examples = {
        "file": EXAMPLES_HTML,
        "selection": "most entity errors",
        "shown": min(max(n_examples, 0), len(gold_docs)),
    }
    report = build_report(evaluation, info, data_path, gold_docs, seconds, batch_size, gpu_id, examples)
    paths[REPORT_JSON].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[REPORT_MD].write_text(markdown_report(report), encoding="utf-8")
    return ReportResult(report, evaluation, paths)


def _num(value: Optional[float], digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def score_rows(report: Dict[str, Any]) -> List[List[Any]]:
    """The classification-report rows: one per type, then micro, macro and weighted averages."""
    entities = report["entities"]
    rows: List[List[Any]] = []
    named = [*entities["per_type"].items(), *((f"{k} avg", entities[k]) for k in ("micro", "macro", "weighted"))]
    for name, scores in named:
        rows.append([name, _num(scores["precision"]), _num(scores["recall"]), _num(scores["f1"]), scores["support"]])
    return rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(report: Dict[str, Any]) -> str:
    model, data, entities = report["model"], report["data"], report["entities"]
    tokens, seqeval, speed, matrix = report["tokens"], report["seqeval"], report["speed"], report["confusion"]
    n_types = len(entities["labels"])
    transformer = f", transformer `{model['transformer']}`" if "transformer" in model else ""
    score_table = _md_table(
        ["type", "precision", "recall", "f1", "support"], score_rows(report), ["---"] + ["---:"] * 4
    )
    confusion_rows = [[f"**{row}**", *counts] for row, counts in zip(matrix["rows"], matrix["counts"])]
    confusion_table = _md_table(
        ["gold \\ predicted", *matrix["columns"]], confusion_rows, ["---"] + ["---:"] * len(matrix["columns"])
    )
    verdict = "agree" if seqeval["agrees"] else f"**DISAGREE** (tolerance {SEQEVAL_TOLERANCE:g})"
    wps = speed["words_per_second"]
    unannotated = (
        f" {data['unannotated_tokens']} gold tokens have no entity annotation and count as O."
        if data["unannotated_tokens"]
        else ""
    )
    sections = [
        f"# NER evaluation: `{model['name']}` on `{Path(data['path']).name}`",
        f"- Model: `{model['path']}`: `{model['name']}` {model.get('version')}, pipeline "
        f"{' → '.join(model['pipeline'])}{transformer}, spaCy {model.get('spacy_version')}\n"
        f"- Data: `{data['path']}`: {data['docs']} documents, {data['tokens']} tokens, "
        f"{entities['gold']} gold entities, {entities['predicted']} predicted entities.{unannotated}\n"
        "- Prediction: the pipeline runs on Docs of exactly the gold tokens (same words and spaces, "
        "no re-tokenization), so every prediction aligns 1:1 with the gold.",
        "## Entities (strict span match)",
        "A predicted entity counts as correct only if its first token, last token and label all equal a gold "
        "entity's (no partial credit; a wrong boundary is one false positive and one false negative).",
        score_table,
        "- precision = correct / predicted, recall = correct / gold (support), F1 = their harmonic mean; "
        "0 where undefined.\n"
        "- **micro avg**: the same on the counts pooled over all types.\n"
        f"- **macro avg**: unweighted mean of the {n_types} per-type precisions, recalls and F1s (types in the "
        "gold or the predictions).\n"
        "- **weighted avg**: the per-type values averaged with the gold support as weights.",
        f'**seqeval cross-check** (seqeval `f1_score`/`classification_report`, mode="strict", scheme=IOB2, one '
        f"IOB2 sequence per document): micro F1 {seqeval['micro_f1']:.6f}, ours {seqeval['ours_micro_f1']:.6f}, "
        f"|difference| {seqeval['abs_difference']:.2g}: they {verdict}.",
        "## Tokens (IOB2 tags)",
        f"- **Token accuracy: {_num(tokens['accuracy'])}** ({tokens['correct']} of {tokens['tokens']} tokens): the "
        "share of all tokens whose predicted IOB2 tag (B-TYPE, I-TYPE or O, type included) equals the gold tag.\n"
        f"- **Entity-token accuracy: {_num(tokens['entity_accuracy'])}** ({tokens['entity_correct']} of "
        f"{tokens['entity_tokens']} tokens): the same comparison over only the tokens inside a gold entity or a "
        "predicted entity (tokens that are O in both are left out, so the O majority cannot inflate it).",
        "## Confusion of entity matches",
        f"![confusion matrix]({CONFUSION_PNG})",
        confusion_table,
        "Gold entities (rows) are paired with predicted entities (columns) of the same boundaries: the diagonal "
        "is correct, an off-diagonal cell is right boundaries with the wrong label. **missed**: a gold entity with "
        "no predicted entity of the same boundaries; **spurious**: a predicted entity with no gold entity of the "
        "same boundaries. A boundary error counts once as missed and once as spurious.",
        "## Speed",
        f"{speed['words']} words in {speed['seconds']:.3f} s = **{_num(wps, 0)} words/s** "
        f"(one `nlp.pipe` pass, batch size {speed['batch_size']}, {speed['device']}; includes the first batch's "
        "warm-up, excludes loading).",
        "## Examples",
        f"[{EXAMPLES_HTML}]({EXAMPLES_HTML}): gold above predicted for the {report['examples']['shown']} documents "
        "with the most entity errors (missed + spurious + wrong label; ties in corpus order). Green: the other side "
        "has the same entity; red with ✗: it does not.",
    ]
    return "\n\n".join(sections) + "\n"
