"""Train and score the classic Hugging Face token-classification baseline on .spacy corpora.

Thin wrapper for project.yml; the logic lives in spacy_bert_ner.baseline. See `--help`.
"""

from spacy_bert_ner.baseline.cli import app

if __name__ == "__main__":
    app()
