"""Checkpoints during training: a `[training.logger]` that keeps a copy of the pipeline saved at each
evaluation (spaCy keeps only model-last and model-best), so `spacy-bert-ner average` can take the last few.

    [training.logger]
    @loggers = "spacy_bert_ner.CheckpointLogger.v1"
    keep = 3

    [training.logger.logger]
    @loggers = "spacy.ConsoleLogger.v1"
    progress_bar = true

spaCy saves model-last after each evaluation and only then calls the logger with
`info["output_path"]`, so a checkpoint is a copy of that folder (the weights as saved, `before_to_disk`
and optimizer averages applied), written as `<output>/checkpoints/step-<N>`.
"""

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from spacy import util
from spacy.language import Language
from wasabi import Printer

LogStep = Callable[[dict[str, Any] | None], None]
Logger = Callable[[Language, IO, IO], tuple[LogStep, Callable[[], None]]]

CHECKPOINTS_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@util.registry.loggers("spacy_bert_ner.CheckpointLogger.v1")
def make_checkpoint_logger(logger: Logger, keep: int = 3) -> Logger:
    """Run `logger` and copy the pipeline saved at each evaluation to `<output>/checkpoints/step-<N>`,
    keeping the `keep` most recent (0 keeps every one)."""
    if keep < 0:
        raise ValueError(f"keep must be 0 (every checkpoint) or more, got {keep}")

    def setup_logger(
        nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr
    ) -> tuple[LogStep, Callable[[], None]]:
        log_step, finalize = logger(nlp, stdout, stderr)
        printer = Printer(no_print=True)
        state = {"cleared": False, "warned": False}

        def log_step_and_checkpoint(info: dict[str, Any] | None) -> None:
            log_step(info)
            if info is None:
                return
            saved = info.get("output_path")
            if not saved:
                if not state["warned"]:
                    stderr.write(
                        printer.warn("No output path (spacy train without --output): no checkpoints saved") + "\n"
                    )
                    state["warned"] = True
                return
            folder = Path(saved).parent / CHECKPOINTS_DIR
            if not state["cleared"]:
                stale = list_checkpoints(folder)
                for path in stale + sorted(folder.glob(".step-*.partial")):
                    shutil.rmtree(path)
                if stale:
                    stdout.write(
                        printer.info(f"Removed {len(stale)} checkpoint(s) of an earlier run from {folder}") + "\n"
                    )
                state["cleared"] = True
            try:
                save_checkpoint(Path(saved), folder, int(info["step"]), keep)
            except OSError as err:  # a full disk costs this checkpoint, not the training run
                stderr.write(printer.warn(f"Checkpoint at step {info['step']} not saved", str(err)) + "\n")

        return log_step_and_checkpoint, finalize

    return setup_logger


def save_checkpoint(saved: Path, folder: Path, step: int, keep: int) -> Path:
    """Copy the pipeline at `saved` to `folder/step-<step>` (complete or absent: it is copied under
    another name, then renamed) and remove all but the `keep` most recent checkpoints (0 keeps all)."""
    target = folder / f"step-{step}"
    partial = folder / f".step-{step}.partial"
    folder.mkdir(parents=True, exist_ok=True)
    for path in (partial, target):
        if path.exists():
            shutil.rmtree(path)
    try:
        shutil.copytree(saved, partial)
        partial.rename(target)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old)
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    """The `step-<N>` folders in `folder`, oldest (lowest step) first; [] if there is none."""
    if not folder.is_dir():
        return []
    steps = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if path.is_dir() and (match := _STEP_DIR.match(path.name))
    ]
    return [path for _, path in sorted(steps)]
