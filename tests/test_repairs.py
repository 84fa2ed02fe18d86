"""The conversion report (`converters/repairs.py`)."""

from spacy_bert_ner.converters import ConversionReport


def test_report_keeps_few_examples_but_counts_all():
    report = ConversionReport()
    for line in range(1, 21):
        report.repair("kind", "f", line)
    assert report.repairs["kind"] == 20
    assert report.repair_examples["kind"] == [f"f:{line}" for line in range(1, 6)]
    assert report.to_dict()["repairs"] == {"kind": {"count": 20, "examples": report.repair_examples["kind"]}}
