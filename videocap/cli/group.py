"""The ``videocap`` command group; each command module adds its commands to it."""

from __future__ import annotations

import click

MAIN_EXAMPLES = """\b
Examples:
  videocap caption --demo --class circle --out out/          # the bundled sample, offline
  videocap caption street.mp4 --class person --class dog --start 1:00 --end 2:00 --out street/
  videocap image photos/ --class chair --out chairs/
  videocap batch clips/ --class circle --demo --out runs/    # many videos, resumable, with an index
  videocap render out/captions.json
  videocap track samples/shapes.mp4 --class circle --demo --out tracks.json
  videocap COMMAND --help
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_EXAMPLES)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="videocap")
def cli(debug: bool) -> None:
    """Detailed, localized captions for the objects in a video."""
