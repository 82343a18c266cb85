"""What the commands share: option groups, the settings they build, and how they print."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.errors import UserError
from videocap.prompts import parse_prompts
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
    TrackSettings,
    load_config,
)


def out_callback(ctx, param, value) -> Path | None:
    """An ``--out`` value as a path; an empty one is refused (it would put the outputs in the current folder
    without being asked to)."""
    if value is None:
        return None
    if not str(value).strip():
        raise UserError("--out '': give an output path (--out . for the current folder)")
    return Path(value)


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
    click.option("--class", "classes", multiple=True, metavar="NAME",
                 help="Object class (repeatable), e.g. --class person --class dog; with --segmenter sam3 any "
                      "noun phrase, e.g. --class 'red car'. Optional with a --point, --box or --mask."),
    click.option("--segmenter", type=click.Choice(tuple(SEGMENTERS)), default=None,
                 help="yolo: YOLO-seg + ByteTrack, its model's classes (COCO's 80), fast on CPU; sam3: Meta's "
                      "SAM 3, any noun phrase, wants a GPU [config; default yolo]."),
    click.option("--segmenter-model", "--model", "--sam3", "--sam2", "segmenter_model", default=None, metavar="PATH_OR_ID",
                 help="The segmenter's checkpoint: a path, an ultralytics name (yolo) or a hub id (sam3) "
                      f"[config; default {DEFAULT_MODEL} for yolo, {DEFAULT_SAM3} for sam3]."),
    click.option("--imgsz", type=click.IntRange(min=32), default=None,
                 help="Inference size [config; default: the size the model was trained at]."),
    click.option("--device", default=None, help="Torch device, e.g. cpu, 0, cuda:0 [default: auto]."),
)

prompt_options = _options(
    click.option("--point", "points", multiple=True, metavar="X,Y[;X,Y...][@TIME]",
                 help="This object: points on it in pixels of the frame (a leading - marks a background point), on "
                      "the frame at TIME (a frame number, 2.5s or 00:01:02.5; default the range's first). Repeatable: "
                      "one object per flag."),
    click.option("--points", "reference_points", multiple=True, metavar="'[[X,Y],...]'",
                 help="Points on one object in NVIDIA's reference form, on the range's first frame."),
    click.option("--box", "boxes", multiple=True, metavar="X1,Y1,X2,Y2[@TIME]",
                 help="This object: a box around it (or the reference's '[x1,y1,x2,y2]'). Repeatable."),
    click.option("--mask", "masks", multiple=True, metavar="FILE.png[@TIME]",
                 help="This object: a mask the size of the frame, non-zero on it. Repeatable."),
    click.option("--label", "labels", multiple=True, metavar="NAME",
                 help="Names the prompted objects in order (default: object)."),
)

tracking_options = _options(
    segmenter_options,
    prompt_options,
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
    click.option("--out", type=click.Path(), default="captions", show_default=True, callback=out_callback,
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


def quiet_line(text: str) -> None:
    """What --quiet does with a summary line: nothing (only the captions are printed)."""


def print_caption(label: str, span: str, text: str) -> None:
    """One caption line on stdout; control characters (a model's stray escape codes) never reach the terminal."""
    from videocap.outputs.layout import clean_text
    from videocap.progress import print_line

    print_line(f"{clean_text(label)}{span}: {clean_text(text)}")


def build_settings(config_path: Path | None, demo: bool, classes, start=None, end=None, stride=1, **flags):
    """(TrackSettings, CaptionSettings, config) from the config file and the flags given."""
    config = load_config(config_path, demo)
    prompts = parse_prompts(*(flags.pop(k, ()) for k in ("points", "boxes", "masks", "reference_points", "labels")))
    tracking = TrackSettings.from_config(config, classes=tuple(classes), start=start, end=end, stride=stride,
                                         prompts=prompts, **flags)
    device = flags.get("device") or config.get("device")
    captioning = CaptionSettings.from_config(config, **{**flags, "device": device})
    return tracking, captioning, config


def output_list(outputs: dict) -> str:
    """What a run wrote, as its writers name it: single files by name, per-track files counted."""
    from videocap.outputs.registry import RUN_WRITERS, writer_files

    single, per_track = [], 0
    for writer in RUN_WRITERS:
        for key in writer.keys:
            files = writer_files({key: outputs.get(key)}, writer)
            if isinstance(outputs.get(key), str):
                single += files
            else:
                per_track += len(files)
    return ", ".join(single + ([f"{per_track} per-track files"] if per_track else []))
