from setuptools import find_packages, setup

setup(
    name="spacy-bert-ner",
    version="0.1.0",
    description="BERT-quality NER for spaCy: converters, transformer configs and a packaged pipeline",
    packages=find_packages(include=["spacy_bert_ner", "spacy_bert_ner.*"]),
    package_data={"spacy_bert_ner": ["resources/*.txt"]},
    python_requires=">=3.9",
    install_requires=[
        "spacy>=3.8.0,<3.9.0",
        "spacy-transformers>=1.4.0,<1.5.0",
        "typer>=0.9",
        "wasabi>=1.1",
        "tqdm>=4.60",
    ],
    # the evaluation report's plots and its seqeval cross-check; imported only by `report`
    extras_require={"evaluation": ["matplotlib>=3.7", "seqeval>=1.2.2"]},
    entry_points={
        "console_scripts": ["spacy-bert-ner=spacy_bert_ner.cli:app"],
        # spaCy finds the component and its model pieces through these: pipelines that use
        # them train (`spacy train` without --code), package and load with no extra imports.
        "spacy_factories": ["aligned_ner = spacy_bert_ner.components.aligned_ner:make_aligned_ner"],
        "spacy_architectures": [
            "spacy_bert_ner.TokenClassifier.v1 = spacy_bert_ner.components.aligned_ner:build_token_classifier",
            "spacy_bert_ner.WordpieceListener.v1 = spacy_bert_ner.layers.wordpiece_pooling:wordpiece_listener",
            "spacy_bert_ner.WordpiecePooler.v1 = spacy_bert_ner.layers.wordpiece_pooling:wordpiece_pooler",
            "spacy_bert_ner.TransformerModel.v1 = "
            "spacy_bert_ner.layers.length_buckets:transformer_model_in_length_buckets",
        ],
        "spacy_readers": ["spacy_bert_ner.ChunkedCorpus.v1 = spacy_bert_ner.readers:create_chunked_corpus"],
        "spacy_callbacks": [
            "spacy_bert_ner.malloc_thresholds.v1 = spacy_bert_ner.memory:make_malloc_thresholds",
            "spacy_bert_ner.malloc_trim.v1 = spacy_bert_ner.memory:make_malloc_trim",
        ],
        "spacy_scorers": [
            "spacy_bert_ner.aligned_ner_scorer.v1 = spacy_bert_ner.components.aligned_ner:make_aligned_ner_scorer",
        ],
    },
)
