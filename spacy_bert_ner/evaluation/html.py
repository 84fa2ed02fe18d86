"""examples.html: gold above predicted, per document, with displaCy; errors in red.

Documents are the N with the most entity errors (missed + spurious + wrong label,
ties in corpus order), not the first N: those are the ones worth reading.
Every entity is green when the other side has the same boundaries and label and
red with a "✗ ..." note otherwise. An error the gold itself disputes (the same words carry
the predicted label elsewhere in the gold, see gold_consistency.py) adds "gold elsewhere: ...".
The page is self-contained (inline styles only).
"""

from collections.abc import Sequence
from html import escape
from typing import Any

from spacy import displacy
from spacy.tokens import Doc

from .gold_consistency import SpanError
from .metrics import EntSpan, confusion, doc_spans

CORRECT_COLOR = "#b7eb8f"
ERROR_COLOR = "#ff9c9c"
ERROR_MARK = "✗"

STYLE = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; }
section { border-top: 1px solid #ccc; padding: 0.5em 0 1em; }
h2 { font-size: 1.1em; margin: 0.6em 0 0.2em; }
h3 { font-size: 0.9em; margin: 0.6em 0 0; color: #555; text-transform: uppercase; letter-spacing: 0.05em; }
.legend mark { padding: 0.2em 0.4em; border-radius: 0.3em; }
"""


def select_examples(errors: Sequence[int], n: int) -> list[int]:
    """Indices of the n documents with the most errors, most first, ties in corpus order."""
    ranked = sorted(range(len(errors)), key=lambda i: (-errors[i], i))
    return ranked[: max(n, 0)]


def ent_markup(
    doc: Doc, spans: set[EntSpan], other: set[EntSpan], gold_side: bool, notes: dict[tuple[int, int], str] | None = None
) -> dict[str, Any]:
    """displaCy's manual format for one side, each entity marked against the other side's entities;
    `notes` adds a text to the errors of the given (start, end) bounds."""
    notes = notes or {}
    other_by_bounds = {(start, end): label for start, end, label in other}
    ents = []
    for start, end, label in sorted(spans):
        match = other_by_bounds.get((start, end))
        if match == label:
            shown = label
        elif match is not None:
            shown = f"{label} {ERROR_MARK} {'predicted' if gold_side else 'gold'} {match}"
        else:
            shown = f"{label} {ERROR_MARK} {'missed' if gold_side else 'spurious'}"
        if shown != label and (start, end) in notes:
            shown += f" · {notes[(start, end)]}"
        span = doc[start:end]
        ents.append({"start": span.start_char, "end": span.end_char, "label": escape(shown)})
    return {"text": doc.text, "ents": ents, "title": None}


def render_pair(gold: Doc, pred: Doc, notes: dict[tuple[int, int], str] | None = None) -> str:
    """Two displaCy renderings of one text: gold entities, then predicted ones."""
    gold_spans, pred_spans = doc_spans(gold), doc_spans(pred)
    # Character offsets come from the predicted Doc for both sides: the tokens are
    # the same, and this Doc's text is the one the model saw.
    parts = {
        "gold": ent_markup(pred, gold_spans, pred_spans, gold_side=True, notes=notes),
        "predicted": ent_markup(pred, pred_spans, gold_spans, gold_side=False, notes=notes),
    }
    html = []
    for side, markup in parts.items():
        colors = {ent["label"]: ERROR_COLOR if ERROR_MARK in ent["label"] else CORRECT_COLOR for ent in markup["ents"]}
        rendered = displacy.render(
            markup, style="ent", manual=True, page=False, jupyter=False, options={"colors": colors}
        )
        html.append(f'<h3>{side}</h3>\n<div class="{side}">{rendered}</div>')
    return "\n".join(html)


def disputed_notes(errors: Sequence[SpanError]) -> dict[int, dict[tuple[int, int], str]]:
    """Per document, "gold elsewhere: ..." for each error the rest of the gold disputes."""
    notes: dict[int, dict[tuple[int, int], str]] = {}
    for error in errors:
        if error.disputed:
            counts = ", ".join(f"{n} {label}" for label, n in error.elsewhere.items())
            notes.setdefault(error.doc, {})[(error.start, error.end)] = f"gold elsewhere: {counts}"
    return notes


def render_examples(
    gold_docs: Sequence[Doc],
    pred_docs: Sequence[Doc],
    n: int,
    title: str = "NER examples",
    errors: Sequence[SpanError] = (),
) -> str:
    """The whole page: a legend, then one section per selected document."""
    notes = disputed_notes(errors)
    per_doc = [confusion([doc_spans(g)], [doc_spans(p)]) for g, p in zip(gold_docs, pred_docs)]
    chosen = select_examples([matrix.errors for matrix in per_doc], n)
    sections = []
    for i in chosen:
        matrix = per_doc[i]
        header = (
            f"Document {i + 1} of {len(gold_docs)}: {matrix.errors} error(s): {matrix.missed} missed, "
            f"{matrix.spurious} spurious, {matrix.mislabelled} wrong label"
        )
        sections.append(
            f"<section>\n<h2>{escape(header)}</h2>\n{render_pair(gold_docs[i], pred_docs[i], notes.get(i))}\n</section>"
        )
    legend = (
        f'<p class="legend"><mark style="background: {CORRECT_COLOR}">LABEL</mark> the other side has an entity '
        f'with the same boundaries and label; <mark style="background: {ERROR_COLOR}">LABEL {ERROR_MARK} ...</mark> '
        "it does not: missed (gold only), spurious (predicted only), or the other side's label for the same "
        "boundaries. A boundary error shows as missed above and spurious below. <i>gold elsewhere: 3 gpe, 1 geo</i> "
        "on an error: the same words are labelled so at their other places in the gold, and at least as often as "
        "the model's answer as the gold's answer here (questionable gold, worth a look).</p>"
    )
    intro = (
        f"<p>The {len(chosen)} of {len(gold_docs)} documents with the most entity errors "
        "(missed + spurious + wrong label), most first; ties in corpus order.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{intro}\n{legend}\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
