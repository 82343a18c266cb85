"""ISO 639-2 language codes, which Matroska subtitle streams are tagged with (``--language``)."""

from __future__ import annotations

import functools
import re

from videocap.errors import UserError
from videocap.resources import LANGUAGE_CODES

_LOCAL_USE = re.compile(r"^q[a-t][a-z]$")  # qaa-qtz: reserved by ISO 639-2 for local use


@functools.cache
def language_names() -> dict[str, str]:
    """Every ISO 639-2 code (bibliographic and terminology forms) and its English name."""
    lines = LANGUAGE_CODES.read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def check_language(code: str) -> str:
    """``code`` if it is an ISO 639-2 code, else a one-line error suggesting the right form."""
    names = language_names()
    if code in names or _LOCAL_USE.match(code):
        return code
    if code.lower() in names:
        raise UserError(f"--language {code}: ISO 639-2 codes are lower case, use {code.lower()}")
    raise UserError(f"--language {code}: not an ISO 639-2 language code (three letters, e.g. eng, fra, deu, "
                    "spa, zho, jpn, ara, heb, hin, tha)")
