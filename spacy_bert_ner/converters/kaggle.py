"""The Kaggle "Annotated Corpus for NER" CSV (GMB): `Sentence #,Word,POS,Tag`.

The published file is cp1252 with CRLF line endings and names a sentence only on its first
row; re-exports are often UTF-8, and pandas' forward-filled re-export names it on every row.
Every row is one physical line (a token holds no line break), so each line is parsed on its
own: a `"` that the csv module would take for the start of a quoted field cannot swallow the
rows after it, and every error names the line where its row starts.
"""

import csv
from pathlib import Path

from .docs import Sentence
from .errors import ConversionError
from .repairs import ConversionReport
from .sentence_reader import SentenceReader
from .source import control_problem, read_text, split_lines
from .tags import IOBDecoder, TagScheme

SENTENCE_COLUMN, WORD_COLUMN, POS_COLUMN, TAG_COLUMN = "Sentence #", "Word", "POS", "Tag"
REQUIRED_COLUMNS = (SENTENCE_COLUMN, WORD_COLUMN, POS_COLUMN, TAG_COLUMN)
PUBLISHED_ENCODING = "cp1252"
DUPLICATE_ID = "sentence id seen before; kept as a separate sentence"
# counted once a sentence, at its first repeated row: a forward-filled file repeats every id
REPEATED_ID = "sentence id repeated on the next row; read as one sentence (pandas' forward fill)"
BLANK_ROW = "blank row ignored"
UNESCAPED_QUOTE = "unescaped '\"' in a row that is not valid CSV; fields split at the commas"


def read_kaggle(
    path: Path,
    *,
    encoding: str | None = None,
    scheme: TagScheme = TagScheme.iob2,
    skip_bad_sentences: bool = False,
    strict: bool = False,
    report: ConversionReport | None = None,
) -> list[Sentence]:
    """Read every sentence of a Kaggle NER CSV (`.csv`, `.csv.gz`, `.zip` ...).

    `encoding` None detects it (UTF-8 if the file is valid UTF-8 with non-ASCII bytes, else
    cp1252, the published file's). A malformed row raises ConversionError naming file and
    line; with `skip_bad_sentences` its sentence is rejected instead and recorded in `report`.
    Lenient repairs are counted in `report` (tag repairs are errors with `strict`).
    """
    report = report if report is not None else ConversionReport()
    text, name, used = read_text(Path(path), encoding, member_suffix=".csv", fallback=PUBLISHED_ENCODING)
    report.encodings[name] = used
    lines = split_lines(text)
    has_controls = control_problem(text) is not None
    header_fields, problem = _fields(lines[0], None)
    header = [column.strip() for column in header_fields]
    problem = problem or (control_problem(lines[0]) if has_controls else None)
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if problem or missing:
        raise ConversionError(name, 1, problem or _header_problem(missing, header))
    i_sent, i_word, i_pos, i_tag = (header.index(column) for column in REQUIRED_COLUMNS)
    n_columns = len(header)
    decoder = IOBDecoder(name, scheme)
    reader = SentenceReader(decoder, report, skip_bad_sentences)
    sentences: list[Sentence] = []
    seen_ids = set()
    current_id = None
    repeated_id_counted = False
    for line, raw in enumerate(lines[1:], start=2):
        if not raw:
            report.repair(BLANK_ROW, name, line)
            continue
        row, problem = _fields(raw, n_columns) if '"' in raw else (raw.split(","), None)
        if problem == UNESCAPED_QUOTE:
            report.repair(UNESCAPED_QUOTE, name, line)
            problem = None
        if has_controls:
            problem = problem or control_problem(raw)
        sentence_id = row[i_sent].strip() if len(row) > i_sent else ""
        if sentence_id and sentence_id != current_id:
            _keep(reader.finish(), sentences)
            if sentence_id in seen_ids:
                report.repair(DUPLICATE_ID, name, line)
            seen_ids.add(sentence_id)
            current_id = sentence_id
            repeated_id_counted = False
            reader.start(line, has_tags=True)
        elif sentence_id and not repeated_id_counted:  # the id of the row before: the same sentence
            report.repair(REPEATED_ID, name, line)
            repeated_id_counted = True
        elif reader.current is None:
            raise ConversionError(
                name, line, problem or f"the first data row has no sentence id (empty {SENTENCE_COLUMN!r})"
            )
        word = row[i_word] if len(row) > i_word else ""
        try:
            if problem:
                raise ConversionError(name, line, problem)
            if len(row) != n_columns:
                raise ConversionError(name, line, f"expected {n_columns} columns {header}, found {len(row)}: {row}")
            if not word:
                raise ConversionError(name, line, f"empty {WORD_COLUMN!r}")
            if word[0].isspace() or word[-1].isspace():
                word = reader.clean_word(word, line)
            reader.add(word, row[i_tag], row[i_pos], line)
        except ConversionError as err:
            reader.bad_row(err, word)
    _keep(reader.finish(), sentences)
    if not sentences and not report.rejections:
        raise ConversionError(name, None, "no data rows after the header")
    decoder.resolve(report, strict=strict)
    return sentences


def _fields(raw: str, n_columns: int | None) -> tuple[list[str], str | None]:
    """The fields of one line, and what is wrong with it if anything.

    A line the csv module rejects (an unbalanced or misplaced `"`, as unescaped exports have)
    is split at its commas when that gives the expected column count: UNESCAPED_QUOTE, a
    repair. Otherwise the problem names the quote."""
    try:
        return next(csv.reader([raw], strict=True)), None
    except csv.Error as err:
        fields = raw.split(",")
        if len(raw) > csv.field_size_limit():
            return fields, f"a quoted field longer than the csv module's limit ({csv.field_size_limit():,} characters)"
        if n_columns is not None and len(fields) == n_columns:
            return fields, UNESCAPED_QUOTE
        return fields, (
            f"a '\"' the CSV quoting cannot read ({err}): {raw[:200]!r}; inside a quoted field a quote is "
            "written twice, and a quoted field cannot span lines"
        )


def _header_problem(missing: list[str], header: list[str]) -> str:
    problem = f"header lacks column(s) {missing}: expected {list(REQUIRED_COLUMNS)}, found {header}"
    if header and header[0].startswith(("\ufeff", "\u00ef\u00bb\u00bf")):
        problem += "; it starts with a UTF-8 byte-order mark read as text: pass --encoding utf-8"
    return problem


def _keep(sentence: Sentence | None, sentences: list[Sentence]) -> None:
    if sentence is not None:
        sentences.append(sentence)
