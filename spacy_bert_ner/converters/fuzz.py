"""A mutation fuzzer over both readers, the gzip, bzip2, xz and zip layers included.

A case is a small valid Kaggle CSV or CoNLL file (made up here), edited at the bytes (flips,
inserts of quotes, line breaks, control characters, BOMs ...), maybe compressed, maybe then
damaged, and saved under a name whose suffix may or may not match. Reading it must end in
sentences that keep the converters' invariants, or in a ConversionError; anything else is an
"untyped" exception, the kind of failure issue 14 is about. The test suite draws cases with
hypothesis for a few seconds; `scripts/fuzz_converters.py` draws them at random for minutes.
"""

import bz2
import gzip
import io
import lzma
import random
import shutil
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .conll import read_conll
from .convert import convert_conll, convert_kaggle
from .docs import Sentence
from .errors import ConversionError
from .kaggle import read_kaggle
from .output import check_corpus
from .repairs import ConversionReport
from .source import CONTROL

KAGGLE_SAMPLE = (
    "Sentence #,Word,POS,Tag\r\n"
    "Sentence: 1,Ana,NNP,B-per\r\n,Lopez,NNP,I-per\r\n,visited,VBD,O\r\n,Z\u00fcrich,NNP,B-geo\r\n"
    ',"""",`,O\r\n,"10,000",CD,O\r\n,.,.,O\r\n'
    "Sentence: 2,Acme,NNP,B-org\r\n,Corp,NNP,I-org\r\n,hired,VBD,O\r\n,caf\u00e9,NN,O\r\n"
    "Sentence: 3,Rain,NN,O\r\n,\u201cfell\u201d,VBD,O\r\n,.,.,O\r\n"
)
CONLL_SAMPLE = (
    "-DOCSTART- -X- O O\n\n"
    "Maria NNP I-NP I-PER\nLopez NNP I-NP I-PER\nmet VBD I-VP O\nin IN I-PP O\nZ\u00fcrich NNP I-NP I-LOC\n. . O O\n\n"
    "Berlin NNP I-NP I-LOC\nLondon NNP I-NP B-LOC\nflights NNS I-NP O\n. . O O\n\n"
    "-DOCSTART- -X- -X- O\n\n"
    "German JJ I-NP I-MISC\ntroops NNS I-NP O\n. . O O\n"
)
SAMPLES = {"kaggle": (KAGGLE_SAMPLE, ("cp1252", "utf-8")), "conll": (CONLL_SAMPLE, ("utf-8", "latin-1"))}
PAYLOADS = (
    b'"',
    b'""',
    b",",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b" ",
    b"\t",
    b"\x1c",
    b"\x1f",
    b"\x00",
    b"\x0c",
    b"\x7f",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xa0",
    b"\xc2\xa0",
    b"\xc3\xbc",
    b"\xfc",
    b"\x85",
    b"\x81",
    b"\xe2\x80\xa8",
    b"-DOCSTART-",
    b"-docstart- -X- O O\n",
    b"B-",
    b"I-geo",
    b"I-PER",
    b"O",
    b"U-LOC",
    b"Sentence: 1",
    b"Sentence: 2,",
    b",,,",
    b" , ",
)
OPS = ("flip", "insert", "delete", "duplicate", "truncate", "swap_lines", "long_field")
CONTAINERS = ("plain", "gzip", "zip", "bzip2", "xz")
SUFFIX_STYLES = ("matching", "upper", "plain", "none")
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda data: data,
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}
SUFFIX = {"plain": "", "gzip": ".gz", "zip": ".zip", "bzip2": ".bz2", "xz": ".xz"}

Edit = tuple[str, int, int]  # (op, position in 1/1000 of the data, payload index or size)


@dataclass
class Case:
    source_format: str  # "kaggle" or "conll"
    encoding: str
    edits: Sequence[Edit] = ()
    container: str = "plain"
    damage: Sequence[Edit] = ()
    suffix_style: str = "matching"
    skip_bad_sentences: bool = False
    strict: bool = False
    given_encoding: bool = False
    full: bool = False  # also convert (write a corpus) and check it

    def file_name(self) -> str:
        base = "ner.csv" if self.source_format == "kaggle" else "eng.train"
        suffix = SUFFIX[self.container]
        if self.suffix_style == "upper":
            return (base + suffix).upper()
        if self.suffix_style == "plain":
            return base
        if self.suffix_style == "none":
            return "data"
        return base + suffix

    def data(self) -> bytes:
        text, _ = SAMPLES[self.source_format]
        data = apply_edits(text.encode(self.encoding, errors="replace"), self.edits)
        if self.container == "zip":
            buffer = io.BytesIO()
            member = "ner_dataset.csv" if self.source_format == "kaggle" else "eng.train"
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(member, data)
            data = buffer.getvalue()
        else:
            data = COMPRESS[self.container](data)
        return apply_edits(data, self.damage)


def apply_edits(data: bytes, edits: Sequence[Edit]) -> bytes:
    for op, where, arg in edits:
        at = where * len(data) // 1000
        payload = PAYLOADS[arg % len(PAYLOADS)]
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([arg % 256]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + payload + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + 1 + arg % 16 :]
        elif op == "duplicate":
            data = data[:at] + data[at : at + 1 + arg % 64] + data[at:]
        elif op == "truncate":
            data = data[:at]
        elif op == "swap_lines":
            lines = data.split(b"\n")
            i, j = at % len(lines), arg % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "long_field":
            data = data[:at] + b"x" * (131_072 + arg % 100) + data[at:]
    return data


def random_case(rng: random.Random) -> Case:
    source_format = rng.choice(("kaggle", "conll"))

    def edits(n_max: int) -> list[Edit]:
        ops = [op for op in OPS if op != "long_field" or rng.random() < 0.02]
        return [(rng.choice(ops), rng.randrange(1001), rng.randrange(1000)) for _ in range(rng.randint(0, n_max))]

    container = rng.choice(CONTAINERS)
    return Case(
        source_format=source_format,
        encoding=rng.choice(SAMPLES[source_format][1]),
        edits=edits(6),
        container=container,
        damage=edits(3) if container != "plain" and rng.random() < 0.5 else [],
        suffix_style=rng.choice(SUFFIX_STYLES),
        skip_bad_sentences=rng.random() < 0.5,
        strict=rng.random() < 0.2,
        given_encoding=rng.random() < 0.3,
        full=rng.random() < 0.05,
    )


def run_case(case: Case, directory: Path) -> str:
    """ "ok" or "error" (a ConversionError); any other exception propagates, and a broken
    invariant of the result raises AssertionError."""
    path = directory / case.file_name()
    path.write_bytes(case.data())
    encoding = case.encoding if case.given_encoding else None
    report = ConversionReport()
    options = dict(skip_bad_sentences=case.skip_bad_sentences, strict=case.strict)
    try:
        if case.source_format == "kaggle":
            sentences = read_kaggle(path, encoding=encoding, report=report, **options)
        else:
            documents = read_conll(path, encoding=encoding or "utf-8", report=report, **options)
            sentences = [sentence for document in documents for sentence in document]
        check_sentences(sentences, report)
        if case.full:
            output_dir = directory / "corpus"
            if case.source_format == "kaggle":
                summary = convert_kaggle(path, output_dir, encoding=encoding, **options)
            else:
                summary = convert_conll({"train": path}, output_dir, encoding=encoding or "utf-8", **options)
            assert summary["sentences_read"] == summary["total"]["sentences"] + summary["rejected_sentences"]
            assert check_corpus(output_dir, verify=True) == summary
    except ConversionError as err:
        assert str(err).startswith(err.path) and err.problem, err
        return "error"
    return "ok"


def check_sentences(sentences: list[Sentence], report: ConversionReport) -> None:
    """What every conversion must keep: nothing lost, no empty, padded or control-character
    word, valid IOB2 entities."""
    assert report.sentences_read == len(sentences) + len(report.rejections)
    assert report.tokens_read == sum(len(s.words) for s in sentences) + sum(r.tokens for r in report.rejections)
    for sentence in sentences:
        assert sentence.words and len(sentence.words) == len(sentence.ents)
        assert sentence.tags is None or len(sentence.tags) == len(sentence.words)
        for word in sentence.words:
            assert word and word == word.strip() and not CONTROL.search(word), repr(word)
        previous = "O"
        for tag in sentence.ents:
            assert tag == "O" or (tag[:2] in ("B-", "I-") and tag[2:]), tag
            assert not tag.startswith("I-") or previous[2:] == tag[2:], (previous, tag)
            previous = tag


@dataclass
class FuzzResult:
    tried: int = 0
    outcomes: Counter = field(default_factory=Counter)
    untyped: Counter = field(default_factory=Counter)  # "Type at file:line" -> count
    examples: dict[str, Case] = field(default_factory=dict)

    def record_failure(self, err: BaseException, case: Case) -> None:
        frame = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{type(err).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        self.untyped[where] += 1
        self.examples.setdefault(where, case)


def fuzz(seconds: float, seed: int = 0, max_cases: int | None = None) -> FuzzResult:
    rng = random.Random(seed)
    result = FuzzResult()
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="fuzz-converters-") as tmp:
        while time.monotonic() < deadline and (max_cases is None or result.tried < max_cases):
            case = random_case(rng)
            directory = Path(tempfile.mkdtemp(dir=tmp))
            try:
                result.outcomes[run_case(case, directory)] += 1
            except Exception as err:  # the point: count whatever escapes
                result.record_failure(err, case)
            finally:
                result.tried += 1
                shutil.rmtree(directory, ignore_errors=True)
    return result
