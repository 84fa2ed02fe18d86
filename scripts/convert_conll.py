"""Convert CoNLL-2003-style column files (one per split) to DocBins.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner. See `--help`.
"""

import typer

from spacy_bert_ner.cli import convert_conll_cli

if __name__ == "__main__":
    typer.run(convert_conll_cli)
