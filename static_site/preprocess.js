// The preprocessing spec in the browser: a line-by-line port of train/preprocess.py (the source of
// truth), with TF.js ops standing in for the TensorFlow ones so the numbers match Python within
// float precision. Every value comes from the run's preprocessing.json; nothing is retyped here.
//
// 1. decode   - createImageBitmap applies EXIF orientation and no colour management (Pillow does
//               none either); drawn on a white canvas = transparency composited onto white; RGB.
//               Shorter side below min_side: too small to judge (tooSmall).
// 2. geometry - "whole": centre square crop, box+bilinear resize to input_size.
//               "crops" and "picture": normalizedSize(), the whole picture.
//               A resized picture is rounded to whole 0-255 levels.
// 3. predict  - that one picture is the model's input (a "crops" model cuts and votes its crops
//               itself, train/model.py); one row of probabilities comes out (classifier.js).
// 4. decide   - argmax; "unsure" below unsure_below (decide).
//
// Functional TF.js calls only (no chained ops: tfjs-core alone does not register them).
// Uses the global `tf` (the UMD runtime bundles in vendor/, or TF.js set on globalThis in Node).

export const SPEC_FORMAT = "render-or-real/preprocessing@1";
const tf = () => globalThis.tf;

export class BadImage extends Error {}
export class AbsurdImage extends BadImage {}

/** Check a parsed preprocessing.json is one this page implements; returns it, or throws. */
export function checkSpec(spec) {
  if (!spec || spec.format !== SPEC_FORMAT) {
    throw new Error(`preprocessing.json is not a ${SPEC_FORMAT} file (format: ${spec && spec.format})`);
  }
  if (spec.resize !== "box+bilinear") throw new Error(`unsupported resize "${spec.resize}"`);
  for (const key of ["input_size", "max_side", "grid"]) {
    if (!Number.isInteger(spec[key]) || spec[key] < 1) throw new Error(`bad ${key}: ${spec[key]}`);
  }
  if (!Array.isArray(spec.class_names) || spec.class_names.length < 2) throw new Error("bad class_names");
  if (!["whole", "crops", "picture"].includes(spec.view)) throw new Error(`unsupported view "${spec.view}"`);
  if (spec.view === "crops" && spec.combine !== "in_model") {
    throw new Error("a crops-view run made before the crop grid moved into the model: train it again");
  }
  return spec;
}

export const UNSURE = "unsure";
export const TOO_SMALL = "too small to judge";

/** null, or why an h x w picture is too small to judge (train/preprocess.py too_small). */
export function tooSmall(h, w, spec) {
  const min = spec.min_side || 1;
  return Math.min(h, w) < min
    ? `${TOO_SMALL}: ${w}x${h} pixels, the model needs at least ${min} on the shorter side`
    : null;
}

/** The answer for one picture's probabilities: a class name or UNSURE (train/preprocess.py decide). */
export function decide(probs, spec) {
  let top = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[top]) top = i;
  const below = spec.unsure_below;
  if (below !== null && below !== undefined && probs[top] < below) return { top, verdict: UNSURE };
  return { top, verdict: spec.class_names[top] };
}

/** Python's round() for the non-negative floats used here: halves go to the even neighbour. */
export function pyRound(x) {
  const f = Math.floor(x);
  const d = x - f; // exact for doubles this small
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// ---------------------------------------------------------------- 1. decode

// Enough of the file to find the size in any header (a JPEG's SOF comes after EXIF/ICC segments).
const HEAD_BYTES = 1 << 20;

/** {width, height, format} from a picture's header bytes without decoding it, or null if unknown. */
export function sniffSize(b) {
  const u16be = (i) => (b[i] << 8) | b[i + 1];
  const u16le = (i) => b[i] | (b[i + 1] << 8);
  const u24le = (i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
  const u32be = (i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
  const i32le = (i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
  const ascii = (i, n) => String.fromCharCode(...b.subarray(i, i + n));
  if (b.length >= 24 && b[0] === 0x89 && ascii(1, 3) === "PNG") {
    return { format: "PNG", width: u32be(16), height: u32be(20) };
  }
  if (b.length >= 10 && ascii(0, 4) === "GIF8") return { format: "GIF", width: u16le(6), height: u16le(8) };
  if (b.length >= 26 && ascii(0, 2) === "BM") {
    if (i32le(14) === 12) return { format: "BMP", width: u16le(18), height: u16le(20) };
    return { format: "BMP", width: Math.abs(i32le(18)), height: Math.abs(i32le(22)) };
  }
  if (b.length >= 30 && ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") {
    const chunk = ascii(12, 4);
    if (chunk === "VP8X") return { format: "WebP", width: u24le(24) + 1, height: u24le(27) + 1 };
    if (chunk === "VP8L") {
      const bits = (b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24)) >>> 0;
      return { format: "WebP", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8 ") return { format: "WebP", width: u16le(26) & 0x3fff, height: u16le(28) & 0x3fff };
    return null;
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // Walk the JPEG segments to the start-of-frame marker (C0-CF, except DHT C4, JPG C8, DAC CC).
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null; // not a marker where one must be: corrupt
      const m = b[i + 1];
      if (m === 0xff) { i += 1; continue; } // fill byte
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      const length = u16be(i + 2);
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        // Trust it only if the frame header is self-consistent, so a corrupt file is reported as
        // corrupt (by the decoder) rather than as an absurd size read from garbage.
        const components = b[i + 9];
        const sane = [8, 12, 16].includes(b[i + 4]) && components >= 1 && components <= 4 &&
          length === 8 + 3 * components;
        return sane ? { format: "JPEG", width: u16be(i + 7), height: u16be(i + 5) } : null;
      }
      if (m === 0xd9 || m === 0xda || length < 2) return null; // no frame header before the scan
      i += 2 + length;
    }
    return null;
  }
  return null;
}

function makeCanvas(w, h) {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(w, h);
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  return c;
}

/** A picture File/Blob -> {canvas, ctx, width, height}: opaque RGB on a canvas; throws BadImage.
 *  The pixels are read from the canvas band by band later (see normalizeFrom), never all at once. */
export async function decode(file, spec) {
  const maxPixels = spec.decode.max_pixels;
  const tooBig = (w, h) => new AbsurdImage(
    `${w.toLocaleString("en")} × ${h.toLocaleString("en")} pixels is over the ` +
    `${maxPixels.toLocaleString("en")}-pixel limit (decompression bomb?)`);
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  const info = sniffSize(head);
  // Refuse absurd pictures from their header, before the browser spends memory decoding them.
  if (info && info.width * info.height > maxPixels) throw tooBig(info.width, info.height);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
  } catch {
    throw new BadImage(info ? `corrupt or truncated ${info.format} picture` : "not a picture this browser can read");
  }
  try {
    const w = bitmap.width;
    const h = bitmap.height;
    if (w * h > maxPixels) throw tooBig(w, h);
    if (w < 1 || h < 1) throw new BadImage("empty picture");
    const canvas = makeCanvas(w, h);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#ffffff"; // alpha composited onto white, as Pillow's alpha_composite in Python
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, 0);
    return { canvas, ctx, width: w, height: h };
  } finally {
    bitmap.close();
  }
}

/** A region reader over a decoded canvas: (top, left, height, width) -> float32 RGB tensor, 0-255
 *  (what tf.browser.fromPixels + cast give, in one pass instead of two copies). */
export function canvasReader(ctx) {
  return (top, left, height, width) => {
    const rgba = ctx.getImageData(left, top, width, height).data;
    const rgb = new Float32Array(width * height * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgb[i] = rgba[j];
      rgb[i + 1] = rgba[j + 1];
      rgb[i + 2] = rgba[j + 2];
    }
    return tf().tensor3d(rgb, [height, width, 3]);
  };
}

/** image[top:top+height, left:left+width] of an [H, W, 3] tensor. Sliced as [H, W*3]: the same
 *  values, but the WASM backend then copies whole rows instead of one pixel at a time (20x faster). */
export function slice2d(image, top, left, height, width) {
  const [h, w] = image.shape;
  const rows = tf().slice(tf().reshape(image, [h, w * 3]), [top, left * 3], [height, width * 3]);
  return tf().reshape(rows, [height, width, 3]);
}

/** A region reader over an RGB [H, W, 3] tensor (Node, tests). */
export function tensorReader(rgb) {
  return (top, left, height, width) => slice2d(rgb, top, left, height, width);
}

// ---------------------------------------------------------------- 2. geometry (TF.js ops)

// Rows are read and average-pooled in bands of about this many pixels: a 48-megapixel photo never
// becomes one 48M x 3 float tensor (0.6 GB). The pooling windows never straddle two bands (bands are
// whole multiples of the window height), so the numbers are exactly those of one big pool.
export const BAND_PIXELS = 1 << 21;

/** box+bilinear resize (train/preprocess.py resize_box_bilinear) of the region (top, left, h, w)
 *  read through `read`, to [height, width]; float32. Call inside tf.tidy. */
export function resizeBoxBilinearFrom(read, top, left, h, w, height, width, bandPixels = BAND_PIXELS) {
  const fy = Math.max(Math.floor(h / height), 1);
  const fx = Math.max(Math.floor(w / width), 1);
  let image;
  if (fy > 1 || fx > 1) {
    // avg_pool2d(ksize=strides=[fy, fx], "VALID"): rows and columns past the last whole window are
    // dropped, so only those are read.
    const rows = Math.floor(h / fy) * fy;
    const cols = Math.floor(w / fx) * fx;
    const band = fy * Math.max(1, Math.floor(bandPixels / (cols * fy)));
    const parts = [];
    for (let r = 0; r < rows; r += band) {
      const n = Math.min(band, rows - r);
      parts.push(tf().tidy(() => tf().avgPool(tf().cast(read(top + r, left, n, cols), "float32"),
        [fy, fx], [fy, fx], "valid")));
    }
    image = parts.length === 1 ? parts[0] : tf().concat(parts, 0);
  } else {
    image = tf().cast(read(top, left, h, w), "float32");
  }
  if (image.shape[0] === height && image.shape[1] === width) return image;
  // tf.image.resize(method="bilinear", antialias=False) = half-pixel centres, no corner alignment.
  return tf().image.resizeBilinear(image, [height, width], false, true);
}

/** Crops view: the size a picture is brought to before crops are taken. */
export function normalizedSize(h, w, spec) {
  let scale = 1.0;
  if (Math.max(h, w) > spec.max_side) scale = spec.max_side / Math.max(h, w);
  if (Math.min(h, w) * scale < spec.input_size) scale = spec.input_size / Math.min(h, w);
  if (scale === 1.0) return [h, w];
  return [Math.max(spec.input_size, pyRound(h * scale)), Math.max(spec.input_size, pyRound(w * scale))];
}

/** normalize() of train/preprocess.py for an h x w picture read through `read` (canvasReader or
 *  tensorReader) -> float32 tensor of whole 0-255 levels the views are cut from. Call inside tf.tidy. */
export function normalizeFrom(read, h, w, spec, bandPixels = BAND_PIXELS) {
  let resized;
  if (spec.view === "whole") {
    const side = Math.min(h, w);
    const top = Math.floor((h - side) / 2);
    const left = Math.floor((w - side) / 2);
    resized = resizeBoxBilinearFrom(read, top, left, side, side, spec.input_size, spec.input_size, bandPixels);
  } else {
    const [nh, nw] = normalizedSize(h, w, spec);
    if (nh === h && nw === w) return tf().cast(read(0, 0, h, w), "float32");
    resized = resizeBoxBilinearFrom(read, 0, 0, h, w, nh, nw, bandPixels);
  }
  return tf().floor(tf().add(tf().clipByValue(resized, 0, 255), 0.5)); // halves up, as in Python
}

/** The model input for one picture: float32 [1, H, W, 3], 0-255 (train/preprocess.py model_input).
 *  Call inside tf.tidy. */
export function modelInputFrom(read, h, w, spec, bandPixels = BAND_PIXELS) {
  return tf().expandDims(normalizeFrom(read, h, w, spec, bandPixels), 0);
}

/** The same from an RGB [H, W, 3] tensor. */
export function modelInput(rgb, spec, bandPixels = BAND_PIXELS) {
  return modelInputFrom(tensorReader(rgb), rgb.shape[0], rgb.shape[1], spec, bandPixels);
}

/** What to show people as "what the model sees" (its input picture), int32 [h, w, 3]. */
export function modelEyeSquare(input) {
  const t = tf();
  return t.cast(t.clipByValue(t.round(t.squeeze(input, [0])), 0, 255), "int32");
}
