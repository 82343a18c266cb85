"""``videocap serve`` as a program for the tests: a subprocess with the demo models on 127.0.0.1 (port 0), its
--root holding a copy of the sample."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from videocap.resources import SAMPLE_VIDEO


class Served:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.root, self.data = tmp / "root", tmp / "data"
        self.root.mkdir(exist_ok=True)
        shutil.copy(SAMPLE_VIDEO, self.root / "shapes.mp4")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "videocap", "serve", "--demo", "--port", "0", "--root",
                                      str(self.root), "--data", str(self.data), *args], stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines = []
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on " in line:
                self.url = line.split("listening on ")[1].split()[0]
                break
        else:
            raise AssertionError("".join(self.lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.lines += self.proc.stderr.readlines()
        return code
