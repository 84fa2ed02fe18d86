"""Publishing a corpus directory all at once: `{split}.spacy` files, then `stats.json`, the
marker of a complete corpus.

Every file is first written (and synced) into a hidden staging directory inside the output
directory. Then, holding the directory's lock, the old corpus is moved aside (`stats.json`
first, so the directory is marked incomplete), the new files are moved in with `os.replace`,
`stats.json` last. An exception on the way (a full disk, Ctrl-C) moves the old corpus back. A
kill during those few renames leaves no `stats.json`, which `check_corpus` refuses; the next
conversion into the directory first completes the interrupted one (its staging directory is
complete before the first rename). Hidden files are skipped by spaCy's corpus reader.
"""

import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import srsly

from .errors import ConversionError, OutputError
from .split import SPLIT_NAMES

try:
    import fcntl
except ImportError:  # Windows: an O_EXCL lock file instead
    fcntl = None  # type: ignore[assignment]

STATS_FILE = "stats.json"
SPLIT_FILES = tuple(f"{split}.spacy" for split in SPLIT_NAMES)
LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
BACKUP_PREFIX = ".previous-"


def file_entry(data: bytes) -> dict[str, Any]:
    """What stats.json records of a written file, so that a reader can check it."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def check_output_dir(output_dir: Path) -> None:
    """Fail before a long read if no corpus can be written at `output_dir`."""
    output_dir = Path(output_dir)
    try:
        existing = next(path for path in [output_dir, *output_dir.parents] if path.exists())
    except OSError as err:  # e.g. a parent directory that cannot be searched
        raise _output_error(output_dir, "cannot reach the directory", err) from None
    if not existing.is_dir():
        raise OutputError(existing, "exists and is not a directory; the corpus needs a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(existing, "directory is not writable")


def publish(output_dir: Path, files: Mapping[str, bytes], stats: Mapping[str, Any]) -> None:
    """Replace the corpus in `output_dir` by `files` and `stats`: afterwards it holds exactly the
    new corpus, or (after an error) exactly what it held before; split files of an earlier run
    that this one does not write are removed."""
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    created = list(itertools.takewhile(lambda path: not path.exists(), [output_dir, *output_dir.parents]))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with locked(output_dir):
            _finish_interrupted(output_dir)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir))
            try:
                for name, data in files.items():
                    _write_file(staging / name, data, output_dir)
                stats_data = (srsly.json_dumps(dict(stats), indent=2) + "\n").encode("utf-8")
                _write_file(staging / (STATS_FILE + ".part"), stats_data, output_dir, STATS_FILE)
                os.replace(staging / (STATS_FILE + ".part"), staging / STATS_FILE)  # staging complete
                _swap(output_dir, staging, list(files))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        _remove_empty(created)
        raise _output_error(output_dir, "cannot write the corpus", err) from None
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(created: list[Path]) -> None:
    """Remove the directories a failed run made (deepest first), as long as they are empty."""
    for path in created:
        try:
            path.rmdir()
        except OSError:
            return


@contextmanager
def locked(output_dir: Path) -> Iterator[None]:
    """Hold `output_dir`'s lock; a second conversion into it fails at once, clearly."""
    path = Path(output_dir) / LOCK_FILE
    busy = OutputError(
        output_dir, "another conversion is writing to this directory; wait for it to end or choose another directory"
    )
    flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if fcntl is None else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise busy from None
    except OSError as err:
        raise _output_error(path, "cannot create the lock file", err) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            except OSError as err:
                raise _output_error(path, "cannot lock", err) from None
            if not _same_file(fd, path):  # the last holder removed it as we opened it
                raise busy
        try:
            yield
        finally:
            with suppress(OSError):  # while still held: whoever opened it finds it gone
                path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def check_corpus(corpus_dir: Path, verify: bool = False) -> dict[str, Any]:
    """The stats of the complete corpus in `corpus_dir`: a ConversionError if it has no stats.json
    (a conversion was interrupted, or never ran) or its files are not the ones stats.json lists
    (size, and with `verify` the sha256)."""
    corpus_dir = Path(corpus_dir)
    stats_path = corpus_dir / STATS_FILE
    if not stats_path.is_file():
        raise ConversionError(
            corpus_dir, None, f"no {STATS_FILE}: not a complete corpus (a conversion was interrupted?); convert again"
        )
    try:
        stats = srsly.read_json(stats_path)
        listed: dict[str, dict[str, Any]] = stats["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConversionError(stats_path, None, f"not a stats file of this converter's version ({err!r})") from None
    for name in SPLIT_FILES:
        path = corpus_dir / name
        if name not in listed:
            if path.exists():
                raise ConversionError(path, None, f"not listed in {STATS_FILE}: left by another run; convert again")
            continue
        entry = listed[name]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            raise ConversionError(path, None, f"missing or not the file {STATS_FILE} lists; convert again")
        if verify and file_entry(path.read_bytes())["sha256"] != entry["sha256"]:
            raise ConversionError(path, None, f"content differs from what {STATS_FILE} lists; convert again")
    return stats


def check_corpus_file(path: Path) -> None:
    """Refuse a `.spacy` file of a half-written or altered corpus: when its folder is a
    converter's output (a `stats.json`, or a conversion's leftovers), `check_corpus` it. A DocBin
    of your own, in a folder the converters never wrote, passes unchecked."""
    folder = Path(path).parent
    leftovers = any(folder.glob(STAGING_PREFIX + "*")) or any(folder.glob(BACKUP_PREFIX + "*"))
    if (folder / STATS_FILE).exists() or leftovers:
        check_corpus(folder)


def recover(output_dir: Path) -> None:
    """Complete a conversion a kill interrupted in `output_dir` and remove its leftovers (each
    conversion does this first; `check_corpus` tells whether it is needed)."""
    try:
        with locked(output_dir):
            _finish_interrupted(Path(output_dir))
    except OSError as err:
        raise _output_error(Path(output_dir), "cannot recover", err) from None


def _swap(output_dir: Path, staging: Path, names: list[str]) -> None:
    backup = Path(tempfile.mkdtemp(prefix=BACKUP_PREFIX, dir=output_dir))
    moves: list[tuple[Path, Path]] = []

    def move(source: Path, target: Path) -> None:
        os.replace(source, target)
        moves.append((source, target))

    try:
        for name in (STATS_FILE, *SPLIT_FILES):  # stats first: from here the directory reads as incomplete
            if (output_dir / name).exists():
                move(output_dir / name, backup / name)
        for name in names:
            move(staging / name, output_dir / name)
        move(staging / STATS_FILE, output_dir / STATS_FILE)
    except BaseException as err:
        for source, target in reversed(moves):
            os.replace(target, source)
        if isinstance(err, OSError):
            raise _output_error(output_dir, "cannot move the new corpus in", err) from None
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)
    _sync_dir(output_dir)


def _finish_interrupted(output_dir: Path) -> None:
    """Roll a killed publication forward (only a complete staging dir has a stats.json), then
    remove leftover staging and backup directories. Call it holding the lock."""
    stagings = sorted(output_dir.glob(STAGING_PREFIX + "*"))
    complete = [staging for staging in stagings if (staging / STATS_FILE).is_file()]
    if complete and not (output_dir / STATS_FILE).exists():
        staging = complete[0]
        listed = srsly.read_json(staging / STATS_FILE)["files"]
        for name in SPLIT_FILES:
            if name not in listed:
                (output_dir / name).unlink(missing_ok=True)
            elif (staging / name).exists():
                os.replace(staging / name, output_dir / name)
        os.replace(staging / STATS_FILE, output_dir / STATS_FILE)
        _sync_dir(output_dir)
    for path in stagings + sorted(output_dir.glob(BACKUP_PREFIX + "*")):
        shutil.rmtree(path, ignore_errors=True)


def _write_file(path: Path, data: bytes, output_dir: Path, shown: str = "") -> None:
    try:
        with open(path, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as err:
        raise _output_error(output_dir / (shown or path.name), "cannot write", err) from None


def _output_error(path: Path, action: str, err: OSError) -> OutputError:
    reason = err.strerror or str(err) or type(err).__name__
    return OutputError(path, f"{action} ({reason}); the directory was left as it was")


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _sync_dir(path: Path) -> None:
    """Make the renames durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
