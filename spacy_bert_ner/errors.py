"""The one user-facing input error of the tooling: it names the file (and line) and the problem."""

from pathlib import Path


class InputError(ValueError):
    """Input that cannot be used; `str(err)` reads `path:line: problem` (or `path: problem`)."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")
