"""What a conversion repaired or rejected, so that nothing changes or disappears silently."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

MAX_EXAMPLES = 5


@dataclass
class Rejection:
    """A sentence left out (only with `on_error="skip"`), with where and why."""

    path: str
    line: Optional[int]
    problem: str
    tokens: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass
class ConversionReport:
    """Counts every lenient repair (with the first few locations) and every rejected sentence,
    and what was read, counted as it was read: `read = written + rejected` is a real check."""

    repairs: Counter = field(default_factory=Counter)
    repair_examples: Dict[str, List[str]] = field(default_factory=dict)
    rejections: List[Rejection] = field(default_factory=list)
    schemes: Dict[str, str] = field(default_factory=dict)  # file -> tag scheme read
    encodings: Dict[str, str] = field(default_factory=dict)  # file -> encoding used
    sentences_read: int = 0
    tokens_read: int = 0

    def repair(self, kind: str, path: Union[str, Path], line: Optional[int]) -> None:
        self.repairs[kind] += 1
        examples = self.repair_examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{path}:{line}")

    def drop_repairs(self, kind: str) -> None:
        """Forget a kind of repair that turned out not to be one (e.g. IOB1 I- starts)."""
        self.repairs.pop(kind, None)
        self.repair_examples.pop(kind, None)

    def reject(self, path: Union[str, Path], line: Optional[int], problem: str, tokens: int) -> None:
        self.rejections.append(Rejection(str(path), line, problem, tokens))

    def merge(self, other: "ConversionReport") -> None:
        for kind, count in other.repairs.items():
            self.repairs[kind] += count
            examples = self.repair_examples.setdefault(kind, [])
            examples.extend(other.repair_examples.get(kind, [])[: MAX_EXAMPLES - len(examples)])
        self.rejections.extend(other.rejections)
        self.schemes.update(other.schemes)
        self.encodings.update(other.encodings)
        self.sentences_read += other.sentences_read
        self.tokens_read += other.tokens_read

    def to_dict(self) -> Dict[str, Any]:
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
