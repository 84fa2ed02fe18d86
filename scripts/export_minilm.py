"""Make the PyPI-shipped all-MiniLM-L6-v2 a local model folder, so no hub is needed.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import export_minilm_cli

if __name__ == "__main__":
    typer.run(export_minilm_cli)
