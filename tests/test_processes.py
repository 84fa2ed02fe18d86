"""A trained pipeline in other processes: `nlp.pipe(n_process=2)` under fork, spawn and forkserver
gives exactly the single-process entities (fork used to hang in torch's OpenMP barrier), in float32
and in int8 on ONNX Runtime, and a pickle round trip gives the same output (pipeline/threads.py,
pipeline/transformer.py, pipeline/onnx_int8.py)."""

import json
import os
import pickle
import signal
import subprocess
import sys

import pytest
import spacy
from conftest import OVERFIT_DATA

TEXTS = [text for text, _ in OVERFIT_DATA] * 8 + ["", "Marie Curie met Bob in Tokyo ."]
START_METHODS = ["fork", "spawn", "forkserver"]
INT8_START_METHODS = ["fork", "spawn"]
# the child script: the texts single-process, then with n_process=2 under each start method in turn
# (one interpreter and one load for all), as JSON; progress on stderr names a method that hangs
SCRIPT = """
import json, multiprocessing, sys
import spacy

def ents(docs):
    return [[(e.start_char, e.end_char, e.label_, round(e._.confidence, 6)) for e in doc.ents] for doc in docs]

if __name__ == "__main__":
    path, texts, precision, methods = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    nlp = spacy.load(path, config={"components.transformer.model.precision": precision})
    found = {"single": ents(nlp.pipe(texts, batch_size=4))}  # the parent predicts first, as users do
    for method in methods:
        print(f"{precision}, n_process=2 under {method} ...", file=sys.stderr, flush=True)
        multiprocessing.set_start_method(method, force=True)
        found[method] = ents(nlp.pipe(texts, batch_size=4, n_process=2))
    print(json.dumps(found))
"""


def run_child(pipeline_dir, precision: str, methods: list[str], timeout: int) -> dict:
    args = [sys.executable, "-c", SCRIPT, str(pipeline_dir), json.dumps(TEXTS), precision, json.dumps(methods)]
    # its own process group, so that hung workers are killed with it rather than left behind
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"nlp.pipe(n_process=2) hung after {timeout} s: {stderr.strip().splitlines()[-1:]}")
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def multi_process_entities(trained_pipeline_dir) -> dict:
    return run_child(trained_pipeline_dir, "float32", START_METHODS, timeout=300)


@pytest.fixture(scope="module")
def int8_multi_process_entities(trained_pipeline_dir) -> dict:
    # each process that predicts builds or loads the int8 graph and its own ONNX Runtime session
    return run_child(trained_pipeline_dir, "int8", INT8_START_METHODS, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("start_method", START_METHODS)
def test_n_process_gives_the_single_process_entities(multi_process_entities, start_method):
    assert multi_process_entities[start_method] == multi_process_entities["single"]
    assert sum(len(ents) for ents in multi_process_entities["single"]) >= 20  # the pipeline really predicts


@pytest.mark.slow
@pytest.mark.parametrize("start_method", INT8_START_METHODS)
def test_n_process_in_int8_gives_the_single_process_entities(int8_multi_process_entities, start_method):
    """Each worker runs its own ONNX Runtime session (one made before a fork does not survive it)."""

    def spans(found: list) -> list:
        return [[tuple(ent[:3]) for ent in ents] for ents in found]  # workers run 1 thread, the parent 2

    assert spans(int8_multi_process_entities[start_method]) == spans(int8_multi_process_entities["single"])
    assert sum(len(ents) for ents in int8_multi_process_entities["single"]) >= 20


def test_pickle_round_trip_gives_the_same_output(trained_pipeline_dir):
    nlp = spacy.load(trained_pipeline_dir)
    copy = pickle.loads(pickle.dumps(nlp))
    for doc, doc_copy in zip(nlp.pipe(TEXTS), copy.pipe(TEXTS)):
        assert [(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] == [
            (e.start, e.end, e.label_, e._.confidence) for e in doc_copy.ents
        ]
