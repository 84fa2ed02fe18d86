"""Keep training's resident memory flat: glibc malloc settings, set from the training config.

A transformer trained on a CPU allocates and frees activation tensors of a new shape at almost
every step. glibc's malloc serves blocks above its mmap threshold with mmap (returned to the
system on free) and the rest from its heaps, but it raises that threshold each time a mapped
block is freed, up to 32 MB; after a few steps nearly every tensor comes from the heaps, whose
free holes fragment, and resident memory creeps up run-long.

Two callbacks, both in the transformer configs:

    [initialize.before_init]
    @callbacks = "spacy_bert_ner.malloc_thresholds.v1"
    mmap_threshold = 4194304

fixes the thresholds before the pipeline is initialized (less memory at the same speed), and

    [training.before_update]
    @callbacks = "spacy_bert_ner.malloc_trim.v1"
    every = 5

calls malloc_trim(0) every 5 steps, which hands the free pages inside the heaps back to the
system (trimming every step saves a little more and costs speed). docs/experiments.md has the
measurements. Off glibc (macOS, Windows, musl) both do nothing.
"""

import ctypes
import sys
from collections.abc import Callable
from typing import Any

from spacy.language import Language
from spacy.util import registry
from wasabi import msg

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def _glibc_function(name: str, argtypes: list) -> Callable[..., int] | None:
    """A function of glibc's malloc through ctypes, typed; None off Linux or where libc lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    function = getattr(libc, name, None)
    if function is not None:
        function.argtypes = argtypes
        function.restype = ctypes.c_int
    return function


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    return _glibc_function("mallopt", [ctypes.c_int, ctypes.c_int])


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    return _glibc_function("malloc_trim", [ctypes.c_size_t])


def set_malloc_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Fix glibc's mmap threshold (which also stops its dynamic growth) and trim threshold, in
    bytes. False where this is not glibc; ValueError where glibc refuses a value."""
    settings = [
        ("mmap_threshold", M_MMAP_THRESHOLD, mmap_threshold),
        ("trim_threshold", M_TRIM_THRESHOLD, trim_threshold),
    ]
    for name, _, value in settings:
        if not 0 < value < 2**31:
            raise ValueError(f"{name} must be between 1 and 2**31 - 1 bytes, got {value}")
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    for name, param, value in settings:
        if mallopt(param, value) != 1:
            raise ValueError(f"glibc refused {name} = {value} (mallopt; the mmap threshold's limit is 32 MB)")
    return True


@registry.callbacks("spacy_bert_ner.malloc_thresholds.v1")
def make_malloc_thresholds(
    mmap_threshold: int = 4 * 1024 * 1024, trim_threshold: int = 4 * 1024 * 1024
) -> Callable[[Language], Language]:
    """A `before_init` callback that sets the thresholds and hands the pipeline on unchanged."""

    def apply_malloc_thresholds(nlp: Language) -> Language:
        if set_malloc_thresholds(mmap_threshold, trim_threshold):
            msg.info(f"glibc malloc: mmap threshold {mmap_threshold:,} B, trim threshold {trim_threshold:,} B")
        else:
            msg.warn("glibc malloc thresholds not set (not glibc): training memory may creep up")
        return nlp

    return apply_malloc_thresholds


@registry.callbacks("spacy_bert_ner.malloc_trim.v1")
def make_malloc_trim(every: int = 1) -> Callable[[Language, dict[str, Any]], None]:
    """A `[training.before_update]` callback: glibc's malloc_trim(0) every `every` steps, which hands
    the free pages inside the heaps back to the system, so fragmentation does not accumulate."""
    if every < 1:
        raise ValueError(f"every must be at least 1 step, got {every}")
    malloc_trim = _glibc_malloc_trim()

    def trim_malloc_heaps(nlp: Language, args: dict[str, Any]) -> None:
        if malloc_trim is not None and args["step"] % every == 0:
            malloc_trim(0)

    return trim_malloc_heaps
