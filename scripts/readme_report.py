"""Make the README's pictures of the report: a screenshot of report.html in headless Chromium (1280 wide,
the whole page), and one track's contact sheet.

    python scripts/readme_report.py      # -> docs/report.png, docs/contact-sheet.png

Runs the README's main job (``videocap caption --demo --class circle``) into ``runs/readme-report/``,
opens its report.html from disk, pauses the video at 1.6 s with the second circle's lane selected,
and takes the screenshot. Needs Chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cdp import Browser, find_chromium  # noqa: E402


def screenshot(report: Path, out: Path, at: float) -> None:
    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium found: apt-get install -y chromium")
    with Browser(executable) as browser:
        page = browser.page(report.as_uri())
        page.eval("""new Promise((done) => { const v = document.getElementById('video');
            if (v.readyState >= 2) done(); else v.addEventListener('loadeddata', done, {once: true}); })""")
        page.eval("document.querySelector('.lane[data-track=\"2\"] .lane-bar').click()")
        page.eval(f"""new Promise((done) => {{ const v = document.getElementById('video');
            v.addEventListener('seeked', done, {{once: true}}); v.currentTime = {at}; }})""")
        page.resize(1280, page.eval("document.documentElement.scrollHeight"))
        time.sleep(1.0)  # the frame paints and the loading spinner goes
        if page.errors:
            sys.exit(f"the report logged errors: {page.errors}")
        page.screenshot(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=float, default=1.6, help="seconds into the video for the screenshot")
    args = parser.parse_args()
    run_dir = REPO / "runs" / "readme-report"
    subprocess.run([sys.executable, "-m", "videocap", "caption", "--demo", "--class", "circle",
                    "--out", str(run_dir), "--quiet"], check=True, cwd=REPO)
    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    screenshot(run_dir / "report.html", docs / "report.png", args.time)
    shutil.copyfile(run_dir / "circle-2.png", docs / "contact-sheet.png")
    print(f"wrote {docs / 'report.png'} and {docs / 'contact-sheet.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
