"""The ``videocap`` command line: a thin layer over the library.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 any other failure.
``--debug`` shows the traceback instead of the one-line message.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from videocap.errors import UserError


MAIN_EXAMPLES = """\b
Examples:
  videocap caption samples/shapes.mp4 --class circle --demo --out out/
  videocap caption street.mp4 --class person --class dog --start 1:00 --end 2:00 --out street/
  videocap image photos/ --class chair --out chairs/
  videocap render out/captions.json
  videocap track samples/shapes.mp4 --class circle --demo --out tracks.json
  videocap COMMAND --help
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_EXAMPLES)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="videocap")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Detailed, localized captions for the objects in a video."""
    ctx.obj = {"debug": debug}


def range_options(command):
    """--start/--end/--stride, shared by the commands that read a video."""
    command = click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
                           help="Process every Nth frame.")(command)
    command = click.option("--end", help="Stop before this frame number or time (exclusive); default: the end.")(command)
    command = click.option("--start", help="First frame: a frame number (120), seconds (62.5s) or a time "
                                           "(00:01:02.5).")(command)
    return command


def config_options(command):
    """--config/--demo: where the defaults come from (flags override them)."""
    command = click.option("--demo", is_flag=True, help="Use the bundled offline demo models (configs/demo.yaml).")(command)
    command = click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                           help="Settings file [default: configs/default.yaml].")(command)
    return command


def tracking_options(command):
    """Options of the segmentation and tracking stage; None means 'from the config'."""
    for decorator in reversed([
        click.option("--class", "classes", multiple=True, required=True, metavar="NAME",
                     help="Object class to track (repeatable), e.g. --class person --class dog."),
        range_options,
        click.option("--model", default=None, help="YOLO-seg weights: a path or an ultralytics name "
                                                   "[config; default yolo11x-seg.pt]."),
        click.option("--conf", type=click.FloatRange(0, 1), default=None,
                     help="Detection score floor fed to ByteTrack; above 0.1 disables its low-score pass "
                          "[config; default 0.1]."),
        click.option("--imgsz", type=click.IntRange(min=32), default=None,
                     help="Inference size [config; default: the size the model was trained at]."),
        click.option("--device", default=None, help="Torch device for YOLO, e.g. cpu, 0, cuda:0 [default: auto]."),
        click.option("--min-frames", type=click.IntRange(min=1), default=None,
                     help="Drop tracks seen in fewer processed frames [config; default 3]."),
        click.option("--min-score", type=click.FloatRange(0, 1), default=None,
                     help="Drop tracks whose mean detection score is lower [config; default 0.35]."),
        click.option("--keyframes", type=click.IntRange(min=1), default=None,
                     help="Keyframes per track [config; default 8, what DAM-3B-Video takes]."),
        click.option("--keyframe-method", type=click.Choice(["uniform", "quality"]), default=None,
                     help="uniform: evenly spread in time; quality: large, confident, uncut views spread over "
                          "the track's life [config; default uniform]."),
        config_options,
    ]):
        command = decorator(command)
    return command


def track_settings(config_path: Path | None, demo: bool, classes: tuple[str, ...], start: str | None,
                   end: str | None, stride: int, **flags):
    """TrackSettings from the config, overridden by the flags given."""
    from videocap.config import load_config, merge
    from videocap.pipeline import TrackSettings

    settings = merge(load_config(config_path, demo), **flags)
    fields = {f.name for f in dataclasses.fields(TrackSettings)}
    settings = {key: value for key, value in settings.items() if key in fields}  # not DAM's settings
    return TrackSettings(classes=classes, start=start, end=end, stride=stride, **settings)


def print_track_summary(result) -> None:
    """A short table of the tracks on stderr (stdout stays free for machine-readable output)."""
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    frames = len(result.frame_range)
    echo(f"{len(result.tracks)} track(s) in {frames} frame(s) of {result.video.path} "
         f"({result.timing.get('frames_per_second', 0):.1f} frames/s)")
    if result.tracks:
        echo(f"{'id':>5}  {'class':<14}{'frames':>7}  {'from':>9}  {'to':>9}  {'score':>5}")
        for t in result.tracks:
            echo(f"{t.track_id:>5}  {t.class_name:<14}{len(t.frames):>7}  {t.first.time:>8.2f}s  {t.last.time:>8.2f}s"
                 f"  {t.mean_score:>5.2f}")


@cli.command(epilog="""\b
Examples:
  videocap track samples/shapes.mp4 --class circle --demo --out t.json
  videocap track street.mp4 --class person --class car --start 00:01:00 --end 90s --stride 2 --out tracks.json
""")
@click.argument("video", type=click.Path(path_type=Path))
@tracking_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("tracks.json"), show_default=True,
              help="Where to write the tracks JSON.")
def track(video: Path, out: Path, **options) -> None:
    """Segment and track every object of the given classes; write tracks with keyframes as JSON."""
    from videocap.io import ensure_writable_dir, write_json
    from videocap.pipeline import track_video

    settings = track_settings(**options)
    ensure_writable_dir(out.parent)
    result = track_video(video, settings)
    write_json(out, result.to_json())
    print_track_summary(result)
    click.echo(f"wrote {out}", err=True)


from videocap.commands import register  # noqa: E402

register(cli, tracking_options, track_settings)

from videocap.dam.cli import describe  # noqa: E402

cli.add_command(describe)

from videocap.dam.train_cli import train_dam  # noqa: E402

cli.add_command(train_dam)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="videocap", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("videocap: interrupted", err=True)
        return 130
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        if debug:
            raise
        exc.show()
        return 2
    except UserError as exc:
        if debug:
            raise
        click.echo(f"videocap: error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("videocap: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            raise
        click.echo(f"videocap: failed: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
