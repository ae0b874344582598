"""Every bad-input kind gets a clear result; good-but-odd images become 8-bit BGR."""
import io

import numpy as np
import pytest
from PIL import Image

from fiqa_plugin.imageio import MAX_SIDE, ImageDecodeError, decode_image, try_decode


@pytest.fixture(scope="module")
def face_rgb(lfw_images):
    return np.asarray(Image.open(lfw_images[0]).convert("RGB"))


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return str(path)


def test_plain_jpeg_matches_opencv(lfw_images):
    import cv2

    d = decode_image(lfw_images[0])
    ref = cv2.imread(lfw_images[0])
    assert d.bgr.shape == (250, 250, 3) and d.bgr.dtype == np.uint8
    # Same libjpeg family: allow tiny IDCT rounding differences only.
    assert np.abs(d.bgr.astype(int) - ref.astype(int)).mean() < 1.0
    assert d.original_size == (250, 250) and d.scale == 1.0 and not d.tiny


def test_grayscale_becomes_three_equal_channels(tmp_path, face_rgb):
    p = _save(Image.fromarray(face_rgb).convert("L"), tmp_path / "g.png")
    d = decode_image(p)
    assert d.bgr.shape == (250, 250, 3)
    assert np.array_equal(d.bgr[..., 0], d.bgr[..., 2])


def test_rgba_composited_on_white(tmp_path, face_rgb):
    rgba = np.dstack([face_rgb, np.full(face_rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # fully transparent corner
    p = _save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    d = decode_image(p)
    assert d.bgr.shape == (250, 250, 3)
    assert (d.bgr[:10, :10] == 255).all()
    assert np.array_equal(d.bgr[20:, 20:, ::-1], face_rgb[20:, 20:])


def test_palette_image(tmp_path, face_rgb):
    p = _save(Image.fromarray(face_rgb).quantize(64), tmp_path / "p.png")
    d = decode_image(p)
    assert d.bgr.shape == (250, 250, 3) and d.bgr.dtype == np.uint8


def test_16bit_scaled_to_8bit(tmp_path, face_rgb):
    grey16 = (np.asarray(Image.fromarray(face_rgb).convert("L")).astype(np.uint16) * 257)
    p = _save(Image.fromarray(grey16), tmp_path / "g16.png")
    assert Image.open(p).mode.startswith("I")  # really stored as 16-bit
    d = decode_image(p)
    expected = np.asarray(Image.fromarray(face_rgb).convert("L"))
    assert d.bgr.dtype == np.uint8
    assert np.abs(d.bgr[..., 0].astype(int) - expected.astype(int)).max() <= 1


def test_exif_orientation_applied(tmp_path, face_rgb):
    img = Image.fromarray(face_rgb[:, :200])  # 200 wide × 250 high, so rotation is visible
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90° clockwise
    p = _save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    d = decode_image(p)
    assert d.bgr.shape[:2] == (200, 250)
    assert d.original_size == (250, 200)


@pytest.mark.parametrize(
    "kind,status",
    [("missing", "missing"), ("empty", "not_an_image"), ("text", "not_an_image"),
     ("truncated", "truncated"), ("directory", "unreadable")],
)
def test_bad_files_give_status(tmp_path, lfw_images, kind, status):
    p = tmp_path / f"bad_{kind}.jpg"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not an image\n")
    elif kind == "truncated":
        data = open(lfw_images[0], "rb").read()
        p.write_bytes(data[: len(data) // 2])
    elif kind == "directory":
        p.mkdir()
    img, err = try_decode(p)
    assert img is None and isinstance(err, ImageDecodeError)
    assert err.status == status, str(err)
    assert str(p.name) in str(err)


def test_huge_image_downscaled(tmp_path, face_rgb):
    import cv2

    big = cv2.resize(face_rgb, (9000, 6000), interpolation=cv2.INTER_NEAREST)
    p = _save(Image.fromarray(big), tmp_path / "big.jpg", quality=70)
    d = decode_image(p)
    assert max(d.bgr.shape[:2]) <= MAX_SIDE
    assert d.original_size == (9000, 6000)
    assert d.scale == pytest.approx(d.bgr.shape[1] / 9000)


def test_tiny_image_flagged(tmp_path, face_rgb):
    p = _save(Image.fromarray(face_rgb).resize((20, 20)), tmp_path / "tiny.png")
    d = decode_image(p)
    assert d.tiny and d.bgr.shape == (20, 20, 3)


def test_bytes_input(lfw_images):
    d = decode_image(open(lfw_images[0], "rb").read())
    assert d.bgr.shape == (250, 250, 3)
    with pytest.raises(ImageDecodeError):
        decode_image(io.BytesIO(b"junk").getvalue())
