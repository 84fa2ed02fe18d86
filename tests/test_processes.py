"""A trained pipeline in other processes: `nlp.pipe(n_process=2)` under fork, spawn and forkserver
gives exactly the single-process entities (fork used to hang in torch's OpenMP barrier), and a
pickle round trip gives the same output (pipeline/threads.py, pipeline/transformer.py)."""

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
# the child script: the texts single-process, then with n_process=2 under each start method in turn
# (one interpreter and one load for all three), as JSON; progress on stderr names a method that hangs
SCRIPT = """
import json, multiprocessing, sys
import spacy

def ents(docs):
    return [[(e.start_char, e.end_char, e.label_, round(e._.confidence, 6)) for e in doc.ents] for doc in docs]

if __name__ == "__main__":
    nlp = spacy.load(sys.argv[1])
    texts = json.loads(sys.argv[2])
    found = {"single": ents(nlp.pipe(texts, batch_size=4))}  # the parent runs torch first, as users do
    for method in json.loads(sys.argv[3]):
        print(f"n_process=2 under {method} ...", file=sys.stderr, flush=True)
        multiprocessing.set_start_method(method, force=True)
        found[method] = ents(nlp.pipe(texts, batch_size=4, n_process=2))
    print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def multi_process_entities(trained_pipeline_dir) -> dict:
    args = [sys.executable, "-c", SCRIPT, str(trained_pipeline_dir), json.dumps(TEXTS), json.dumps(START_METHODS)]
    # its own process group, so that hung workers are killed with it rather than left behind
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"nlp.pipe(n_process=2) hung: {stderr.strip().splitlines()[-1:]}")
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("start_method", START_METHODS)
def test_n_process_gives_the_single_process_entities(multi_process_entities, start_method):
    assert multi_process_entities[start_method] == multi_process_entities["single"]
    assert sum(len(ents) for ents in multi_process_entities["single"]) >= 20  # the pipeline really predicts


def test_pickle_round_trip_gives_the_same_output(trained_pipeline_dir):
    nlp = spacy.load(trained_pipeline_dir)
    copy = pickle.loads(pickle.dumps(nlp))
    for doc, doc_copy in zip(nlp.pipe(TEXTS), copy.pipe(TEXTS)):
        assert [(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] == [
            (e.start, e.end, e.label_, e._.confidence) for e in doc_copy.ents
        ]
