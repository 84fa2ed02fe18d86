"""The Kaggle "Annotated Corpus for NER" CSV (GMB): `Sentence #,Word,POS,Tag`.

The file is cp1252 with CRLF line endings and names a sentence only on its first row. It is
parsed with the csv module (never by splitting lines: latin-1's U+0085 is a line break to
`str.splitlines`).
"""

import csv
import io
from pathlib import Path
from typing import List, Optional

from .docs import Sentence
from .errors import ConversionError
from .reader import SentenceReader
from .report import ConversionReport
from .source import read_text
from .tags import IOBDecoder, TagScheme

SENTENCE_COLUMN, WORD_COLUMN, POS_COLUMN, TAG_COLUMN = "Sentence #", "Word", "POS", "Tag"
REQUIRED_COLUMNS = (SENTENCE_COLUMN, WORD_COLUMN, POS_COLUMN, TAG_COLUMN)
DUPLICATE_ID = "sentence id seen before; kept as a separate sentence"
BLANK_ROW = "blank row ignored"


def read_kaggle(
    path: Path,
    *,
    encoding: str = "cp1252",
    scheme: TagScheme = TagScheme.iob2,
    skip_bad_sentences: bool = False,
    strict: bool = False,
    report: Optional[ConversionReport] = None,
) -> List[Sentence]:
    """Read every sentence of a Kaggle NER CSV (`.csv`, `.csv.gz` or the Kaggle `.zip`).

    A malformed row raises ConversionError naming file and line; with `skip_bad_sentences`
    its sentence is rejected instead and recorded in `report`. Lenient tag repairs are
    counted in `report` (errors with `strict`).
    """
    report = report if report is not None else ConversionReport()
    text, name = read_text(Path(path), encoding, member_suffix=".csv")
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [column.strip() for column in next(rows)]  # read_text drops a leading BOM
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ConversionError(
            name, 1, f"header lacks column(s) {missing}: expected {list(REQUIRED_COLUMNS)}, found {header}"
        )
    i_sent, i_word, i_pos, i_tag = (header.index(column) for column in REQUIRED_COLUMNS)
    n_columns = len(header)
    decoder = IOBDecoder(name, scheme)
    reader = SentenceReader(decoder, report, skip_bad_sentences)
    sentences: List[Sentence] = []
    seen_ids = set()
    for row in rows:
        line = rows.line_num
        if not row:
            report.repair(BLANK_ROW, name, line)
            continue
        sentence_id = row[i_sent].strip() if len(row) > i_sent else ""
        if sentence_id:
            _keep(reader.finish(), sentences)
            if sentence_id in seen_ids:
                report.repair(DUPLICATE_ID, name, line)
            seen_ids.add(sentence_id)
            reader.start(line, has_tags=True)
        elif reader.current is None:
            raise ConversionError(name, line, f"the first data row has no sentence id (empty {SENTENCE_COLUMN!r})")
        try:
            if len(row) != n_columns:
                raise ConversionError(name, line, f"expected {n_columns} columns {header}, found {len(row)}: {row}")
            if not row[i_word]:
                raise ConversionError(name, line, f"empty {WORD_COLUMN!r}")
            reader.add(row[i_word], row[i_tag], row[i_pos], line)
        except ConversionError as err:
            reader.bad_row(err, row[i_word] if len(row) > i_word else "")
    _keep(reader.finish(), sentences)
    if not sentences and not report.rejections:
        raise ConversionError(name, None, "no data rows after the header")
    decoder.resolve(report, strict=strict)
    return sentences


def _keep(sentence: Optional[Sentence], sentences: List[Sentence]) -> None:
    if sentence is not None:
        sentences.append(sentence)
