"""Synthetic sample data in both source formats, written by the project itself.

The embedded default trains on these files, so a fresh clone runs end to end without the real
corpora. Sentences come from hand-written templates and entity lists (none of it taken from
the real data), seeded so every run writes the same bytes. The files carry the real formats'
quirks: the Kaggle CSV is cp1252 with CRLF and sentence ids on first rows only, in IOB2; the
CoNLL files use IOB1 and both `-DOCSTART-` forms seen in the wild.
"""

import csv
import random
from dataclasses import dataclass
from pathlib import Path

# (entity text, POS of each token); types are mapped per format below
ENTITIES: dict[str, list[str]] = {
    "per": [
        "Angela Merkel",
        "John Smith",
        "Maria Garcia",
        "Kofi Annan",
        "Wen Jiabao",
        "Hugo Chavez",
        "Tony Blair",
        "Ana Lopez",
        "Peter Novak",
        "Yuki Tanaka",
        "Omar Haddad",
        "Lena Berg",
        "Carlos Mendes",
        "Ivan Petrov",
        "Fatima Diallo",
        "George Miller",
        "Sofia Rossi",
    ],
    "org": [
        "United Nations",
        "European Union",
        "Reuters",
        "World Bank",
        "NATO",
        "Red Cross",
        "Siemens",
        "Toyota Motor",
        "Bank of England",
        "Interpol",
        "Greenpeace",
        "Ajax Amsterdam",
        "Federal Reserve",
        "Mercy Corps",
        "Daily Planet",
    ],
    "geo": [
        "London",
        "Paris",
        "Baghdad",
        "Nairobi",
        "Lake Victoria",
        "Berlin",
        "Caracas",
        "Tokyo",
        "New York",
        "Rio de Janeiro",
        "the Alps",
        "Cairo",
        "Sydney",
        "Lisbon",
        "Kyoto",
        "Oslo",
    ],
    "gpe": [
        "British",
        "French",
        "Iraqi",
        "Kenyan",
        "German",
        "Venezuelan",
        "Japanese",
        "Chinese",
        "Brazilian",
        "Egyptian",
        "Norwegian",
        "Portuguese",
    ],
    "tim": ["Monday", "Tuesday", "Friday", "2005", "March", "last year", "Sunday", "June", "1998", "Thursday"],
}
# GMB-style types to CoNLL types (tim is not a CoNLL type: those tokens are O there)
CONLL_TYPES = {"per": "PER", "org": "ORG", "geo": "LOC", "gpe": "MISC"}
TEMPLATES = [
    "{per} met officials from the {org} in {geo} on {tim} .",
    "{gpe} troops arrived in {geo} after {per} spoke to reporters .",
    "The {org} said {per} will visit {geo} in {tim} .",
    "Police in {geo} arrested two men on {tim} , officials said .",
    "{per} , a spokesman for the {org} , denied the report .",
    "{gpe} officials say talks with the {org} will resume in {geo} .",
    "Protesters marched through {geo} to demand the release of {per} .",
    "{per} told the {org} that {gpe} forces had left {geo} .",
    "Shares in {org} rose sharply on {tim} .",
    "The meeting in {geo} was the first since {tim} .",
    "{per} and {per} signed the agreement in {geo} .",
    "Heavy rain flooded parts of {geo} and {geo} on {tim} .",
    "The {gpe} government has rejected the plan .",
    "{per} won the race in {geo} ahead of {per} .",
    "It was not clear when the talks would end .",
]
POS = {
    "the": "DT",
    "a": "DT",
    "two": "CD",
    "in": "IN",
    "on": "IN",
    "from": "IN",
    "after": "IN",
    "to": "TO",
    "of": "IN",
    "for": "IN",
    "through": "IN",
    "with": "IN",
    "since": "IN",
    "ahead": "RB",
    "that": "IN",
    "when": "WRB",
    "and": "CC",
    ",": ",",
    ".": ".",
    "said": "VBD",
    "spoke": "VBD",
    "met": "VBD",
    "arrived": "VBD",
    "will": "MD",
    "would": "MD",
    "visit": "VB",
    "arrested": "VBD",
    "denied": "VBD",
    "say": "VBP",
    "resume": "VB",
    "marched": "VBD",
    "demand": "VB",
    "told": "VBD",
    "had": "VBD",
    "left": "VBN",
    "rose": "VBD",
    "was": "VBD",
    "signed": "VBD",
    "flooded": "VBD",
    "has": "VBZ",
    "rejected": "VBN",
    "won": "VBD",
    "end": "VB",
    "it": "PRP",
    "not": "RB",
    "clear": "JJ",
    "first": "JJ",
    "sharply": "RB",
    "heavy": "JJ",
    "first-ever": "JJ",
    "men": "NNS",
    "officials": "NNS",
    "reporters": "NNS",
    "troops": "NNS",
    "forces": "NNS",
    "shares": "NNS",
    "parts": "NNS",
    "talks": "NNS",
    "protesters": "NNS",
}


@dataclass
class SampleSentence:
    tokens: list[tuple[str, str, str]]  # (word, POS, GMB type or "")


def make_sentences(n: int, seed: int) -> list[SampleSentence]:
    """`n` sentences from the templates, entity slots filled at random (seeded)."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        tokens: list[tuple[str, str, str]] = []
        for word in rng.choice(TEMPLATES).split():
            if word.startswith("{"):
                kind = word.strip("{}")
                for piece in rng.choice(ENTITIES[kind]).split():
                    tokens.append((piece, "CD" if piece.isdigit() else "NNP", kind))
            else:
                tokens.append((word, POS.get(word.lower(), "NN"), ""))
        sentences.append(SampleSentence(tokens))
    return sentences


def _iob2(types: list[str]) -> list[str]:
    return [("I-" if i and types[i - 1] == t else "B-") + t if t else "O" for i, t in enumerate(types)]


def _iob1(types: list[str]) -> list[str]:
    # each slot is one entity; IOB1 writes B- only where an entity follows one of the same type
    return [f"I-{t}" if t else "O" for t in types]


def write_kaggle_sample(path: Path, sentences: list[SampleSentence]) -> None:
    """The Kaggle layout: cp1252, CRLF, `Sentence: N` only on a sentence's first row, IOB2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="cp1252", newline="") as file_:
        writer = csv.writer(file_, lineterminator="\r\n")
        writer.writerow(["Sentence #", "Word", "POS", "Tag"])
        for number, sent in enumerate(sentences, start=1):
            tags = _iob2([t for _, _, t in sent.tokens])
            for i, ((word, pos, _), tag) in enumerate(zip(sent.tokens, tags)):
                writer.writerow([f"Sentence: {number}" if i == 0 else "", _cp1252_flavour(word), pos, tag])


def _cp1252_flavour(word: str) -> str:
    # a few words with bytes that are not valid UTF-8, like the real file's `Korea\x92s`
    return {"Lopez": "L\u00f3pez", "Rio": "R\u00edo", "Chavez": "Ch\u00e1vez"}.get(word, word)


def write_conll_sample(path: Path, sentences: list[SampleSentence], docstart: str, sents_per_doc: int) -> None:
    """CoNLL-2003 columns `word POS chunk NER`, IOB1, documents of `sents_per_doc` sentences."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for i, sent in enumerate(sentences):
        if i % sents_per_doc == 0:
            lines += [docstart, ""]
        types = [CONLL_TYPES.get(t, "") for _, _, t in sent.tokens]
        for (word, pos, _), tag in zip(sent.tokens, _iob1(types)):
            chunk = "I-NP" if pos.startswith("NN") else "O"
            lines.append(f"{word} {pos} {chunk} {tag}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_samples(output_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write every sample file the embedded default needs; returns their paths by role."""
    output_dir = Path(output_dir)
    paths = {
        "kaggle_csv": output_dir / "kaggle_sample.csv",
        "conll_train": output_dir / "conll_sample.train",
        "conll_dev": output_dir / "conll_sample.testa",
        "conll_test": output_dir / "conll_sample.testb",
        "text": output_dir / "sample_text.txt",
    }
    kaggle = make_sentences(600, seed)
    write_kaggle_sample(paths["kaggle_csv"], kaggle)
    conll = {
        split: make_sentences(n, seed + k)
        for k, (split, n) in enumerate([("train", 400), ("dev", 80), ("test", 80)], 1)
    }
    write_conll_sample(paths["conll_train"], conll["train"], "-DOCSTART- -X- O O", sents_per_doc=8)
    write_conll_sample(paths["conll_dev"], conll["dev"], "-DOCSTART- -X- -X- O", sents_per_doc=8)
    write_conll_sample(paths["conll_test"], conll["test"], "-DOCSTART- -X- -X- O", sents_per_doc=8)
    every = kaggle + conll["train"] + conll["dev"] + conll["test"]
    text = "\n".join(" ".join(word for word, _, _ in sent.tokens) for sent in every)
    paths["text"].write_text(text + "\n", encoding="utf-8")
    return paths
