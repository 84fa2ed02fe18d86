"""From parsed sentences to spaCy DocBins, fast enough for a million tokens."""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH, SENT_START, TAG
from spacy.strings import get_string_id
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

STORED_ATTRS = ["ORTH", "TAG", "ENT_IOB", "ENT_TYPE", "SENT_START"]
IOB_CODES = {"B": 3, "I": 1, "O": 2}
NOT_SENT_START = numpy.uint64(2**64 - 1)  # SENT_START -1 as Doc.to_array stores it


@dataclass
class Sentence:
    """One sentence as read from a source file: words, POS tags (or None) and IOB2 entity tags."""

    words: list[str]
    tags: list[str] | None
    ents: list[str]
    line: int


Document = list[Sentence]


class DocBinBuilder:
    """Writes documents straight into a DocBin's token arrays.

    This is what `DocBin.add(Doc(words=..., tags=..., sent_starts=..., ents=...))` stores
    (tests check that the Docs read back are identical), without building Doc objects or
    looping over tokens for strings: a million-token corpus converts in about a second.
    Spaces are stored as unknown, so spaCy's Corpus keeps the gold tokenization.
    """

    def __init__(self) -> None:
        self.docbin = DocBin(attrs=STORED_ATTRS, store_user_data=False)
        self._columns = {attr: i for i, attr in enumerate(self.docbin.attrs)}
        self._ids = _Lookup(self._new_id)
        self._ids[""] = 0
        self._ent_iob = _Lookup(lambda iob_tag: IOB_CODES[iob_tag[0]])
        self._ent_type = _Lookup(lambda iob_tag: self._ids[iob_tag[2:]])
        self._no_spans = Doc(Vocab(), words=["-"]).spans.to_bytes()

    def add(self, document: Document) -> None:
        words = [word for sent in document for word in sent.words]
        column = self._columns
        array = numpy.zeros((len(words), len(column)), dtype="uint64")
        ids, ent_iob, ent_type = self._ids, self._ent_iob, self._ent_type
        array[:, column[ORTH]] = [ids[word] for word in words]
        if all(sent.tags is not None for sent in document):
            array[:, column[TAG]] = [ids[tag] for sent in document for tag in sent.tags]  # type: ignore[union-attr]
        ents = [tag for sent in document for tag in sent.ents]
        array[:, column[ENT_IOB]] = [ent_iob[tag] for tag in ents]
        array[:, column[ENT_TYPE]] = [ent_type[tag] for tag in ents]
        starts = numpy.cumsum([0] + [len(sent.words) for sent in document[:-1]])
        array[:, column[SENT_START]] = NOT_SENT_START
        array[starts, column[SENT_START]] = 1
        self.docbin.tokens.append(array)
        self.docbin.spaces.append(numpy.ones((len(words), 1), dtype=bool))
        self.docbin.flags.append({"has_unknown_spaces": True})
        self.docbin.cats.append({})
        self.docbin.span_groups.append(self._no_spans)

    def _new_id(self, string: str) -> int:
        self.docbin.strings.add(string)
        return get_string_id(string)


class _Lookup(dict[str, int]):
    """A cache that computes a missing value once, so hot loops pay one dict lookup a token."""

    def __init__(self, compute: Callable[[str], int]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: str) -> int:
        value = self[key] = self.compute(key)
        return value


@dataclass
class SplitStats:
    docs: int = 0
    sentences: int = 0
    tokens: int = 0
    entities: Counter = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.entities = Counter() if self.entities is None else self.entities

    def add(self, document: Document) -> None:
        self.docs += 1
        self.sentences += len(document)
        for sent in document:
            self.tokens += len(sent.words)
            for tag in sent.ents:
                if tag[0] == "B":
                    self.entities[tag[2:]] += 1

    def merge(self, other: "SplitStats") -> None:
        self.docs += other.docs
        self.sentences += other.sentences
        self.tokens += other.tokens
        self.entities.update(other.entities)

    def to_dict(self) -> dict:
        return {
            "docs": self.docs,
            "sentences": self.sentences,
            "tokens": self.tokens,
            "entities": sum(self.entities.values()),
            "entities_per_label": dict(sorted(self.entities.items())),
        }


def build_split(documents: Sequence[Document]) -> tuple[DocBin, SplitStats]:
    """The DocBin of one split and what went in."""
    builder = DocBinBuilder()
    stats = SplitStats()
    for document in documents:
        stats.add(document)
        builder.add(document)
    return builder.docbin, stats


def count_stored(docbin: DocBin) -> tuple[int, int]:
    """(sentences, tokens) as stored in the DocBin's arrays: counted apart from SplitStats, so
    that `read = written + rejected` checks what is written, not what was meant to be."""
    column = docbin.attrs.index(SENT_START)
    sentences = sum(int((array[:, column] == 1).sum()) for array in docbin.tokens)
    return sentences, sum(len(array) for array in docbin.tokens)


def write_split(documents: Sequence[Document], path: Path) -> SplitStats:
    """Write documents to one `.spacy` file and return what went in."""
    docbin, stats = build_split(documents)
    path.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(path)
    return stats
