"""The real corpora's counts (../shared/data, read-only; skipped where absent, as in a fresh clone)."""

from pathlib import Path

import pytest
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_bert_ner.converters import convert_conll, convert_kaggle
from spacy_bert_ner.converters.tags import B_START_IOB1

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KAGGLE = DATA / "kaggle-ner" / "ner_dataset.csv.gz"
ENG_TRAIN = DATA / "conll2003" / "eng.train"
ENG_TESTA = DATA / "conll2003" / "eng.testa"


def needs(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"real data not found: {', '.join(missing)} (see ../shared/data/README.md)")


@pytest.fixture(scope="module")
def kaggle_output(tmp_path_factory):
    needs(KAGGLE)
    output_dir = tmp_path_factory.mktemp("kaggle")
    return convert_kaggle(KAGGLE, output_dir), output_dir


@pytest.fixture(scope="module")
def conll_output(tmp_path_factory):
    needs(ENG_TRAIN, ENG_TESTA)
    output_dir = tmp_path_factory.mktemp("conll")
    return convert_conll({"train": ENG_TRAIN, "dev": ENG_TESTA}, output_dir), output_dir


def test_real_kaggle_counts(kaggle_output):
    summary, _ = kaggle_output
    total = summary["total"]
    assert (total["sentences"], total["tokens"], total["entities"]) == (47_959, 1_048_575, 111_891)
    assert total["entities_per_label"] == {
        "geo": 37_644,
        "tim": 20_333,
        "org": 20_143,
        "per": 16_990,
        "gpe": 15_870,
        "art": 402,
        "eve": 308,
        "nat": 201,
    }
    assert summary["repairs"] == {}
    assert summary["rejected_sentences"] == 0
    assert summary["tag_schemes"] == {str(KAGGLE): "iob2"}


def test_real_kaggle_splits_add_up(kaggle_output):
    summary, output_dir = kaggle_output
    splits = summary["splits"]
    for key in ("docs", "sentences", "tokens", "entities"):
        assert sum(stats[key] for stats in splits.values()) == summary["total"][key]
    assert [splits[s]["docs"] for s in ("train", "dev", "test")] == [3837, 479, 480]
    docs = list(DocBin().from_disk(output_dir / "dev.spacy").get_docs(Vocab()))
    assert len(docs) == splits["dev"]["docs"]
    assert sum(len(doc) for doc in docs) == splits["dev"]["tokens"]
    assert sum(len(doc.ents) for doc in docs) == splits["dev"]["entities"]
    assert sum(len(list(doc.sents)) for doc in docs) == splits["dev"]["sentences"]


def test_real_kaggle_cp1252_words(kaggle_output):
    _, output_dir = kaggle_output
    words = set()
    for split in ("train", "dev", "test"):
        for doc in DocBin().from_disk(output_dir / f"{split}.spacy").get_docs(Vocab()):
            words.update(t.text for t in doc if not t.text.isascii())
    assert "Korea\u2019s" in words
    assert "5\u00a0storm" in words
    assert not any("\u0085" in word or "\ufffd" in word for word in words)


@pytest.mark.parametrize(
    "split,path,counts,per_label",
    [
        ("train", ENG_TRAIN, (946, 14_041, 203_621, 23_499), {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
        ("dev", ENG_TESTA, (216, 3_250, 51_362, 5_942), {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    ],
)
def test_real_conll_counts(conll_output, split, path, counts, per_label):
    summary, output_dir = conll_output
    stats = summary["splits"][split]
    assert (stats["docs"], stats["sentences"], stats["tokens"], stats["entities"]) == counts
    assert stats["entities_per_label"] == per_label
    assert summary["tag_schemes"][str(path)] == "iob1"
    docs = list(DocBin().from_disk(output_dir / f"{split}.spacy").get_docs(Vocab()))
    assert len(docs) == counts[0]
    assert sum(len(doc) for doc in docs) == counts[2]


def test_real_conll_reports_its_few_b_starts(conll_output):
    # eng.train has two B- tags that do not follow an entity of their type (not valid IOB1):
    # they are kept as entity starts and reported, not silently changed.
    summary, _ = conll_output
    assert summary["repairs"].keys() == {B_START_IOB1}
    assert summary["repairs"][B_START_IOB1]["count"] == 2
    assert all(where.startswith(f"{ENG_TRAIN}:") for where in summary["repairs"][B_START_IOB1]["examples"])
    assert summary["rejected_sentences"] == 0
