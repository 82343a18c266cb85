"""``videocap caption``, ``image``, ``render`` and ``subtitles``: the commands that caption with DAM.

``register(group, tracking_options, track_settings)`` adds them to the ``videocap`` group; the shared
option decorators come from ``videocap.cli`` as arguments, so this module never imports it (that
would run ``videocap/cli.py`` twice under ``python -m videocap.cli``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from videocap.errors import UserError

CAPTION_EXAMPLES = """\b
Examples:
  videocap caption samples/shapes.mp4 --class circle --demo --out out/
  videocap caption street.mp4 --class person --class dog --out street/            # yolo11x-seg + DAM-3B-Video
  videocap caption talk.mp4 --class person --start 1:00 --end 2:30 --segment-seconds 10 --out talk/
  videocap caption clip.mp4 --class car --dam ~/models/DAM-3B-Video --temperature 0 --max-new-tokens 128
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

SUBTITLE_EXAMPLES = """\b
Examples:
  videocap subtitles out/captions.json                   # rewrite the .srt, .vtt and .ass files
  videocap subtitles out/captions.json --out subs/
"""

#: Config keys of the captioning stage (the rest are tracking settings).
CAPTION_KEYS = ("dam", "temperature", "top_p", "max_new_tokens", "seed", "batch_size", "segment_seconds", "language")


def dam_options(command):
    """DAM's model and generation options; None means 'from the config'."""
    for decorator in reversed([
        click.option("--dam", default=None, metavar="PATH_OR_ID",
                     help="DAM checkpoint: a folder in the official layout or a hub id "
                          "[config; default nvidia/DAM-3B-Video]."),
        click.option("--temperature", type=click.FloatRange(min=0), default=None,
                     help="Sampling temperature, 0 = greedy [config; default 0.2]."),
        click.option("--top-p", type=click.FloatRange(0, 1), default=None, help="Nucleus sampling [config; default 0.5]."),
        click.option("--max-new-tokens", type=click.IntRange(min=1), default=None,
                     help="Longest caption in tokens [config; default 512]."),
        click.option("--seed", type=int, default=None, help="Seed for sampling [config; default 0]."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Objects captioned together [config; default 8]."),
        click.option("--query", default=None,
                     help="Ask DAM this instead of its default request for a detailed description."),
        click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
                     show_default=True, help="DAM's weights: auto = bfloat16 on GPU, float32 on CPU."),
    ]):
        command = decorator(command)
    return command


def caption_settings(config: dict, **flags):
    """CaptionSettings from the config's captioning keys, overridden by the flags given."""
    from videocap.captioning import CaptionSettings
    from videocap.config import merge

    values = merge({k: v for k, v in config.items() if k in CAPTION_KEYS}, **flags)
    if values.get("dtype") == "auto":
        values["dtype"] = None
    values.setdefault("dam", None)
    return CaptionSettings(**values)


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def _print_caption(label: str, span: str, text: str) -> None:
    """One line on stdout; control characters (a model's stray escape codes) never reach the terminal."""
    from tqdm import tqdm

    from videocap.layout import clean_text

    tqdm.write(f"{clean_text(label)}{span}: {clean_text(text)}", file=sys.stdout)
    sys.stdout.flush()


def register(group: click.Group, tracking_options, track_settings) -> None:
    """Add the captioning commands to the ``videocap`` group."""

    @group.command(epilog=CAPTION_EXAMPLES)
    @click.argument("video", type=click.Path(path_type=Path))
    @tracking_options
    @dam_options
    @click.option("--segment-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
                  help="Caption each S-second piece of a track on its own (captions that change over time) "
                       "[config; default: one caption per track].")
    @click.option("--language", default=None,
                  help="ISO 639-2 code of the captions' language, tagged on the MKV's subtitle streams "
                       "[config; default eng].")
    @click.option("--out", type=click.Path(path_type=Path), default=Path("captions"), show_default=True,
                  help="Output folder.")
    @click.option("--no-cache", is_flag=True, help="Track again even when the tracks are in the cache.")
    @click.option("--no-video", is_flag=True, help="Skip the MP4 and MKV (make them later with `videocap render`).")
    @click.option("--quiet", is_flag=True, help="No progress bars.")
    def caption(video: Path, out: Path, no_cache: bool, no_video: bool, quiet: bool, dam, temperature, top_p,
                max_new_tokens, seed, batch_size, query, dtype, segment_seconds, language, **options) -> None:
        """Track every object of the classes, caption each track with DAM, and write the captioned video,
        subtitles per object and captions.json into --out.

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
        from videocap.captioning import caption_video
        from videocap.config import load_config

        config = load_config(options["config_path"], options["demo"])
        settings = caption_settings(config, dam=dam, temperature=temperature, top_p=top_p,
                                    max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                                    segment_seconds=segment_seconds, language=language, query=query, dtype=dtype,
                                    device=options["device"] or config.get("device"))
        if not settings.dam:
            source = options["config_path"] or ("configs/demo.yaml" if options["demo"] else "configs/default.yaml")
            raise UserError(f"no DAM checkpoint: {source} sets no `dam:`; pass --dam PATH_OR_ID (a checkpoint "
                            "folder, or a hub id such as nvidia/DAM-3B-Video)")
        tracking = track_settings(**options)

        def on_caption(job, text: str) -> None:
            from videocap.captioning import track_label

            _print_caption(track_label(job.track.class_name, job.track.track_id),
                           f" {job.start:.2f}-{job.end:.2f}s", text)

        result = caption_video(video, tracking, settings, out, progress=not quiet, use_cache=not no_cache,
                               on_caption=on_caption, render=not no_video)
        frames = result.frame_range
        if result.timing.get("tracking_cached"):
            echo_err("tracks from the cache (no tracking needed)")
        if not result.tracks:
            echo_err(f"no {' or '.join(tracking.classes)} found in {video} (frames {frames.start}-{frames.end - 1}): "
                     f"wrote empty outputs to {out}")
        else:
            count = sum(len(c) for c in result.captions.values())
            echo_err(f"{len(result.tracks)} track(s), {count} caption(s) in {len(frames)} frame(s) of {video}")
        echo_err(f"wrote {', '.join(_output_list(result.outputs))} to {out}")

    @group.command(epilog=IMAGE_EXAMPLES)
    @click.argument("photos", metavar="IMAGE|FOLDER", type=click.Path(path_type=Path))
    @click.option("--class", "classes", multiple=True, required=True, metavar="NAME",
                  help="Object class to caption (repeatable), e.g. --class chair.")
    @click.option("--model", default=None, help="YOLO-seg weights: a path or an ultralytics name "
                                                "[config; default yolo11x-seg.pt].")
    @click.option("--conf", type=click.FloatRange(0, 1), default=0.25, show_default=True,
                  help="Lowest detection score kept.")
    @click.option("--imgsz", type=click.IntRange(min=32), default=None,
                  help="Inference size [config; default: the size the model was trained at].")
    @click.option("--device", default=None, help="Torch device, e.g. cpu, 0, cuda:0 [default: auto].")
    @dam_options
    @click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                  help="Settings file [default: configs/default.yaml].")
    @click.option("--demo", is_flag=True, help="Use the bundled offline demo models (configs/demo.yaml).")
    @click.option("--out", type=click.Path(path_type=Path), default=Path("captions"), show_default=True,
                  help="Output folder.")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def image(photos: Path, classes, model, conf, imgsz, device, dam, temperature, top_p, max_new_tokens, seed,
              batch_size, query, dtype, config_path, demo, out: Path, quiet: bool) -> None:
        """Caption every object of the classes in a photo, or in each photo of a folder, with DAM's
        single-image query.

        \b
        Writes into --out, per photo:
          <photo>.json                 objects: class, score, box, mask (COCO RLE), caption
          <photo>.captioned.jpg|png    masks, boxes, labels and captions drawn on the photo
        """
        from videocap.config import load_config, merge
        from videocap.images import ImageSettings, caption_images

        config = load_config(config_path, demo)
        track_keys = merge({k: config[k] for k in ("model", "imgsz") if k in config}, model=model, imgsz=imgsz)
        dev = device or config.get("device")
        settings = ImageSettings(classes=tuple(classes), conf=conf, device=dev, **track_keys)
        captioning = caption_settings(config, dam=dam, temperature=temperature, top_p=top_p,
                                      max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, query=query,
                                      dtype=dtype, device=dev)
        if not captioning.dam:
            source = config_path or ("configs/demo.yaml" if demo else "configs/default.yaml")
            raise UserError(f"no DAM checkpoint: {source} sets no `dam:`; pass --dam PATH_OR_ID (a checkpoint "
                            "folder, or a hub id such as nvidia/DAM-3B)")
        results = caption_images(photos, settings, captioning, out, progress=not quiet,
                                 on_caption=lambda p, o: _print_caption(f"{p.name} {o.class_name} #{o.id}", "",
                                                                        o.caption))
        total = sum(len(r["objects"]) for r in results)
        if total == 0:
            echo_err(f"no {' or '.join(classes)} found in {photos}: wrote the photos' JSON with no objects to {out}")
        else:
            echo_err(f"{total} object(s) captioned in {len(results)} photo(s)")
        echo_err(f"wrote {len(results) * 2} file(s) to {out}")

    @group.command(epilog=RENDER_EXAMPLES)
    @click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
    @click.option("--video", type=click.Path(path_type=Path), default=None,
                  help="The source video, when it is no longer where captions.json says.")
    @click.option("--out", type=click.Path(path_type=Path), default=None,
                  help="Output folder [default: the folder of CAPTIONS_JSON].")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def render(captions: Path, video: Path | None, out: Path | None, quiet: bool) -> None:
        """Redo the captioned MP4 and MKV and the subtitles from a captions.json, without running a model
        (edit the captions in the JSON first to change them)."""
        from videocap.io import ensure_writable_dir
        from videocap.outputs import write_all

        result = _read_captions(captions)
        folder = ensure_writable_dir(out or captions.parent)
        if video is not None:
            result.tracking.video = dataclasses.replace(result.video, path=str(video))
        write_all(result, folder, render=True, video_path=video, progress=not quiet)
        from videocap.outputs import write_captions_json

        write_captions_json(result, folder)
        echo_err(f"wrote {', '.join(_output_list(result.outputs))} to {folder} "
                 f"({result.timing.get('render_frames_per_second', 0):.0f} frames/s)")

    @group.command(epilog=SUBTITLE_EXAMPLES)
    @click.argument("captions", metavar="CAPTIONS_JSON", type=click.Path(path_type=Path))
    @click.option("--out", type=click.Path(path_type=Path), default=None,
                  help="Output folder [default: the folder of CAPTIONS_JSON].")
    def subtitles(captions: Path, out: Path | None) -> None:
        """Redo the subtitle files (.srt and .vtt per object, and the .ass) from a captions.json."""
        from videocap.io import ensure_writable_dir
        from videocap.outputs import ASS, track_files, write_subtitles

        result = _read_captions(captions)
        folder = ensure_writable_dir(out or captions.parent)
        write_subtitles(result, folder)
        names = [ASS] + [name for files in track_files(result).values() for name in files.values()]
        echo_err(f"wrote {len(names)} subtitle file(s) to {folder}")


def _output_list(outputs: dict) -> list[str]:
    names = [outputs[k] for k in ("captions", "video", "mkv", "ass") if k in outputs]
    per_track = sum(len(files) for files in outputs.get("tracks", {}).values())
    return names + ([f"{per_track} per-track subtitle files"] if per_track else [])


def _read_captions(path: Path):
    from videocap.captioning import CaptionResult

    if not path.is_file():
        raise UserError(f"{path}: no such file (give the captions.json that `videocap caption` wrote)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a videocap captions file")
    return CaptionResult.from_json(data)
