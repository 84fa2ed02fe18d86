"""Writing a corpus (issue 14): interrupted, killed, failing or concurrent conversions leave the
old complete corpus or the new complete one, never a mix, and say clearly what went wrong."""

import errno
import hashlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.converters import ConversionError, OutputError, check_corpus, convert_conll, convert_kaggle
from spacy_bert_ner.converters import output as output_module
from spacy_bert_ner.converters.output import locked, recover

ROWS = "".join(f"Sentence: {i},Person{i},NNP,B-per\r\n,slept,VBD,O\r\n" for i in range(1, 41))
KAGGLE = ("Sentence #,Word,POS,Tag\r\n" + ROWS).encode("cp1252")
CONLL = b"EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\n. . O O\n"
FORK = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
runner = CliRunner()


def snapshot(directory: Path) -> dict[str, str]:
    """Every entry of `directory`, hidden ones included: a file's sha256, or "dir"."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in directory.iterdir()}


@pytest.fixture
def corpora(tmp_path):
    """The input file, and the old (seed 1) and new (seed 0) corpora it gives, as snapshots."""
    source = tmp_path / "ner.csv"
    source.write_bytes(KAGGLE)
    refs = {}
    for name, seed in (("old", 1), ("new", 0)):
        convert_kaggle(source, tmp_path / name, seed=seed, n_sents=2)
        refs[name] = snapshot(tmp_path / name)
    assert refs["old"]["train.spacy"] != refs["new"]["train.spacy"]
    return source, refs


def fresh_old(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(tmp_path / "old", out)
    return out


class Steps:
    """Counts the conversion's writes (each file written, each rename) and acts at one of them."""

    def __init__(self, monkeypatch, at: int = -1, act: Callable[[], None] = lambda: None) -> None:
        self.count, self.at, self.act = 0, at, act
        real_write, real_replace = output_module._write_file, os.replace

        def write(path, data, *args):
            if self.count == self.at:  # die half-way through the file
                path.write_bytes(data[: len(data) // 2])
            self.step()
            real_write(path, data, *args)

        def replace(source, target):
            self.step()
            real_replace(source, target)

        monkeypatch.setattr(output_module, "_write_file", write)
        monkeypatch.setattr(os, "replace", replace)

    def step(self) -> None:
        self.count += 1
        if self.count - 1 == self.at:
            self.at = -1  # once: the rollback's own renames go through
            self.act()


def count_steps(tmp_path: Path, source: Path, monkeypatch) -> int:
    with monkeypatch.context() as patch:
        steps = Steps(patch)
        convert_kaggle(source, fresh_old(tmp_path), seed=0, n_sents=2)
    return steps.count


def raise_(error: BaseException) -> Callable[..., None]:
    def act(*args) -> None:
        raise error

    return act


@pytest.mark.parametrize(
    "error,caught",
    [(KeyboardInterrupt(), KeyboardInterrupt), (OSError(errno.ENOSPC, "No space left on device"), OutputError)],
    ids=["ctrl-c", "disk-full"],
)
def test_interrupted_at_each_write_leaves_the_old_corpus(tmp_path, corpora, monkeypatch, error, caught):
    source, refs = corpora
    n_steps = count_steps(tmp_path, source, monkeypatch)
    assert n_steps == 4 + 1 + 4 + 4  # 3 splits and stats staged, staging made complete, 4 moved out, 4 in
    for at in range(n_steps):
        out = fresh_old(tmp_path)
        with monkeypatch.context() as patch:
            Steps(patch, at, raise_(error))
            with pytest.raises(caught) as excinfo:
                convert_kaggle(source, out, seed=0, n_sents=2)
        assert snapshot(out) == refs["old"], f"interrupted at write {at}"
        if caught is OutputError:
            assert str(excinfo.value).startswith(f"{out}") and "No space left on device" in str(excinfo.value)
    convert_kaggle(source, out, seed=0, n_sents=2)
    assert snapshot(out) == refs["new"]


def _convert_in_child(source: Path, out: Path, at: int) -> None:
    # In a forked child: SIGKILL itself at write `at`, as `kill -9` or a power cut would.
    steps = Steps(pytest.MonkeyPatch(), at, lambda: os.kill(os.getpid(), signal.SIGKILL))
    convert_kaggle(source, out, seed=0, n_sents=2)
    os._exit(0 if steps.count else 1)


@pytest.mark.skipif(FORK is None or not hasattr(signal, "SIGKILL"), reason="needs fork and SIGKILL")
def test_killed_at_each_write_leaves_old_or_marked_incomplete_and_recovers(tmp_path, corpora, monkeypatch):
    source, refs = corpora
    n_steps = count_steps(tmp_path, source, monkeypatch)
    seen = set()
    for at in range(n_steps):
        out = fresh_old(tmp_path)
        child = FORK.Process(target=_convert_in_child, args=(source, out, at))
        child.start()
        child.join(60)
        assert child.exitcode == -signal.SIGKILL
        visible = {name: digest for name, digest in snapshot(out).items() if not name.startswith(".")}
        if visible == refs["old"]:
            seen.add("old")
        else:  # never a directory that looks complete and is not
            assert "stats.json" not in visible, f"killed at write {at}: {sorted(visible)}"
            with pytest.raises(ConversionError, match="no stats.json: not a complete corpus"):
                check_corpus(out)
            seen.add("incomplete")
        recover(out)  # what the next conversion into `out` does first
        assert snapshot(out) in (refs["old"], refs["new"]), f"killed at write {at}"
        check_corpus(out, verify=True)
    assert seen == {"old", "incomplete"}


def _convert_and_exit(source: Path, out: Path, seed: int, report: Path, holding=None) -> None:
    # In a forked child. With `holding`: set it once the lock is held, then write slowly.
    if holding is not None:
        real_write = output_module._write_file

        def slow_write(*args):
            holding.set()
            time.sleep(0.2)
            real_write(*args)

        output_module._write_file = slow_write
    try:
        convert_kaggle(source, out, seed=seed, n_sents=2)
    except OutputError as err:
        report.write_text(str(err))
        os._exit(3)
    os._exit(0)


@pytest.mark.skipif(FORK is None, reason="needs fork")
def test_two_conversions_at_once_one_refused_clearly_corpus_complete(tmp_path, corpora):
    source, refs = corpora
    out = fresh_old(tmp_path)
    holding = FORK.Event()
    first = FORK.Process(target=_convert_and_exit, args=(source, out, 0, tmp_path / "err0", holding))
    first.start()
    assert holding.wait(60)
    second = FORK.Process(target=_convert_and_exit, args=(source, out, 1, tmp_path / "err1"))
    second.start()
    second.join(60)
    first.join(60)
    assert (first.exitcode, second.exitcode) == (0, 3)  # both used to exit 0, leaving a mixed file
    message = (tmp_path / "err1").read_text()
    assert message.startswith(f"{out}: another conversion is writing to this directory; wait for it to end")
    assert snapshot(out) == refs["new"]
    check_corpus(out, verify=True)


def test_conversion_into_a_locked_directory_is_refused_and_changes_nothing(tmp_path, corpora):
    source, refs = corpora
    out = fresh_old(tmp_path)
    with locked(out):
        with pytest.raises(OutputError, match="another conversion is writing to this directory"):
            convert_kaggle(source, out, seed=0, n_sents=2)
        assert {k: v for k, v in snapshot(out).items() if k != ".lock"} == refs["old"]
    assert snapshot(out) == refs["old"]  # the lock file goes with the lock


def test_next_run_completes_an_interrupted_one_before_its_own(tmp_path, corpora, monkeypatch):
    source, refs = corpora
    out = fresh_old(tmp_path)
    staging = out / ".staging-killed"
    shutil.copytree(tmp_path / "new", staging)  # complete staging: stats.json written last
    (out / "stats.json").unlink()  # killed just after the first rename
    monkeypatch.setattr(output_module, "_write_file", raise_(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputError, match="No space left on device"):
        convert_kaggle(source, out, seed=1, n_sents=2)
    assert snapshot(out) == refs["new"]  # rolled forward, then the failed run left it as it was


def test_output_path_that_is_a_file_fails_before_reading(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a directory")
    with pytest.raises(OutputError) as excinfo:
        convert_kaggle(tmp_path / "missing.csv", out)
    assert str(excinfo.value) == f"{out}: exists and is not a directory; the corpus needs a directory"
    with pytest.raises(OutputError, match="exists and is not a directory"):
        convert_conll({"train": tmp_path / "missing"}, out / "sub")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_output_directory_fails_before_reading(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="directory is not writable"):
            convert_kaggle(tmp_path / "missing.csv", out / "kaggle")
    finally:
        out.chmod(0o700)


def test_permission_denied_while_writing_is_an_output_error(tmp_path, corpora, monkeypatch):
    source, refs = corpora
    out = fresh_old(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(out))

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    with pytest.raises(OutputError) as excinfo:
        convert_kaggle(source, out)
    assert str(excinfo.value) == f"{out}: cannot write the corpus (Permission denied); the directory was left as it was"
    assert snapshot(out) == refs["old"]


def test_full_disk_on_a_first_conversion_leaves_no_directory(tmp_path, monkeypatch):
    source = tmp_path / "ner.csv"
    source.write_bytes(KAGGLE)
    monkeypatch.setattr(output_module, "_write_file", raise_(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputError, match="No space left on device"):
        convert_kaggle(source, tmp_path / "corpus" / "kaggle")
    assert not (tmp_path / "corpus").exists()


def test_cli_output_error_and_ctrl_c_exit_clearly(tmp_path, monkeypatch):
    source = tmp_path / "ner.csv"
    source.write_bytes(KAGGLE)
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["convert-kaggle", str(source), str(tmp_path / "file")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'file'}: exists and is not a directory" in " ".join(result.output.split())
    monkeypatch.setattr(output_module, "_write_file", raise_(KeyboardInterrupt()))
    result = runner.invoke(app, ["convert-kaggle", str(source), str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "Interrupted" in result.output
    assert f"{tmp_path / 'out'} was left as it was" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_check_corpus_accepts_a_complete_corpus_and_refuses_others(tmp_path):
    source = tmp_path / "eng.train"
    source.write_bytes(CONLL)
    out = tmp_path / "out"
    summary = convert_conll({"train": source, "dev": source}, out)
    assert check_corpus(out, verify=True) == summary == srsly.read_json(out / "stats.json")
    (out / "test.spacy").write_bytes(b"stale")
    with pytest.raises(ConversionError, match=r"test\.spacy: not listed in stats\.json"):
        check_corpus(out)
    (out / "test.spacy").unlink()
    (out / "dev.spacy").write_bytes((out / "dev.spacy").read_bytes()[:-1] + b"x")
    check_corpus(out)  # same size: only the hash tells
    with pytest.raises(ConversionError, match=r"dev\.spacy: content differs"):
        check_corpus(out, verify=True)
    (out / "stats.json").unlink()
    with pytest.raises(ConversionError, match="no stats.json"):
        check_corpus(out)


def test_same_seed_still_gives_byte_identical_files(tmp_path, corpora):
    source, refs = corpora
    convert_kaggle(source, tmp_path / "again", seed=0, n_sents=2)
    assert snapshot(tmp_path / "again") == refs["new"]
    assert sorted(refs["new"]) == ["dev.spacy", "stats.json", "test.spacy", "train.spacy"]


def test_commands_that_read_a_corpus_refuse_a_half_written_one(tmp_path):
    """`check-corpus` (run first by the project's train and evaluate) and `report` / `baseline train`
    stop, naming the cause, on a corpus a kill left half-written; a DocBin of your own passes unchecked."""
    source = tmp_path / "eng.train"
    source.write_bytes(CONLL)
    out = tmp_path / "corpus"
    convert_conll({"train": source, "dev": source}, out)
    result = runner.invoke(app, ["check-corpus", str(out), "--verify"])
    assert result.exit_code == 0 and "a complete corpus (train 1 docs, dev 1 docs)" in " ".join(result.output.split())
    mine = tmp_path / "mine"
    shutil.copytree(out, mine)
    (mine / "stats.json").unlink()
    output_module.check_corpus_file(mine / "dev.spacy")  # no converter's marks: nothing to check
    # a kill during the final renames: stats.json moved aside, the staging folder still there
    (out / "stats.json").unlink()
    (out / ".staging-x").mkdir()
    result = runner.invoke(app, ["check-corpus", str(out)])
    assert result.exit_code == 1 and "no stats.json: not a complete corpus" in " ".join(result.output.split())
    for args in (
        ["report", "some/model", str(out / "dev.spacy"), str(tmp_path / "report")],
        ["baseline", "train", str(out / "train.spacy"), str(out / "dev.spacy"), str(tmp_path / "b"), "--model", "m"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        said = " ".join(result.output.split())
        assert "is not part of a complete corpus" in said and "no stats.json" in said
