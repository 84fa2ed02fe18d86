"""Whole conversions: source files in, `{train,dev,test}.spacy` and `stats.json` out, published
together (see output.py) and only after the counts add up."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .conll import read_conll
from .docs import Document, SplitStats, build_split, count_stored
from .errors import ConversionError
from .kaggle import read_kaggle
from .output import check_output_dir, file_entry, publish
from .repairs import ConversionReport
from .split import SPLIT_NAMES, check_ratios, group, split_items
from .tags import TagScheme


def convert_kaggle(
    input_path: Path,
    output_dir: Path,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    n_sents: int = 10,
    encoding: str | None = None,
    scheme: TagScheme = TagScheme.iob2,
    skip_bad_sentences: bool = False,
    strict: bool = False,
) -> dict[str, Any]:
    """Split the Kaggle CSV into train/dev/test DocBins.

    The split unit is a block of `n_sents` consecutive sentences, which also becomes one Doc:
    the file has no document ids, but consecutive sentences mostly come from one GMB document,
    so blocks leak less context across splits than single sentences and give the encoder context.
    `encoding` None detects UTF-8, else reads cp1252 (the published file's).
    """
    check_ratios(ratios)
    _check_n_sents(n_sents)
    check_output_dir(output_dir)
    report = ConversionReport()
    sentences = read_kaggle(
        input_path,
        encoding=encoding,
        scheme=scheme,
        skip_bad_sentences=skip_bad_sentences,
        strict=strict,
        report=report,
    )
    parts = split_items(group(sentences, n_sents), ratios, seed)
    options = {
        "ratios": list(ratios),
        "seed": seed,
        "n_sents": n_sents,
        "encoding": encoding or "auto",
        "scheme": TagScheme(scheme).value,
        "skip_bad_sentences": skip_bad_sentences,
        "strict": strict,
    }
    return _write(dict(zip(SPLIT_NAMES, parts)), output_dir, "kaggle", [str(input_path)], options, report)


def convert_conll(
    inputs: Mapping[str, Path | None],
    output_dir: Path,
    *,
    n_sents: int = 10,
    encoding: str | None = "utf-8",
    scheme: TagScheme = TagScheme.auto,
    skip_bad_sentences: bool = False,
    strict: bool = False,
) -> dict[str, Any]:
    """Convert one column file per split (e.g. {"train": eng.train, "dev": eng.testa}); None skips a
    split. The output directory then holds those splits only: earlier runs' other splits go."""
    unknown = [split for split in inputs if split not in SPLIT_NAMES]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}: expected some of {list(SPLIT_NAMES)}")
    _check_n_sents(n_sents)
    check_output_dir(output_dir)
    report = ConversionReport()
    splits = {
        split: read_conll(
            path,
            encoding=encoding,
            scheme=scheme,
            n_sents=n_sents,
            skip_bad_sentences=skip_bad_sentences,
            strict=strict,
            report=report,
        )
        for split, path in inputs.items()
        if path is not None
    }
    options = {
        "n_sents": n_sents,
        "encoding": encoding or "auto",
        "scheme": TagScheme(scheme).value,
        "skip_bad_sentences": skip_bad_sentences,
        "strict": strict,
    }
    sources = [str(p) for p in inputs.values() if p is not None]
    return _write(splits, output_dir, "conll", sources, options, report)


def _check_n_sents(n_sents: int) -> None:
    if n_sents < 1:
        raise ValueError(f"n_sents (sentences per Doc) must be at least 1, got {n_sents}")


def _write(
    splits: Mapping[str, list[Document]],
    output_dir: Path,
    source_format: str,
    sources: list[str],
    options: dict[str, Any],
    report: ConversionReport,
) -> dict[str, Any]:
    files: dict[str, bytes] = {}
    per_split: dict[str, SplitStats] = {}
    total = SplitStats()
    stored = [0, 0]  # sentences, tokens, as the DocBins hold them
    for split, docs in splits.items():
        docbin, per_split[split] = build_split(docs)
        files[f"{split}.spacy"] = docbin.to_bytes()
        total.merge(per_split[split])
        stored = [a + b for a, b in zip(stored, count_stored(docbin))]
    rejected = [len(report.rejections), sum(r.tokens for r in report.rejections)]
    read = [report.sentences_read, report.tokens_read]
    if read != [stored[0] + rejected[0], stored[1] + rejected[1]] or stored != [total.sentences, total.tokens]:
        raise ConversionError(
            output_dir,
            None,
            f"{read[0]} sentences ({read[1]} tokens) read, but {stored[0]} ({stored[1]}) written + "
            f"{rejected[0]} ({rejected[1]}) rejected: a conversion bug lost or made up data; nothing was written",
        )
    summary = {
        "format": source_format,
        "sources": sources,
        "options": options,
        "splits": {split: stats.to_dict() for split, stats in per_split.items()},
        "total": total.to_dict(),
        **report.to_dict(),
        "files": {name: file_entry(data) for name, data in files.items()},
    }
    publish(output_dir, files, summary)
    return summary
