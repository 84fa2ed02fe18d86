"""Reading a source file's text: plain or compressed (gzip, bzip2, xz, a Kaggle-style zip, all
recognised by their content, whatever the file is called), the encoding given or detected, and
every failure a ConversionError naming the file (and the line where there is one)."""

import bz2
import codecs
import gzip
import io
import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .errors import ConversionError

# (signature, format) at the start of the data; bzip2 also needs its block or end-of-stream magic
SIGNATURES = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
)
BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")
SUFFIXES = {".gz": "gzip", ".tgz": "gzip", ".zip": "zip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
SUFFIXES.update({".7z": "7z", ".rar": "rar"})
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "bzip2": bz2.decompress,
    "xz": lzma.decompress,
}
# What the standard library raises on damaged or unusual archives, as fuzz.py finds them:
# zlib.error / LZMAError / OSError / EOFError from a corrupt or truncated stream, ValueError and
# IndexError from damaged zip headers, NotImplementedError for an unsupported zip method,
# RuntimeError for an encrypted member; struct.error, KeyError, OverflowError where zipfile
# unpacks headers unchecked.
ARCHIVE_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    KeyError,
    IndexError,
    OverflowError,
)
BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"))
FILE_KINDS += ((stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class SourceText(NamedTuple):
    text: str
    name: str  # the path, or `archive.zip!member`
    encoding: str  # as used: "utf-8 (detected)", "cp1252 (given)" ...


def read_bytes(path: Path, member_suffix: str = "") -> tuple[bytes, str]:
    """Return the (decompressed) bytes and a display name (`archive.zip!member` for zip members)."""
    path = Path(path)
    data = _read_regular_file(path)
    name = str(path)
    kind = _compression(data)
    named = SUFFIXES.get(path.suffix.lower())
    if kind is None and named is not None:
        raise ConversionError(
            path, None, f"not a readable {named} file: it starts with {data[:8]!r}, not a {named} header"
        )
    if kind in ("zstd", "7z", "rar"):
        raise ConversionError(path, None, f"a {kind} archive, which is not read here; extract the text file first")
    if kind == "zip":
        data, name = _read_zip_member(path, data, member_suffix)
    elif kind is not None:
        try:
            data = DECOMPRESS[kind](data)
        except ARCHIVE_ERRORS as err:
            raise ConversionError(path, None, f"not a readable {kind} file ({_reason(err)})") from None
    inner = _compression(data) or ("tar" if data[257:262] == b"ustar" else None)
    if inner is not None:
        where = f"the {kind} data is" if kind else "the file is"
        raise ConversionError(name, None, f"{where} a {inner} archive; extract the text file from it first")
    return data, name


def _read_regular_file(path: Path) -> bytes:
    """Read a regular file; a FIFO or device is refused, not opened for a read that may never end."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ConversionError(path, None, "file not found") from None
    except IsADirectoryError:
        raise ConversionError(path, None, "expected a file, got a directory") from None
    except OSError as err:
        raise ConversionError(path, None, f"cannot open the file ({_reason(err)})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConversionError(path, None, "expected a file, got a directory")
        kind = next((kind for test, kind in FILE_KINDS if test(mode)), "not a regular file")
        raise ConversionError(path, None, f"expected a regular file, got {kind}")
    with os.fdopen(fd, "rb") as file:
        try:
            return file.read()
        except OSError as err:
            raise ConversionError(path, None, f"cannot read the file ({_reason(err)})") from None


def _compression(data: bytes) -> str | None:
    if BZIP2.match(data):
        return "bzip2"
    return next((kind for signature, kind in SIGNATURES if data.startswith(signature)), None)


def _read_zip_member(path: Path, data: bytes, member_suffix: str) -> tuple[bytes, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
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
    except ConversionError:
        raise
    except ARCHIVE_ERRORS as err:
        raise ConversionError(path, None, f"not a readable zip file ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def decode(data: bytes, name: str, encoding: str | None, fallback: str = "utf-8") -> tuple[str, str]:
    """Decode with `encoding`, or (None) detect it: a byte-order mark names it; a file that
    decodes as UTF-8 and has non-ASCII bytes is UTF-8; anything else is `fallback`.

    Returns the text without a leading BOM and the encoding as used. A decode error names the
    line and byte; a BOM that contradicts the given encoding is an error, not mojibake.
    """
    bom = next((codec for mark, codec in BOMS if data.startswith(mark)), None)
    if encoding is None:
        if bom is None and not data.isascii() and _is_utf8(data):
            bom = "utf-8"
        encoding, how = bom or fallback, "detected"
    else:
        how = "given"
        try:
            given = codecs.lookup(encoding).name
        except LookupError:
            raise ConversionError(name, None, f"unknown encoding {encoding!r}") from None
        if bom is not None and not given.startswith(bom):
            raise ConversionError(
                name,
                1,
                f"the file starts with a {bom.upper()} byte-order mark, but the encoding given is {encoding}: "
                f"pass --encoding {bom} (or leave --encoding out to detect it)",
            )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = len(LINE_BREAK.findall(data[: err.start].decode(encoding, errors="replace"))) + 1
        bad = data[err.start : err.end]
        raise ConversionError(
            name,
            line,
            f"byte(s) {bad!r} cannot be decoded as {encoding} ({how}; {err.reason}); "
            "pass the file's real encoding (e.g. --encoding cp1252 or latin-1)",
        ) from None
    except LookupError:
        raise ConversionError(name, None, f"unknown encoding {encoding!r}") from None
    return (text[1:] if text.startswith("\ufeff") else text), f"{encoding} ({how})"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_text(path: Path, encoding: str | None, member_suffix: str = "", fallback: str = "utf-8") -> SourceText:
    data, name = read_bytes(path, member_suffix)
    if not data.strip():
        raise ConversionError(name, None, "file is empty")
    text, used = decode(data, name, encoding, fallback)
    return SourceText(text, name, used)


def split_lines(text: str) -> list[str]:
    """Physical lines, ended by CRLF, LF or (old Mac) CR alone; never at U+0085, U+2028 or the
    \\x1c-\\x1e separators, where `str.splitlines` would also break. A final line break ends
    the last line (no empty line after it)."""
    if "\r" not in text:
        lines = text.split("\n")
    elif "\n" not in text:
        lines = text.split("\r")
    elif text.count("\r") == text.count("\n") == text.count("\r\n"):
        lines = text.split("\r\n")
    else:
        lines = LINE_BREAK.split(text)
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def control_problem(raw: str) -> str | None:
    """What is wrong with a line holding a control character (C0 other than tab, or DEL), if it does.

    Python's `str.split()` and `str.strip()` take \\x1c-\\x1f for whitespace, so such a
    character would silently cut a line or vanish from a word."""
    found = CONTROL.search(raw)
    if found is None:
        return None
    char = found.group()
    hint = " (NUL bytes: is the file UTF-16? then pass --encoding utf-16)" if char == "\x00" else ""
    return f"control character U+{ord(char):04X} at column {found.start() + 1}: not text{hint}"
