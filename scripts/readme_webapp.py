"""Make the README's pictures of the web app: `videocap serve --demo --root samples/` in headless Chromium
(1280x800), the red circle clicked on frame 50 and described, then the same prompt run as a job.

    python scripts/readme_webapp.py      # -> docs/webapp.png, docs/webapp-job.png

Starts the server on a free port of 127.0.0.1 with its job folders in a temporary folder. Needs Chromium
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cdp import Browser, find_chromium  # noqa: E402

FRAME, RED = 50, (160, 150)  # the red circle's centre on frame 50 (samples/shapes.truth.json)


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "videocap", "serve", "--demo", "--root", str(REPO / "samples"),
                               "--data", str(data), "--port", "0"], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in server.stderr:
        if "listening on " in line:
            return server, line.split("listening on ")[1].split()[0]
    sys.exit("the server did not start")


def main() -> None:
    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as data:
        server, url = start_server(Path(data))
        try:
            with Browser(executable, timeout=120) as browser:
                page = browser.page(f"{url}/?path=shapes.mp4")
                page.wait_for("document.getElementById('vc-frame').naturalWidth > 0 && state.info !== null")
                page.eval(f"""(() => {{ const s = document.getElementById('vc-scrub'); s.value = '{FRAME}';
                    s.dispatchEvent(new Event('input')); }})()""")
                page.wait_for(f"state.frame === {FRAME} && document.getElementById('vc-frame').complete")
                x, y = page.eval(f"""(() => {{ const img = document.getElementById('vc-frame');
                    const r = img.getBoundingClientRect(); return [r.left + {RED[0]} * r.width / img.naturalWidth,
                    r.top + {RED[1]} * r.height / img.naturalHeight]; }})()""")
                page.click(x, y)
                page.wait_for("state.mask !== null")
                page.eval("document.getElementById('vc-describe').click()")
                page.wait_for("document.getElementById('vc-caption').dataset.state === 'done'", timeout=60)
                time.sleep(0.5)
                page.screenshot(REPO / "docs" / "webapp.png")
                page.eval("document.getElementById('vc-label').value = 'ball'")
                page.eval("document.getElementById('vc-run').click()")
                page.wait_for("!document.getElementById('result').hidden", timeout=300)
                page.wait_for("document.getElementById('vc-report').contentDocument.readyState === 'complete'")
                page.eval("document.getElementById('result').scrollIntoView()")
                time.sleep(1.5)
                page.screenshot(REPO / "docs" / "webapp-job.png")
                if page.errors:
                    sys.exit(f"the page logged errors: {page.errors}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    print("wrote docs/webapp.png and docs/webapp-job.png")


if __name__ == "__main__":
    main()
