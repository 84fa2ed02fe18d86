"""The malloc thresholds callback of the training configs (spacy_bert_ner/memory.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config, registry

from spacy_bert_ner import memory

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GLIBC = pytest.mark.skipif(memory._glibc_mallopt() is None, reason="needs glibc's mallopt")

# In a fresh interpreter: how many bytes of a held 20 MB block glibc serves by mmap (mallinfo2),
# after a freed 30 MB block, which raises glibc's dynamic threshold past 20 MB unless
# set_malloc_thresholds(4 MB) has fixed it first (argv[1] == "fixed").
MAPPED_20MB = """
import ctypes, sys
from spacy_bert_ner.memory import set_malloc_thresholds

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
