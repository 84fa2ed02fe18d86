"""Convert the Kaggle "Annotated Corpus for NER" CSV to a seeded train/dev/test split.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import convert_kaggle_cli

if __name__ == "__main__":
    typer.run(convert_kaggle_cli)
