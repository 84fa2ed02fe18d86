"""`spacy_bert_ner.keep_hyphenated_words.v1`: spaCy's tokenizer without its letter-hyphen-letter split.

CoNLL-2003 and the Kaggle corpus keep hyphenated words whole (`Jean-Luc`, `Pau-Orthez`,
`al-Boushi`), and spaCy's English tokenizer splits them into three tokens. A pipeline trained on
the corpora's tokens then breaks such names at the hyphen on raw text (`nlp(text)`), where its own
tokenizer runs. This `[nlp.after_creation]` callback drops that one infix rule, so raw text is
tokenized as the training data was; the tokenizer's patterns are saved with the pipeline.

    [nlp.after_creation]
    @callbacks = "spacy_bert_ner.keep_hyphenated_words.v1"
"""

from collections.abc import Callable

from spacy.language import Language
from spacy.util import compile_infix_regex, registry

HYPHENS = "-|–|—"  # in spaCy's infix rule for a hyphen between letters


@registry.callbacks("spacy_bert_ner.keep_hyphenated_words.v1")
def make_keep_hyphenated_words() -> Callable[[Language], Language]:
    def keep_hyphenated_words(nlp: Language) -> Language:
        infixes = [pattern for pattern in nlp.Defaults.infixes or [] if HYPHENS not in pattern]
        nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        return nlp

    return keep_hyphenated_words
