"""Make the README's picture: one frame of `videocap caption` on the bundled sample.

    python scripts/readme_frame.py [--time 2.0] [--dam PATH]   # -> docs/captioned-frame.png

Runs ``videocap caption samples/shapes.mp4 --class circle --demo`` into ``runs/readme/`` (the demo
config must name a DAM checkpoint, or pass --dam) and saves the frame shown at ``--time`` seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=float, default=2.0, help="seconds into the captioned video")
    parser.add_argument("--dam", default=None, help="DAM checkpoint, if configs/demo.yaml names none")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "captioned-frame.png")
    args = parser.parse_args()

    from videocap.io.encode import ffmpeg_exe

    run_dir = REPO / "runs" / "readme"
    command = [sys.executable, "-m", "videocap", "caption", str(REPO / "samples" / "shapes.mp4"),
               "--class", "circle", "--demo", "--out", str(run_dir), "--quiet"]
    if args.dam:
        command += ["--dam", args.dam]
    subprocess.run(command, check=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(run_dir / "captioned.mp4"),
                    "-ss", f"{args.time:.3f}", "-frames:v", "1", str(args.out)], check=True)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
