"""A seeded synthetic demo data set: rooms and facades drawn clean ("render") or shot through a
simulated camera ("photo"). `python -m train` uses it when there is no data/ folder.

Built so that a model can only learn the real cue (camera traces), not a shortcut:
- one scene generator for both classes, same parameter distribution; the class only decides whether
  the camera simulation runs;
- picture size, saved format and JPEG quality are drawn the same way for both classes;
- file names are img_NNNNNN.<ext> in both folders, numbered independently.
Every picture has its own random stream (seed, class, index): the bytes depend only on the seed.
"""
from __future__ import annotations

import io
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

CLASSES = ("photo", "render")
SIZES = ((320, 240), (288, 216), (240, 180), (320, 180), (240, 320), (216, 288), (180, 240),
         (256, 256), (224, 224), (192, 192), (160, 160))  # (width, height), for both classes
SCENE_KINDS = ("room", "wall", "facade")  # room: one-point perspective; wall: frontal; facade: outdoors
KIND_P = (0.4, 0.25, 0.35)

WALLS = ((.93, .91, .86), (.87, .82, .72), (.80, .84, .82), (.90, .86, .80), (.72, .76, .80), (.92, .80, .72),
         (.82, .82, .82), (.66, .73, .63), (.95, .95, .95))
FLOORS = ((.55, .38, .24), (.70, .54, .38), (.42, .29, .20), (.78, .77, .73), (.48, .48, .52), (.36, .31, .29),
          (.85, .80, .70))
FABRICS = ((.30, .36, .52), (.58, .22, .20), (.42, .48, .36), (.74, .68, .58), (.26, .26, .28), (.82, .62, .32))
WOODS = ((.52, .34, .21), (.36, .23, .15), (.72, .57, .40), (.92, .92, .90), (.20, .20, .22))
FACADES = ((.62, .32, .24), (.86, .81, .72), (.93, .91, .86), (.72, .66, .56), (.57, .60, .64), (.83, .72, .52),
           (.68, .77, .82), (.80, .60, .55))
ROOFS = ((.38, .21, .18), (.26, .27, .30), (.52, .32, .24), (.45, .45, .45))
GREENS = ((.30, .52, .20), (.24, .42, .17), (.42, .57, .26), (.20, .35, .18))
# Box furniture: palette, half-width range (m), parts as (left, right) in half-widths, then top, bottom,
# distance behind the front and depth in metres, and a tone.
FURNITURE = {
    "sofa": (FABRICS, (.8, 1.2), ((-1, 1, .85, .4, .65, .25, 1), (-1, 1, .45, .05, 0, .9, .92),
                                  (-1, -.8, .62, .05, 0, .9, 1), (.8, 1, .62, .05, 0, .9, 1))),
    "table": (WOODS, (.5, .8), ((-.95, -.88, .72, 0, .7, .05, .8), (.88, .95, .72, 0, .7, .05, .8),
                                (-.95, -.88, .72, 0, .05, .05, .8), (.88, .95, .72, 0, .05, .05, .8),
                                (-1, 1, .76, .72, 0, .8, 1))),
    "cabinet": (WOODS, (.4, .8), ((-1, 1, .9, .04, 0, .45, 1), (-.52, -.48, .88, .06, 0, 0, .7),
                                  (-.02, .02, .88, .06, 0, 0, .7), (.48, .52, .88, .06, 0, 0, .7))),
    "rug": (FABRICS, (.8, 1.5), ((-1, 1, .01, 0, 0, 1.8, 1),)),
}
SKIES = (((.30, .52, .85), (.72, .84, .95)), ((.45, .62, .88), (.85, .90, .96)),  # (top, horizon)
         ((.62, .66, .72), (.85, .86, .88)), ((.35, .45, .75), (.95, .80, .65)))


# ---------------------------------------------------------------- drawing, anti-aliased by pixel coverage


def _paint(img, x0, y0, x1, y1, coverage, color):
    """Blend color (rgb, or f(ys, xs) -> rgb array) into img, weighted by coverage(ys, xs) in 0..1.
    Only the box (x0, y0)-(x1, y1) is computed, which keeps many small shapes cheap."""
    h, w = img.shape[:2]
    ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    ix1, iy1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    if ix0 >= ix1 or iy0 >= iy1:
        return
    ys = np.arange(iy0, iy1, dtype=np.float32)[:, None] + .5  # pixel centres
    xs = np.arange(ix0, ix1, dtype=np.float32)[None, :] + .5
    c = color(ys, xs) if callable(color) else np.asarray(color, np.float32)
    region = img[iy0:iy1, ix0:ix1]
    region += coverage(ys, xs)[..., None] * (c - region)


def rect(img, x0, y0, x1, y1, color):
    """Axis-aligned rectangle; exact pixel coverage gives crisp, lightly anti-aliased edges."""
    def cov(ys, xs):
        return (np.clip(np.minimum(ys + .5, y1) - np.maximum(ys - .5, y0), 0, 1)
                * np.clip(np.minimum(xs + .5, x1) - np.maximum(xs - .5, x0), 0, 1))
    _paint(img, x0, y0, x1, y1, cov, color)


def poly(img, pts, color):
    """Convex polygon; coverage from the signed distance to its edges (one pixel of anti-aliasing)."""
    p = np.asarray(pts, np.float32)
    e = np.roll(p, -1, axis=0) - p
    keep = np.hypot(*e.T) > 1e-6
    p, e = p[keep], e[keep]
    area = np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1])
    if abs(area) < 1e-6:  # degenerate (e.g. a face seen edge-on)
        return
    n = np.stack([e[:, 1], -e[:, 0]], 1) * (np.sign(area) / np.hypot(*e.T))[:, None]  # outward normals

    def cov(ys, xs):
        return np.clip(.5 - np.max([(xs - a[0]) * u[0] + (ys - a[1]) * u[1] for a, u in zip(p, n)], axis=0), 0, 1)
    _paint(img, *(p.min(0) - 1), *(p.max(0) + 1), cov, color)


def ellipse(img, cx, cy, rx, ry, color):
    def cov(ys, xs):
        return np.clip(.5 - (np.hypot((xs - cx) / rx, (ys - cy) / ry) - 1) * min(rx, ry), 0, 1)
    _paint(img, cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1, cov, color)


def shade(c, x, y, gx=0.0, gy=0.0):
    """Colour c lit by a smooth linear gradient (gx, gy: relative change per 100 px) around (x, y)."""
    c = np.asarray(c, np.float32)
    return lambda ys, xs: c * (1 + gx * (xs - x) / 100 + gy * (ys - y) / 100)[..., None]


def vgrad(c0, c1, y0, y1):
    c0, c1 = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return lambda ys, xs: c0 + (c1 - c0) * np.clip((ys - y0) / (y1 - y0), 0, 1)[..., None]


def glow(img, x, y, r, a):
    """A soft pool of light (lamp, window): brightens smoothly around (x, y)."""
    y0, x0 = max(int(y - 3 * r), 0), max(int(x - 3 * r), 0)
    region = img[y0:max(int(y + 3 * r), y0), x0:max(int(x + 3 * r), x0)]
    ys, xs = np.ogrid[y0:y0 + region.shape[0], x0:x0 + region.shape[1]]
    region *= (1 + a * np.exp(-((xs + .5 - x) ** 2 + (ys + .5 - y) ** 2) / (2 * r * r)))[..., None]


def _pick(rng, palette, jitter=0.06):
    c = np.asarray(palette[rng.integers(len(palette))], np.float32)
    return np.clip(c * rng.uniform(1 - jitter, 1 + jitter, 3), 0, 1).astype(np.float32)


# ---------------------------------------------------------------- scenes


def _window(img, rng, x0, y0, x1, y1, frame, sky):
    t = max(1.5, (x1 - x0) * .06)
    rect(img, x0, y0, x1, y1, frame)
    rect(img, x0 + t, y0 + t, x1 - t, y1 - t, vgrad(*sky, y0, y1))
    if rng.random() < .7:  # mullion and transom
        rect(img, (x0 + x1 - t) / 2, y0, (x0 + x1 + t) / 2, y1, frame)
    if rng.random() < .5:
        rect(img, x0, y0 + (y1 - y0) * .35 - t / 2, x1, y0 + (y1 - y0) * .35 + t / 2, frame)


def _room(img, rng, wide):
    """An interior in one-point perspective; wide=True is a frontal view of one wall and the floor."""
    h, w = img.shape[:2]
    if wide:
        y1 = h * rng.uniform(.68, .88)
        x0, y0, x1 = -w * rng.uniform(.1, .3), y1 - h * rng.uniform(.8, 1.05), w * rng.uniform(1.1, 1.3)
        vx = w * rng.uniform(.3, .7)
    else:
        bw, bh = w * rng.uniform(.45, .7), h * rng.uniform(.4, .6)
        cx, cy = w * rng.uniform(.38, .62), h * rng.uniform(.42, .55)
        x0, x1, y0, y1 = cx - bw / 2, cx + bw / 2, cy - bh / 2, cy + bh / 2
        vx = cx + bw * rng.uniform(-.1, .1)
    vy = y0 + (y1 - y0) * rng.uniform(.4, .6)  # eye height
    wall_h, dist = y1 - y0, rng.uniform(4, 7)  # the back wall is 2.6 m high and `dist` m away

    def far(x, y, k=30.0):  # on the line from the vanishing point through (x, y), beyond the picture
        return vx + k * (x - vx), vy + k * (y - vy)

    wall, light = _pick(rng, WALLS), rng.uniform(-.12, .12)  # light: which side wall is brighter
    sky, frame = SKIES[rng.integers(len(SKIES))], _pick(rng, WOODS[2:4])
    floor = shade(_pick(rng, FLOORS), vx, y1, gy=rng.uniform(-.1, .15))
    spacing = wall_h * rng.uniform(.08, .25) if rng.random() < .7 else None

    def floor_color(ys, xs):  # plank joints run toward the vanishing point
        if spacing is None:
            return floor(ys, xs)
        k = np.maximum((ys - vy) / (y1 - vy), 1e-3)  # 1 at the back wall, growing toward the viewer
        u = (xs - vx) / k / spacing
        return floor(ys, xs) * (1 - .15 * np.clip(1.2 - np.abs(u - np.round(u)) * spacing * k, 0, 1))[..., None]

    poly(img, [(x0, y0), (x1, y0), far(x1, y0), far(x0, y0)], shade(.25 * wall + .72, vx, y0, gy=-.05))  # ceiling
    poly(img, [(x0, y1), (x1, y1), far(x1, y1), far(x0, y1)], floor_color)
    poly(img, [(x0, y0), (x0, y1), far(x0, y1), far(x0, y0)], shade(wall * (.9 + light), x0, vy, gx=-.05))
    poly(img, [(x1, y0), (x1, y1), far(x1, y1), far(x1, y0)], shade(wall * (.9 - light), x1, vy, gx=.05))
    rect(img, x0, y0, x1, y1, shade(wall, vx, vy, gx=light, gy=rng.uniform(-.08, .04)))
    rect(img, x0, y1 - wall_h * .035, x1, y1, wall * .8 + .15)  # skirting board

    n = int(rng.integers(1, 4))  # windows, doors and pictures on the back wall, one per slot
    slot = (x1 - x0) / n
    for i in range(n):
        item, sx = rng.choice(["window", "door", "picture", "none"], p=[.4, .15, .35, .1]), x0 + i * slot
        if item == "window":
            ww, wh = min(slot * rng.uniform(.45, .8), wall_h * 1.2), wall_h * rng.uniform(.35, .55)
            left, top = sx + (slot - ww) * rng.uniform(.2, .8), y0 + wall_h * rng.uniform(.15, .25)
            _window(img, rng, left, top, left + ww, top + wh, frame, sky)
            glow(img, left + ww / 2, top + wh, ww, rng.uniform(.03, .12))
        elif item == "door":
            dw, dh = wall_h * rng.uniform(.3, .36), wall_h * rng.uniform(.75, .82)
            left = sx + (slot - dw) * rng.uniform(.2, .8)
            rect(img, left - 2, y1 - dh - 2, left + dw + 2, y1, frame)
            rect(img, left, y1 - dh, left + dw, y1, shade(_pick(rng, WOODS), left, y1 - dh, gy=.04))
            ellipse(img, left + dw * .85, y1 - dh * .48, dw * .04, dw * .04, (.75, .7, .55))
        elif item == "picture":
            pw = min(slot * .7, wall_h * rng.uniform(.2, .45))
            ph, b = pw * rng.uniform(.6, 1.3), pw * .08
            left, top = sx + (slot - pw) * rng.uniform(.2, .8), y0 + wall_h * rng.uniform(.3, .42) - ph / 2
            rect(img, left, top, left + pw, top + ph, _pick(rng, WOODS))
            rect(img, left + b, top + b, left + pw - b, top + ph - b,
                 vgrad(rng.uniform(.1, .9, 3), rng.uniform(.1, .9, 3), top, top + ph))
            ellipse(img, left + pw * rng.uniform(.3, .7), top + ph * rng.uniform(.3, .7), pw * .15, pw * .15,
                    rng.uniform(.1, .9, 3))

    def box(xl, xr, top, bot, near, depth, col):
        """A box on the floor, in metres (x from cx, heights, `near` behind the base line), with its top
        and the side that face the viewer; faces meet at the vanishing point."""
        t0, t = near / (z + near), depth / (z + near + depth)  # perspective shrink toward (vx, vy)

        def at(x, y, f):
            px, py = cx + x * m, yb - y * m
            px, py = px + t0 * (vx - px), py + t0 * (vy - py)
            return px + f * (vx - px), py + f * (vy - py)
        (x0, y0), (x1, y1) = at(xl, top, 0), at(xr, bot, 0)
        if y0 > vy:
            poly(img, [at(xl, top, 0), at(xr, top, 0), at(xr, top, t), at(xl, top, t)], np.minimum(col * 1.12, 1))
        if x1 < vx or x0 > vx:
            x = xr if x1 < vx else xl
            poly(img, [at(x, top, 0), at(x, bot, 0), at(x, bot, t), at(x, top, t)], col * .78)
        rect(img, x0, y0, x1, y1, shade(col, x0, y0, gy=.05))

    for yb in np.sort(rng.uniform(y1 + .02 * h, 1.02 * h, int(rng.integers(1, 5)))):  # furniture, far to near
        k = (yb - vy) / (y1 - vy)
        m, z, cx = k * wall_h / 2.6, dist / k, w * rng.uniform(0, 1)  # pixels per metre, distance, centre
        what = rng.choice(["sofa", "table", "cabinet", "rug", "lamp", "plant"])
        if what in FURNITURE:
            palette, widths, parts = FURNITURE[what]
            c, s = _pick(rng, palette), rng.uniform(*widths)
            for xl, xr, top, bot, near, depth, tone in parts:
                box(xl * s, xr * s, top, bot, near, depth, c * tone)
        elif what == "lamp":
            top = yb - rng.uniform(1.3, 1.7) * m
            ellipse(img, cx, yb, .15 * m, .04 * m + .5, (.2, .2, .2))
            rect(img, cx - .015 * m - .5, top, cx + .015 * m + .5, yb, (.25, .25, .25))
            poly(img, [(cx - .12 * m, top - .35 * m), (cx + .12 * m, top - .35 * m), (cx + .22 * m, top),
                       (cx - .22 * m, top)], _pick(rng, ((.95, .92, .82), (.9, .85, .7), (.85, .85, .85))))
            glow(img, cx, top - .2 * m, .5 * m, rng.uniform(.05, .15))
        else:  # a potted plant
            poly(img, [(cx - .14 * m, yb - .35 * m), (cx + .14 * m, yb - .35 * m), (cx + .1 * m, yb),
                       (cx - .1 * m, yb)], _pick(rng, ((.65, .35, .25), (.9, .9, .88), (.3, .3, .32))))
            for _ in range(int(rng.integers(4, 8))):
                ellipse(img, cx + rng.uniform(-.25, .25) * m, yb - rng.uniform(.5, 1.0) * m,
                        rng.uniform(.08, .18) * m, rng.uniform(.1, .22) * m, _pick(rng, GREENS, .15))


def _facade(img, rng):
    """Outdoors: sky, lawn, building fronts with windows, doors and roofs, trees and bushes."""
    h, w = img.shape[:2]
    ground, sky = h * rng.uniform(.65, .88), SKIES[rng.integers(len(SKIES))]
    rect(img, 0, 0, w, h, vgrad(*sky, 0, ground))
    for _ in range(int(rng.integers(0, 4))):  # clouds
        cx, cy, r = w * rng.uniform(0, 1), h * rng.uniform(.03, .3), w * rng.uniform(.04, .1)
        c = rng.uniform(.88, .98)
        for j in range(4):
            ellipse(img, cx + (j - 1.5) * r * .9, cy + rng.uniform(-.3, .3) * r, r * rng.uniform(.7, 1.1),
                    r * rng.uniform(.45, .7), (c, c, c))
    rect(img, 0, ground, w, h, shade(_pick(rng, GREENS), w / 2, ground, gy=.08))
    x0 = -w * rng.uniform(0, .25)
    while x0 < w:
        x1 = x0 + w * rng.uniform(.4, .9)
        top, c, frame = ground * rng.uniform(.15, .5), _pick(rng, FACADES), _pick(rng, WOODS[2:])
        if rng.random() < .5:  # pitched roof, else a flat roof with a cornice
            o, rh = (x1 - x0) * .04, (x1 - x0) * rng.uniform(.12, .35)
            apex = (x0 + x1) / 2 + (x1 - x0) * rng.uniform(-.1, .1)
            poly(img, [(x0 - o, top), (x1 + o, top), (apex, top - rh)], _pick(rng, ROOFS))
        else:
            rect(img, x0 - 2, top - 4, x1 + 2, top + 1, c * .75)
        rect(img, x0, top, x1, ground, shade(c, x0, top, gx=rng.uniform(-.08, .08), gy=.04))
        floors = max(1, int((ground - top) / (h * rng.uniform(.13, .22))))
        fh = (ground - top) / floors
        cols = max(1, int((x1 - x0) / (fh * rng.uniform(.9, 1.4))))
        cw, door = (x1 - x0) / cols, int(rng.integers(cols))
        for r in range(floors):
            for j in range(cols):
                cx, wy = x0 + (j + .5) * cw, top + (r + .22) * fh
                if r == floors - 1 and j == door:
                    rect(img, cx - cw * .22, ground - fh * .8, cx + cw * .22, ground, _pick(rng, WOODS))
                else:
                    _window(img, rng, cx - cw * .25, wy, cx + cw * .25, wy + fh * .55, frame, sky)
                    rect(img, cx - cw * .29, wy + fh * .55, cx + cw * .29, wy + fh * .6, c * .85)  # sill
        x0 = x1 + (w * rng.uniform(.05, .25) if rng.random() < .4 else 0)
    for _ in range(int(rng.integers(0, 4))):  # trees in front
        tx, tb = w * rng.uniform(0, 1), ground + (h - ground) * rng.uniform(0, .5)
        th, r = h * rng.uniform(.1, .2), h * rng.uniform(.06, .12)
        rect(img, tx - r * .1, tb - th, tx + r * .1, tb, (.35, .25, .17))
        for _ in range(int(rng.integers(3, 6))):
            ellipse(img, tx + rng.uniform(-.6, .6) * r, tb - th - rng.uniform(0, .8) * r,
                    r * rng.uniform(.6, 1), r * rng.uniform(.6, 1), _pick(rng, GREENS, .15))
    for _ in range(int(rng.integers(0, 6))):  # bushes along the buildings
        r = h * rng.uniform(.03, .07)
        ellipse(img, w * rng.uniform(0, 1), ground, r * 1.4, r, _pick(rng, GREENS, .15))


def draw_scene(rng, w: int, h: int, kind: str | None = None) -> tuple[str, np.ndarray]:
    """A clean scene, float32 [h, w, 3] in 0..1; the kind is drawn unless given."""
    kind = kind or SCENE_KINDS[rng.choice(len(SCENE_KINDS), p=KIND_P)]
    img = np.zeros((h, w, 3), np.float32)
    if kind == "facade":
        _facade(img, rng)
    else:
        _room(img, rng, wide=kind == "wall")
    return kind, np.clip(img, 0, 1)


# ---------------------------------------------------------------- the camera (photo class only)


def _to_u8(a):
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


_LINEAR = (np.arange(256, dtype=np.float32) / 255) ** 2.2  # sRGB-ish 8 bit -> linear light
_DEMOSAIC = (((.25, .5, .25), (.5, 1, .5), (.25, .5, .25)), ((0, .25, 0), (.25, 1, .25), (0, .25, 0)),
             ((.25, .5, .25), (.5, 1, .5), (.25, .5, .25)))  # bilinear interpolation kernels for R, G, B


def _conv3(a, k):
    """3x3 convolution; reflect padding keeps the Bayer phase at the borders."""
    p, (h, w) = np.pad(a, 1, mode="reflect"), a.shape
    return sum(k[i][j] * p[i:i + h, j:j + w] for i in range(3) for j in range(3) if k[i][j])


def camera(im: Image.Image, box, rng) -> Image.Image:
    """What a camera does to the scene in front of it, in a real pipeline's order; box: the crop."""
    im = im.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BILINEAR)  # slight tilt
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(.5, 1.5))).crop(box)  # lens blur; crop hides the borders
    lin = _LINEAR[np.asarray(im)]  # light is linear at the sensor
    h, w = lin.shape[:2]
    ys, xs = np.ogrid[:h, :w]
    r2 = ((xs + .5 - w / 2) ** 2 + (ys + .5 - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)  # 1 in the corners
    vig = 1 - rng.uniform(.15, .45) * r2
    lin *= (vig * (rng.uniform(.85, 1.1) / vig.mean()))[..., None]  # vignetting; auto-exposure keeps the level
    sens = np.array([rng.uniform(.45, .7), 1, rng.uniform(.55, .85)], np.float32)  # sensor colour response
    masks = np.zeros((h, w, 3), np.float32)
    masks[0::2, 0::2, 0] = masks[0::2, 1::2, 1] = masks[1::2, 0::2, 1] = masks[1::2, 1::2, 2] = 1  # RGGB
    raw = (lin * sens * masks).sum(axis=2)  # Bayer mosaic: one colour per photosite
    full_well, read = 10 ** rng.uniform(2.4, 3.6), rng.uniform(.002, .012)  # shot + read noise
    raw += rng.standard_normal(raw.shape, dtype=np.float32) * np.sqrt(np.maximum(raw, 0) / full_well + read ** 2)
    raw = np.minimum(raw, 1)  # saturation; no clip at 0 (black level), so shadows stay unbiased
    rgb = np.stack([_conv3(raw * masks[..., c], k) for c, k in enumerate(_DEMOSAIC)], axis=2)  # demosaicing
    rgb *= 1 / (sens * rng.uniform(.95, 1.05, 3).astype(np.float32))  # white balance, slightly off
    s = rng.uniform(0, .5)  # tone curve: gamma and a mild S-curve, applied through a 16-bit table
    y = np.linspace(0, 1, 65536, dtype=np.float32) ** (1 / 2.2)
    tone = _to_u8(y + s * (y * y * (3 - 2 * y) - y))
    buf = io.BytesIO()
    Image.fromarray(tone[(np.clip(rgb, 0, 1) * 65535 + .5).astype(np.uint16)]).save(
        buf, "JPEG", quality=int(rng.integers(60, 93)))  # in-camera JPEG
    return Image.open(buf).convert("RGB")


# ---------------------------------------------------------------- the data set


def _make_one(stem: Path, photo: bool, rng) -> str:
    """Draw (and for a photo, shoot) one picture and save it; returns its scene kind."""
    # The file's properties come first, drawn the same way for both classes: they must not reveal it.
    w, h = SIZES[rng.integers(len(SIZES))]
    as_jpeg, quality = rng.random() < .8, int(rng.integers(85, 96))
    m = int(np.ceil(.03 * max(w, h))) + 2  # margin: a 3 degree tilt never shows a border
    kind, scene = draw_scene(rng, w + 2 * m, h + 2 * m)
    im, box = Image.fromarray(_to_u8(scene)), (m, m, m + w, m + h)
    im = camera(im, box, rng) if photo else im.crop(box)
    if as_jpeg:
        im.save(stem.with_suffix(".jpg"), "JPEG", quality=quality)
    else:
        im.save(stem.with_suffix(".png"), "PNG")
    return kind


def make_demo_dataset(out_dir: Path, n_per_class: int = 1000, seed: int = 0) -> dict:
    """Write out_dir/render/*.{jpg,png} and out_dir/photo/*.{jpg,png}; return a small summary dict
    (counts per class, seconds taken, 'synthetic': True).

    Written into a hidden sibling folder that is renamed into place at the end, so an interrupted run
    never leaves a half data set at out_dir. Raises FileExistsError if out_dir exists."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir}: already exists; not overwriting it with demo data")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    kinds = {cls: dict.fromkeys(SCENE_KINDS, 0) for cls in CLASSES}

    def one(job):
        ci, i = job
        rng = np.random.default_rng([seed, ci, i])  # one stream per picture: bytes don't depend on scheduling
        return CLASSES[ci], _make_one(tmp / CLASSES[ci] / f"img_{i:06d}", CLASSES[ci] == "photo", rng)
    try:
        for cls in CLASSES:
            (tmp / cls).mkdir()
        # Threads, not processes: numpy and Pillow release the GIL in the heavy parts, and nothing gets
        # forked from a process that may already be running TensorFlow.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for cls, kind in pool.map(one, [(ci, i) for ci in range(len(CLASSES)) for i in range(n_per_class)]):
                kinds[cls][kind] += 1
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"counts": {cls: n_per_class for cls in CLASSES}, "scene_kinds": kinds, "seed": seed,
            "seconds": round(time.perf_counter() - start, 2), "synthetic": True}
