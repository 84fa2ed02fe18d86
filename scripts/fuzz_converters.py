"""Fuzz both converters (the gzip, bzip2, xz and zip layers included) for a while and report.

    nice -n 19 python scripts/fuzz_converters.py --minutes 10 --seed 0

Prints the number of inputs tried, how they ended (converted, or a ConversionError), and every
untyped exception (anything else) with where it was raised and a case that raises it. Exits 1
if there was any. The cases are described in spacy_bert_ner/converters/fuzz.py.
"""

import argparse
import sys
import time

from spacy_bert_ner.converters.fuzz import FuzzResult, fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="How long to fuzz")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the case generator")
    parser.add_argument("--chunk", type=float, default=60.0, help="Seconds between progress lines")
    args = parser.parse_args()
    total = FuzzResult()
    start = time.monotonic()
    chunk = 0
    while (elapsed := time.monotonic() - start) < args.minutes * 60:
        part = fuzz(min(args.chunk, args.minutes * 60 - elapsed), seed=args.seed * 1_000_003 + chunk)
        chunk += 1
        total.tried += part.tried
        total.outcomes.update(part.outcomes)
        total.untyped.update(part.untyped)
        for where, case in part.examples.items():
            total.examples.setdefault(where, case)
        untyped = sum(total.untyped.values())
        print(f"{time.monotonic() - start:7.0f} s: {total.tried:,} inputs, {untyped} untyped", flush=True)
    untyped = sum(total.untyped.values())
    print(f"inputs tried: {total.tried:,} in {time.monotonic() - start:.0f} s (seed {args.seed})")
    print(f"converted: {total.outcomes['ok']:,}; ConversionError: {total.outcomes['error']:,}")
    print(f"untyped exceptions: {untyped}")
    for where, count in total.untyped.most_common():
        print(f"  {count} x {where}; e.g. {total.examples[where]}")
    return 1 if untyped else 0


if __name__ == "__main__":
    sys.exit(main())
