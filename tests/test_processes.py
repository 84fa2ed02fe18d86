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
# the child script: one start method, the same texts single- and multi-process, as JSON
SCRIPT = """
import json, multiprocessing, sys
import spacy

def ents(docs):
    return [[(e.start_char, e.end_char, e.label_, round(e._.confidence, 6)) for e in doc.ents] for doc in docs]

if __name__ == "__main__":
    multiprocessing.set_start_method(sys.argv[2], force=True)
    nlp = spacy.load(sys.argv[1])
    texts = json.loads(sys.argv[3])
    single = ents(nlp.pipe(texts, batch_size=4))  # the parent runs torch first, as users do
    multi = ents(nlp.pipe(texts, batch_size=4, n_process=2))
    print(json.dumps({"single": single, "multi": multi}))
"""


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_n_process_gives_the_single_process_entities(trained_pipeline_dir, start_method):
    args = [sys.executable, "-c", SCRIPT, str(trained_pipeline_dir), start_method, json.dumps(TEXTS)]
    # its own process group, so that hung workers are killed with it rather than left behind
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"nlp.pipe(n_process=2) under {start_method} hung")
    assert process.returncode == 0, stderr[-3000:]
    output = json.loads(stdout.strip().splitlines()[-1])
    assert output["multi"] == output["single"]
    assert sum(len(ents) for ents in output["single"]) >= 20  # the pipeline really predicts entities


def test_pickle_round_trip_gives_the_same_output(trained_pipeline_dir):
    nlp = spacy.load(trained_pipeline_dir)
    copy = pickle.loads(pickle.dumps(nlp))
    for doc, doc_copy in zip(nlp.pipe(TEXTS), copy.pipe(TEXTS)):
        assert [(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] == [
            (e.start, e.end, e.label_, e._.confidence) for e in doc_copy.ents
        ]
