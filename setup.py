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
    entry_points={
        "console_scripts": ["spacy-bert-ner=spacy_bert_ner.cli:app"],
    },
)
