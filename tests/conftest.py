"""Shared fixtures: a tiny offline BERT and a tiny NER corpus, built once per session."""

import json
import os
import re
import subprocess
import sys

# Tests never reach the Hugging Face hub; set before transformers is imported,
# and inherited by any `python -m spacy ...` subprocess.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from itertools import cycle, islice
from pathlib import Path

import pytest
import spacy
from spacy import util
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Adam

from spacy_bert_ner.encoders import make_tiny_bert, make_tiny_mpnet

ALIGNED_CPU_CFG = Path(__file__).resolve().parent.parent / "configs" / "aligned_cpu.cfg"
# three sentences the aligned pipeline overfits in a few seconds (trained_pipeline_dir)
OVERFIT_DATA = [
    ("Alice Smith works for Google in Paris .", [(0, 11, "PER"), (22, 28, "ORG"), (32, 37, "LOC")]),
    ("Bob flew from London to Tokyo on Monday .", [(0, 3, "PER"), (14, 20, "LOC"), (24, 29, "LOC")]),
    ("Nothing much happened in the village today .", []),
]

PEOPLE = ["Alice Smith", "Bob", "Marie Curie", "Ahmed Khan", "Li Wei", "Zoë Brown"]
ORGS = ["Acme Corp", "Google", "the United Nations", "Siemens", "Red Cross"]
PLACES = ["Paris", "London", "New York", "Nairobi", "Zürich", "Tokyo", "São Paulo"]
# Each template alternates plain text and (label, pool) slots.
TEMPLATES = [
    [("PER", PEOPLE), "works for", ("ORG", ORGS), "in", ("LOC", PLACES), "."],
    [("PER", PEOPLE), "flew from", ("LOC", PLACES), "to", ("LOC", PLACES), "on Monday ."],
    ["Yesterday ,", ("ORG", ORGS), "opened an office in", ("LOC", PLACES), "."],
    ["A spokesperson for", ("ORG", ORGS), "said", ("PER", PEOPLE), "would visit paris soon ."],
    ["Nothing much happened in the village today ."],
]


def make_sentences(n: int = 40) -> list[tuple[list[str], list[str]]]:
    """Deterministic toy NER sentences as (words, IOB2 tags)."""
    sentences = []
    for i, template in enumerate(islice(cycle(TEMPLATES), n)):
        words: list[str] = []
        tags: list[str] = []
        for j, part in enumerate(template):
            if isinstance(part, str):
                tokens = part.split()
                words += tokens
                tags += ["O"] * len(tokens)
            else:
                label, pool = part
                tokens = pool[(i + 3 * j) % len(pool)].split()
                words += tokens
                tags += [f"B-{label}"] + [f"I-{label}"] * (len(tokens) - 1)
        sentences.append((words, tags))
    return sentences


def read_shards(output: Path) -> list[dict]:
    """Every JSONL line `annotate` wrote for `output` (its numbered shards), in order."""
    rows = []
    for path in sorted(output.parent.glob(f"{output.stem}-[0-9][0-9][0-9][0-9][0-9].jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


# a figure in a benchmark table: 1,234 or 0.56 or 1.9x
NUMBER = re.compile(r"^[\d,]+(\.\d+)?x?$")


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """{section title: rows of cells} of a Markdown file written by the suite."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            tables[title] = []
        elif line.startswith("|") and title is not None and not set(line) <= set("|-: "):
            tables[title].append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


def column(rows: list[list[str]], name: str) -> list[str]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


# the longest files, longest first: pytest-xdist (pytest.ini, in collection order) starts the two
# workflow files on the two workers at once and hands out the short files last, to whichever is free
LONGEST_FIRST = ["test_project.py", "test_project_real_data.py", "test_annotate_ray.py", "test_processes.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def tiny_text_file(tmp_path_factory) -> Path:
    """Plain text, one sentence per line, to train the tiny BERT vocab on."""
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("".join(" ".join(words) + "\n" for words, _ in make_sentences()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tiny_text_file) -> Path:
    """A tiny random cased BERT folder loadable with AutoModel/AutoTokenizer offline."""
    return make_tiny_bert([tiny_text_file], tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_uncased_bert_dir(tmp_path_factory, tiny_text_file) -> Path:
    """The same tiny BERT, uncased (its tokenizer lowercases, like MiniLM's)."""
    return make_tiny_bert([tiny_text_file], tmp_path_factory.mktemp("models") / "tiny-bert-uncased", lowercase=True)


@pytest.fixture(scope="session")
def tiny_mpnet_dir(tmp_path_factory, tiny_text_file) -> Path:
    """A tiny random uncased MPNet (all-mpnet-base-v2's architecture and `<s>`/`</s>` specials)."""
    return make_tiny_mpnet([tiny_text_file], tmp_path_factory.mktemp("models") / "tiny-mpnet")


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory) -> Path:
    """A folder holding train.spacy and dev.spacy with PER/ORG/LOC entities."""
    vocab = spacy.blank("en").vocab
    sentences = make_sentences()
    splits = {"train": sentences[:30], "dev": sentences[30:]}
    corpus_dir = tmp_path_factory.mktemp("corpus")
    for split, items in splits.items():
        docs = [Doc(vocab, words=words, ents=tags) for words, tags in items]
        DocBin(docs=docs).to_disk(corpus_dir / f"{split}.spacy")
    return corpus_dir


def overfit_pipeline(transformer_dir: Path, output_dir: Path, steps: int = 40) -> Path:
    """configs/aligned_cpu.cfg on `transformer_dir`, overfitted on OVERFIT_DATA (spaCy's
    test_overfitting_IO pattern), saved to `output_dir`."""
    config = util.load_config(ALIGNED_CPU_CFG, overrides={"paths.transformer": str(transformer_dir)}, interpolate=True)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    util.fix_random_seed(0)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in OVERFIT_DATA]
    nlp.initialize(get_examples=lambda: examples)
    optimizer = Adam(1e-3)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(output_dir)
    return output_dir


@pytest.fixture(scope="session")
def trained_pipeline_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    """configs/aligned_cpu.cfg on the tiny BERT, overfitted on three sentences, saved."""
    return overfit_pipeline(tiny_bert_dir, tmp_path_factory.mktemp("pipeline"))


# every function the package metadata registers, looked up by the tests that own it
ENTRY_POINT_LOOKUPS = [
    ("architectures", "spacy_bert_ner.WordpieceListener.v1"),
    ("architectures", "spacy_bert_ner.TransformerModel.v1"),
    ("span_getters", "spacy_bert_ner.sentence_spans.v1"),
    ("readers", "spacy_bert_ner.ChunkedCorpus.v1"),
    ("loggers", "spacy_bert_ner.CheckpointLogger.v1"),
    ("callbacks", "spacy_bert_ner.malloc_thresholds.v1"),
    ("callbacks", "spacy_bert_ner.malloc_trim.v1"),
]
# one fresh interpreter that has not imported spacy_bert_ner: first the factory through
# `nlp.add_pipe`, then each function from the entry points alone (catalogue's get_entry_point reads
# the package metadata, never what an import has registered) and as `registry.get` finds it
LOOKUP_SCRIPT = """
import json, sys, spacy, spacy_transformers
assert "spacy_bert_ner" not in sys.modules
nlp = spacy.blank("en")
nlp.add_pipe("aligned_ner")
found = {"factory": type(nlp.get_pipe("aligned_ner")).__module__}
for registry_name, name in json.loads(sys.argv[1]):
    registry = getattr(spacy.util.registry, registry_name)
    function = registry.get_entry_point(name)
    assert function is not None and registry.get(name) is function, (registry_name, name)
    found[registry_name + ":" + name] = function.__name__
print(json.dumps(found))
"""


@pytest.fixture(scope="session")
def entry_point_lookups() -> dict[str, str]:
    """What a fresh interpreter finds through the package metadata: the aligned_ner factory's
    module under "factory", and the __name__ of each ENTRY_POINT_LOOKUPS function under
    "registry:name"."""
    args = [sys.executable, "-c", LOOKUP_SCRIPT, json.dumps(ENTRY_POINT_LOOKUPS)]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def found_through_entry_points(entry_point_lookups):
    """The __name__ of what `spacy.util.registry.<registry>.get(name)` finds in a fresh
    interpreter that has not imported spacy_bert_ner: registered through the package metadata."""

    def lookup(registry_name: str, name: str) -> str:
        assert (registry_name, name) in ENTRY_POINT_LOOKUPS, "add it to conftest.ENTRY_POINT_LOOKUPS"
        return entry_point_lookups[f"{registry_name}:{name}"]

    return lookup
