"""The preprocessing spec: how a picture file becomes the model's input, and how its answer is given.

One source of truth. `python -m train` writes the spec to `<run>/preprocessing.json`; training,
evaluation, `train.predict`, the Streamlit app (all through this module) and the static page
(`static_site/preprocess.js`, a line-by-line port) read it from there.

Steps, in order (the JSON names each one):
1. decode   - EXIF orientation applied; any mode (grayscale, palette, CMYK, 16-bit: its high byte, as
              browsers decode it, ...) to 8-bit RGB;
              transparency composited onto white. A picture whose shorter side is below min_side
              pixels is "too small to judge" (no answer is given).
2. geometry - view "whole":   centre square crop (side = shorter side) then resize to input_size.
              views "crops" and "picture": if the longer side exceeds max_side, resize so it equals
                             max_side; if the shorter side is below input_size, resize so it equals
                             input_size. "picture": the model sees that whole picture; "crops": it sees
                             input_size squares of it, at that resolution.
   resize   - "box+bilinear": average-pool by the integer factor floor(src/dst) when it is >= 2 (an
              anti-alias step both TensorFlow and TF.js have), then bilinear with half-pixel centres;
              a resized picture is rounded to whole 0-255 levels (as if saved as 8-bit), so that
              training (which keeps pictures as uint8) and prediction see the same numbers.
3. predict  - the model's input is the one normalized picture [1, H, W, 3]. "crops": the model itself
              (train/model.py) cuts a grid x grid lattice of input_size crops, evenly spaced from the
              top-left to the bottom-right corner (offsets floor(i * (H - size) / (grid - 1)), see
              crop_grid) and averages the class probabilities over them; every consumer hands it the
              picture and reads one row of probabilities.
4. decide   - the class with the largest probability (the model's probabilities are calibrated, see
              train/calibrate.py); "unsure" when that probability is below unsure_below.
The model takes raw 0-255 RGB float32 [N, H, W, 3] and does its own scaling.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SPEC_FILE = "preprocessing.json"
SPEC_FORMAT = "render-or-real/preprocessing@1"
# Where the crops of the "crops" view are cut and voted: inside the model. Runs made before that have
# "mean_probability" here and a model that takes single crops; they are refused with a clear message.
COMBINE = "in_model"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")

# Pictures above this many pixels are refused as absurd (decompression bombs) rather than decoded.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class BadImage(Exception):
    """A file that cannot be used as a picture; the message names the file and the reason."""


class AbsurdImage(BadImage):
    """A picture so large that decoding it is refused (decompression bomb)."""


UNSURE = "unsure"
TOO_SMALL = "too small to judge"
DEFAULT_MAX_SIDE = 512  # crops and picture views: longer side brought down to this, unless said otherwise


@dataclass(frozen=True)
class Spec:
    class_names: tuple[str, ...]
    input_size: int = 200
    view: str = "whole"  # "whole", "crops" or "picture"
    max_side: int = DEFAULT_MAX_SIDE  # crops and picture views: longer side is brought down to this
    grid: int = 3  # crops view: grid x grid crops at prediction time
    positive_class: str | None = None  # two classes: the class ROC curves are about
    threshold: float | None = None  # two classes: P(positive_class) at which the decision flips
    min_side: int = 1  # pictures with a shorter side below this are too small to judge
    unsure_below: float | None = None  # "unsure" when the largest probability is below this
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return {
            "format": SPEC_FORMAT,
            **d,
            "decode": {"exif_orientation": True, "color": "RGB", "alpha": "composite_on_white",
                       "extensions": list(IMAGE_EXTENSIONS),  # what a folder's pictures are named
                       "max_pixels": MAX_PIXELS},
            "resize": "box+bilinear",
            "round_after_resize": True,
            "input": {"dtype": "float32", "range": [0, 255], "layout": "NHWC"},
            "combine": COMBINE,
            "decide": "argmax, unsure below unsure_below",
        }


def save_spec(spec: Spec, path: Path) -> None:
    path.write_text(json.dumps(spec.to_json(), indent=2) + "\n")


def load_spec(path: Path) -> Spec:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read preprocessing spec ({e})") from None
    if d.get("format") != SPEC_FORMAT:
        raise ValueError(f"{path}: not a {SPEC_FORMAT} file")
    if d.get("view") == "crops" and d.get("combine") != COMBINE:
        raise ValueError(f"{path}: a crops-view run made before the crop grid moved into the model (its model "
                         "takes single crops); train it again")
    keys = {f for f in Spec.__dataclass_fields__}
    d = {k: v for k, v in d.items() if k in keys}
    d["class_names"] = tuple(d["class_names"])
    return Spec(**d)


# ---------------------------------------------------------------- 1. decode


def load_rgb(path) -> np.ndarray:
    """Decode a picture file to uint8 RGB [H, W, 3], or raise BadImage naming the file."""
    path = str(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise AbsurdImage(f"{path}: {w}x{h} pixels is over the {MAX_PIXELS:,} pixel limit "
                                  "(decompression bomb?)")
            im.seek(0)  # first frame of a GIF
            im = ImageOps.exif_transpose(im)
            return to_rgb_array(im)
    except BadImage:
        raise
    except Image.DecompressionBombError as e:
        raise AbsurdImage(f"{path}: {e}") from None
    except UnidentifiedImageError:
        raise BadImage(f"{path}: not a picture Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise BadImage(f"{path}: corrupt or truncated picture ({e})") from None


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any Pillow mode to 8-bit RGB; alpha composited onto white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.int64)
        if im.mode.startswith("I;16") or a.max() > 255:
            a = np.clip(a, 0, 65535) >> 8  # 16 bits -> 8: the high byte, as browsers decode 16-bit PNGs
        return np.repeat(np.clip(a, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.clip(np.round(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


# ---------------------------------------------------------------- 2. geometry (TensorFlow ops)


def _tf():
    import tensorflow as tf  # imported lazily: decoding and the spec need no TensorFlow

    return tf


def resize_box_bilinear(image, height: int, width: int):
    """box+bilinear resize of a float32 [H, W, 3] tensor (see the module docstring)."""
    tf = _tf()
    h, w = int(image.shape[0]), int(image.shape[1])
    fy, fx = max(h // height, 1), max(w // width, 1)
    if fy > 1 or fx > 1:
        image = tf.nn.avg_pool2d(image[None], ksize=[fy, fx], strides=[fy, fx], padding="VALID")[0]
    if image.shape[0] == height and image.shape[1] == width:
        return image
    return tf.image.resize(image, [height, width], method="bilinear", antialias=False)


def normalized_size(h: int, w: int, spec: Spec) -> tuple[int, int]:
    """Crops view: the size a picture is brought to before crops are taken."""
    scale = 1.0
    if max(h, w) > spec.max_side:
        scale = spec.max_side / max(h, w)
    if min(h, w) * scale < spec.input_size:
        scale = spec.input_size / min(h, w)
    if scale == 1.0:
        return h, w
    return max(spec.input_size, round(h * scale)), max(spec.input_size, round(w * scale))


def normalize(rgb: np.ndarray, spec: Spec):
    """uint8 [H, W, 3] -> float32 tensor of whole 0-255 levels the views are cut from (whole: the
    model's square)."""
    tf = _tf()
    image = tf.convert_to_tensor(rgb, dtype=tf.float32)
    h, w = rgb.shape[:2]
    if spec.view == "whole":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top:top + side, left:left + side]
        resized = resize_box_bilinear(square, spec.input_size, spec.input_size)
    else:
        nh, nw = normalized_size(h, w, spec)
        if (nh, nw) == (h, w):
            return image
        resized = resize_box_bilinear(image, nh, nw)
    return tf.floor(tf.clip_by_value(resized, 0.0, 255.0) + 0.5)  # halves up: the same in every TF.js backend


def too_small(rgb_or_shape, spec: Spec) -> str | None:
    """None, or why the picture is too small to judge (one line)."""
    h, w = (rgb_or_shape.shape if hasattr(rgb_or_shape, "shape") else rgb_or_shape)[:2]
    if min(h, w) < spec.min_side:
        return f"{TOO_SMALL}: {w}x{h} pixels, the model needs at least {spec.min_side} on the shorter side"
    return None


def decide(probs, spec: Spec) -> str:
    """The answer for one picture's probabilities: a class name, or UNSURE (step 4)."""
    probs = np.asarray(probs)
    top = int(np.argmax(probs))
    if spec.unsure_below is not None and probs[top] < spec.unsure_below:
        return UNSURE
    return spec.class_names[top]


def lattice_offsets(length, size: int, grid: int) -> list:
    """Where the crops view's crops start along one side: evenly from one end to the other (one crop:
    centred). Works on Python ints and on TensorFlow scalars alike."""
    if grid == 1:
        return [(length - size) // 2]
    return [(i * (length - size)) // (grid - 1) for i in range(grid)]


def crop_grid(images, size: int, grid: int):
    """The crops view's lattice, in TensorFlow ops on dynamic shapes (the model's CropGrid layer, also
    in TF.js, and the validation stream): pictures [N, H, W, C] (H, W >= size) -> crops
    [N * grid * grid, size, size, C], picture by picture, each row by row."""
    tf = _tf()
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    crops = [images[:, top:top + size, left:left + size, :]
             for top in lattice_offsets(h, size, grid) for left in lattice_offsets(w, size, grid)]
    return tf.reshape(tf.stack(crops, axis=1), [-1, size, size, images.shape[-1] or 3])


def crop_boxes(images, size: int, grid: int):
    """The boxes of crop_grid's crops, [N, grid * grid, 4] float32 (top, left, height, width) in the
    pictures' pixels: where the vote map draws each crop's vote."""
    tf = _tf()
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    boxes = tf.cast(tf.stack([tf.stack([top, left, size, size]) for top in lattice_offsets(h, size, grid)
                              for left in lattice_offsets(w, size, grid)]), tf.float32)
    return tf.tile(boxes[None], [tf.shape(images)[0], 1, 1])


def tile_grid(images, tiles: int):
    """The vote map's regions for the views without crops: each picture cut into tiles x tiles equal
    tiles (the last rows and columns past a whole tile left out) -> (tiles [N * tiles^2, H // tiles,
    W // tiles, C], boxes [N, tiles^2, 4] as in crop_boxes)."""
    tf = _tf()
    h, w = tf.shape(images)[1] // tiles, tf.shape(images)[2] // tiles
    parts = [images[:, i * h:(i + 1) * h, j * w:(j + 1) * w, :] for i in range(tiles) for j in range(tiles)]
    cut = tf.reshape(tf.stack(parts, axis=1), [-1, h, w, images.shape[-1] or 3])
    boxes = tf.cast(tf.stack([tf.stack([i * h, j * w, h, w]) for i in range(tiles) for j in range(tiles)]), tf.float32)
    return cut, tf.tile(boxes[None], [tf.shape(images)[0], 1, 1])


def model_input(rgb: np.ndarray, spec: Spec) -> np.ndarray:
    """What the model takes for one picture: float32 [1, H, W, 3] of whole 0-255 levels (whole view:
    its input_size square; crops and picture views: the normalized picture)."""
    return normalize(rgb, spec).numpy()[None]


def model_eye_square(rgb: np.ndarray, spec: Spec) -> np.ndarray:
    """What to show people as 'what the model sees' (its input picture), uint8."""
    return np.clip(np.round(model_input(rgb, spec)[0]), 0, 255).astype(np.uint8)
