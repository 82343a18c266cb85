"""Make the README's picture of a region prompt: the contact sheet of the object one point picks.

    python scripts/readme_prompt.py      # -> docs/prompt-sheet.png

Runs `videocap caption samples/shapes.mp4 --point 160,150@2s --label ball --demo` into
``runs/readme-prompt/`` and copies the track's contact sheet (its keyframes, the prompt's frame with the
point drawn, its caption).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    out = REPO / "runs" / "readme-prompt"
    subprocess.run([sys.executable, "-m", "videocap", "caption", str(REPO / "samples" / "shapes.mp4"), "--point",
                    "160,150@2s", "--label", "ball", "--demo", "--no-video", "--out", str(out), "--quiet"], check=True)
    shutil.copyfile(out / "ball-1.png", REPO / "docs" / "prompt-sheet.png")
    print("wrote docs/prompt-sheet.png")


if __name__ == "__main__":
    main()
