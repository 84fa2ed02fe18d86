"""`annotate --engine ray` on a local Ray instance with 2 workers: the same output as one process,
complete and without duplicates when a worker is killed mid-run, bad lines as on one machine
(spacy_bert_ner/annotate/ray_engine.py)."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from conftest import OVERFIT_DATA, read_shards

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

from spacy_bert_ner.annotate import annotate_files, pipe_annotator  # noqa: E402
from spacy_bert_ner.annotate.ray_engine import ray_annotator  # noqa: E402
from spacy_bert_ner.annotate.shards import shard_path  # noqa: E402
from spacy_bert_ner.errors import InputError  # noqa: E402

TEXTS = [text for text, _ in OVERFIT_DATA] + ["", "Marie Curie met Bob in Tokyo ."]
ACTOR = "MapBatches(PipelineActor)"


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def annotator(ray_instance, trained_pipeline_dir):
    return ray_annotator(str(trained_pipeline_dir), batch_size=4, num_workers=2)


def entities(row: dict) -> list:
    return [(e["start"], e["end"], e["label"], round(e["confidence"], 6)) for e in row["entities"]]


@pytest.fixture(scope="module")
def single_process(trained_pipeline_dir, tmp_path_factory):
    """The local engine's output on 60 documents, the reference."""
    import spacy

    folder = tmp_path_factory.mktemp("single")
    source = folder / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": TEXTS[i % len(TEXTS)]}) + "\n" for i in range(60)))
    output = folder / "out" / "docs.jsonl"
    annotate_files([source], output, pipe_annotator(spacy.load(trained_pipeline_dir), 4, 1), shard_size=7)
    return source, read_shards(output)


def test_ray_output_equals_one_process(annotator, single_process, tmp_path):
    source, expected = single_process
    output = tmp_path / "docs.jsonl"
    summary = annotate_files([source], output, annotator, shard_size=7, window=3)
    assert (summary.read, summary.written, summary.rejected) == (60, 60, 0)
    got = read_shards(output)
    assert [row["id"] for row in got] == [row["id"] for row in expected] == list(range(60))
    assert [entities(row) for row in got] == [entities(row) for row in expected]
    assert sum(len(row["entities"]) for row in got) > 30


def _actor_pids() -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if ACTOR in line]


def test_a_worker_killed_mid_run_leaves_complete_output_without_duplicates(annotator, single_process, tmp_path):
    source, expected = single_process
    output = tmp_path / "docs.jsonl"
    killed: list[int] = []

    def kill_one_actor_after_the_first_shard() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not shard_path(output, 0).exists():
            time.sleep(0.05)
        pids = _actor_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    killer = threading.Thread(target=kill_one_actor_after_the_first_shard, daemon=True)
    killer.start()
    # one window for the whole input: the killed actor's work is retried within the same dataset
    summary = annotate_files([source], output, annotator, shard_size=7, window=100)
    killer.join(timeout=10)
    assert killed, "no actor process was found to kill"
    assert (summary.read, summary.written) == (60, 60)
    got = read_shards(output)
    assert [row["id"] for row in got] == list(range(60))  # every document once, in order
    assert [entities(row) for row in got] == [entities(row) for row in expected]


def test_bad_lines_behave_as_on_one_machine(annotator, tmp_path):
    source = tmp_path / "docs.jsonl"
    good = json.dumps({"text": TEXTS[0]})
    source.write_text("\n".join([good, good, good, "{oops", good]) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "docs.jsonl"
    with pytest.raises(InputError, match=f"{source}:4: invalid JSON"):
        annotate_files([source], output, annotator, shard_size=2, window=4)
    assert shard_path(output, 0).exists() and not shard_path(output, 1).exists()
    summary = annotate_files([source], output, annotator, shard_size=2, window=4, skip_bad=True)
    assert (summary.read, summary.written, summary.rejected, summary.shards_skipped) == (5, 4, 1, 1)


def test_ray_in_int8_gives_the_single_process_int8_spans(ray_instance, trained_pipeline_dir, single_process, tmp_path):
    """Each actor loads the pipeline in int8 (its own ONNX Runtime session); the entities match
    the local engine's in int8 (confidences are not compared: actors and the driver differ in threads)."""
    from spacy_bert_ner.evaluation.predictors import load_pipeline

    source, _ = single_process
    local = tmp_path / "local" / "docs.jsonl"
    annotate_files([source], local, pipe_annotator(load_pipeline(str(trained_pipeline_dir), "int8"), 4, 1))
    output = tmp_path / "ray" / "docs.jsonl"
    int8 = ray_annotator(str(trained_pipeline_dir), batch_size=4, num_workers=2, precision="int8")
    summary = annotate_files([source], output, int8, shard_size=7, window=3)
    assert (summary.read, summary.written, summary.rejected) == (60, 60, 0)

    def spans(rows: list[dict]) -> list:
        return [[entity[:3] for entity in entities(row)] for row in rows]

    expected = read_shards(local)
    assert spans(read_shards(output)) == spans(expected) and sum(map(len, spans(expected))) > 30
