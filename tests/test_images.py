"""Photos decode to the RGB a viewer shows: 16-bit scaled (not clipped), grayscale, palette, CMYK,
transparency on white, EXIF orientation honoured (``images.read_photo`` / ``files.to_rgb``)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from videocap.io.encode import ffmpeg_exe
from videocap.io.photos import read_photo
from videocap.resources import DEMO_CONFIG, SAMPLE_VIDEO

GRADIENT = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(GRADIENT).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")  # Pillow keeps the 16 bits
    rgb = read_photo(path)
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[..., 0].astype(int) - GRADIENT / 257).max() <= 1
    assert (rgb[..., 0] == rgb[..., 2]).all() and rgb.min() == 0 and rgb.max() == 255


def test_16_bit_tiff_and_32_bit_float(tmp_path):
    Image.fromarray(GRADIENT).save(tmp_path / "deep.tif")
    assert np.abs(read_photo(tmp_path / "deep.tif")[..., 1].astype(int) - GRADIENT / 257).max() <= 1
    floats = (GRADIENT / 65535).astype(np.float32)
    Image.fromarray(floats, mode="F").save(tmp_path / "float.tif")
    assert np.abs(read_photo(tmp_path / "float.tif")[..., 0].astype(int) - floats * 255).max() <= 1


def test_16_bit_rgb(tmp_path):
    """A 48-bit RGB PNG (made by ffmpeg): each channel scaled."""
    pixels = np.zeros((48, 64, 3), np.uint16)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = GRADIENT, 65535 - GRADIENT, 32896
    path = tmp_path / "rgb48.png"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", "64x48",
                    "-i", "-", "-frames:v", "1", str(path)], input=pixels.astype("<u2").tobytes(), check=True)
    rgb = read_photo(path).astype(int)
    assert np.abs(rgb - pixels / 257).max() <= 1


def test_grayscale_palette_and_bilevel(tmp_path):
    gray = (GRADIENT // 257).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert (read_photo(tmp_path / "gray.png") == gray[..., None]).all()
    palette = Image.fromarray(gray).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.save(tmp_path / "palette.png")
    assert (read_photo(tmp_path / "palette.png") == np.asarray(palette.convert("RGB"))).all()
    Image.fromarray(gray > 127).save(tmp_path / "bits.png")
    assert set(np.unique(read_photo(tmp_path / "bits.png"))) == {0, 255}


def test_transparency_is_shown_on_white(tmp_path):
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :32, 3] = 255  # opaque red on the left, half-transparent on the right
    rgba[:, 32:, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    rgb = read_photo(tmp_path / "alpha.png").astype(int)
    assert (rgb[:, :32] == (255, 0, 0)).all()
    assert np.abs(rgb[:, 32:] - (255, 127, 127)).max() <= 1
    la = Image.fromarray(np.stack([np.zeros((48, 64), np.uint8), rgba[..., 3]], axis=-1), "LA")
    la.save(tmp_path / "la.png")
    assert np.abs(read_photo(tmp_path / "la.png")[:, 40].astype(int) - 127).max() <= 1
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 255, 0, 255, 0])
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "palette-alpha.png", transparency=0)
    rgb = read_photo(tmp_path / "palette-alpha.png")
    assert tuple(rgb[0, 0]) == (0, 255, 0) and tuple(rgb[5, 5]) == (255, 255, 255)


def test_cmyk(tmp_path):
    colours = {(255, 0, 0, 0): (0, 255, 255), (0, 255, 0, 0): (255, 0, 255), (0, 0, 0, 255): (0, 0, 0),
               (0, 0, 0, 0): (255, 255, 255)}
    image = Image.new("CMYK", (64, 16))
    for n, cmyk in enumerate(colours):
        image.paste(cmyk, (n * 16, 0, n * 16 + 16, 16))
    image.save(tmp_path / "cmyk.jpg", quality=95)
    rgb = read_photo(tmp_path / "cmyk.jpg").astype(int)
    for n, want in enumerate(colours.values()):
        assert np.abs(rgb[8, n * 16 + 8] - want).max() <= 12, (n, rgb[8, n * 16 + 8], want)


@pytest.mark.parametrize("orientation, turn", [(1, 0), (3, 2), (6, -1), (8, 1)])
def test_exif_orientation(tmp_path, orientation, turn):
    pixels = np.zeros((30, 40, 3), np.uint8)
    pixels[:10, :10] = 255  # a white block at the top left of the stored image
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    rgb = read_photo(tmp_path / "turned.jpg").astype(int)
    assert np.abs(rgb - np.rot90(pixels, k=turn)).mean() < 3


def test_videocap_image_on_16_bit_photos(tmp_path, capsys):
    """16-bit photos were read as pure white (nothing found); now they give what their 8-bit versions give:
    the same pixels, and the shapes of a 48-bit RGB frame of the sample are found."""
    from videocap.cli import main

    frame = tmp_path / "frame.png"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(SAMPLE_VIDEO), "-frames:v", "1", str(frame)], check=True)
    gray = np.asarray(Image.open(frame).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    assert (read_photo(tmp_path / "gray16.png") == gray[..., None]).all()
    deep = tmp_path / "rgb48.png"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(frame), "-pix_fmt", "rgb48be", str(deep)], check=True)
    assert np.abs(read_photo(deep).astype(int) - read_photo(frame)).max() <= 1
    assert main(["image", str(deep), "--config", str(DEMO_CONFIG), "--class", "circle", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 0
    assert "circle #1" in capsys.readouterr().out


def test_an_image_too_large_to_hold_is_one_line(tmp_path):
    from PIL import Image

    from videocap.errors import UserError

    Image.MAX_IMAGE_PIXELS, limit = None, Image.MAX_IMAGE_PIXELS
    try:
        Image.new("1", (20000, 20000)).save(tmp_path / "huge.png", optimize=True)  # 400 million pixels in 49 kB
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    with pytest.raises(UserError, match="the image is too large: videocap reads up to 268 million pixels"):
        read_photo(tmp_path / "huge.png")
