"""``render``, ``subtitles``, ``report``, ``export`` and ``sample``: outputs again from a run's folder, no model."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import (
    OVERLAY_HELP,
    echo_err,
    out_callback,
    output_list,
    require_path,
)
from videocap.outputs.exports import FORMATS
from videocap.settings import OVERLAYS

RENDER_EXAMPLES = """\b
Examples:
  videocap render out/captions.json                      # rewrite out/captioned.mp4, .mkv and subtitles
  videocap render out/captions.json --video moved/clip.mp4 --out again/
"""

SUBTITLE_EXAMPLES = """\b
Examples:
  videocap subtitles out/captions.json                   # rewrite the .srt, .vtt and .ass files
  videocap subtitles out/captions.json --out subs/
"""


@cli.command(epilog=RENDER_EXAMPLES)
@click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
@click.option("--video", type=click.Path(path_type=Path), default=None,
              help="The source video, when it is no longer where captions.json says.")
@click.option("--out", type=click.Path(), callback=out_callback, default=None,
              help="Output folder [default: the folder of CAPTIONS_JSON].")
@click.option("--overlay", type=click.Choice(OVERLAYS), default=None,
              help=OVERLAY_HELP + " [default: as captions.json records].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def render(captions: Path, video: Path | None, out: Path | None, overlay: str | None, quiet: bool) -> None:
    """Redo the captioned MP4 and MKV and the subtitles from a captions.json, without running a model
    (edit the captions in the JSON first to change them)."""
    require_path(captions, "give the captions.json that `videocap caption` wrote")
    if video is not None:
        require_path(video, "give the source video with --video")
    from videocap.pipeline import render_captions

    result = render_captions(captions, video, out, progress=not quiet, overlay=overlay)
    echo_err(f"wrote {output_list(result.outputs)} to {out or captions.parent} "
             f"({result.timing.get('render_frames_per_second', 0):.0f} frames/s)")


@cli.command(epilog=SUBTITLE_EXAMPLES)
@click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(), callback=out_callback, default=None,
              help="Output folder [default: the folder of CAPTIONS_JSON].")
def subtitles(captions: Path, out: Path | None) -> None:
    """Redo the subtitle files (.srt and .vtt per object, and the .ass) from a captions.json."""
    require_path(captions, "give the captions.json that `videocap caption` wrote")
    from videocap.pipeline import write_subtitles

    result = write_subtitles(captions, out)
    echo_err(f"wrote {1 + 2 * len(result.tracks)} subtitle file(s) to {out or captions.parent}")


REPORT_EXAMPLES = """\b
Examples:
  videocap report out/                                   # rewrite out/report.html and the contact sheets
  videocap report out/ --video moved/clip.mp4            # the source video has moved
"""


@cli.command(epilog=REPORT_EXAMPLES)
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--video", type=click.Path(path_type=Path), default=None,
              help="The source video (for the keyframes), when it is no longer where captions.json says.")
def report(folder: Path, video: Path | None) -> None:
    """Redo DIR/report.html (open it in a browser) and the contact sheets <class>-<id>.png from
    DIR/captions.json, without running a model."""
    from videocap.pipeline import write_report

    result = write_report(folder, video)
    where = folder if folder.is_dir() else folder.parent
    if result.tracks and not result.timing.get("report_keyframes"):
        echo_err(f"videocap: note: no keyframe thumbnails: the source video {result.video.path} is not there "
                 "(pass --video)")
    echo_err(f"wrote {where / 'report.html'} and {len(result.tracks)} contact sheet(s)")


EXPORT_EXAMPLES = """\b
Examples:
  videocap export out/                                   # out/tracks.mot.txt and out/tracks.ytvis.json
  videocap export out/ --format mot --out eval/
"""


@cli.command(epilog=EXPORT_EXAMPLES)
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True,
              help="mot: MOTChallenge text (frame,id,x,y,w,h,conf,-1,-1,-1; 1-based frames), for TrackEval; "
                   "ytvis: YouTube-VIS-style JSON with COCO RLE masks per frame [default: both].")
@click.option("--out", type=click.Path(), callback=out_callback, default=None, help="Output folder [default: DIR].")
def export(folder: Path, formats: tuple[str, ...], out: Path | None) -> None:
    """Write the tracks of the run in DIR (its captions.json) in the formats of tracking tools."""
    from videocap.pipeline import export_tracks

    written = export_tracks(folder, formats or FORMATS, out)
    echo_err(f"wrote {', '.join(str(p) for p in written)}")


@cli.command()
def sample() -> None:
    """Print the path of the bundled sample video (two circles and a square, 4 s)."""
    from videocap.resources import SAMPLE_VIDEO

    click.echo(str(SAMPLE_VIDEO))


