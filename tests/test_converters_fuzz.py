"""Fuzzing both readers, the gzip/bzip2/xz/zip layers included (issue 14): every input ends in
sentences that keep the invariants or in a ConversionError. A few seconds here; the long run is
`scripts/fuzz_converters.py --minutes 10`."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_bert_ner.converters.fuzz import CONTAINERS, OPS, SAMPLES, SUFFIX_STYLES, Case, fuzz, run_case

edits = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 999)), max_size=6)


@st.composite
def cases(draw) -> Case:
    source_format = draw(st.sampled_from(sorted(SAMPLES)))
    container = draw(st.sampled_from(CONTAINERS))
    return Case(
        source_format=source_format,
        encoding=draw(st.sampled_from(SAMPLES[source_format][1])),
        edits=draw(edits),
        container=container,
        damage=draw(edits) if container != "plain" else [],
        suffix_style=draw(st.sampled_from(SUFFIX_STYLES)),
        skip_bad_sentences=draw(st.booleans()),
        strict=draw(st.booleans()),
        given_encoding=draw(st.booleans()),
        full=draw(st.integers(0, 9)) == 0,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_fuzzed_input_converts_or_fails_with_a_conversion_error(case):
    with tempfile.TemporaryDirectory() as tmp:
        assert run_case(case, Path(tmp)) in ("ok", "error")


def test_random_fuzzing_finds_no_untyped_exception():
    result = fuzz(seconds=3, seed=14)
    assert result.tried > 100
    assert result.outcomes["ok"] and result.outcomes["error"]
    assert not result.untyped, {where: result.examples[where] for where in result.untyped}


def test_unmodified_samples_convert_cleanly():
    for source_format, (_, encodings) in SAMPLES.items():
        for encoding in encodings:
            for given_encoding in (True, False):
                if not given_encoding and source_format == "conll" and encoding != "utf-8":
                    continue  # CoNLL's encoding is given (utf-8 by default), not detected
                with tempfile.TemporaryDirectory() as tmp:
                    case = Case(source_format, encoding, given_encoding=given_encoding, full=True)
                    assert run_case(case, Path(tmp)) == "ok", case
