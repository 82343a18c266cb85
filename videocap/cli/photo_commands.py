"""``image`` and ``describe``: commands over photos and one masked region."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import (
    config_options,
    dam_options,
    echo_err,
    output_options,
    overlay_option,
    print_caption,
    prompt_options,
    quiet_line,
    require_path,
    segmenter_options,
)
from videocap.errors import UserError
from videocap.prompts import parse_prompts
from videocap.settings import (
    DEFAULT_DAM,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    DTYPES,
    CaptionSettings,
    ImageSettings,
    load_config,
)

IMAGE_EXAMPLES = """\b
Examples:
  videocap image room.jpg --class chair --out room/
  videocap image photos/ --class dog --class cat --dam ~/models/DAM-3B --out described/
  videocap image frame.png --class circle --demo --out shapes/
"""

DESCRIBE_EXAMPLES = """\b
Examples:
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B
  videocap describe clip.mp4 --mask m0.png --mask m1.png --mask m2.png --mask m3.png \\
      --mask m4.png --mask m5.png --mask m6.png --mask m7.png --dam ~/models/DAM-3B-Video --stream
  videocap describe clip.mp4 --mask masks/ --frames 8 --dam ~/models/DAM-3B-Video --temperature 0
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B --query "What is the dog doing?"
"""


@cli.command(epilog=IMAGE_EXAMPLES)
@click.argument("photos", metavar="IMAGE|FOLDER", type=click.Path(path_type=Path))
@segmenter_options
@prompt_options
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

    prompts = parse_prompts(*(flags.pop(k, ()) for k in ("points", "boxes", "masks", "reference_points", "labels")))
    if not classes and not prompts:
        raise UserError("say what to caption: --class NAME, or point at an object with --point X,Y, --box or --mask")
    config = load_config(config_path, demo)
    device = flags.get("device") or config.get("device")
    settings = ImageSettings.from_config(config, classes=tuple(classes), prompts=prompts, **{**flags, "device": device})
    captioning = CaptionSettings.from_config(config, **{**flags, "device": device})
    results = caption_images(photos, settings, captioning, out, progress=not quiet,
                             on_caption=lambda p, o: print_caption(f"{p.name} {o.label}", "", o.captions[0].text))
    say = quiet_line if quiet else echo_err
    total = sum(len(r.objects) for r in results)
    if total == 0:  # said even with --quiet
        echo_err(f"no {' or '.join(classes) or 'object'} found in {photos}: wrote the photos' JSON with no objects to {out}")
    else:
        say(f"{total} object(s) captioned in {len(results)} photo(s)")
    say(f"wrote {len(results) * 2} file(s) to {out}")


@cli.command(epilog=DESCRIBE_EXAMPLES)
@click.argument("media", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mask", "masks", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Mask image (non-zero pixels are the object), one per sampled frame and repeatable; "
                   "or a folder holding one mask per video frame (sorted by name).")
@click.option("--point", "points", multiple=True, metavar="X,Y[;X,Y...]",
              help="On a photo, instead of --mask: the object under these points (a leading - marks a background "
                   "point), as the configured segmenter finds it.")
@click.option("--points", "reference_points", multiple=True, metavar="'[[X,Y],...]'",
              help="The same in NVIDIA's reference form.")
@click.option("--box", "boxes", multiple=True, metavar="X1,Y1,X2,Y2", help="On a photo: the object in this box.")
@click.option("--demo", is_flag=True, help="The bundled demo models (its DAM, and its YOLO for --point/--box).")
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
def describe(media: Path, masks: tuple[Path, ...], points, reference_points, boxes, demo: bool, num_frames: int,
             stream: bool, prompt_style: str, **flags) -> None:
    """Describe the masked object in MEDIA (an image, or a video) in detail with DAM.

    An image takes one --mask, or a --point or --box on the object. For a video, give one --mask per
    frame to use: that many frames are sampled uniformly over the video, in order. Or give a folder with
    one mask per video frame: --frames frames are then sampled uniformly among those whose mask is not empty.
    """
    from videocap.pipeline import describe_region

    prompts = parse_prompts(points, boxes, (), reference_points)
    if bool(prompts) == bool(masks) or len(prompts) > 1:
        raise UserError("say which object: one --point or --box on a photo, or --mask (one per frame of a video)")
    config = load_config(None, demo) if demo or prompts else {}
    settings = CaptionSettings.from_config(config, **flags)
    segmenting = ImageSettings.from_config(config, classes=(), device=flags.get("device")) if prompts else None
    style = None if prompt_style == "auto" else prompt_style
    for piece in describe_region(media, list(masks), settings, num_frames, style, stream,
                                 prompts[0] if prompts else None, segmenting):
        click.echo(piece, nl=not stream)
    if stream:
        click.echo()
