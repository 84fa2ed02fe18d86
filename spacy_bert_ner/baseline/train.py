"""The classic fine-tuning recipe (the Hugging Face token-classification tutorial), as the peer
the spaCy pipeline has to beat.

`AutoModelForTokenClassification` on the first-subword labels of `data.py`; AdamW with weight
decay 0.01 (not on biases and LayerNorm weights, as `Trainer` does) and gradient clipping at 1.0
(`Trainer`'s default); a linear warmup/decay schedule over the step budget; batches padded by
`DataCollatorForTokenClassification`; a seeded shuffle per epoch. Training stops at
`max_steps` or after `max_minutes` of wall clock (evaluation included), whichever comes first;
the schedule is laid out over `max_steps` either way. `bf16` runs the forward passes (training
and dev scoring) under torch.autocast(bfloat16), as Trainer's `bf16=True` does; weights, gradients
and AdamW stay float32. The dev set is scored every `eval_every`
steps and at the end, and the best dev F checkpoint is kept in OUTPUT_DIR/model-best.
"""

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg, row

from .data import BaselineError, Chunk, encode_chunks, label_list, make_chunks, read_docs
from .predict import SETTINGS_FILE, bf16_autocast, load_model, peak_rss_mb, resolve_device, timed_scores

if TYPE_CHECKING:
    from transformers import DataCollatorForTokenClassification, PreTrainedModel, PreTrainedTokenizerFast

# The tutorial's num_train_epochs, used when no step budget is given.
DEFAULT_EPOCHS = 3
LOG_HEADER = ["step", "epoch", "loss", "ents_p", "ents_r", "ents_f", "seconds", "words/s"]
LOG_WIDTHS = [7, 5, 9, 6, 6, 6, 8, 8]
LOG_ALIGNS = ["r"] * len(LOG_HEADER)


@dataclass
class TrainOptions:
    model: str
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 16
    learn_rate: float = 5e-5
    warmup_steps: int = 100
    max_length: int = 256
    unit: str = "sentence"
    eval_every: int = 200
    seed: int = 0
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_batch_size: int = 32
    device: str = "auto"
    bf16: bool = False


def _optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        (no_decay if exempt else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": options.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=options.learn_rate)


def _check_options(options: TrainOptions, max_positions: int | None) -> None:
    for name in ("batch_size", "eval_every", "max_length", "eval_batch_size"):
        if getattr(options, name) < 1:
            raise BaselineError(name, f"must be at least 1, got {getattr(options, name)}")
    if options.max_steps is not None and options.max_steps < 1:
        raise BaselineError("max_steps", f"must be at least 1, got {options.max_steps}")
    if options.max_minutes is not None and options.max_minutes <= 0:
        raise BaselineError("max_minutes", f"must be positive, got {options.max_minutes}")
    if max_positions is not None and options.max_length > max_positions:
        raise BaselineError(
            options.model, f"max_length {options.max_length} exceeds the model's {max_positions} positions"
        )


def _fast_tokenizer(model_name: str) -> "PreTrainedTokenizerFast":
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_name, use_fast=True)
    if not tokenizer.is_fast:
        raise BaselineError(model_name, "needs a fast tokenizer (word_ids); none could be loaded")
    return tokenizer


@dataclass
class TrainingSet:
    """The corpora as the model sees them: the label inventory and one encoded feature per chunk."""

    train_docs: list[Doc]
    dev_docs: list[Doc]
    labels: list[str]
    chunks: list[Chunk]
    features: list[dict[str, list[int]]]
    n_words: list[int]  # words per chunk, for the words/sec figures

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.features) / batch_size)


def _training_set(
    train_path: str | Path, dev_path: str | Path, tokenizer: "PreTrainedTokenizerFast", options: TrainOptions
) -> TrainingSet:
    train_docs = read_docs(train_path)
    # read before the checks below, so a missing dev file is reported first
    dev_docs = read_docs(dev_path)
    labels = label_list(train_docs)
    if len(labels) < 2:
        raise BaselineError(train_path, "no entities in the training data")
    chunks = make_chunks(train_docs, tokenizer, options.max_length, options.unit)
    if not chunks:
        raise BaselineError(train_path, "all training Docs are empty")
    label2id = {label: i for i, label in enumerate(labels)}
    features = encode_chunks(train_docs, chunks, tokenizer, label2id, options.max_length)
    return TrainingSet(train_docs, dev_docs, labels, chunks, features, [c.end - c.start for c in chunks])


def _dev_scores(
    model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerFast", dev_docs: list[Doc], options: TrainOptions
) -> dict[str, Any]:
    return timed_scores(
        model,
        tokenizer,
        dev_docs,
        batch_size=options.eval_batch_size,
        max_length=options.max_length,
        unit=options.unit,
        bf16=options.bf16,
    )


@dataclass
class LogWindow:
    """Loss and throughput since the last dev evaluation: what the next log line reports."""

    loss: float = 0.0
    batches: int = 0
    words: int = 0
    seconds: float = 0.0

    def add(self, loss: float, words: int, seconds: float) -> None:
        self.loss += loss
        self.batches += 1
        self.words += words
        self.seconds += seconds

    @property
    def mean_loss(self) -> float:
        return self.loss / max(self.batches, 1)

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds else 0.0


def _log_row(entry: dict[str, Any]) -> str:
    values = [
        entry["step"],
        entry["epoch"],
        f"{entry['loss']:.4f}",
        *(f"{100 * entry[k]:.2f}" for k in LOG_HEADER[3:6]),
    ]
    return row([*values, f"{entry['seconds']:.0f}", f"{entry['words_per_second']:.0f}"], LOG_WIDTHS, aligns=LOG_ALIGNS)


@dataclass
class TrainingRun:
    """One fine-tuning run: what it trains with, and its state (counters, dev history, best checkpoint)."""

    options: TrainOptions
    data: TrainingSet
    model: "PreTrainedModel"
    tokenizer: "PreTrainedTokenizerFast"
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    collator: "DataCollatorForTokenClassification"
    device: torch.device
    best_dir: Path
    max_steps: int
    step: int = 0
    epoch: int = 0
    words: int = 0
    eval_seconds: float = 0.0
    best_f: float = -1.0
    best_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    window: LogWindow = field(default_factory=LogWindow)

    @property
    def settings(self) -> dict[str, Any]:
        """What prediction must do as training did; saved next to the checkpoint."""
        return {
            "model": self.options.model,
            "max_length": self.options.max_length,
            "unit": self.options.unit,
            "bf16": self.options.bf16,
            "labels": self.data.labels,
        }

    def fit(self, rng: random.Random, show_progress: bool) -> float:
        """Train until `max_steps` or the wall-clock budget; returns the wall seconds, evaluation included."""
        budget_s = self.options.max_minutes * 60 if self.options.max_minutes else math.inf
        self.model.train()
        start = time.perf_counter()
        progress = tqdm(total=self.max_steps, leave=False, disable=not show_progress)
        done = False
        while not done:
            order = list(range(len(self.data.features)))
            rng.shuffle(order)
            done = self._run_epoch(order, progress, start, budget_s)
            self.epoch += 1
        progress.close()
        return time.perf_counter() - start

    def _run_epoch(self, order: list[int], progress: tqdm, start: float, budget_s: float) -> bool:
        """One pass over the shuffled `order`; True once training is done (it may stop mid-epoch)."""
        for b in range(0, len(order), self.options.batch_size):
            loss = self._train_step(order[b : b + self.options.batch_size])
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", refresh=False)
            elapsed = time.perf_counter() - start
            done = self.step >= self.max_steps or elapsed >= budget_s
            if done or self.step % self.options.eval_every == 0:
                self.evaluate_dev(elapsed)
            if done:
                return True
        return False

    def _train_step(self, batch: list[int]) -> float:
        batch_start = time.perf_counter()
        inputs = self.collator([self.data.features[i] for i in batch]).to(self.device)
        with bf16_autocast(self.device, self.options.bf16):
            loss = self.model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.step += 1
        batch_words = sum(self.data.n_words[i] for i in batch)
        self.words += batch_words
        # .item() waits for the device, so the batch time below includes the whole step
        value = loss.item()
        self.window.add(value, batch_words, time.perf_counter() - batch_start)
        return value

    def evaluate_dev(self, elapsed: float) -> None:
        """Score the dev set, log a line, keep the checkpoint if it is the best so far."""
        start = time.perf_counter()
        scores = _dev_scores(self.model, self.tokenizer, self.data.dev_docs, self.options)
        entry = {
            "step": self.step,
            "epoch": self.epoch,
            "loss": self.window.mean_loss,
            "ents_p": scores["ents_p"],
            "ents_r": scores["ents_r"],
            "ents_f": scores["ents_f"],
            "seconds": elapsed,
            "words_per_second": self.window.words_per_second,
        }
        self.history.append(entry)
        if scores["ents_f"] > self.best_f:
            self.best_f, self.best_step = scores["ents_f"], self.step
            self._save_best()
        self.window = LogWindow()
        tqdm.write(_log_row(entry))
        self.eval_seconds += time.perf_counter() - start

    def _save_best(self) -> None:
        self.model.save_pretrained(str(self.best_dir))
        self.tokenizer.save_pretrained(str(self.best_dir))
        (self.best_dir / SETTINGS_FILE).write_text(json.dumps(self.settings, indent=2), encoding="utf-8")


def _start_run(
    options: TrainOptions,
    data: TrainingSet,
    tokenizer: "PreTrainedTokenizerFast",
    device: torch.device,
    best_dir: Path,
) -> TrainingRun:
    """Load the model with a fresh classifier head and lay out the optimizer and schedule."""
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        get_linear_schedule_with_warmup,
    )

    max_steps = options.max_steps or DEFAULT_EPOCHS * data.steps_per_epoch(options.batch_size)
    model = AutoModelForTokenClassification.from_pretrained(
        options.model, num_labels=len(data.labels), id2label=dict(enumerate(data.labels)), label2id=data.label2id
    )
    model.to(device)
    optimizer = _optimizer(model, options)
    scheduler = get_linear_schedule_with_warmup(optimizer, options.warmup_steps, max_steps)
    collator = DataCollatorForTokenClassification(tokenizer)
    return TrainingRun(options, data, model, tokenizer, optimizer, scheduler, collator, device, best_dir, max_steps)


def _announce(run: TrainingRun) -> None:
    options = run.options
    msg.info(
        f"Baseline: {options.model} on {run.device}; {len(run.data.train_docs)} train Docs -> {len(run.data.chunks)} "
        f"{options.unit} chunks of <= {options.max_length} wordpieces; {len(run.data.labels)} labels; "
        f"{'bfloat16 autocast' if options.bf16 else 'float32'}; up to {run.max_steps} steps"
        + (f" or {options.max_minutes} min" if options.max_minutes else "")
    )
    tqdm.write(row(LOG_HEADER, LOG_WIDTHS, aligns=LOG_ALIGNS))
    tqdm.write(row(["-" * w for w in LOG_WIDTHS], LOG_WIDTHS, aligns=LOG_ALIGNS))


def _metrics(
    run: TrainingRun, final: dict[str, Any], wall_seconds: float, train_path: str | Path, dev_path: str | Path
) -> dict[str, Any]:
    train_seconds = wall_seconds - run.eval_seconds
    return {
        "model": run.options.model,
        "model_best": str(run.best_dir),
        "best_step": run.best_step,
        **final,
        "train": {
            "steps": run.step,
            "epochs": run.step / run.data.steps_per_epoch(run.options.batch_size),
            "seconds": train_seconds,
            "wall_seconds": wall_seconds,
            "eval_seconds": run.eval_seconds,
            "words": run.words,
            "words_per_second": run.words / train_seconds if train_seconds > 0 else 0.0,
            "docs": len(run.data.train_docs),
            "chunks": len(run.data.chunks),
            "stopped_by": "max_steps" if run.step >= run.max_steps else "max_minutes",
        },
        "dev_docs": len(run.data.dev_docs),
        "labels": run.data.labels,
        "peak_rss_mb": peak_rss_mb(),
        "history": run.history,
        "options": {**asdict(run.options), "max_steps_used": run.max_steps, "device_used": str(run.device)},
        "data": {"train": str(train_path), "dev": str(dev_path)},
    }


def _report(metrics: dict[str, Any], metrics_path: Path) -> None:
    train_stats = metrics["train"]
    msg.good(
        f"Best dev F {100 * metrics['ents_f']:.2f} (P {100 * metrics['ents_p']:.2f}, "
        f"R {100 * metrics['ents_r']:.2f}) at step {metrics['best_step']}; {train_stats['steps']} steps in "
        f"{train_stats['seconds']:.0f}s ({train_stats['words_per_second']:.0f} words/s); inference "
        f"{metrics['speed']:.0f} words/s (batch {metrics['inference']['batch_size']})",
        f"Saved to {metrics['model_best']} and {metrics_path}",
    )


def train(
    train_path: str | Path,
    dev_path: str | Path,
    output_dir: str | Path,
    options: TrainOptions,
    *,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune, keep the best dev checkpoint in output_dir/model-best, write metrics.json.

    Returns the metrics: the best checkpoint's dev scores (reloaded from disk and re-scored,
    with inference speed), training steps, seconds and words/sec, peak RSS, the log history
    and all options.
    """
    from transformers import AutoConfig, set_seed

    output_dir = Path(output_dir)
    config = AutoConfig.from_pretrained(options.model)
    _check_options(options, getattr(config, "max_position_embeddings", None))
    set_seed(options.seed)
    device = resolve_device(options.device)
    tokenizer = _fast_tokenizer(options.model)
    data = _training_set(train_path, dev_path, tokenizer, options)
    run = _start_run(options, data, tokenizer, device, output_dir / "model-best")
    _announce(run)
    wall_seconds = run.fit(random.Random(options.seed), show_progress)

    # Re-score the checkpoint as saved: what evaluate() and predict_docs() will see.
    best_model, best_tokenizer, _ = load_model(run.best_dir, options.device)
    final = _dev_scores(best_model, best_tokenizer, data.dev_docs, options)
    metrics = _metrics(run, final, wall_seconds, train_path, dev_path)
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = output_dir / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    _report(metrics, metrics_path)
    return metrics
