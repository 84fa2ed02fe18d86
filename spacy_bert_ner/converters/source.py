"""Reading a source file's text: plain, gzip or a (Kaggle-style) zip, with decode errors located."""

import gzip
import zipfile
from pathlib import Path
from typing import Tuple

from .errors import ConversionError


def read_bytes(path: Path, member_suffix: str = "") -> Tuple[bytes, str]:
    """Return the raw bytes and a display name (`archive.zip!member` for zip members)."""
    path = Path(path)
    if not path.exists():
        raise ConversionError(path, None, "file not found")
    if path.is_dir():
        raise ConversionError(path, None, "expected a file, got a directory")
    name = str(path)
    if path.suffix == ".gz":
        try:
            return gzip.decompress(path.read_bytes()), name
        except (OSError, EOFError) as err:
            raise ConversionError(path, None, f"not a readable gzip file ({err})") from None
    if path.suffix == ".zip":
        return _read_zip_member(path, member_suffix)
    return path.read_bytes(), name


def _read_zip_member(path: Path, member_suffix: str) -> Tuple[bytes, str]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise ConversionError(path, None, f"not a readable zip file ({err})") from None
    with archive:
        members = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir()
            and info.filename.lower().endswith(member_suffix)
            and not info.filename.startswith("__MACOSX/")
        ]
        if len(members) != 1:
            raise ConversionError(
                path,
                None,
                f"expected exactly one '*{member_suffix}' file in the zip, found {len(members)}: {members}",
            )
        return archive.read(members[0]), f"{path}!{members[0]}"


def decode(data: bytes, name: str, encoding: str) -> str:
    """Decode, turning a UnicodeDecodeError into the line and byte that failed; drops a leading BOM."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start : err.end]
        raise ConversionError(
            name,
            line,
            f"byte(s) {bad!r} cannot be decoded as {encoding} ({err.reason}); "
            "pass the file's real encoding (e.g. --encoding cp1252 or latin-1)",
        ) from None
    except LookupError:
        raise ConversionError(name, None, f"unknown encoding {encoding!r}") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: Path, encoding: str, member_suffix: str = "") -> Tuple[str, str]:
    data, name = read_bytes(path, member_suffix)
    if not data.strip():
        raise ConversionError(name, None, "file is empty")
    return decode(data, name, encoding), name
