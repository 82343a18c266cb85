"""``track``, ``caption`` and ``batch``: commands over videos."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import (
    build_settings,
    caption_output_options,
    dam_options,
    echo_err,
    out_callback,
    output_list,
    print_caption,
    quiet_line,
    require_path,
    tracking_options,
)

TRACK_EXAMPLES = """\b
Examples:
  videocap track samples/shapes.mp4 --class circle --demo --out t.json
  videocap track street.mp4 --class person --class car --start 00:01:00 --end 90s --stride 2 --out tracks.json
"""

CAPTION_EXAMPLES = """\b
Examples:
  videocap caption --demo --class circle --out out/                  # the bundled sample video
  videocap caption samples/shapes.mp4 --class circle --demo --out out/
  videocap caption street.mp4 --class person --class dog --out street/            # yolo11x-seg + DAM-3B-Video
  videocap caption talk.mp4 --class person --start 1:00 --end 2:30 --segment-seconds 10 --out talk/
  videocap caption clip.mp4 --class car --dam ~/models/DAM-3B-Video --temperature 0 --max-new-tokens 128
  videocap caption yard.mp4 --segmenter sam3 --class "forklift" --class "person in a hi-vis vest" --out yard/
"""

BATCH_EXAMPLES = """\b
Examples:
  videocap batch clips/ --class circle --demo --out runs/            # every video in clips/
  videocap batch archive/ --recursive --class person --out captions/ --no-video
  videocap batch "footage/*.mp4" list.txt --class car --jobs 2 --out cars/
  videocap batch /mnt/shared/clips/ --class person --engine ray --ray-address auto --out /mnt/shared/runs/
"""


@cli.command(epilog=TRACK_EXAMPLES)
@click.argument("video", type=click.Path(path_type=Path))
@tracking_options
@click.option("--out", type=click.Path(), callback=out_callback, default=Path("tracks.json"), show_default=True,
              help="Where to write the tracks JSON.")
def track(video: Path, out: Path, **options) -> None:
    """Segment and track every object of the given classes; write tracks with keyframes as JSON."""
    require_path(video, "give the video to track")
    from videocap.pipeline import write_tracks

    settings, _, _ = build_settings(**options)
    result = write_tracks(video, settings, out)
    frames = len(result.frame_range)
    echo_err(f"{len(result.tracks)} track(s) in {frames} frame(s) of {result.video.path} "
             f"({result.timing.get('frames_per_second', 0):.1f} frames/s)")
    if result.tracks:
        echo_err(f"{'id':>5}  {'class':<14}{'frames':>7}  {'from':>9}  {'to':>9}  {'score':>5}")
        for t in result.tracks:
            echo_err(f"{t.id:>5}  {t.class_name:<14}{len(t.frames):>7}  {t.first.time:>8.2f}s  {t.last.time:>8.2f}s"
                     f"  {t.mean_score:>5.2f}")
    echo_err(f"wrote {out}")


@cli.command(epilog=CAPTION_EXAMPLES)
@click.argument("video", type=click.Path(path_type=Path), required=False)
@tracking_options
@dam_options
@caption_output_options
def caption(video: Path | None, out: Path, quiet: bool, no_cache: bool, no_video: bool, **options) -> None:
    """Track every object of the classes in VIDEO, caption each track with DAM, and write the captioned
    video, subtitles per object and captions.json into --out. With --demo and no VIDEO: the bundled sample.

    \b
    Writes into --out:
      captions.json          video, settings, models, tracks with keyframes, captions and time spans
      captioned.mp4          masks, boxes, labels and captions drawn on every frame; H.264, source audio
      captioned.mkv          the same, with one subtitle stream per object ("circle #3")
      captions.ass           every object's caption following its object
      <class>-<id>.srt/.vtt  subtitles per object
    Tracks are cached (~/.cache/videocap, or $VIDEOCAP_CACHE_DIR): running again with other DAM
    settings does not track again. Captions are printed on stdout as they are made.
    """
    from videocap.resources import SAMPLE_VIDEO

    if video is None:
        if not options["demo"]:
            raise click.UsageError("Missing argument 'VIDEO' (only --demo runs on the bundled sample without one).")
        video = SAMPLE_VIDEO
    require_path(video, "give the video to caption")
    from videocap.pipeline import caption_video

    tracking, captioning, _ = build_settings(**options)
    result = caption_video(video, tracking, captioning, out, progress=not quiet, use_cache=not no_cache,
                           render=not no_video,
                           on_caption=lambda t, c: print_caption(t.label, f" {c.start:.2f}-{c.end:.2f}s", c.text))
    say = quiet_line if quiet else echo_err
    frames = result.frame_range
    if result.timing.get("tracking_cached"):
        say("tracks from the cache (no tracking needed)")
    if not result.tracks:  # said even with --quiet: the run found nothing to caption
        echo_err(f"no {' or '.join(tracking.classes)} found in {video} (frames {frames.start}-{frames.end - 1}): "
                 f"wrote empty outputs to {out}")
    else:
        say(f"{len(result.tracks)} track(s), {result.caption_count} caption(s) in {len(frames)} frame(s) of {video}")
    say(f"wrote {output_list(result.outputs)} to {out}")


@cli.command(epilog=BATCH_EXAMPLES)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option("--recursive", "-r", is_flag=True, help="Look for videos in the folders' subfolders too.")
@tracking_options
@dam_options
@caption_output_options
@click.option("--engine", type=click.Choice(("local", "ray")), default="local", show_default=True,
              help="local: worker processes on this machine; ray: a Ray Data pipeline (local or a cluster).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes, each with its own models [default: one per GPU, one on CPU].")
@click.option("--videos-per-batch", "group", type=click.IntRange(min=1), default=4, show_default=True,
              help="Videos whose tracks are captioned in shared DAM batches.")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="A running Ray cluster (auto, ray://head:10001) [default: start Ray on this machine].")
@click.option("--ray-track-gpus", type=click.FloatRange(min=0), default=None,
              help="GPUs per tracking actor, a fraction shares one [default: 0.25 when there are GPUs].")
@click.option("--ray-caption-gpus", type=click.FloatRange(min=0), default=None,
              help="GPUs per captioning actor [default: 1 when there are GPUs].")
@click.option("--ray-track-concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Tracking actors.")
@click.option("--ray-caption-concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Captioning actors.")
@click.pass_context
def batch(ctx: click.Context, inputs: tuple[str, ...], recursive: bool, out: Path, quiet: bool, no_cache: bool,
          no_video: bool, engine: str, jobs: int | None, group: int, ray_address: str | None,
          ray_track_gpus: float | None, ray_caption_gpus: float | None, ray_track_concurrency: int,
          ray_caption_concurrency: int, **options) -> None:
    """Caption many videos: each of INPUTS (video files, folders, globs, or text files listing paths, one
    a line) gets its own folder under --out with exactly what `videocap caption` writes, and
    --out/index.jsonl gets a row per video (status, error, timings, counts, folder) and per track
    (span, captions); also as Parquet when pyarrow is installed.

    \b
    A rerun skips the videos already done for the same content and settings, and redoes failed or
    changed ones; one bad video is recorded with its error and the others go on.
    Exit code: 0 every video done, 1 some failed (listed at the end), 2 bad arguments.
    """
    from videocap.batch.on_ray import RayOptions
    from videocap.batch.runner import BatchSettings, run_batch

    tracking, captioning, _ = build_settings(**options)
    settings = BatchSettings(tracking, captioning, render=not no_video, use_cache=not no_cache)
    ray_options = RayOptions(ray_address, ray_track_gpus, ray_caption_gpus, track_concurrency=ray_track_concurrency,
                             caption_concurrency=ray_caption_concurrency)
    finished: list[dict] = []
    summary = run_batch(inputs, out, settings, engine, jobs, group, recursive, progress=not quiet,
                        ray_options=ray_options, on_video=finished.append)
    _batch_summary(summary, finished, out)
    if not summary.ok:
        ctx.exit(1)


def _batch_summary(summary, finished: list[dict], out: Path, shown: int = 20) -> None:
    """The videos of this run as a table (the first ``shown``, then every failure), and the totals."""
    rows = finished[:shown] + [r for r in finished[shown:] if r["status"] != "ok"]
    if rows:
        echo_err(f"{'status':<7} {'tracks':>6} {'captions':>8} {'seconds':>8}  folder")
        for r in rows:
            seconds = r["timing"].get("total_seconds", 0)
            echo_err(f"{r['status']:<7} {r['tracks']:>6} {r['captions']:>8} {seconds:>8.1f}  {r['output']}"
                     + (f"  {r['error']}" if r["error"] else ""))
        if len(finished) > len(rows):
            echo_err(f"... and {len(finished) - len(rows)} more video(s) done (see the index)")
    rate = f", {3600 * len(finished) / summary.seconds:.0f} videos/hour" if finished and summary.seconds else ""
    echo_err(f"{summary.total} video(s): {summary.done} done, {summary.skipped} already done (skipped), "
             f"{len(summary.failed)} failed in {summary.seconds:.1f} s{rate}")
    echo_err(f"index: {out / 'index.jsonl'}")
