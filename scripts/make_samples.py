"""Write the synthetic sample data (Kaggle CSV and CoNLL files) the embedded default runs on.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import make_samples_cli

if __name__ == "__main__":
    typer.run(make_samples_cli)
