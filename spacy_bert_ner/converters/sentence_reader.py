"""The sentence being read, shared by the readers: tags decoded as rows arrive, and a sentence
with a bad row either stops the conversion (the row's error) or is rejected whole and reported.
Every sentence and token read is counted in the report here, before anything is kept or dropped."""

from .docs import Sentence
from .errors import ConversionError
from .repairs import ConversionReport
from .tags import OUTSIDE, IOBDecoder

PADDED_WORD = "word padded with whitespace; stripped"


class SentenceReader:
    def __init__(self, decoder: IOBDecoder, report: ConversionReport, skip_bad_sentences: bool) -> None:
        self.decoder = decoder
        self.report = report
        self.skip_bad_sentences = skip_bad_sentences
        self.current: Sentence | None = None
        self._problem: tuple[int | None, str] | None = None
        self._prev_label = ""

    def start(self, line: int, has_tags: bool) -> None:
        """Begin a sentence at `line` (the caller has finished the previous one)."""
        self.report.sentences_read += 1
        self.current = Sentence([], [] if has_tags else None, [], line)
        self._problem, self._prev_label = None, ""

    def add(self, word: str, tag: str, pos: str | None, line: int) -> None:
        if tag == OUTSIDE:  # most tokens: skip the decoder call
            ent, self._prev_label = OUTSIDE, ""
        else:
            ent, self._prev_label = self.decoder.decode(tag, self._prev_label, line)
        sentence = self.current
        assert sentence is not None
        sentence.words.append(word)
        if sentence.tags is not None:
            sentence.tags.append(pos)  # type: ignore[arg-type]
        sentence.ents.append(ent)

    def clean_word(self, word: str, line: int) -> str:
        """`word` without padding (a repair, reported); a word of only whitespace is an error,
        since an entity on whitespace can never be predicted. Call it for words with padding."""
        stripped = word.strip()
        if not stripped:
            raise ConversionError(self.decoder.path, line, f"the word {word!r} is only whitespace")
        self.report.repair(PADDED_WORD, self.decoder.path, line)
        return stripped

    def bad_row(self, err: ConversionError, word: str) -> None:
        """Raise `err`, or (skipping bad sentences) mark the sentence for rejection."""
        if not self.skip_bad_sentences or self.current is None:
            raise err
        if self._problem is None:
            self._problem = (err.line, err.problem)
        self.current.words.append(word)

    def finish(self) -> Sentence | None:
        """The finished sentence, or None if there was none or it was rejected (and reported)."""
        sentence, self.current = self.current, None
        if sentence is not None:
            self.report.tokens_read += len(sentence.words)
        if sentence is None or self._problem is None:
            return sentence
        line, problem = self._problem
        self.report.reject(self.decoder.path, line, problem, len(sentence.words))
        return None
