"""The converters' errors: InputErrors that always name the file, the line and the problem."""

from pathlib import Path

from ..errors import InputError


class ConversionError(InputError):
    """Input that cannot be converted; `str(err)` reads `path:line: problem`."""


class OutputError(ConversionError):
    """A corpus that could not be written (full disk, no permission, a concurrent run); the
    output directory is left as it was. `str(err)` reads `path: problem`."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(path, None, problem)
