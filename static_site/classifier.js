// The model side of the page: choose a TF.js backend, load the run's files from model/, classify.
// Everything about the model (classes, input size, view, grid) is read from model/*.json.
//
// The backend is chosen by measurement on this device: on a first visit each available backend loads
// the model, answers the self-check (model/probes.json: generated pictures and what model.keras gave for
// them) and times a prediction; the fastest that passes is kept and remembered (localStorage, per model
// and runtime), so later visits start it directly, still checked. Backends differ (WebGL's half floats,
// a driver's bug): one whose answers are off model.keras by more than the bundle's tolerance is dropped.
import { canvasReader, checkSpec, decide, decode, modelEyeSquare, modelInputFrom, tooSmall } from "./preprocess.js";

const tf = () => globalThis.tf;
export const BACKENDS = ["wasm", "webgpu", "webgl", "cpu"]; // tried in this order; CPU only when no other passes
const MEASURE_BUDGET_MS = 8000; // a first visit starts no further backend once measuring took this long
const TIMED_RUNS = 3; // predictions timed per backend on a first visit (median)
const CHOICE_KEY = "render-or-real:backend"; // localStorage: the measured choice
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

/** Point the WASM backend at vendor/ (this origin only; the CSP forbids anything else). Where the page
 *  is cross-origin isolated (sw.js adds COOP/COEP), TF.js takes its threaded build; `threads` (null: one
 *  per core) sets how many. */
function configureWasm(threads) {
  if (tf().wasm && tf().wasm.setWasmPaths) {
    tf().wasm.setWasmPaths(new URL("vendor/", document.baseURI).href);
    if (threads) tf().wasm.setThreadsCount(threads);
  }
}

/** Threads the WASM backend runs with (1 without cross-origin isolation), or null before it started. */
export function wasmThreads() {
  try {
    return tf().wasm.getThreadsCount();
  } catch {
    return null;
  }
}

const SOFTWARE_GPU = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** What this device has for a backend, asked before its scripts are fetched: "none", "software" (a GPU
 *  emulated on the processor, e.g. SwiftShader: slower than WASM, and its shaders take a minute to
 *  compile for lite0, measured) or "yes". */
async function hardware(name) {
  if (name === "webgpu") {
    const adapter = navigator.gpu && (await navigator.gpu.requestAdapter().catch(() => null));
    if (!adapter) return "none";
    const info = adapter.info || {};
    return info.isFallbackAdapter || adapter.isFallbackAdapter || SOFTWARE_GPU.test(`${info.architecture} ${info.description}`)
      ? "software" : "yes";
  }
  if (name === "webgl") {
    const gl = document.createElement("canvas").getContext("webgl2") || document.createElement("canvas").getContext("webgl");
    if (!gl) return "none";
    const debug = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    gl.getExtension("WEBGL_lose_context")?.loseContext(); // browsers allow only a few contexts at once
    return SOFTWARE_GPU.test(renderer) ? "software" : "yes";
  }
  return "yes";
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

/** Switch to backend `name` (fetching its scripts first when the page does not carry them); throws
 *  when it cannot start here. */
async function startBackend(name) {
  await loadBackendScripts(name);
  if (!tf().findBackendFactory(name) || !(await tf().setBackend(name))) throw new Error("did not start");
  await tf().ready();
}

/** model/probes.json (train/export.py write_probes), or null for a run made before it existed. */
export async function loadProbes() {
  const probes = await fetchJSON("probes.json", { required: false });
  if (probes && !(Array.isArray(probes.probes) && typeof probes.tolerance === "number")) {
    throw new BrokenModel(`${MODEL_DIR}probes.json has no probes or no tolerance`);
  }
  return probes;
}

/** model/reference.json (train/export.py reference_set), or null for a run made before it existed. */
export async function loadReference() {
  return fetchJSON("reference.json", { required: false });
}

function remembered(key) {
  try {
    const choice = JSON.parse(localStorage.getItem(CHOICE_KEY));
    return choice && choice.key === key && BACKENDS.includes(choice.backend) ? choice.backend : null;
  } catch {
    return null; // storage off (a private window) or unreadable: measure again
  }
}

function remember(key, backend, tried) {
  try {
    localStorage.setItem(CHOICE_KEY, JSON.stringify({ key, backend, tried, at: new Date().toISOString() }));
  } catch {
    // storage off: the next visit measures again
  }
}

/** One backend tried: started, the model loaded and warmed up, the self-check, a timing. -> {backend,
 *  classifier (null when it failed), ms, check: {maxDiff, tolerance, passed} or null, error}. A model that
 *  cannot load on any backend (BrokenModel) is thrown. */
async function tryBackend(name, info, probes, { timed, software }) {
  const row = { backend: name, classifier: null, ms: null, check: null, error: null };
  const has = await hardware(name);
  if (has === "none" || (has === "software" && !software)) {
    row.error = has === "none" ? "not available on this device" : "a software GPU here: not measured";
    return row;
  }
  try {
    await startBackend(name);
    const c = await Classifier.load(info, name);
    try {
      row.check = probes ? await c.selfCheck(probes) : null;
      if (timed) row.ms = (await c.timeModel(TIMED_RUNS, 1)).msPerPicture;
    } catch (e) {
      c.dispose();
      throw e;
    }
    row.classifier = c;
  } catch (e) {
    if (e instanceof BrokenModel) throw e;
    console.warn(`backend ${name} failed`, e);
    row.error = e.message || String(e);
  }
  return row;
}

const passes = (row) => row.classifier && (!row.check || row.check.passed);

/** The backend the page runs and its classifier: `wanted` alone when given (?backend=, benchmarks); else
 *  the one remembered for `key` (model and runtime) if it still passes the self-check; else each
 *  backend measured (BACKENDS order, within MEASURE_BUDGET_MS; software GPUs and CPU only when none
 *  passed) and the fastest that passes kept and remembered. When none passes, the closest runs and `check` says so.
 *  -> {classifier, backend, how: "asked" | "remembered" | "measured", tried: [{backend, ms, check, error}]}.
 *  `onTry(name)` is told each backend as it is tried. Throws BrokenModel, or Error when none can run. */
export async function chooseBackend(info, { key, wanted = null, threads = null, onTry = () => {} }) {
  configureWasm(threads);
  const probes = await loadProbes();
  const before = wanted ? null : remembered(key);
  const how = wanted ? "asked" : before ? "remembered" : "measured";
  const order = wanted ? [wanted] : before ? [before, ...BACKENDS.filter((b) => b !== before)] : BACKENDS;
  const rows = [];
  const t0 = performance.now();
  for (const name of order) {
    const passed = rows.some(passes);
    if (passed && (how !== "measured" || name === "cpu" || performance.now() - t0 > MEASURE_BUDGET_MS)) break;
    onTry(name);
    // A software GPU is measured only while no backend passed (correct answers first), or when asked.
    const row = await tryBackend(name, info, probes, { timed: how === "measured", software: !passed || how === "asked" });
    rows.push(row);
  }
  const ran = rows.filter((r) => r.classifier);
  if (!ran.length) throw new Error(`no TF.js backend could run the model (${rows.map((r) => `${r.backend}: ${r.error}`).join("; ")})`);
  const pool = ran.some(passes) ? ran.filter(passes) : ran;
  const best = how === "measured" ? pool.reduce((a, b) => (b.ms < a.ms ? b : a)) : pool[0];
  for (const r of ran) if (r !== best) r.classifier.dispose();
  await tf().setBackend(best.backend);
  if (how !== "asked" && passes(best)) remember(key, best.backend, rows.map(({ classifier, ...r }) => r));
  return { classifier: best.classifier, backend: best.backend, how, tried: rows.map(({ classifier, ...r }) => r) };
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

  dispose() {
    this.model.dispose();
  }

  /** The self-check: the probes (model/probes.json) through the model on this backend against what
   *  model.keras gave. -> {maxDiff, tolerance, passed} (a NaN answer fails). */
  async selfCheck(probes) {
    let maxDiff = 0;
    for (const probe of probes.probes) {
      const pixels = Float32Array.from(atob(probe.pixels), (c) => c.charCodeAt(0));
      const out = tf().tidy(() => this.run(tf().tensor4d(pixels, probe.shape)).probs);
      const got = await out.data();
      out.dispose();
      probe.probabilities.forEach((p, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(got[i] - p)); // NaN stays NaN, and fails
      });
    }
    return { maxDiff, tolerance: probes.tolerance, passed: maxDiff <= probes.tolerance };
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

  /** Model time alone: median ms per picture over `runs` predictions after `warm` more. */
  async timeModel(runs = 20, warm = 2) {
    const shape = inputShape(this.spec);
    const noise = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => Math.random() * 255);
    const x = tf().tensor4d(noise, shape);
    const times = [];
    try {
      for (let i = 0; i < runs + warm; i++) {
        const t0 = performance.now();
        const out = tf().tidy(() => this.run(x).probs);
        await out.data();
        out.dispose();
        if (i >= warm) times.push(performance.now() - t0);
      }
    } finally {
      x.dispose();
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    return { backend: this.backend, shape, msPerPicture: median, runs };
  }
}
