"""CoNLL-2003 and similar column files: `word [POS [chunk ...]] tag`, blank line between sentences.

Documents are delimited by `-DOCSTART-` lines in any form found in the wild
(`-DOCSTART- -X- O O`, `-DOCSTART- -X- -X- O`, lowercased); files without them are grouped into
Docs of `n_sents` sentences. Tags may be IOB1 (CoNLL-2003) or IOB2, detected or given. Lines end
in LF, CRLF or CR; columns are separated by spaces or tabs, nothing else.
"""

import re
from pathlib import Path
from typing import List, Optional

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


def split_columns(raw: str, plain: bool = True) -> List[str]:
    """Columns split at spaces and tabs only: `str.split()` would also cut a word at a no-break
    space, at U+0085 (what latin-1 makes of cp1252's ellipsis) or at the \\x1c-\\x1f control
    separators, so it serves only ASCII lines of a `plain` file (one without control characters)."""
    if plain and raw.isascii():
        return raw.split()
    return [field for field in COLUMN_SEPARATOR.split(raw) if field]


def read_conll(
    path: Path,
    *,
    encoding: str = "utf-8",
    scheme: TagScheme = TagScheme.auto,
    n_sents: int = 10,
    skip_bad_sentences: bool = False,
    strict: bool = False,
    report: Optional[ConversionReport] = None,
) -> List[Document]:
    """Read a column file into documents of sentences.

    The word is the first column and the entity tag the last; with three or more columns the
    second is the POS tag. A line with another column count raises ConversionError naming file
    and line; with `skip_bad_sentences` its sentence is rejected and recorded in `report`.
    """
    report = report if report is not None else ConversionReport()
    text, name, used = read_text(Path(path), encoding)
    report.encodings[name] = used
    plain = control_problem(text) is None
    decoder = IOBDecoder(name, scheme)
    documents: List[Document] = []
    document: Document = []
    has_docstart = False
    n_columns: Optional[int] = None
    reader = SentenceReader(decoder, report, skip_bad_sentences)

    def end_sentence() -> None:
        sentence = reader.finish()
        if sentence is not None:
            document.append(sentence)

    def end_document(at_line: int) -> None:
        nonlocal document
        if document:
            documents.append(document)
        elif has_docstart:
            report.repair(EMPTY_DOCUMENT, name, at_line)
        document = []

    lines = split_lines(text)
    for line, raw in enumerate(lines, start=1):
        fields = split_columns(raw, plain)
        problem = None if plain else control_problem(raw)
        if problem is not None:  # a token line, never a separator: its sentence fails
            if reader.current is None:
                reader.start(line, has_tags=n_columns is not None and n_columns >= 3)
            reader.bad_row(ConversionError(name, line, problem), raw.strip(" \t"))
            continue
        if not fields:
            end_sentence()
            continue
        if fields[0] == DOCSTART or (len(fields[0]) == len(DOCSTART) and fields[0].upper() == DOCSTART):
            end_sentence()
            if has_docstart or document:
                end_document(line)
            has_docstart = True
            continue
        if n_columns is None:
            n_columns = len(fields)
            if n_columns < 2:
                raise ConversionError(
                    name, line, f"expected at least 2 columns (word ... tag), found 1: {raw.strip()!r}"
                )
        if reader.current is None:
            reader.start(line, has_tags=n_columns >= 3)
        try:
            if len(fields) != n_columns:
                raise ConversionError(
                    name,
                    line,
                    f"expected {n_columns} columns like the first token line, found {len(fields)}: {raw.strip()!r}",
                )
            word = fields[0]
            if not raw.isascii() and (word[0].isspace() or word[-1].isspace()):
                word = reader.clean_word(word, line)
            reader.add(word, fields[-1], fields[1] if n_columns >= 3 else None, line)
        except ConversionError as err:
            reader.bad_row(err, fields[0])
    end_sentence()
    if has_docstart:
        end_document(len(lines))
    else:
        documents.extend(group(document, n_sents))
    if not documents and not report.rejections:
        raise ConversionError(name, None, "no token lines found")
    decoder.resolve(report, strict=strict)
    return documents
