// The model side of the page: pick a TF.js backend, load the run's files from model/, classify.
// Everything about the model (classes, input size, view, grid) is read from model/*.json.
import { canvasReader, checkSpec, decide, decode, modelEyeSquare, modelInputFrom, tooSmall } from "./preprocess.js";

const tf = () => globalThis.tf;
export const BACKENDS = ["wasm", "webgl", "cpu"]; // preference order: WASM is fastest here
const MODEL_DIR = "model/";

export class NoModel extends Error {} // model/ absent: nothing trained yet
export class BrokenModel extends Error {} // model/ present but unusable

/** The shape of one picture's model input for a spec: [1, h, w, 3]. The "crops" and "picture" views
 *  take any size: a typical 3:2 picture at max_side stands in (warm-up, timing). */
function inputShape(spec) {
  if (spec.view === "whole") return [1, spec.input_size, spec.input_size, 3];
  return [1, Math.max(spec.input_size, Math.round((spec.max_side * 2) / 3)), spec.max_side, 3];
}

async function fetchJSON(name, { required = true } = {}) {
  let response;
  try {
    // "reload": always the deployed copy. These files are small, and revalidation alone is not safe:
    // a model copied with its old modification time (cp -p, a rollback) would look "not modified".
    response = await fetch(MODEL_DIR + name, { cache: "reload" });
  } catch (e) {
    throw new NoModel(`cannot fetch ${MODEL_DIR}${name} (${e.message}); offline before the first visit?`);
  }
  if (response.status === 404) {
    if (!required) return null;
    throw new NoModel(`${MODEL_DIR}${name} not found`);
  }
  if (!response.ok) throw new BrokenModel(`${MODEL_DIR}${name}: HTTP ${response.status}`);
  try {
    return await response.json();
  } catch (e) {
    throw new BrokenModel(`${MODEL_DIR}${name} is not valid JSON (${e.message})`);
  }
}

/** The run that made model/, as a cache key: "run_id@created" (sw.js computes the same). */
export function modelVersion(metrics) {
  return metrics && metrics.run_id ? `${metrics.run_id}@${metrics.created}` : null;
}

/** The run's spec and report, and where its graph model is: {spec, metrics, modelUrl, cacheMode}.
 *  Throws NoModel (nothing deployed) or BrokenModel. */
export async function loadRunInfo() {
  const [spec, metrics] = await Promise.all([
    fetchJSON("preprocessing.json"), fetchJSON("metrics.json", { required: false }),
  ]);
  try {
    checkSpec(spec);
  } catch (e) {
    throw new BrokenModel(`${MODEL_DIR}preprocessing.json: ${e.message}`);
  }
  // model.json and its shards (same names in every run) get the run in their URL, so the HTTP cache
  // can keep them without asking again, and a new run is never served from an old copy. TF.js passes
  // the query on to the weight files. Without metrics.json there is no run id: always reload.
  const version = modelVersion(metrics);
  const modelUrl = `${MODEL_DIR}model.json${version ? `?v=${encodeURIComponent(version)}` : ""}`;
  return { spec, metrics, modelUrl, cacheMode: version ? "default" : "reload" };
}

/** Point the WASM backend at vendor/ (this origin only; the CSP forbids anything else). */
function configureWasm() {
  if (tf().wasm && tf().wasm.setWasmPaths) {
    tf().wasm.setWasmPaths(new URL("vendor/", document.baseURI).href);
  }
}

let runtimeInfo = null;

/** Add the scripts of a backend the page does not load up front (vendor/runtime.json "lazy"). */
async function loadBackendScripts(name) {
  if (tf().findBackendFactory(name)) return;
  runtimeInfo ||= fetch("vendor/runtime.json").then((r) => (r.ok ? r.json() : {}));
  for (const file of ((await runtimeInfo).lazy || {})[name] || []) {
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `vendor/${file}`;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`vendor/${file} could not be loaded`));
      document.head.append(script);
    });
  }
}

/** Switch to the first backend of `order` that starts (fetching its scripts first when the page
 *  does not carry them); returns its name or throws. */
export async function startBackend(order) {
  configureWasm();
  const failed = [];
  for (const name of order) {
    try {
      await loadBackendScripts(name);
      if (tf().findBackendFactory(name) && (await tf().setBackend(name))) {
        await tf().ready();
        return name;
      }
    } catch (e) {
      console.warn(`backend ${name} failed`, e);
    }
    failed.push(name);
  }
  throw new Error(`no TF.js backend could start (tried ${failed.join(", ")})`);
}

export class Classifier {
  constructor(model, spec, backend) {
    this.model = model;
    this.spec = spec;
    this.backend = backend;
    // Exported runs name their outputs (train/model.py exported_model): probabilities, features (for
    // learning from corrections), regions and region_boxes (the vote map). Only the outputs asked for are
    // computed (execute on their graph nodes). Older runs have one unnamed output, the probabilities.
    const sig = (model.modelSignature && model.modelSignature.outputs) || {};
    this.nodes = Object.fromEntries(Object.entries(sig).map(([key, t]) => [key, t.name.split(":")[0]]));
    this.hasFeatures = "features" in this.nodes && "probabilities" in this.nodes;
    this.hasRegions = "regions" in this.nodes && "region_boxes" in this.nodes;
  }

  /** The model on x -> {probs, features} tensors ([N, C], [N, D] or null). Call inside tf.tidy. */
  run(x) {
    if (!this.hasFeatures) {
      const out = this.model.predict(x);
      return { probs: Array.isArray(out) ? out[0] : out, features: null };
    }
    const [probs, features] = this.model.execute(x, [this.nodes.probabilities, this.nodes.features]);
    return { probs, features };
  }

  /** The vote map of one picture: {regions: [[p per class], ...], boxes: [[top, left, height, width],
   *  ...] in the model input's pixels, width, height of that input}; null for a model without it. */
  async regions(file) {
    if (!this.hasRegions) return null;
    const { ctx, width, height } = await decode(file, this.spec);
    const [r, b, shape] = tf().tidy(() => {
      const x = modelInputFrom(canvasReader(ctx), height, width, this.spec);
      const [regions, boxes] = this.model.execute(x, [this.nodes.regions, this.nodes.region_boxes]);
      return [tf().squeeze(regions, [0]), tf().squeeze(boxes, [0]), x.shape];
    });
    try {
      return { regions: await r.array(), boxes: await b.array(), height: shape[1], width: shape[2] };
    } finally {
      tf().dispose([r, b]);
    }
  }

  /** Load model/model.json on the current backend and run a warm-up prediction (compiles kernels). */
  static async load({ spec, modelUrl, cacheMode }, backend) {
    let model;
    try {
      model = await tf().loadGraphModel(modelUrl, { requestInit: { cache: cacheMode } });
    } catch (e) {
      throw new BrokenModel(`${MODEL_DIR}model.json could not be loaded (${e.message})`);
    }
    const c = new Classifier(model, spec, backend);
    const shape = model.inputs[0].shape || [];
    const s = spec.input_size;
    const anySize = spec.view !== "whole";
    const fits = anySize
      ? shape.length === 4 && shape[3] === 3 && !(shape[1] > 0) && !(shape[2] > 0)
      : shape.length === 4 && shape[1] === s && shape[2] === s && shape[3] === 3;
    if (!fits) {
      model.dispose();
      const wanted = anySize ? "pictures of any size" : `${s}×${s}×3`;
      throw new BrokenModel(`the model takes ${JSON.stringify(shape)}, but preprocessing.json says ${wanted}`);
    }
    try {
      await c.warmUp();
    } catch (e) {
      model.dispose();
      throw e;
    }
    return c;
  }

  async warmUp() {
    const out = tf().tidy(() => this.run(tf().zeros(inputShape(this.spec))).probs);
    const probs = await out.data();
    out.dispose();
    const classes = this.spec.class_names.length;
    if (probs.length !== classes) {
      throw new BrokenModel(`the model gives ${probs.length} outputs, preprocessing.json names ${classes} classes`);
    }
  }

  /** One picture: decode (throws BadImage), the shared preprocessing, the model, the decision (and the
   *  embedding, `features`, Float32Array or null, for learning from corrections). -> {probs: Float32Array, top, verdict, eye: int32 tensor the caller must dispose,
   *  decodeMs, predictMs, canvas}; or {tooSmall: message, canvas, width, height} (no model run). */
  async classify(file) {
    const t0 = performance.now();
    const { ctx, canvas, width, height } = await decode(file, this.spec);
    const t1 = performance.now();
    const small = tooSmall(height, width, this.spec);
    if (small) return { tooSmall: small, canvas, width, height };
    const { probs, features, eye } = tf().tidy(() => {
      const x = modelInputFrom(canvasReader(ctx), height, width, this.spec);
      const y = this.run(x);
      return { probs: tf().squeeze(y.probs, [0]), features: y.features ? tf().squeeze(y.features, [0]) : null,
        eye: modelEyeSquare(x) };
    });
    let p;
    let f = null;
    try {
      p = await probs.data();
      if (features) f = await features.data();
    } catch (e) {
      eye.dispose();
      throw e;
    } finally {
      probs.dispose();
      if (features) features.dispose();
    }
    const t2 = performance.now();
    const { top, verdict } = decide(p, this.spec);
    return { probs: p, features: f, top, verdict, eye, canvas, width, height, decodeMs: t1 - t0, predictMs: t2 - t1 };
  }

  /** Model time alone: median ms per picture over `runs` predictions. */
  async timeModel(runs = 20) {
    const shape = inputShape(this.spec);
    const noise = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => Math.random() * 255);
    const x = tf().tensor4d(noise, shape);
    const times = [];
    try {
      for (let i = 0; i < runs + 2; i++) {
        const t0 = performance.now();
        const out = tf().tidy(() => this.run(x).probs);
        await out.data();
        out.dispose();
        if (i >= 2) times.push(performance.now() - t0); // the first two are extra warm-up
      }
    } finally {
      x.dispose();
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    return { backend: this.backend, shape, msPerPicture: median, runs };
  }
}
