// The page's geometry (static_site/preprocess.js) run in Node, for the Python parity tests:
//
//   node tests/tfjs_model_input.mjs SPEC.json INPUT.u8 OUTPUT.f32 --shape H,W --site DIR [--backend wasm|cpu]
//        [--band-pixels N]
//
// INPUT.u8 is raw uint8 RGB [H, W, 3] (a decoded picture); OUTPUT.f32 gets raw float32 little-endian
// [1, H', W', 3] (the model's input). Decoding itself needs a browser (tests/test_static_site.py covers it).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const [v] = args.splice(i, 2).slice(1);
  return v;
};
const site = opt("--site", null); // the static site: its preprocess.js and its node_modules' TF.js
if (!site) {
  console.error("tfjs_model_input: --site DIR is required");
  process.exit(2);
}
const load = createRequire(join(site, "package.json"));
const tf = load("@tensorflow/tfjs-core");
load("@tensorflow/tfjs-backend-cpu");
load("@tensorflow/tfjs-backend-wasm");
globalThis.tf = tf; // preprocess.js uses the global runtime, as in the browser
const { BAND_PIXELS, checkSpec, modelInput } = await import(pathToFileURL(join(site, "preprocess.js")).href);
const backend = opt("--backend", "wasm");
const bandPixels = Number(opt("--band-pixels", String(BAND_PIXELS))); // small values: many bands
const shape = opt("--shape", "").split(",").map(Number);
if (args.length !== 3 || shape.length !== 2) {
  console.error("usage: node tfjs_model_input.mjs SPEC.json INPUT.u8 OUTPUT.f32 --shape H,W --site DIR");
  process.exit(2);
}
const [specPath, inputPath, outputPath] = args;
await tf.setBackend(backend);
await tf.ready();
const spec = checkSpec(JSON.parse(readFileSync(specPath, "utf8")));
const raw = readFileSync(inputPath);
const [h, w] = shape;
const out = tf.tidy(() => modelInput(tf.tensor3d(Int32Array.from(raw), [h, w, 3], "int32"), spec, bandPixels));
const data = await out.data();
writeFileSync(outputPath, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
console.log(JSON.stringify({ backend: tf.getBackend(), shape: out.shape }));
