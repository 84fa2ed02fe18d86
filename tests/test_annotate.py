"""`annotate`: text, JSONL and DocBin in (plain, gzipped, folders, globs); JSONL or DocBin shards
out, atomic and resumable; bad lines stop the run with file:line or go to a rejects file; the
closing count read = written + rejected (spacy_bert_ner/annotate/)."""

import gzip
import json

import pytest
import spacy
from conftest import OVERFIT_DATA, read_shards
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_bert_ner.annotate import annotate_files, pipe_annotator, read_records
from spacy_bert_ner.annotate.reader import BadRecord, Record
from spacy_bert_ner.annotate.shards import shard_path
from spacy_bert_ner.cli import app
from spacy_bert_ner.errors import InputError

TEXTS = [text for text, _ in OVERFIT_DATA] * 3 + ["", "Marie Curie met Bob in Tokyo ."]


@pytest.fixture(scope="module")
def nlp(trained_pipeline_dir):
    return spacy.load(trained_pipeline_dir)


def expected_entities(nlp, text: str) -> list[dict]:
    doc = nlp(text)
    return [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text, "confidence": e._.confidence}
        for e in doc.ents
    ]


def same_entities(got: list[dict], want: list[dict]) -> bool:
    """Equal offsets, labels and texts; confidences equal up to float rounding."""
    strip = [[{k: v for k, v in e.items() if k != "confidence"} for e in ents] for ents in (got, want)]
    return strip[0] == strip[1] and [e["confidence"] for e in got] == pytest.approx([e["confidence"] for e in want])


def invoke(*args: str):
    return CliRunner().invoke(app, ["annotate", *map(str, args)])


def test_text_file_to_jsonl_shards(trained_pipeline_dir, nlp, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "docs.jsonl"
    result = invoke(trained_pipeline_dir, source, output, "--shard-size", "4")
    assert result.exit_code == 0, result.output
    rows = read_shards(output)
    assert [row["text"] for row in rows] == TEXTS
    for row, text in zip(rows, TEXTS):
        assert same_entities(row["entities"], expected_entities(nlp, text))
    assert sum(len(row["entities"]) for row in rows) >= 10
    assert len(list(output.parent.glob("docs-*.jsonl"))) == 3  # 11 documents in shards of 4
    summary = json.loads((output.parent / "docs.summary.json").read_text())
    assert (summary["read"], summary["written"], summary["rejected"]) == (11, 11, 0)
    assert f"{len(TEXTS)} documents read = {len(TEXTS)} written + 0 rejected" in " ".join(result.output.split())


def test_jsonl_fields_pass_through_and_gzip_folders_globs(trained_pipeline_dir, nlp, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps({"id": i, "body": text, "meta": {"n": i}}) for i, text in enumerate(TEXTS)]
    (folder / "a.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines[5:]) + "\n").encode("utf-8")))
    (folder / "notes.md").write_text("not an input", encoding="utf-8")  # ignored in a folder
    for i, source in enumerate([folder, str(folder / "*.jsonl*")]):
        output = tmp_path / f"out{i}" / "docs.jsonl"
        result = invoke(trained_pipeline_dir, source, output, "--text-field", "body")
        assert result.exit_code == 0, result.output
        rows = read_shards(output)
        assert [row["id"] for row in rows] == list(range(len(TEXTS)))
        assert rows[3]["meta"] == {"n": 3} and "body" not in rows[3]
        assert same_entities(rows[0]["entities"], expected_entities(nlp, TEXTS[0]))


def test_docbin_in_keeps_its_tokens_and_docbin_out(trained_pipeline_dir, nlp, tmp_path):
    words = ["Alice", "Smith", "works", "for", "Google", "in", "Paris", "."]
    source = tmp_path / "in.spacy"
    DocBin(docs=[Doc(nlp.vocab, words=words)] * 2).to_disk(source)
    output = tmp_path / "out" / "docs.spacy"
    result = invoke(trained_pipeline_dir, source, output)
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(shard_path(output, 0)).get_docs(nlp.vocab))
    assert [[t.text for t in doc] for doc in docs] == [words, words]
    reference = nlp(Doc(nlp.vocab, words=words))
    assert [(e.start, e.end, e.label_) for e in docs[0].ents] == [(e.start, e.end, e.label_) for e in reference.ents]
    assert docs[0].ents and all(0 < e._.confidence <= 1 for e in docs[0].ents)


def test_bad_lines_stop_with_file_and_line_or_go_to_rejects(trained_pipeline_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    good = json.dumps({"text": TEXTS[0]})
    source.write_bytes(
        "\n".join([good, good, "{not json", json.dumps({"txt": "x"}), json.dumps({"text": 3}), good]).encode()
        + b"\n\xff\xfe bad bytes\n"
        + good.encode()
        + b"\n"
    )
    output = tmp_path / "out" / "docs.jsonl"
    result = invoke(trained_pipeline_dir, source, output, "--shard-size", "2")
    assert result.exit_code == 1
    assert f"{source}:3: invalid JSON" in " ".join(result.output.split())
    assert shard_path(output, 0).exists() and not shard_path(output, 1).exists()  # complete shards stay

    result = invoke(trained_pipeline_dir, source, output, "--shard-size", "2", "--skip-bad")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Resumed: 1 finished shard(s) skipped" in text
    assert "8 documents read = 4 written + 4 rejected" in text
    rejects = []
    for path in sorted(output.parent.glob("docs-*.rejects.jsonl")):
        rejects += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["problem"].split(":")[0]) for r in rejects] == [
        (3, "invalid JSON"),
        (4, "no 'text' field"),
        (5, "field 'text' is a int, not a string"),
        (7, "not UTF-8 (byte 1)"),
    ]
    assert len(read_shards(output)) == 4


def test_rerun_skips_finished_shards_and_redoes_missing_ones(trained_pipeline_dir, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "docs.jsonl"
    assert invoke(trained_pipeline_dir, source, output, "--shard-size", "3").exit_code == 0
    first = read_shards(output)
    shard_path(output, 1).unlink()
    stamp = shard_path(output, 0).stat().st_mtime_ns
    result = invoke(trained_pipeline_dir, source, output, "--shard-size", "3")
    assert result.exit_code == 0, result.output
    assert "3 finished shard(s) skipped, 1 written" in " ".join(result.output.split())
    assert shard_path(output, 0).stat().st_mtime_ns == stamp
    assert read_shards(output) == first


def test_a_failure_mid_shard_leaves_no_partial_shard(nlp, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "docs.jsonl"

    def failing(records: list[Record]):
        for i, doc in enumerate(nlp.pipe(r.text for r in records)):
            if i == 2:
                raise KeyboardInterrupt  # as Ctrl-C halfway through a shard
            yield doc

    with pytest.raises(KeyboardInterrupt):
        annotate_files([source], output, failing, shard_size=5)
    assert list(output.parent.iterdir()) == []  # no shard, no temporary file


def test_n_process_2_writes_the_same_output(trained_pipeline_dir, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS * 2) + "\n", encoding="utf-8")
    outputs = []
    for n in (1, 2):
        output = tmp_path / f"out{n}" / "docs.jsonl"
        result = invoke(trained_pipeline_dir, source, output, "--n-process", str(n), "--batch-size", "4")
        assert result.exit_code == 0, result.output
        outputs.append(read_shards(output))
    # the same entities; confidences equal up to float rounding (a worker runs torch on one thread)
    assert [row["text"] for row in outputs[0]] == [row["text"] for row in outputs[1]]
    for one, two in zip(*outputs):
        assert same_entities(two["entities"], one["entities"])


def test_reader_counts_every_line_and_names_unknown_inputs(tmp_path):
    source = tmp_path / "docs.txt"
    source.write_bytes(b"one\r\ntwo\n\nthree")  # CRLF, an empty document, no final newline
    items = list(read_records([source]))
    assert [(item.position, item.line, item.text) for item in items] == [
        (0, 1, "one"),
        (1, 2, "two"),
        (2, 3, ""),
        (3, 4, "three"),
    ]
    assert not any(isinstance(item, BadRecord) for item in items)
    (tmp_path / "x.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown input kind"):
        annotate_files([tmp_path / "x.csv"], tmp_path / "o.jsonl", pipe_annotator(spacy.blank("en"), 8, 1))
    with pytest.raises(InputError, match="extension chooses its format"):
        annotate_files([source], tmp_path / "o.txt", pipe_annotator(spacy.blank("en"), 8, 1))


@pytest.mark.slow
def test_precision_option_predicts_in_int8_and_names_a_bad_one(trained_pipeline_dir, nlp, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    output = tmp_path / "int8" / "docs.jsonl"
    result = invoke(trained_pipeline_dir, source, output, "--precision", "int8")
    assert result.exit_code == 0, result.output
    rows = read_shards(output)
    # the overfitted pipeline's entities hold in int8; confidences move a little
    want = [[(e["start"], e["label"]) for e in expected_entities(nlp, text)] for text in TEXTS]
    assert [[(e["start"], e["label"]) for e in row["entities"]] for row in rows] == want
    bad = invoke(trained_pipeline_dir, source, tmp_path / "bad" / "docs.jsonl", "--precision", "fp8")
    assert bad.exit_code == 1 and "--precision must be one of auto, float32, bfloat16, int8, got 'fp8'" in bad.output


@pytest.mark.slow
def test_several_processes_get_the_int8_graph_built_once(trained_pipeline_dir):
    """A training folder carries no int8 graph: with n_process > 1 it is built before the workers
    start (they inherit it), with one process at the first prediction."""
    from spacy_bert_ner.pipeline.precision import build_int8_graphs

    assert build_int8_graphs(spacy.load(trained_pipeline_dir)) == []  # float32: no graph
    for n_process, built in ((1, False), (2, True)):
        nlp = spacy.load(trained_pipeline_dir, config={"components.transformer.model.precision": "int8"})
        graph = nlp.get_pipe("transformer").model.layers[0].attrs["int8_graph"]
        pipe_annotator(nlp, 8, n_process)
        assert (graph.onnx is not None) is built
