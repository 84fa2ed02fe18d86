"""The one user-facing error of the converters: it always names the file, the line and the problem."""

from pathlib import Path
from typing import Optional, Union


class ConversionError(ValueError):
    """Input that cannot be converted; `str(err)` reads `path:line: problem`."""

    def __init__(self, path: Union[str, Path], line: Optional[int], problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")
