"""Decoding (every image mode, EXIF orientation, bad files) and the geometry of the views."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from train.preprocess import (AbsurdImage, BadImage, Spec, crop_grid, load_rgb, load_spec, model_input, normalized_size,
                              save_spec)

SPEC2 = ("photo", "render")


def quadrants(w=40, h=30) -> np.ndarray:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: orientation is visible."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2:] = (0, 255, 0)
    a[h // 2:, : w // 2] = (0, 0, 255)
    a[h // 2:, w // 2:] = (255, 255, 255)
    return a


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA", "P", "CMYK", "1", "I;16", "I", "F"])
@pytest.mark.parametrize("fmt", ["png", "tiff_or_jpeg"])
def test_every_mode_becomes_8bit_rgb(tmp_path, mode, fmt):
    src = Image.fromarray(quadrants())
    if mode in ("I;16", "I", "F"):
        gray = np.asarray(src.convert("L"), dtype=np.float64)
        scale = 257.0 if mode == "I;16" else 1.0
        im = Image.fromarray((gray * scale).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        assert im.mode == mode
    else:
        im = src.convert(mode)
    ext = "png" if fmt == "png" else ("jpg" if mode in ("RGB", "L", "CMYK") else "tiff")
    if ext == "png" and mode in ("CMYK", "F", "I"):
        ext = "tiff"  # PNG cannot hold these modes
    path = tmp_path / f"pic.{ext}"
    im.save(path)
    if ext == "tiff":
        path = path.rename(tmp_path / "pic.tiff")
    rgb = load_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (30, 40, 3)
    # Brightness survives the conversion: the white quadrant stays the brightest, the
    # (dark in gray) blue one darker.
    assert rgb[15:, 20:].mean() > rgb[15:, :20].mean() + 50
    if mode == "RGB" and ext == "png":
        assert np.array_equal(rgb, quadrants())
    if mode == "I;16":
        assert rgb[25, 35].min() == 255  # 16-bit white -> 8-bit white, not clipped garbage


def test_alpha_is_composited_on_white(tmp_path):
    a = np.zeros((10, 10, 4), np.uint8)
    a[..., 0] = 255  # red ...
    a[:, :5, 3] = 0  # ... invisible on the left half
    a[:, 5:, 3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    rgb = load_rgb(tmp_path / "a.png")
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 9].tolist() == [255, 0, 0]


@pytest.mark.parametrize("orientation,corner_color", [
    (1, (255, 0, 0)),  # as stored: red top-left
    (3, (255, 255, 255)),  # rotated 180: white top-left
    (6, (0, 0, 255)),  # rotate 90 CW to display: bottom-left (blue) comes to the top-left
    (8, (0, 255, 0)),  # rotate 90 CCW: top-right (green) comes to the top-left
])
def test_exif_orientation_is_applied(tmp_path, orientation, corner_color):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    Image.fromarray(quadrants()).save(path, exif=exif, quality=98)
    rgb = load_rgb(path)
    expected_shape = (30, 40, 3) if orientation in (1, 3) else (40, 30, 3)
    assert rgb.shape == expected_shape
    assert np.abs(rgb[2, 2].astype(int) - corner_color).max() < 40


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert load_rgb(tmp_path / "anim.gif")[4, 4].tolist() == [255, 0, 0]


def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    good = tmp_path / "good.jpg"
    Image.fromarray(quadrants(200, 200)).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:400])
    for path in (text, truncated):
        with pytest.raises(BadImage) as e:
            load_rgb(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def png_header_only(path, width, height):
    """A PNG that claims a huge size: what a decompression bomb looks like before decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_refused_before_decoding(tmp_path):
    png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(AbsurdImage, match="bomb.png"):
        load_rgb(tmp_path / "bomb.png")


def test_whole_view_is_centre_crop_then_resize():
    spec = Spec(class_names=SPEC2, input_size=20, view="whole")
    rgb = np.zeros((50, 100, 3), np.uint8)
    rgb[:, 25:75] = 200  # exactly the centre square
    v = model_input(rgb, spec)
    assert v.shape == (1, 20, 20, 3) and v.dtype == np.float32
    assert np.allclose(v, 200.0)


def test_crops_view_grid_covers_corners():
    spec = Spec(class_names=SPEC2, input_size=16, view="crops", grid=3, max_side=512)
    rgb = np.zeros((40, 64, 3), np.uint8)
    rgb[:16, :16] = 255  # top-left crop
    rgb[-16:, -16:] = 100  # bottom-right crop
    x = model_input(rgb, spec)
    assert x.shape == (1, 40, 64, 3)  # the model gets the picture; it cuts the crops itself
    v = crop_grid(np.concatenate([x, x[:, ::-1]]), spec.input_size, spec.grid).numpy()
    assert v.shape == (18, 16, 16, 3)  # picture by picture, each row by row
    assert np.all(v[0] == 255) and np.all(v[8] == 100)
    assert np.all(v[9 + 6] == 255) and np.all(v[9 + 2] == 100)  # the picture upside down: corners swap rows


def test_crops_model_votes_inside_and_survives_saving(tmp_path):
    """model.picture_model: one picture in, the mean of the crop network's probabilities over the grid
    out; the same after a .keras round trip (the layers are registered)."""
    import keras

    from train.model import build, picture_model

    spec = Spec(class_names=("a", "b", "c"), input_size=16, view="crops", grid=2, max_side=64)
    crop_model = build("tracenet", spec.input_size, 3)
    model = picture_model(crop_model, spec)
    x = np.random.default_rng(0).integers(0, 256, (2, 30, 45, 3)).astype(np.float32)
    expected = crop_model(crop_grid(x, 16, 2)).numpy().reshape(2, 4, 3).mean(1)
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(again(x).numpy(), expected, atol=1e-6)
    assert model is not crop_model and picture_model(crop_model, Spec(class_names=("a", "b"))) is crop_model


def test_exported_model_gives_the_vote_map_where_its_regions_are():
    """model.exported_model: crops view, each crop's own vote at its lattice box (their mean is the answer);
    whole view, the model on each of 3 x 3 tiles resized to its input, at the tiles' boxes."""
    from train.model import REGION_TILES, build, exported_model, picture_model

    x = np.random.default_rng(1).integers(0, 256, (2, 40, 52, 3)).astype(np.float32)
    spec = Spec(class_names=("a", "b"), input_size=16, view="crops", grid=3, max_side=64)
    crop_model = build("tracenet", 16, 2)
    out = exported_model(picture_model(crop_model, spec), spec)(x)
    votes = crop_model(crop_grid(x, 16, 3)).numpy().reshape(2, 9, 2)
    np.testing.assert_allclose(out["regions"].numpy(), votes, atol=1e-6)
    np.testing.assert_allclose(out["probabilities"].numpy(), votes.mean(1), atol=1e-6)
    boxes = out["region_boxes"].numpy()
    assert boxes.shape == (2, 9, 4) and boxes[0, 0].tolist() == [0, 0, 16, 16] and boxes[1, 8].tolist() == [24, 36, 16, 16]
    assert out["features"].shape == (2, 96)

    whole = Spec(class_names=("a", "b", "c"), input_size=64, view="whole")
    net = build("rendernet2017", 64, 3)
    square = np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3)).astype(np.float32)
    out = exported_model(net, whole)(square)
    tiles = [net(tf_resize(square[:, i * 21:(i + 1) * 21, j * 21:(j + 1) * 21], 64)).numpy()
             for i in range(REGION_TILES) for j in range(REGION_TILES)]
    np.testing.assert_allclose(out["regions"].numpy(), np.stack(tiles, 1), atol=1e-5)
    assert out["region_boxes"].numpy()[0, 4].tolist() == [21, 21, 21, 21]
    np.testing.assert_allclose(out["probabilities"].numpy(), net(square).numpy(), atol=1e-6)


def tf_resize(x, size):
    import tensorflow as tf

    return tf.image.resize(x, [size, size], method="bilinear", antialias=False)


def test_crops_runs_from_before_the_grid_moved_into_the_model_are_refused(tmp_path):
    spec = Spec(class_names=SPEC2, input_size=16, view="crops")
    d = spec.to_json()
    d["combine"] = "mean_probability"
    (tmp_path / "old.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="old.json.*train it again"):
        load_spec(tmp_path / "old.json")


def test_crops_view_size_rules():
    spec = Spec(class_names=SPEC2, input_size=64, view="crops", max_side=512)
    assert normalized_size(300, 400, spec) == (300, 400)  # native resolution kept
    assert normalized_size(1024, 2048, spec) == (256, 512)  # longer side brought to max_side
    assert normalized_size(32, 100, spec) == (64, 200)  # too small: enlarged to the crop size


def test_spec_round_trip(tmp_path):
    spec = Spec(class_names=("a", "b", "c"), input_size=48, view="crops", grid=2, threshold=None)
    save_spec(spec, tmp_path / "s.json")
    assert load_spec(tmp_path / "s.json") == spec
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="bad.json"):
        load_spec(tmp_path / "bad.json")
