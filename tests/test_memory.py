"""The malloc thresholds callback of the training configs (spacy_bert_ner/pipeline/memory.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config, registry

from spacy_bert_ner.pipeline import memory

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GLIBC = pytest.mark.skipif(memory._glibc_mallopt() is None, reason="needs glibc's mallopt")

# In a fresh interpreter: how many bytes of a held 20 MB block glibc serves by mmap (mallinfo2),
# after a freed 30 MB block, which raises glibc's dynamic threshold past 20 MB unless
# set_malloc_thresholds(4 MB) has fixed it first (argv[1] == "fixed").
MAPPED_20MB = """
import ctypes, sys
from spacy_bert_ner.pipeline.memory import set_malloc_thresholds

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "fixed":
    assert set_malloc_thresholds(4 * 2**20, 4 * 2**20)
del bytearray(30 * 2**20)[:]
before = libc.mallinfo2().hblkhd
block = bytearray(20 * 2**20)
print(libc.mallinfo2().hblkhd - before)
"""


def mapped_bytes_of_20mb_block(setting: str) -> int:
    result = subprocess.run([sys.executable, "-c", MAPPED_20MB, setting], capture_output=True, text=True, check=False)
    if "mallinfo2" in result.stderr:
        pytest.skip("glibc without mallinfo2 (< 2.33)")
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@GLIBC
def test_fixed_threshold_maps_blocks_the_dynamic_one_would_not():
    assert mapped_bytes_of_20mb_block("dynamic") == 0  # from the heap, where freed holes fragment
    assert mapped_bytes_of_20mb_block("fixed") >= 20 * 2**20  # its own mapping, unmapped on free


def test_callback_sets_both_thresholds_and_hands_the_pipeline_on(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: lambda param, value: calls.append((param, value)) or 1)
    nlp = spacy.blank("en")
    callback = registry.callbacks.get("spacy_bert_ner.malloc_thresholds.v1")(mmap_threshold=2**22, trim_threshold=2**23)
    assert callback(nlp) is nlp
    assert calls == [(memory.M_MMAP_THRESHOLD, 2**22), (memory.M_TRIM_THRESHOLD, 2**23)]


def test_bad_thresholds_are_errors(monkeypatch):
    with pytest.raises(ValueError, match="mmap_threshold"):
        memory.set_malloc_thresholds(2**32, 2**22)  # would wrap round in a C int
    with pytest.raises(ValueError, match="trim_threshold"):
        memory.set_malloc_thresholds(2**22, 0)
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: lambda param, value: 0)
    with pytest.raises(ValueError, match="glibc refused mmap_threshold"):
        memory.set_malloc_thresholds(2**22, 2**22)


def test_off_glibc_nothing_is_set(monkeypatch):
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: None)
    assert memory.set_malloc_thresholds(2**22, 2**22) is False


def test_callback_is_found_without_imports(found_through_entry_points):
    assert found_through_entry_points("callbacks", "spacy_bert_ner.malloc_thresholds.v1") == "make_malloc_thresholds"


@pytest.mark.parametrize("name", ["aligned_cpu", "aligned_gpu", "ner_cpu", "ner_gpu"])
def test_transformer_configs_set_the_thresholds(name):
    before_init = load_config(CONFIGS / f"{name}.cfg")["initialize"]["before_init"]
    assert before_init["@callbacks"] == "spacy_bert_ner.malloc_thresholds.v1"
    assert before_init["mmap_threshold"] == before_init["trim_threshold"] == 4 * 2**20


# In a fresh interpreter: resident MB that glibc's malloc_trim hands back after 100 of 200 1 MB heap blocks
# (below the fixed 4 MB mmap threshold) are freed, every other one, so the holes cannot be trimmed off
# the heap's top: the fragmentation a training run accumulates.
TRIMMED_MB = """
import os
from spacy_bert_ner.pipeline.memory import _glibc_malloc_trim, set_malloc_thresholds

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

assert set_malloc_thresholds(4 * 2**20, 4 * 2**20)
blocks = [bytearray(2**20) for _ in range(200)]
del blocks[::2]
before = resident_mb()
_glibc_malloc_trim()(0)
print(before - resident_mb())
"""


@GLIBC
def test_malloc_trim_hands_back_the_free_holes_inside_the_heap():
    result = subprocess.run([sys.executable, "-c", TRIMMED_MB], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) > 80  # of the 100 MB of holes


def test_trim_callback_trims_every_n_steps(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_glibc_malloc_trim", lambda: lambda pad: calls.append(pad) or 1)
    callback = registry.callbacks.get("spacy_bert_ner.malloc_trim.v1")(every=3)
    nlp = spacy.blank("en")
    for step in range(7):
        callback(nlp, {"step": step, "epoch": 0})
    assert calls == [0, 0, 0]  # steps 0, 3 and 6, with no padding kept


def test_trim_callback_checks_its_setting_and_runs_off_glibc(monkeypatch):
    with pytest.raises(ValueError, match="every"):
        registry.callbacks.get("spacy_bert_ner.malloc_trim.v1")(every=0)
    monkeypatch.setattr(memory, "_glibc_malloc_trim", lambda: None)
    callback = registry.callbacks.get("spacy_bert_ner.malloc_trim.v1")(every=1)
    callback(spacy.blank("en"), {"step": 0, "epoch": 0})  # nothing to do, no error


def test_trim_callback_is_found_without_imports(found_through_entry_points):
    assert found_through_entry_points("callbacks", "spacy_bert_ner.malloc_trim.v1") == "make_malloc_trim"


@pytest.mark.parametrize("name", ["aligned_cpu", "aligned_gpu", "ner_cpu", "ner_gpu"])
def test_transformer_configs_trim_the_heaps(name):
    before_update = load_config(CONFIGS / f"{name}.cfg")["training"]["before_update"]
    assert before_update == {"@callbacks": "spacy_bert_ner.malloc_trim.v1", "every": 5}
