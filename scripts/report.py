"""Evaluate a trained pipeline on a .spacy file: report.json, report.md, confusion.png, examples.html.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import report_cli

if __name__ == "__main__":
    typer.run(report_cli)
