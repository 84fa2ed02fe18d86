"""IOB1/IOB2 entity tags: validation, scheme detection and normalisation to IOB2.

One decoder serves both schemes, because they only differ in which tag starts an entity:
`B-X` always starts a new entity, `I-X` continues an entity of type X and otherwise starts
one. In IOB1 (CoNLL-2003) an `I-` start is the norm; in IOB2 it is a repair, counted and
reported. The scheme therefore decides what is reported, never which spans come out.
"""

from enum import Enum
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from .errors import ConversionError
from .report import ConversionReport

OUTSIDE = "O"
I_START = "I- tag starts an entity (after O or another type); read as B-"
B_START_IOB1 = "B- tag starts an entity that does not follow one of its type (not IOB1)"


class TagScheme(str, Enum):
    auto = "auto"
    iob1 = "iob1"
    iob2 = "iob2"


def parse_tag(tag: str) -> Tuple[str, str]:
    """Split `B-PER` into ("B", "PER"); `O` into ("O", ""). Raises ValueError with the reason."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in ("B", "I"):
        raise ValueError(
            f"unknown entity tag {tag!r}: expected O, B-<type> or I-<type> (IOB1 or IOB2); "
            "other schemes (BILUO/BIOES) and bare labels are not supported"
        )
    if not label or label != label.strip():
        raise ValueError(f"entity tag {tag!r} has an empty or padded type")
    return prefix, label


class IOBDecoder:
    """Streams tags of one file into IOB2, counting what either scheme would call a repair."""

    def __init__(self, path: Union[str, Path], scheme: TagScheme = TagScheme.auto) -> None:
        self.path = str(path)
        self.scheme = TagScheme(scheme)
        self.i_starts = ConversionReport()
        self.b_starts = ConversionReport()
        self._parsed: Dict[str, Tuple[str, str]] = {}

    def decode(self, tag: str, prev_label: str, line: Optional[int]) -> Tuple[str, str]:
        """Return (IOB2 tag, entity type or "") for a token whose predecessor had `prev_label`."""
        parsed = self._parsed.get(tag)
        if parsed is None:
            try:
                parsed = parse_tag(tag)
            except ValueError as err:
                raise ConversionError(self.path, line, str(err)) from None
            self._parsed[tag] = parsed
        prefix, label = parsed
        if prefix == OUTSIDE:
            return OUTSIDE, ""
        if prefix == "I":
            if prev_label == label:
                return tag, label
            self.i_starts.repair(I_START, self.path, line)
            return "B-" + label, label
        if prev_label != label:
            self.b_starts.repair(B_START_IOB1, self.path, line)
        return tag, label

    def resolve(self, report: ConversionReport, strict: bool = False) -> TagScheme:
        """Pick the scheme (detected when `auto`) and move its repairs into `report`.

        Detection: a file whose entities start with I- is IOB1 unless it starts more with B-
        outside same-type runs (then IOB2 with repairs). With `strict`, any repair is an error.
        """
        n_i = sum(self.i_starts.repairs.values())
        n_b = sum(self.b_starts.repairs.values())
        scheme = self.scheme
        if scheme == TagScheme.auto:
            scheme = TagScheme.iob1 if n_i > 0 and n_i >= n_b else TagScheme.iob2
        repairs = self.i_starts if scheme == TagScheme.iob2 else self.b_starts
        if strict and repairs.repairs:
            kind, count = next(iter(repairs.repairs.items()))
            first = repairs.repair_examples[kind][0]
            raise ConversionError(
                self.path, None, f"{count} invalid {scheme.value.upper()} tag(s), first at {first}: {kind}"
            )
        report.merge(repairs)
        report.schemes[self.path] = scheme.value
        return scheme
