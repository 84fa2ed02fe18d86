"""The runtime side: everything a trained pipeline imports, and nothing else.

- aligned_ner.py        the `aligned_ner` component, its TokenClassifier architecture and scorer
- wordpiece_pooling.py  WordpieceListener: token vectors from the transformer's alignment
- decoding.py, crf.py   constrained Viterbi over IOB tags; learned transitions (CRF loss)
- transformer.py        TransformerModel.v1: spacy-transformers' model in length buckets
  (length_buckets.py), optionally in CPU bfloat16 (cpu_bfloat16.py)
- corpus.py, chunking.py  ChunkedCorpus.v1: the training reader that cuts long Docs
- memory.py             training callbacks that keep glibc malloc's resident memory flat

spaCy finds these through the package's entry points (pyproject.toml). The modules are flat and
import each other relatively, and depend only on spaCy, spacy-transformers, transformers, torch
and numpy: `spacy-bert-ner package` copies them into the model wheel as spaCy's `package --code`
does, so a packaged pipeline needs nothing else from this repository. Nothing is imported here,
so that tooling reading a constant (e.g. decoding.OUTSIDE) does not load torch.
"""
