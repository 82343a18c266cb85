"""Progress of long stages on stderr, and printing beside it.

One place builds every progress bar, so that all stages report the same way; stdout stays free for
machine-readable output and the captions (printed through ``print_line`` so they never interleave
with a bar).
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, desc: str, unit: str, enabled: bool = True) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True)


def print_line(text: str) -> None:
    """One line on stdout, written around any progress bar on stderr."""
    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()
