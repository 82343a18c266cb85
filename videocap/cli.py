"""The ``videocap`` command line: each command parses its flags, builds settings, makes one library call
(``videocap.pipeline``) and prints.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 any other failure, 130 interrupted (SIGINT),
143 terminated (SIGTERM); both signals clean up alike (``videocap.errors.Terminated``).
``--debug`` shows the traceback instead of the one-line message. Heavy modules (torch, ultralytics)
are imported only inside the commands that need them, so that bad input is reported at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from videocap.errors import Terminated, UserError
from videocap.settings import (
    DEFAULT_DAM,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_SAM3,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    DTYPES,
    KEYFRAME_METHODS,
    OVERLAYS,
    SEGMENTERS,
    CaptionSettings,
    ImageSettings,
    TrackSettings,
    load_config,
)

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

IMAGE_EXAMPLES = """\b
Examples:
  videocap image room.jpg --class chair --out room/
  videocap image photos/ --class dog --class cat --dam ~/models/DAM-3B --out described/
  videocap image frame.png --class circle --demo --out shapes/
"""

RENDER_EXAMPLES = """\b
Examples:
  videocap render out/captions.json                      # rewrite out/captioned.mp4, .mkv and subtitles
  videocap render out/captions.json --video moved/clip.mp4 --out again/
"""

DESCRIBE_EXAMPLES = """\b
Examples:
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B
  videocap describe clip.mp4 --mask m0.png --mask m1.png --mask m2.png --mask m3.png \\
      --mask m4.png --mask m5.png --mask m6.png --mask m7.png --dam ~/models/DAM-3B-Video --stream
  videocap describe clip.mp4 --mask masks/ --frames 8 --dam ~/models/DAM-3B-Video --temperature 0
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B --query "What is the dog doing?"
"""

TRAIN_EXAMPLES = """\b
Examples:
  # the bundled demo captioner (videocap/data/models/shapes-dam), on the CPU:
  videocap train-dam --data shapes:2000 --init videocap/data/configs/demo-dam.yaml --out runs/shapes-dam \\
      --steps 4000 --aux-weight 0.5 --threads 1
  videocap train-dam --data shapes:2000 --data shapes-stills:1500 --init runs/shapes-dam \\
      --out runs/shapes-dam-final --steps 600 --lr 3e-4 --vision-lr 5e-4 --threads 2
  # fine-tune DAM-3B-Video on your own items (one JSON per line: frames, masks, caption), LLM frozen:
  videocap train-dam --data items.jsonl --init nvidia/DAM-3B-Video --out dam-tuned --freeze llm --device cuda
"""

SUBTITLE_EXAMPLES = """\b
Examples:
  videocap subtitles out/captions.json                   # rewrite the .srt, .vtt and .ass files
  videocap subtitles out/captions.json --out subs/
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_EXAMPLES)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="videocap")
def cli(debug: bool) -> None:
    """Detailed, localized captions for the objects in a video."""


# -- shared option groups --

def _options(*decorators):
    """One decorator applying ``decorators`` in the order they are listed (as they show in --help)."""
    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command
    return apply


config_options = _options(
    click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                 help="Settings file [default: the packaged default.yaml: the real models]."),
    click.option("--demo", is_flag=True, help="Use the bundled offline demo models (the packaged demo.yaml)."),
)

range_options = _options(
    click.option("--start", help="First frame: a frame number (120), seconds (62.5s) or a time (00:01:02.5)."),
    click.option("--end", help="Stop before this frame number or time (exclusive); default: the end."),
    click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True, help="Process every Nth frame."),
)

segmenter_options = _options(
    click.option("--class", "classes", multiple=True, required=True, metavar="NAME",
                 help="Object class (repeatable), e.g. --class person --class dog; with --segmenter sam3 any "
                      "noun phrase, e.g. --class 'red car'."),
    click.option("--segmenter", type=click.Choice(tuple(SEGMENTERS)), default=None,
                 help="yolo: YOLO-seg + ByteTrack, its model's classes (COCO's 80), fast on CPU; sam3: Meta's "
                      "SAM 3, any noun phrase, wants a GPU [config; default yolo]."),
    click.option("--model", default=None, help=f"YOLO-seg weights: a path or an ultralytics name "
                                               f"[config; default {DEFAULT_MODEL}]."),
    click.option("--sam3", default=None, metavar="PATH_OR_ID",
                 help=f"SAM 3 checkpoint (--segmenter sam3): a folder or a hub id [config; default {DEFAULT_SAM3}]."),
    click.option("--imgsz", type=click.IntRange(min=32), default=None,
                 help="Inference size [config; default: the size the model was trained at]."),
    click.option("--device", default=None, help="Torch device, e.g. cpu, 0, cuda:0 [default: auto]."),
)

tracking_options = _options(
    segmenter_options,
    range_options,
    click.option("--conf", type=click.FloatRange(0, 1), default=None,
                 help="Detection score floor fed to ByteTrack; above 0.1 disables its low-score pass "
                      "[config; default 0.1]."),
    click.option("--min-frames", type=click.IntRange(min=1), default=None,
                 help="Drop tracks seen in fewer processed frames [config; default 3]."),
    click.option("--min-score", type=click.FloatRange(0, 1), default=None,
                 help="Drop tracks whose mean detection score is lower [config; default 0.35]."),
    click.option("--keyframes", "keyframe_count", type=click.IntRange(min=1), default=None,
                 help="Keyframes per track [config; default 8, what DAM-3B-Video takes]."),
    click.option("--keyframe-method", type=click.Choice(KEYFRAME_METHODS), default=None,
                 help="uniform: evenly spread in time; quality: large, confident, uncut views spread over "
                      "the track's life [config; default uniform]."),
    config_options,
)

dam_options = _options(
    click.option("--dam", default=None, metavar="PATH_OR_ID",
                 help=f"DAM checkpoint: a folder in the official layout or a hub id [config; default {DEFAULT_DAM}]."),
    click.option("--temperature", type=click.FloatRange(min=0), default=None,
                 help=f"Sampling temperature, 0 = greedy [config; default {DEFAULT_TEMPERATURE}]."),
    click.option("--top-p", type=click.FloatRange(0, 1), default=None,
                 help=f"Nucleus sampling [config; default {DEFAULT_TOP_P}]."),
    click.option("--max-new-tokens", type=click.IntRange(min=1), default=None,
                 help=f"Longest caption in tokens [config; default {DEFAULT_MAX_NEW_TOKENS}]."),
    click.option("--seed", type=int, default=None, help="Seed for sampling [config; default 0]."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Objects captioned together [config; default 8]."),
    click.option("--query", default=None,
                 help="Ask DAM this instead of its default request for a detailed description."),
    click.option("--dtype", type=click.Choice(("auto",) + DTYPES), default="auto", show_default=True,
                 help="DAM's weights: auto = bfloat16 on GPU, float32 on CPU."),
)

OVERLAY_HELP = ("How masks are drawn: outline = the track's colour around the object over a light tint (its own "
                "colours stay recognisable); tint = a strong fill in the track's colour; none = no mask")
overlay_option = click.option("--overlay", type=click.Choice(OVERLAYS), default=None,
                              help=OVERLAY_HELP + " [config; default outline].")

output_options = _options(
    click.option("--out", type=click.Path(path_type=Path), default=Path("captions"), show_default=True,
                 help="Output folder."),
    click.option("--quiet", is_flag=True,
                 help="Print the captions only: no progress, no summary (a run that finds no object still says so)."),
)


caption_output_options = _options(
    click.option("--segment-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Caption each S-second piece of a track on its own (captions that change over time) "
                      "[config; default: one caption per track]."),
    click.option("--language", default=None,
                 help="ISO 639-2 code of the captions' language, tagged on the MKV's subtitle streams "
                      "[config; default eng]."),
    overlay_option,
    output_options,
    click.option("--no-cache", is_flag=True, help="Track again even when the tracks are in the cache."),
    click.option("--no-video", is_flag=True, help="Skip the MP4 and MKV (make them later with `videocap render`)."),
)


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def require_path(path: Path, what: str) -> None:
    """A missing input is reported at once, before the slow imports (cv2, torch, ultralytics) and any model."""
    if not path.exists():
        raise UserError(f"{path}: no such file ({what})")


def _quiet(text: str) -> None:
    """What --quiet does with a summary line: nothing (only the captions are printed)."""


def print_caption(label: str, span: str, text: str) -> None:
    """One caption line on stdout; control characters (a model's stray escape codes) never reach the terminal."""
    from videocap.outputs.layout import clean_text
    from videocap.progress import print_line

    print_line(f"{clean_text(label)}{span}: {clean_text(text)}")


def _settings(config_path: Path | None, demo: bool, classes, start=None, end=None, stride=1, **flags):
    """(TrackSettings, CaptionSettings, config) from the config file and the flags given."""
    config = load_config(config_path, demo)
    tracking = TrackSettings.from_config(config, classes=tuple(classes), start=start, end=end, stride=stride, **flags)
    device = flags.get("device") or config.get("device")
    captioning = CaptionSettings.from_config(config, **{**flags, "device": device})
    return tracking, captioning, config


# -- commands --

@cli.command(epilog=TRACK_EXAMPLES)
@click.argument("video", type=click.Path(path_type=Path))
@tracking_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("tracks.json"), show_default=True,
              help="Where to write the tracks JSON.")
def track(video: Path, out: Path, **options) -> None:
    """Segment and track every object of the given classes; write tracks with keyframes as JSON."""
    require_path(video, "give the video to track")
    from videocap.pipeline import write_tracks

    settings, _, _ = _settings(**options)
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

    tracking, captioning, _ = _settings(**options)
    result = caption_video(video, tracking, captioning, out, progress=not quiet, use_cache=not no_cache,
                           render=not no_video,
                           on_caption=lambda t, c: print_caption(t.label, f" {c.start:.2f}-{c.end:.2f}s", c.text))
    say = _quiet if quiet else echo_err
    frames = result.frame_range
    if result.timing.get("tracking_cached"):
        say("tracks from the cache (no tracking needed)")
    if not result.tracks:  # said even with --quiet: the run found nothing to caption
        echo_err(f"no {' or '.join(tracking.classes)} found in {video} (frames {frames.start}-{frames.end - 1}): "
                 f"wrote empty outputs to {out}")
    else:
        say(f"{len(result.tracks)} track(s), {result.caption_count} caption(s) in {len(frames)} frame(s) of {video}")
    say(f"wrote {_output_list(result.outputs)} to {out}")


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
    from videocap.batch.runner import BatchSettings, run_batch
    from videocap.batch.on_ray import RayOptions

    tracking, captioning, _ = _settings(**options)
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


@cli.command(epilog=IMAGE_EXAMPLES)
@click.argument("photos", metavar="IMAGE|FOLDER", type=click.Path(path_type=Path))
@segmenter_options
@click.option("--conf", type=click.FloatRange(0, 1), default=0.25, show_default=True, help="Lowest detection score kept.")
@dam_options
@overlay_option
@config_options
@output_options
def image(photos: Path, classes, config_path: Path | None, demo: bool, out: Path, quiet: bool, **flags) -> None:
    """Caption every object of the classes in a photo, or in each photo of a folder, with DAM's
    single-image query.

    \b
    Writes into --out, per photo:
      <photo>.json                 objects: class, score, box, mask (COCO RLE), caption
      <photo>.captioned.jpg|png    masks, boxes, labels and captions drawn on the photo
    """
    require_path(photos, "give a photo or a folder of photos")
    from videocap.pipeline import caption_images

    config = load_config(config_path, demo)
    device = flags.get("device") or config.get("device")
    settings = ImageSettings.from_config(config, classes=tuple(classes), **{**flags, "device": device})
    captioning = CaptionSettings.from_config(config, **{**flags, "device": device})
    results = caption_images(photos, settings, captioning, out, progress=not quiet,
                             on_caption=lambda p, o: print_caption(f"{p.name} {o.label}", "", o.captions[0].text))
    say = _quiet if quiet else echo_err
    total = sum(len(r.objects) for r in results)
    if total == 0:  # said even with --quiet
        echo_err(f"no {' or '.join(classes)} found in {photos}: wrote the photos' JSON with no objects to {out}")
    else:
        say(f"{total} object(s) captioned in {len(results)} photo(s)")
    say(f"wrote {len(results) * 2} file(s) to {out}")


@cli.command(epilog=RENDER_EXAMPLES)
@click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
@click.option("--video", type=click.Path(path_type=Path), default=None,
              help="The source video, when it is no longer where captions.json says.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
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
    echo_err(f"wrote {_output_list(result.outputs)} to {out or captions.parent} "
             f"({result.timing.get('render_frames_per_second', 0):.0f} frames/s)")


@cli.command(epilog=SUBTITLE_EXAMPLES)
@click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
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
@click.option("--format", "formats", type=click.Choice(("mot", "ytvis")), multiple=True,
              help="mot: MOTChallenge text (frame,id,x,y,w,h,conf,-1,-1,-1; 1-based frames), for TrackEval; "
                   "ytvis: YouTube-VIS-style JSON with COCO RLE masks per frame [default: both].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: DIR].")
def export(folder: Path, formats: tuple[str, ...], out: Path | None) -> None:
    """Write the tracks of the run in DIR (its captions.json) in the formats of tracking tools."""
    from videocap.pipeline import export_tracks

    written = export_tracks(folder, formats or ("mot", "ytvis"), out)
    echo_err(f"wrote {', '.join(str(p) for p in written)}")


@cli.command()
def sample() -> None:
    """Print the path of the bundled sample video (two circles and a square, 4 s)."""
    from videocap.resources import SAMPLE_VIDEO

    click.echo(str(SAMPLE_VIDEO))


def _output_list(outputs: dict) -> str:
    names = [outputs[k] for k in ("captions", "video", "mkv", "ass", "report") if k in outputs]
    per_track = sum(len(files) for files in outputs.get("tracks", {}).values())
    return ", ".join(names + ([f"{per_track} per-track subtitle files"] if per_track else []))


@cli.command(epilog=DESCRIBE_EXAMPLES)
@click.argument("media", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mask", "masks", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Mask image (non-zero pixels are the object), one per sampled frame and repeatable; "
                   "or a folder holding one mask per video frame (sorted by name).")
@click.option("--dam", default=None, metavar="PATH_OR_ID",
              help="DAM checkpoint: a folder in the official layout or a hub id (nvidia/DAM-3B, nvidia/DAM-3B-Video) "
                   f"[default {DEFAULT_DAM}].")
@click.option("--query", default=None,
              help="Question about the object, or a full query with one <image> per frame. "
                   "Default: the checkpoint's own query.")
@click.option("--frames", "num_frames", default=8, show_default=True, type=click.IntRange(1),
              help="Frames to sample when --mask is a folder (among frames whose mask is not empty).")
@click.option("--temperature", default=DEFAULT_TEMPERATURE, show_default=True, type=click.FloatRange(0),
              help="0 = greedy.")
@click.option("--top-p", default=DEFAULT_TOP_P, show_default=True, type=click.FloatRange(0, 1))
@click.option("--max-new-tokens", default=DEFAULT_MAX_NEW_TOKENS, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=None, type=int, help="Makes sampling repeatable.")
@click.option("--stream", is_flag=True, help="Print the description as it is generated.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1... Default: CUDA when available.")
@click.option("--dtype", default="auto", show_default=True, type=click.Choice(("auto",) + DTYPES),
              help="auto = bfloat16 on GPU, float32 on CPU.")
@click.option("--prompt-style", default="auto", show_default=True, type=click.Choice(["auto", "dam-3b", "dam-3b-video"]),
              help="Default queries of DAM-3B (image only) or DAM-3B-Video; auto = from the checkpoint's name.")
def describe(media: Path, masks: tuple[Path, ...], num_frames: int, stream: bool, prompt_style: str, **flags) -> None:
    """Describe the masked object in MEDIA (an image, or a video) in detail with DAM.

    An image takes one --mask. For a video, give one --mask per frame to use: that many frames are
    sampled uniformly over the video, in order. Or give a folder with one mask per video frame:
    --frames frames are then sampled uniformly among those whose mask is not empty.
    """
    from videocap.pipeline import describe_region

    settings = CaptionSettings.from_config({}, **flags)
    style = None if prompt_style == "auto" else prompt_style
    for piece in describe_region(media, list(masks), settings, num_frames, style, stream):
        click.echo(piece, nl=not stream)
    if stream:
        click.echo()


@cli.command("train-dam", epilog=TRAIN_EXAMPLES)
@click.option("--data", "datasets", required=True, multiple=True,
              help="A .jsonl of {frames, masks, caption} items; shapes:N for N generated shape clips (8 frames); "
                   "shapes-stills:N for still frames of N clips. Repeat to mix sets: they take turns, a batch each.")
@click.option("--init", "init", required=True, help="A DAM checkpoint (folder or hub id) to fine-tune, or an "
                                                    "architecture file (.yaml) for a new model.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model folder (official DAM layout); training state goes to OUT.state/.")
@click.option("--steps", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Learning rate of the LLM.")
@click.option("--vision-lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True,
              help="Learning rate of the tower, context provider and projector.")
@click.option("--freeze", type=click.Choice(["vision", "llm"]), multiple=True, help="Keep a part fixed.")
@click.option("--aux-weight", type=float, default=0.0, show_default=True,
              help="Weight of the auxiliary attribute losses (shapes data only).")
@click.option("--save-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT and OUT.state/.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch CPU threads.")
@click.option("--device", default=None, help="cpu, cuda, ... [default: CUDA when present].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes generating shapes data.")
def train_dam(datasets: tuple[str, ...], init: str, out: Path, resume: bool, device: str | None, processes: int,
              **training) -> None:
    """Train or fine-tune DAM on (frames, masks, caption) items; saves in the official checkpoint layout."""
    from videocap.dam.outdir import check_train_inputs

    check_train_inputs(datasets, init, out, resume)  # before torch is imported or any data prepared
    from videocap.dam.train import TrainSettings
    from videocap.dam.train import train_dam as run

    settings = TrainSettings(**{**training, "freeze": tuple(training["freeze"])})
    run(datasets, init, out, settings, device=device, processes=processes, resume=resume, echo=echo_err)
    echo_err(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python allows handlers
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    try:
        code = cli.main(args=args, prog_name="videocap", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("videocap: interrupted", err=True)
        return 130
    except Terminated:
        click.echo("videocap: terminated", err=True)
        return 143
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
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            raise
        click.echo(f"videocap: failed: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0  # a command's ctx.exit(code)


def _terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up: a second SIGTERM must not cut it short
    raise Terminated()
