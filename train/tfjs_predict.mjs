// Run a TF.js graph model from disk in Node, with the very runtime packages the page is built from.
//
//   node train/tfjs_predict.mjs MODEL_DIR INPUT.f32 OUTPUT.f32 --shape N,H,W,3 --node-modules DIR
//        [--backend wasm|cpu] [--batch 64] [--output probabilities|features]
//
// INPUT.f32 is raw float32 little-endian [N, H, W, 3]; OUTPUT.f32 gets raw float32 [N, C] (or [N, D] of
// the "features" output, train/model.py exported_model). DIR is the
// node_modules folder holding @tensorflow/* (train/tfjs_node.py passes the page's). One JSON line on
// stdout reports the backend and timings. Run through train/tfjs_node.py by training, tests and benchmarks.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

function usage(message) {
  console.error(`tfjs-predict: ${message}\nusage: node tfjs-predict.mjs MODEL_DIR INPUT.f32 OUTPUT.f32 ` +
    "--shape N,H,W,3 [--backend wasm|cpu] [--batch 64]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { backend: "wasm", batch: 64, positional: [], nodeModules: null, output: "probabilities" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--backend") opts.backend = argv[++i];
    else if (a === "--shape") opts.shape = argv[++i].split(",").map(Number);
    else if (a === "--batch") opts.batch = Number(argv[++i]);
    else if (a === "--node-modules") opts.nodeModules = argv[++i];
    else if (a === "--output") opts.output = argv[++i];
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  if (opts.positional.length !== 3) usage("expected MODEL_DIR INPUT OUTPUT");
  if (!opts.shape || opts.shape.length !== 4 || opts.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    usage("--shape N,H,W,C is required");
  }
  if (!["wasm", "cpu"].includes(opts.backend)) usage(`--backend ${opts.backend}: wasm or cpu`);
  if (!opts.nodeModules) usage("--node-modules DIR is required");
  return opts;
}

// An IOHandler reading model.json and its weight shards from a folder (tfjs-node is not used: its
// native binary is a separate download).
function fileHandler(dir) {
  return {
    load: async () => {
      const modelJSON = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        const buffers = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) buffers.push(readFileSync(join(dir, p)));
        }
        const all = Buffer.concat(buffers);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      });
    },
  };
}

const opts = parseArgs(process.argv.slice(2));
// The packages are loaded from the given node_modules (their CommonJS builds), not from this file's place.
const load = createRequire(join(opts.nodeModules, "..", "package.json"));
const tf = load("@tensorflow/tfjs-core");
load("@tensorflow/tfjs-backend-cpu");
load("@tensorflow/tfjs-backend-wasm");
const { loadGraphModel } = load("@tensorflow/tfjs-converter");

async function main() {
  const [modelDir, inputPath, outputPath] = opts.positional;
  const t0 = performance.now();
  if (!(await tf.setBackend(opts.backend))) throw new Error(`backend ${opts.backend} failed to start`);
  await tf.ready();
  const model = await loadGraphModel(fileHandler(modelDir));
  const tLoaded = performance.now();

  const raw = readFileSync(inputPath);
  const [n, h, w, c] = opts.shape;
  if (raw.byteLength !== n * h * w * c * 4) {
    throw new Error(`${inputPath}: ${raw.byteLength} bytes, expected ${n * h * w * c * 4} for shape ${opts.shape}`);
  }
  // Copy into an aligned Float32Array (a Buffer may start at any offset); little-endian like x86/ARM.
  const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const chunks = [];
  let classes = 0;
  const per = h * w * c;
  for (let start = 0; start < n; start += opts.batch) {
    const m = Math.min(opts.batch, n - start);
    const out = tf.tidy(() => {
      const x = tf.tensor4d(input.subarray(start * per, (start + m) * per), [m, h, w, c], "float32");
      const y = model.predict(x);
      // A model with several outputs gives them in the order of model.outputNodes (signature names).
      return Array.isArray(y) ? y[model.outputNodes.indexOf(opts.output)] : y;
    });
    classes = out.shape[1];
    chunks.push(await out.data());
    out.dispose();
  }
  const result = new Float32Array(n * classes);
  let offset = 0;
  for (const ch of chunks) {
    result.set(ch, offset);
    offset += ch.length;
  }
  writeFileSync(outputPath, Buffer.from(result.buffer));
  const tDone = performance.now();
  model.dispose();
  console.log(JSON.stringify({
    backend: tf.getBackend(), n, classes, load_ms: +(tLoaded - t0).toFixed(1),
    predict_ms: +(tDone - tLoaded).toFixed(1), tensors_left: tf.memory().numTensors,
  }));
}

main().catch((e) => {
  console.error(`tfjs-predict: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
