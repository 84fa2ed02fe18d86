"""What `cpu_bfloat16` buys on this CPU: the encoder alone, float32 against torch.autocast("cpu",
bfloat16), on one fixed batch of random wordpiece ids (training: forward and backward in train
mode; inference: forward under no_grad in eval mode). Best of `--repeats` after a warm-up.
Nothing is asserted.

spacy-bert-ner bench bfloat16 assets/models/minilm --windows 24 --length 128
"""

from collections.abc import Callable
from pathlib import Path

import typer

from .common import Section, best_of, machine, run_and_show


def bfloat16_section(model_dir: Path, windows: int, length: int, repeats: int) -> Section:
    import torch
    from transformers import AutoModel

    from ..pipeline.cpu_bfloat16 import cpu_has_bfloat16

    model = AutoModel.from_pretrained(str(model_dir))
    generator = torch.Generator().manual_seed(0)
    vocab_size = model.config.vocab_size
    first_id = min(1000, vocab_size // 2)  # past BERT's special and [unused] ids, in a small vocab too
    ids = torch.randint(first_id, vocab_size, (windows, length), generator=generator)
    mask = torch.ones_like(ids)

    def training_step(bfloat16: bool) -> Callable[[], None]:
        def run() -> None:
            model.train()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            hidden.float().sum().backward()
            model.zero_grad(set_to_none=True)

        return run

    def inference(bfloat16: bool) -> Callable[[], None]:
        @torch.no_grad()
        def run() -> None:
            model.eval()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                model(input_ids=ids, attention_mask=mask)

        return run

    rows = []
    for name, make in (("forward + backward (train mode)", training_step), ("forward (eval, no_grad)", inference)):
        fp32, bf16 = best_of(repeats, make(False), warmup=True)[0], best_of(repeats, make(True), warmup=True)[0]
        rows.append([name, f"{fp32:.3f}", f"{bf16:.3f}", f"{fp32 / bf16:.2f}x"])
    notes = [
        f"{machine()}; {model_dir}; {windows} windows of {length} wordpieces; best of {repeats}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; native bfloat16: {cpu_has_bfloat16()}."
    ]
    return Section("bfloat16 on the CPU", ["pass", "float32 (s)", "bfloat16 (s)", "speed-up"], rows, notes)


def main(
    model_dir: Path = typer.Argument(..., help="A Hugging Face model folder (e.g. assets/models/minilm)"),
    windows: int = typer.Option(24, help="Sequences in the batch"),
    length: int = typer.Option(128, help="Wordpieces a sequence"),
    repeats: int = typer.Option(3, help="Timed passes; the best is reported"),
    output: Path = typer.Option(None, help="Also write the table to this Markdown file"),
) -> None:
    """Time the encoder in float32 and in CPU bfloat16 and print a table."""
    run_and_show(lambda: bfloat16_section(model_dir, windows, length, repeats), output)
