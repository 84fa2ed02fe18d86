"""IOB1/IOB2 entity tags: validation, scheme detection and normalisation to IOB2.

One decoder serves both schemes, because they only differ in which tag starts an entity:
`B-X` always starts a new entity, `I-X` continues an entity of type X and otherwise starts
one. In IOB1 (CoNLL-2003) an `I-` start is the norm; in IOB2 it is a repair, counted and
reported. The scheme therefore decides what is reported, never which spans come out.
"""

from enum import Enum
from pathlib import Path

from ..pipeline.decoding import OUTSIDE
from .errors import ConversionError
from .repairs import MAX_EXAMPLES, ConversionReport

I_START = "I- tag starts an entity (after O or another type); read as B-"
B_START_IOB1 = "B- tag starts an entity that does not follow one of its type (not IOB1)"


class TagScheme(str, Enum):
    auto = "auto"
    iob1 = "iob1"
    iob2 = "iob2"


def parse_tag(tag: str) -> tuple[str, str]:
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

    def __init__(self, path: str | Path, scheme: TagScheme = TagScheme.auto) -> None:
        self.path = str(path)
        self.scheme = TagScheme(scheme)
        # entity starts by tag prefix: (count, first lines); which are repairs depends on the scheme
        self.starts: dict[str, tuple[int, list[int | None]]] = {"I": (0, []), "B": (0, [])}
        self._parsed: dict[str, tuple[str, str]] = {}

    def decode(self, tag: str, prev_label: str, line: int | None) -> tuple[str, str]:
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
        if prev_label == label and prefix == "I":
            return tag, label
        if prefix == "I" or prev_label != label:  # an entity starts at a tag that may be a repair
            count, lines = self.starts[prefix]
            if len(lines) < MAX_EXAMPLES:
                lines.append(line)
            self.starts[prefix] = (count + 1, lines)
        return "B-" + label, label

    def resolve(self, report: ConversionReport, strict: bool = False) -> TagScheme:
        """Pick the scheme (detected when `auto`) and move its repairs into `report`.

        Detection: a file whose entities start with I- is IOB1 unless it starts more with B-
        outside same-type runs (then IOB2 with repairs). With `strict`, any repair is an error.
        """
        n_i, n_b = self.starts["I"][0], self.starts["B"][0]
        scheme = self.scheme
        if scheme == TagScheme.auto:
            scheme = TagScheme.iob1 if n_i > 0 and n_i >= n_b else TagScheme.iob2
        prefix, kind = ("I", I_START) if scheme == TagScheme.iob2 else ("B", B_START_IOB1)
        count, lines = self.starts[prefix]
        if strict and count:
            raise ConversionError(
                self.path,
                None,
                f"{count} invalid {scheme.value.upper()} tag(s), first at {self.path}:{lines[0]}: {kind}",
            )
        if count:
            report.repairs[kind] += count
            report.repair_examples.setdefault(kind, []).extend(f"{self.path}:{line}" for line in lines)
        report.schemes[self.path] = scheme.value
        return scheme
