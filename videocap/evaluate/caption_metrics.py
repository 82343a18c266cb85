"""Reference-caption metrics (pycocoevalcap): BLEU-4, ROUGE-L, CIDEr, and METEOR when Java is present.

Captions are tokenized with the PTB tokenizer when Java is present (as COCO does), else lowercased and
split on anything that is not a letter, digit or apostrophe; the result says which."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaptionPair:
    key: str
    prediction: str
    references: list[str]


@dataclass
class CaptionScores:
    pairs: int
    scores: dict[str, float] = field(default_factory=dict)  # metric name -> corpus score
    tokenizer: str = "simple"
    skipped: list[str] = field(default_factory=list)  # metrics not computed, with why

    def lines(self) -> list[str]:
        shown = [f"{name} {value:.3f}" for name, value in self.scores.items()]
        return [f"{self.pairs} objects: " + ", ".join(shown) + f" (tokenizer: {self.tokenizer})", *self.skipped]


def java_available() -> bool:
    return shutil.which("java") is not None


def simple_tokens(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _tokenized(pairs: list[CaptionPair], ptb: bool) -> tuple[dict, dict]:
    predictions = {p.key: [p.prediction] for p in pairs}
    references = {p.key: list(p.references) for p in pairs}
    if ptb:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        as_coco = lambda texts: {k: [{"caption": t} for t in v] for k, v in texts.items()}
        return PTBTokenizer().tokenize(as_coco(predictions)), PTBTokenizer().tokenize(as_coco(references))
    return ({k: [simple_tokens(t) for t in v] for k, v in predictions.items()},
            {k: [simple_tokens(t) for t in v] for k, v in references.items()})


def caption_scores(pairs: list[CaptionPair]) -> CaptionScores:
    """Corpus scores of the predictions against their references."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    result = CaptionScores(len(pairs), tokenizer="ptb" if java_available() else "simple")
    if not pairs:
        return result
    predictions, references = _tokenized(pairs, java_available())
    result.scores["BLEU-4"] = Bleu(4).compute_score(references, predictions, verbose=0)[0][3]
    result.scores["ROUGE-L"] = Rouge().compute_score(references, predictions)[0]
    result.scores["CIDEr"] = Cider().compute_score(references, predictions)[0]
    if java_available():
        from pycocoevalcap.meteor.meteor import Meteor

        result.scores["METEOR"] = Meteor().compute_score(references, predictions)[0]
    else:
        result.skipped.append("METEOR skipped: it needs Java (apt-get install default-jre-headless)")
    return result
