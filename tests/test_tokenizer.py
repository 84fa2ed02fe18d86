"""spacy_bert_ner.keep_hyphenated_words.v1 (pipeline/tokenizer.py): raw text tokenized as the corpora are."""

import spacy
from spacy import util

from spacy_bert_ner.pipeline.tokenizer import make_keep_hyphenated_words

TEXT = "Jean-Luc met al-Boushi in Pau-Orthez on 1996-08-30 (well-known)."


def test_hyphenated_words_stay_whole_and_nothing_else_changes():
    nlp = spacy.blank("en")
    assert [t.text for t in nlp.make_doc(TEXT)][:3] == ["Jean", "-", "Luc"]  # spaCy's own rule splits them
    make_keep_hyphenated_words()(nlp)
    assert [t.text for t in nlp.make_doc(TEXT)] == [
        "Jean-Luc", "met", "al-Boushi", "in", "Pau-Orthez", "on", "1996", "-", "08", "-", "30",
        "(", "well-known", ")", ".",
    ]  # fmt: skip


def test_configs_use_it_and_it_is_saved_with_the_pipeline(tmp_path):
    config = util.load_config("configs/cnn_cpu.cfg")
    assert config["nlp"]["after_creation"]["@callbacks"] == "spacy_bert_ner.keep_hyphenated_words.v1"
    nlp = util.load_model_from_config(config, auto_fill=True)
    assert "Jean-Luc" in [t.text for t in nlp.make_doc(TEXT)]
    blank = spacy.blank("en")
    make_keep_hyphenated_words()(blank)
    blank.to_disk(tmp_path)
    assert "Jean-Luc" in [t.text for t in spacy.load(tmp_path).make_doc(TEXT)]  # the patterns are saved
