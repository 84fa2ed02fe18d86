"""Entity tags (`converters/tags.py`): parsing, IOB1/IOB2 detection and normalisation, strict mode."""

import pytest

from spacy_bert_ner.converters import ConversionError, ConversionReport, IOBDecoder, parse_tag
from spacy_bert_ner.converters.tags import B_START_IOB1, I_START


@pytest.mark.parametrize(
    "tag,parsed",
    [
        ("O", ("O", "")),
        ("B-PER", ("B", "PER")),
        ("I-geo", ("I", "geo")),
        ("B-B-X", ("B", "B-X")),
        ("I-a b", ("I", "a b")),
    ],
)
def test_parse_tag_valid(tag, parsed):
    assert parse_tag(tag) == parsed


@pytest.mark.parametrize(
    "tag,problem",
    [
        ("", "unknown entity tag"),
        ("o", "unknown entity tag"),
        ("PER", "unknown entity tag"),
        ("X-foo", "unknown entity tag"),
        ("U-PER", "BILUO/BIOES"),
        ("L-PER", "BILUO/BIOES"),
        ("E-PER", "BILUO/BIOES"),
        ("S-PER", "BILUO/BIOES"),
        ("b-PER", "unknown entity tag"),
        ("B-", "empty or padded type"),
        ("I-", "empty or padded type"),
        ("B- PER", "empty or padded type"),
        ("B-PER ", "empty or padded type"),
    ],
)
def test_parse_tag_invalid(tag, problem):
    with pytest.raises(ValueError, match=problem):
        parse_tag(tag)


@pytest.mark.parametrize(
    "tags,iob2",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),
        (["I-PER", "I-LOC"], ["B-PER", "B-LOC"]),
        (["B-PER", "I-PER", "B-LOC"], ["B-PER", "I-PER", "B-LOC"]),
        (["O", "O"], ["O", "O"]),
    ],
)
def test_iob_decoder_normalises_to_iob2(tags, iob2):
    decoder = IOBDecoder("file")
    out, prev = [], ""
    for line, tag in enumerate(tags, start=1):
        ent, prev = decoder.decode(tag, prev, line)
        out.append(ent)
    assert out == iob2


def decode_all(decoder: IOBDecoder, tags: list[str]) -> None:
    prev = ""
    for line, tag in enumerate(tags, start=1):
        _, prev = decoder.decode(tag, prev, line)


@pytest.mark.parametrize(
    "tags,scheme,repairs",
    [
        (["I-PER", "O", "I-LOC", "B-LOC"], "iob1", {}),
        (["B-PER", "O", "B-LOC", "B-LOC"], "iob2", {}),
        (["B-PER", "O", "B-LOC", "I-ORG"], "iob2", {I_START: 1}),
        (["I-PER", "B-LOC"], "iob1", {B_START_IOB1: 1}),
        (["O", "O"], "iob2", {}),
    ],
)
def test_iob_decoder_detects_scheme_and_reports_repairs(tags, scheme, repairs):
    decoder = IOBDecoder("file")
    decode_all(decoder, tags)
    report = ConversionReport()
    assert decoder.resolve(report).value == scheme
    assert report.schemes == {"file": scheme}
    assert report.repairs == repairs


def test_iob_decoder_strict_error_names_first_location():
    decoder = IOBDecoder("corpus.txt", scheme="iob2")
    decode_all(decoder, ["O", "O", "I-PER", "O", "I-LOC"])
    with pytest.raises(ConversionError, match=r"^corpus\.txt: 2 invalid IOB2 tag\(s\), first at corpus\.txt:3: "):
        decoder.resolve(ConversionReport(), strict=True)
