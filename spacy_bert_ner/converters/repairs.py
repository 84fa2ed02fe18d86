"""What a conversion repaired or rejected, so that nothing changes or disappears silently."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_EXAMPLES = 5


@dataclass
class Rejection:
    """A sentence left out (only with `skip_bad_sentences`), with where and why."""

    path: str
    line: int | None
    problem: str
    tokens: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass
class ConversionReport:
    """Counts every lenient repair (with the first few locations) and every rejected sentence,
    and what was read, counted as it was read: `read = written + rejected` is a real check."""

    repairs: Counter = field(default_factory=Counter)
    repair_examples: dict[str, list[str]] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    schemes: dict[str, str] = field(default_factory=dict)  # file -> tag scheme read
    encodings: dict[str, str] = field(default_factory=dict)  # file -> encoding used
    sentences_read: int = 0
    tokens_read: int = 0

    def repair(self, kind: str, path: str | Path, line: int | None) -> None:
        self.repairs[kind] += 1
        examples = self.repair_examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{path}:{line}")

    def reject(self, path: str | Path, line: int | None, problem: str, tokens: int) -> None:
        self.rejections.append(Rejection(str(path), line, problem, tokens))

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences_read": self.sentences_read,
            "tokens_read": self.tokens_read,
            "encodings": self.encodings,
            "tag_schemes": self.schemes,
            "repairs": {
                kind: {"count": count, "examples": self.repair_examples.get(kind, [])}
                for kind, count in sorted(self.repairs.items())
            },
            "rejected_sentences": len(self.rejections),
            "rejected_tokens": sum(r.tokens for r in self.rejections),
            "rejections": [
                {"path": r.path, "line": r.line, "problem": r.problem, "tokens": r.tokens} for r in self.rejections
            ],
        }
