"""Generate a tiny, randomly initialised, cased BERT offline (for smoke runs and tests).

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import make_tiny_bert_cli

if __name__ == "__main__":
    typer.run(make_tiny_bert_cli)
