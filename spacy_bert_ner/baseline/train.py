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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from tqdm import tqdm
from wasabi import msg, row

from .data import BaselineError, encode_chunks, label_list, make_chunks, read_docs
from .predict import SETTINGS_FILE, bf16_autocast, peak_rss_mb, resolve_device, timed_scores

# The tutorial's num_train_epochs, used when no step budget is given.
DEFAULT_EPOCHS = 3
LOG_HEADER = ["step", "epoch", "loss", "ents_p", "ents_r", "ents_f", "seconds", "words/s"]
LOG_WIDTHS = [7, 5, 9, 6, 6, 6, 8, 8]
LOG_ALIGNS = ["r"] * len(LOG_HEADER)


@dataclass
class TrainOptions:
    model: str
    max_steps: Optional[int] = None
    max_minutes: Optional[float] = None
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


def _check_options(options: TrainOptions, max_positions: Optional[int]) -> None:
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


def train(
    train_path: Union[str, Path],
    dev_path: Union[str, Path],
    output_dir: Union[str, Path],
    options: TrainOptions,
    *,
    show_progress: bool = True,
) -> Dict[str, Any]:
    """Fine-tune, keep the best dev checkpoint in output_dir/model-best, write metrics.json.

    Returns the metrics: the best checkpoint's dev scores (reloaded from disk and re-scored,
    with inference speed), training steps, seconds and words/sec, peak RSS, the log history
    and all options.
    """
    from transformers import (
        AutoConfig,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        get_linear_schedule_with_warmup,
        set_seed,
    )

    output_dir = Path(output_dir)
    best_dir = output_dir / "model-best"
    config = AutoConfig.from_pretrained(options.model)
    _check_options(options, getattr(config, "max_position_embeddings", None))
    set_seed(options.seed)
    device = resolve_device(options.device)

    tokenizer = AutoTokenizer.from_pretrained(options.model, use_fast=True)
    if not tokenizer.is_fast:
        raise BaselineError(options.model, "needs a fast tokenizer (word_ids); none could be loaded")
    train_docs = read_docs(train_path)
    dev_docs = read_docs(dev_path)
    labels = label_list(train_docs)
    if len(labels) < 2:
        raise BaselineError(train_path, "no entities in the training data")
    label2id = {label: i for i, label in enumerate(labels)}
    chunks = make_chunks(train_docs, tokenizer, options.max_length, options.unit)
    if not chunks:
        raise BaselineError(train_path, "all training Docs are empty")
    features = encode_chunks(train_docs, chunks, tokenizer, label2id, options.max_length)
    n_words = [c.end - c.start for c in chunks]
    steps_per_epoch = math.ceil(len(features) / options.batch_size)
    max_steps = options.max_steps or DEFAULT_EPOCHS * steps_per_epoch

    model = AutoModelForTokenClassification.from_pretrained(
        options.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    model.to(device)
    optimizer = _optimizer(model, options)
    scheduler = get_linear_schedule_with_warmup(optimizer, options.warmup_steps, max_steps)
    collator = DataCollatorForTokenClassification(tokenizer)
    rng = random.Random(options.seed)
    settings = {
        "model": options.model,
        "max_length": options.max_length,
        "unit": options.unit,
        "bf16": options.bf16,
        "labels": labels,
    }

    msg.info(
        f"Baseline: {options.model} on {device}; {len(train_docs)} train Docs -> {len(chunks)} "
        f"{options.unit} chunks of <= {options.max_length} wordpieces; {len(labels)} labels; "
        f"{'bfloat16 autocast' if options.bf16 else 'float32'}; up to {max_steps} steps"
        + (f" or {options.max_minutes} min" if options.max_minutes else "")
    )
    history: List[Dict[str, Any]] = []
    best: Dict[str, Any] = {"ents_f": -1.0, "step": 0}
    step = epoch = words = 0
    eval_seconds = 0.0
    window = {"loss": 0.0, "batches": 0, "words": 0, "seconds": 0.0}
    budget_s = options.max_minutes * 60 if options.max_minutes else math.inf

    def dev_scores(scored_model, scored_tokenizer) -> Dict[str, Any]:
        return timed_scores(
            scored_model,
            scored_tokenizer,
            dev_docs,
            batch_size=options.eval_batch_size,
            max_length=options.max_length,
            unit=options.unit,
            bf16=options.bf16,
        )

    def evaluate_dev(elapsed: float) -> None:
        nonlocal eval_seconds
        start = time.perf_counter()
        scores = dev_scores(model, tokenizer)
        entry = {
            "step": step,
            "epoch": epoch,
            "loss": window["loss"] / max(window["batches"], 1),
            "ents_p": scores["ents_p"],
            "ents_r": scores["ents_r"],
            "ents_f": scores["ents_f"],
            "seconds": elapsed,
            "words_per_second": window["words"] / window["seconds"] if window["seconds"] else 0.0,
        }
        history.append(entry)
        if scores["ents_f"] > best["ents_f"]:
            best.update(ents_f=scores["ents_f"], step=step)
            model.save_pretrained(str(best_dir))
            tokenizer.save_pretrained(str(best_dir))
            (best_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")
        window.update(loss=0.0, batches=0, words=0, seconds=0.0)
        values = [step, epoch, f"{entry['loss']:.4f}", *(f"{100 * entry[k]:.2f}" for k in LOG_HEADER[3:6])]
        tqdm.write(row([*values, f"{elapsed:.0f}", f"{entry['words_per_second']:.0f}"], LOG_WIDTHS, aligns=LOG_ALIGNS))
        eval_seconds += time.perf_counter() - start

    tqdm.write(row(LOG_HEADER, LOG_WIDTHS, aligns=LOG_ALIGNS))
    tqdm.write(row(["-" * w for w in LOG_WIDTHS], LOG_WIDTHS, aligns=LOG_ALIGNS))
    model.train()
    start = time.perf_counter()
    progress = tqdm(total=max_steps, leave=False, disable=not show_progress)
    done = False
    while not done:
        order = list(range(len(features)))
        rng.shuffle(order)
        for b in range(0, len(order), options.batch_size):
            batch_start = time.perf_counter()
            batch = order[b : b + options.batch_size]
            inputs = collator([features[i] for i in batch]).to(device)
            with bf16_autocast(device, options.bf16):
                loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            batch_words = sum(n_words[i] for i in batch)
            words += batch_words
            window["loss"] += loss.item()
            window["batches"] += 1
            window["words"] += batch_words
            window["seconds"] += time.perf_counter() - batch_start
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            elapsed = time.perf_counter() - start
            done = step >= max_steps or elapsed >= budget_s
            if done or step % options.eval_every == 0:
                evaluate_dev(elapsed)
            if done:
                break
        epoch += 1
    progress.close()
    wall_seconds = time.perf_counter() - start
    train_seconds = wall_seconds - eval_seconds

    # Re-score the checkpoint as saved: what evaluate() and predict_docs() will see.
    from .predict import load_model

    best_model, best_tokenizer, _ = load_model(best_dir, options.device)
    final = dev_scores(best_model, best_tokenizer)
    metrics = {
        "model": options.model,
        "model_best": str(best_dir),
        "best_step": best["step"],
        **final,
        "train": {
            "steps": step,
            "epochs": step / steps_per_epoch,
            "seconds": train_seconds,
            "wall_seconds": wall_seconds,
            "eval_seconds": eval_seconds,
            "words": words,
            "words_per_second": words / train_seconds if train_seconds > 0 else 0.0,
            "docs": len(train_docs),
            "chunks": len(chunks),
            "stopped_by": "max_steps" if step >= max_steps else "max_minutes",
        },
        "dev_docs": len(dev_docs),
        "labels": labels,
        "peak_rss_mb": peak_rss_mb(),
        "history": history,
        "options": {**asdict(options), "max_steps_used": max_steps, "device_used": str(device)},
        "data": {"train": str(train_path), "dev": str(dev_path)},
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    msg.good(
        f"Best dev F {100 * metrics['ents_f']:.2f} (P {100 * metrics['ents_p']:.2f}, "
        f"R {100 * metrics['ents_r']:.2f}) at step {best['step']}; {step} steps in {train_seconds:.0f}s "
        f"({metrics['train']['words_per_second']:.0f} words/s); inference "
        f"{metrics['speed']:.0f} words/s (batch {options.eval_batch_size})",
        f"Saved to {best_dir} and {output_dir / 'metrics.json'}",
    )
    return metrics
