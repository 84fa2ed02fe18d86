"""CoNLL-2003 and similar column files: `word [POS [chunk ...]] tag`, blank line between sentences.

Documents are delimited by `-DOCSTART-` lines in any form found in the wild
(`-DOCSTART- -X- O O`, `-DOCSTART- -X- -X- O`, lowercased); files without them are grouped into
Docs of `n_sents` sentences. Tags may be IOB1 (CoNLL-2003) or IOB2, detected or given. Lines end
in LF, CRLF or CR; columns are separated by spaces or tabs, nothing else.
"""

import re
from pathlib import Path

from .docs import Document
from .errors import ConversionError
from .repairs import ConversionReport
from .sentence_reader import SentenceReader
from .source import control_problem, read_text, split_lines
from .split import group
from .tags import IOBDecoder, TagScheme

DOCSTART = "-DOCSTART-"
EMPTY_DOCUMENT = "-DOCSTART- with no sentences before the next one; no Doc made"
COLUMN_SEPARATOR = re.compile(r"[ \t]+")


def split_columns(raw: str, plain: bool = True) -> list[str]:
    """Columns split at spaces and tabs only: `str.split()` would also cut a word at a no-break
    space, at U+0085 (what latin-1 makes of cp1252's ellipsis) or at the \\x1c-\\x1f control
    separators, so it serves only ASCII lines of a `plain` file (one without control characters)."""
    if plain and raw.isascii():
        return raw.split()
    return [field for field in COLUMN_SEPARATOR.split(raw) if field]


def is_docstart(word: str) -> bool:
    """`-DOCSTART-`, also lowercased (some copies of CoNLL-2003 are)."""
    return word == DOCSTART or (len(word) == len(DOCSTART) and word.upper() == DOCSTART)


class ColumnFileReader:
    """One column file being read line by line: the Docs made so far, the Doc and sentence being
    built, and the column count that every token line must match (that of the first one)."""

    def __init__(self, name: str, plain: bool, sentences: SentenceReader, report: ConversionReport) -> None:
        self.name = name
        self.plain = plain  # no control characters anywhere: lines need no per-line check
        self.sentences = sentences
        self.report = report
        self.documents: list[Document] = []
        self.document: Document = []
        self.has_docstart = False
        self.n_columns: int | None = None

    def read_line(self, line: int, raw: str) -> None:
        problem = None if self.plain else control_problem(raw)
        if problem is not None:
            self._bad_line(line, raw, problem)
            return
        fields = split_columns(raw, self.plain)
        if not fields:
            self._end_sentence()
        elif is_docstart(fields[0]):
            self._docstart(line)
        else:
            self._token_line(line, raw, fields)

    def finish(self, n_lines: int, n_sents: int) -> list[Document]:
        """The Docs: as `-DOCSTART-` delimits them, or (with none in the file) `n_sents` sentences each."""
        self._end_sentence()
        if self.has_docstart:
            self._end_document(n_lines)
        else:
            self.documents.extend(group(self.document, n_sents))
        return self.documents

    def _bad_line(self, line: int, raw: str, problem: str) -> None:
        # a token line, never a separator: its sentence fails
        if self.sentences.current is None:
            self.sentences.start(line, has_tags=self.n_columns is not None and self.n_columns >= 3)
        self.sentences.bad_row(ConversionError(self.name, line, problem), raw.strip(" \t"))

    def _docstart(self, line: int) -> None:
        self._end_sentence()
        if self.has_docstart or self.document:
            self._end_document(line)
        self.has_docstart = True

    def _token_line(self, line: int, raw: str, fields: list[str]) -> None:
        if self.n_columns is None:
            if len(fields) < 2:
                raise ConversionError(
                    self.name, line, f"expected at least 2 columns (word ... tag), found 1: {raw.strip()!r}"
                )
            self.n_columns = len(fields)
        n_columns = self.n_columns
        if self.sentences.current is None:
            self.sentences.start(line, has_tags=n_columns >= 3)
        try:
            if len(fields) != n_columns:
                raise ConversionError(
                    self.name,
                    line,
                    f"expected {n_columns} columns like the first token line, found {len(fields)}: {raw.strip()!r}",
                )
            word = fields[0]
            if not raw.isascii() and (word[0].isspace() or word[-1].isspace()):
                word = self.sentences.clean_word(word, line)
            self.sentences.add(word, fields[-1], fields[1] if n_columns >= 3 else None, line)
        except ConversionError as err:
            self.sentences.bad_row(err, fields[0])

    def _end_sentence(self) -> None:
        sentence = self.sentences.finish()
        if sentence is not None:
            self.document.append(sentence)

    def _end_document(self, at_line: int) -> None:
        if self.document:
            self.documents.append(self.document)
        elif self.has_docstart:
            self.report.repair(EMPTY_DOCUMENT, self.name, at_line)
        self.document = []


def read_conll(
    path: Path,
    *,
    encoding: str = "utf-8",
    scheme: TagScheme = TagScheme.auto,
    n_sents: int = 10,
    skip_bad_sentences: bool = False,
    strict: bool = False,
    report: ConversionReport | None = None,
) -> list[Document]:
    """Read a column file into documents of sentences.

    The word is the first column and the entity tag the last; with three or more columns the
    second is the POS tag. A line with another column count raises ConversionError naming file
    and line; with `skip_bad_sentences` its sentence is rejected and recorded in `report`.
    """
    report = report if report is not None else ConversionReport()
    text, name, used = read_text(Path(path), encoding)
    report.encodings[name] = used
    decoder = IOBDecoder(name, scheme)
    sentences = SentenceReader(decoder, report, skip_bad_sentences)
    reader = ColumnFileReader(name, control_problem(text) is None, sentences, report)
    lines = split_lines(text)
    for line, raw in enumerate(lines, start=1):
        reader.read_line(line, raw)
    documents = reader.finish(len(lines), n_sents)
    if not documents and not report.rejections:
        raise ConversionError(name, None, "no token lines found")
    decoder.resolve(report, strict=strict)
    return documents
