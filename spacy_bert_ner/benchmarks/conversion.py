"""Time the converters on the real corpora against the classic pandas recipe.

In one process and one run, best of `--repeats` (time.perf_counter):
  (a) the pandas recipe on the Kaggle CSV: read_csv(latin1) + ffill + groupby-apply to a list
      of sentences of (word, POS, tag), no DocBin;
  (b) convert_kaggle of the same file to train/dev/test.spacy (+ stats.json) in a temp dir;
  (c) convert_conll of eng.train alone.
Prints a table with each step's time and convert_kaggle's ratio to the pandas recipe; nothing is
asserted. The real data is not part of the project: the
default paths are the project's asset paths (assets/kaggle, assets/conll2003).

spacy-bert-ner bench conversion --help
"""

import tempfile
from pathlib import Path

import typer
from wasabi import msg

from spacy_bert_ner.converters import convert_conll, convert_kaggle

from .common import CONLL_PATH, KAGGLE_PATH, Section, best_of, machine, run_and_show


def pandas_recipe(path: Path) -> list[list[tuple[str, str, str]]]:
    """The usual notebook recipe: sentences as lists of (word, POS, tag), nothing written."""
    import pandas as pd

    data = pd.read_csv(path, encoding="latin1").ffill()
    grouped = data.groupby("Sentence #").apply(
        lambda s: [
            (w, p, t) for w, p, t in zip(s["Word"].values.tolist(), s["POS"].values.tolist(), s["Tag"].values.tolist())
        ]
    )
    return list(grouped)


def convert_section(kaggle: Path = KAGGLE_PATH, conll: Path = CONLL_PATH, repeats: int = 3) -> Section:
    """Time the pandas recipe, convert_kaggle and convert_conll; one table row each."""
    import pandas  # imported before timing, like spaCy and the converters

    msg.info(f"Best of {repeats} run(s) each; Kaggle: {kaggle}; CoNLL: {conll}")
    with tempfile.TemporaryDirectory() as tmp:
        pd_best, pd_times, sentences = best_of(repeats, lambda: pandas_recipe(kaggle))
        kg_best, kg_times, kg_summary = best_of(repeats, lambda: convert_kaggle(kaggle, Path(tmp) / "kaggle"))
        co_best, co_times, co_summary = best_of(repeats, lambda: convert_conll({"train": conll}, Path(tmp) / "conll"))
    ratio = kg_best / pd_best
    kg_total, co_total = kg_summary["total"], co_summary["total"]
    header = ["step", "output", "best (s)", "runs (s)", "ours / pandas"]
    rows = [
        [
            "(a) pandas read_csv+ffill+groupby",
            f"{len(sentences):,} sentences (lists)",
            f"{pd_best:.2f}",
            _runs(pd_times),
            "1.00",
        ],
        [
            "(b) convert_kaggle",
            f"{kg_total['sentences']:,} sentences, {kg_total['docs']:,} Docs -> 3 DocBins",
            f"{kg_best:.2f}",
            _runs(kg_times),
            f"{ratio:.2f}",
        ],
        [
            f"(c) convert_conll {conll.name}",
            f"{co_total['sentences']:,} sentences, {co_total['docs']:,} Docs -> 1 DocBin",
            f"{co_best:.2f}",
            _runs(co_times),
            "",
        ],
    ]
    notes = [
        f"{machine()}, pandas {pandas.__version__}; Kaggle `{kaggle.name}`, CoNLL `{conll.name}`; "
        f"best of {repeats} run(s)."
    ]
    return Section("Conversion speed", header, rows, notes)


def main(
    kaggle: Path = typer.Option(KAGGLE_PATH, help="Kaggle NER CSV (.csv, .csv.gz or .zip)"),
    conll: Path = typer.Option(CONLL_PATH, help="CoNLL-2003 training file (eng.train)"),
    repeats: int = typer.Option(3, min=1, help="Runs of each step; the best time counts"),
    output: Path | None = typer.Option(None, help="Also write the table as Markdown to this file"),
) -> None:
    """Time convert_kaggle and convert_conll against the pandas recipe (prints; asserts nothing)."""
    missing = [str(path) for path in (kaggle, conll) if not path.is_file()]
    if missing:
        msg.fail(
            f"Input file(s) not found: {', '.join(missing)}",
            "The real corpora are not part of the project: place them at the default asset paths "
            "or pass --kaggle / --conll",
            exits=1,
        )
    run_and_show(lambda: convert_section(kaggle, conll, repeats), output)


def _runs(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)
