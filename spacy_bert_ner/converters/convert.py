"""Whole conversions: source files in, `{train,dev,test}.spacy` and `stats.json` out."""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import srsly

from .conll import read_conll
from .docs import Document, SplitStats, write_split
from .kaggle import read_kaggle
from .report import ConversionReport
from .split import SPLIT_NAMES, group, split_items
from .tags import TagScheme

STATS_FILE = "stats.json"


def convert_kaggle(
    input_path: Path,
    output_dir: Path,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    n_sents: int = 10,
    encoding: str = "cp1252",
    scheme: TagScheme = TagScheme.iob2,
    skip_bad_sentences: bool = False,
    strict: bool = False,
) -> Dict[str, Any]:
    """Split the Kaggle CSV into train/dev/test DocBins.

    The split unit is a block of `n_sents` consecutive sentences, which also becomes one Doc:
    the file has no document ids, but consecutive sentences mostly come from one GMB document,
    so blocks leak less context across splits than single sentences and give the encoder context.
    """
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
        "encoding": encoding,
        "scheme": TagScheme(scheme).value,
        "skip_bad_sentences": skip_bad_sentences,
        "strict": strict,
    }
    return _write(dict(zip(SPLIT_NAMES, parts)), output_dir, "kaggle", [str(input_path)], options, report)


def convert_conll(
    inputs: Mapping[str, Optional[Path]],
    output_dir: Path,
    *,
    n_sents: int = 10,
    encoding: str = "utf-8",
    scheme: TagScheme = TagScheme.auto,
    skip_bad_sentences: bool = False,
    strict: bool = False,
) -> Dict[str, Any]:
    """Convert one column file per split (e.g. {"train": eng.train, "dev": eng.testa}); None skips a split."""
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
        "encoding": encoding,
        "scheme": TagScheme(scheme).value,
        "skip_bad_sentences": skip_bad_sentences,
        "strict": strict,
    }
    sources = [str(p) for p in inputs.values() if p is not None]
    return _write(splits, output_dir, "conll", sources, options, report)


def _write(
    splits: Mapping[str, List[Document]],
    output_dir: Path,
    source_format: str,
    sources: List[str],
    options: Dict[str, Any],
    report: ConversionReport,
) -> Dict[str, Any]:
    output_dir = Path(output_dir)
    per_split = {split: write_split(docs, output_dir / f"{split}.spacy") for split, docs in splits.items()}
    total = SplitStats()
    for stats in per_split.values():
        total.merge(stats)
    summary = {
        "format": source_format,
        "sources": sources,
        "options": options,
        "splits": {split: stats.to_dict() for split, stats in per_split.items()},
        "total": total.to_dict(),
        **report.to_dict(),
    }
    srsly.write_json(output_dir / STATS_FILE, summary)
    return summary
