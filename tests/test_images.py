"""common.images: every upload's size is read from the header and checked before decoding, big images are
decoded already reduced, EXIF rotation is applied, 16-bit and float images are scaled (not clipped white), and strips or over-long images are refused by shape."""
import io

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageFile, ImageOps

from common.images import (MAX_ASPECT, MAX_PIXELS, MAX_SIDE_PX, entering_image, image_file, read_rgb, read_rgba,
                           rgb_uint8, to_rgb, working_size)
from segmentation.model import as_rgb, read_image


def gradient(width: int, height: int) -> np.ndarray:
    """An RGB image whose every pixel differs in position-dependent ways (so rotations are visible)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1).astype(np.uint8)


def test_an_oversized_image_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 6000)).save(path)  # 48 Mpx, a few KB on disk
    assert path.stat().st_size < 100_000

    def no_decoding(self, *args):
        raise AssertionError("the image was decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ValueError, match=r"^\S*huge\.png is 8000×6000 = 48\.0 Mpx; at most 40 Mpx"):
        read_rgb(path, max_side=1024)
    assert MAX_PIXELS == 40_000_000


def test_a_big_jpeg_is_decoded_reduced_and_matches_a_full_decode(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    Image.fromarray(gradient(3200, 2400)).save(path, quality=95)
    decoded_sizes = []
    original_load = ImageFile.ImageFile.load

    def spy(self):
        decoded_sizes.append(self.size)
        return original_load(self)
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    small = read_rgb(path, max_side=800)
    assert small.shape == (600, 800, 3) and small.dtype == np.uint8
    assert max(max(s) for s in decoded_sizes) <= 1600  # the JPEG decoder itself ran at 1/2 scale or less
    monkeypatch.setattr(ImageFile.ImageFile, "load", original_load)
    reference = np.asarray(Image.open(path).convert("RGB").resize((800, 600), Image.Resampling.LANCZOS), np.float32)
    assert np.abs(small.astype(np.float32) - reference).mean() < 2.0


def test_working_size_keeps_the_short_side_and_never_enlarges():
    assert working_size(6300, 6300, 1024) == (1024, 1024)
    assert working_size(640, 480, 1024) == (640, 480)
    assert working_size(40000, 10, 1024, min_side=8) == (32000, 8)
    assert working_size(3000, 1500, None) == (3000, 1500)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotation_is_applied_also_when_reduced(tmp_path, orientation):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    Image.fromarray(gradient(400, 200)).save(path, exif=exif.tobytes(), quality=95)
    upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert upright.size != (400, 200) or orientation == 3
    full = read_rgb(path)
    np.testing.assert_array_equal(full, np.asarray(upright))
    small = read_rgb(path, max_side=100)
    expected = np.asarray(upright.resize(small.shape[1::-1], Image.Resampling.LANCZOS), np.float32)
    assert max(small.shape[:2]) == 100 and np.abs(small.astype(np.float32) - expected).mean() < 3.0


def test_a_16_bit_png_is_scaled_not_clipped_to_white(tmp_path):
    values = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    path = tmp_path / "depth16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = read_rgb(path)
    np.testing.assert_array_equal(rgb[..., 0], (values >> 8).astype(np.uint8))
    assert rgb.mean() == pytest.approx(127.5, abs=1.0)
    # The same through segmentation's readers, from a file and from a PIL image.
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(as_rgb(Image.open(path)), rgb)


def test_float_images_are_taken_as_0_to_1():
    values = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    rgb = to_rgb(Image.fromarray(values, "F"))
    assert rgb.dtype == np.uint8 and rgb.min() == 0 and rgb.max() == 255
    assert rgb.mean() == pytest.approx(127.5, abs=1.0)


@pytest.mark.parametrize("mode", ["P", "CMYK", "LA", "1", "RGBA", "L"])
def test_other_modes_become_rgb(mode):
    image = Image.fromarray(gradient(40, 30)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode == "CMYK" else "PNG")
    buffer.seek(0)
    rgb = read_rgb(buffer, max_side=20, name="upload")
    assert rgb.shape == (15, 20, 3) and rgb.dtype == np.uint8


def test_unreadable_and_truncated_files_name_the_file(tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png: not a readable image"):
        read_rgb(notes)
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"upload\.png: not a readable image"):
        read_rgb(cut, name="upload.png")


def test_too_small_sides_are_refused_on_the_header(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (100, 4)).save(path)
    with pytest.raises(ValueError, match=r"strip\.png is 100×4; each side must be at least 8 px"):
        read_image(path)


def test_rgba_keeps_the_alpha_channel(tmp_path):
    layer = np.zeros((60, 80, 4), np.uint8)
    layer[:, :40] = 255
    Image.fromarray(layer, "RGBA").save(tmp_path / "layer.png")
    out = read_rgba(tmp_path / "layer.png", max_side=40)
    assert out.shape == (30, 40, 4) and out[:, :16, 3].min() == 255 and out[:, 24:, 3].max() == 0
    Image.fromarray(layer[..., :3]).save(tmp_path / "opaque.png")
    assert read_rgba(tmp_path / "opaque.png")[..., 3].min() == 255


def no_decoding(monkeypatch):
    def refuse(self, *args):
        raise AssertionError("the image was decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("size, limit", [((5_000_000, 8), r"longest side may be at most 16384 px"),
                                         ((40_000_000, 1), r"longest side may be at most 16384 px"),
                                         ((12_000, 1_000), r"at most 10 times its short side"),
                                         ((16_385, 2_000), r"longest side may be at most 16384 px")])
def test_strips_and_over_long_images_are_refused_on_the_header(tmp_path, monkeypatch, size, limit):
    """The issue's strips (a 5,000,000×8 PNG cost 2.4 GB in /segment) are under 40 Mpx but cannot be reduced."""
    path = tmp_path / "strip.png"
    Image.new("1", size).save(path)
    no_decoding(monkeypatch)
    with pytest.raises(ValueError, match=limit):
        read_rgb(path, max_side=1024, name="strip.png")
    assert (MAX_SIDE_PX, MAX_ASPECT) == (16_384, 10)


def test_every_accepted_shape_reduces_to_the_working_size():
    """Within the limits the short side never holds an image above its caller's working size."""
    for width, height in [(16_384, 1_639), (2_000, 20_000 // 10), (6_324, 6_324), (1_000, 100)]:
        assert max(working_size(width, height, 1024, min_side=8)) == min(1024, max(width, height))


def test_entering_image_takes_arrays_pil_paths_and_gradio_records(tmp_path):
    image = gradient(3000, 600)
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    for value in (image, Image.fromarray(image), path, str(path), {"path": str(path), "orig_name": "wide.png"}):
        out = entering_image(value, max_side=1000, name="canvas")
        assert out.shape == (200, 1000, 3) and out.dtype == np.uint8
    assert entering_image(image[..., 0], None, mode="RGBA").shape == (600, 3000, 4)
    assert entering_image(image, None) is image  # already right: no copy
    with pytest.raises(ValueError, match=r"canvas is 3000×200; its long side may be at most 10 times"):
        entering_image(image[:200], 1000, name="canvas")
    with pytest.raises(ValueError, match=r"canvas must be uint8"):
        entering_image(image.astype(np.float32), 1000, name="canvas")
    with pytest.raises(ValueError, match=r"canvas is not an image file or array \(got int\)"):
        entering_image(3, 1000, name="canvas")


def test_a_big_16_bit_image_is_reduced_before_it_is_scaled(tmp_path):
    """Reducing first keeps one full-size 16-bit buffer, not several float copies of it."""
    values = (np.arange(4000 * 3000, dtype=np.uint32).reshape(3000, 4000) % 65536).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    out = read_rgb(tmp_path / "deep.png", max_side=400)
    assert out.shape == (300, 400, 3) and 100 < out.mean() < 160


def test_image_file_reads_gradio_records_paths_and_file_objects(tmp_path):
    path = tmp_path / "upload_123.png"
    assert image_file({"path": str(path), "orig_name": "facade.png"}) == (str(path), "facade.png")
    assert image_file({"path": str(path)}) == (str(path), "upload_123.png")
    assert image_file(path) == (path, "upload_123.png")
    with open(__file__, "rb") as f:
        assert image_file(f) == (f, "test_images.py")
    for value in (None, 3, {"orig_name": "facade.png"}, {"path": ""}, ""):
        with pytest.raises(ValueError, match=r"the photo is not an uploaded image file \(got "):
            image_file(value, "the photo", "an uploaded image file")


def test_rgb_uint8_gives_three_channels_and_names_what_is_wrong():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert rgb_uint8(gray).shape == (3, 4, 3) and (rgb_uint8(gray[..., None])[..., 2] == gray).all()
    rgba = np.zeros((3, 4, 4), np.uint8)
    assert rgb_uint8(rgba).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="photo must be uint8"):
        rgb_uint8(gray.astype(np.float32), "photo")
    with pytest.raises(ValueError, match=r"photo must have shape .* got \(3, 4, 2\)"):
        rgb_uint8(np.zeros((3, 4, 2), np.uint8), "photo")
    with pytest.raises(ValueError, match="each side must be at least 8 px"):
        rgb_uint8(gray, "photo", min_side=8)
