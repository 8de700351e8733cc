// The page: header from the run's files, picture input (drop, picker, paste, camera), one card per
// picture, and a small read-only hook (window.renderOrReal) for the browser tests and the benchmark.
import { BACKENDS, BrokenModel, Classifier, NoModel, loadRunInfo, startBackend } from "./classifier.js";
import { BadImage, TOO_SMALL, canvasReader, decode, modelInputFrom } from "./preprocess.js";

const tf = globalThis.tf;
const $ = (id) => document.getElementById(id);
const state = { status: "loading", message: "", backend: null, spec: null, metrics: null, classifier: null,
  results: [], firstPredictionMs: null, backendErrors: [] };
let queue = Promise.resolve(); // pictures are classified one at a time: bounded memory, steady timings

const pct = (p) => `${(100 * p).toFixed(1)}%`;
const ms = (t) => `${t < 10 ? t.toFixed(1) : Math.round(t)} ms`;

function setStatus(status, message, { html = null } = {}) {
  state.status = status;
  state.message = message;
  const el = $("status");
  el.className = `status ${status}`;
  if (html) el.replaceChildren(...html);
  else el.textContent = message;
  el.hidden = status === "ready";
}

function code(text) {
  const c = document.createElement("code");
  c.textContent = text;
  return c;
}

// ------------------------------------------------------------------ header

function showRunInfo(spec, metrics) {
  const m = metrics || {};
  $("info-model").textContent = m.arch ? `${m.arch}${m.run_id ? ` · ${m.run_id}` : ""}` : "(no metrics.json)";
  $("info-classes").textContent = spec.class_names.join(" · ");
  const s = spec.input_size;
  $("info-input").textContent = {
    whole: `${s}×${s}, whole picture`,
    crops: `${s}×${s} crops, ${spec.grid}×${spec.grid} grid`,
    picture: `whole picture, ≤ ${spec.max_side} px`,
  }[spec.view];
  const bytes = m.model && m.model.bytes && m.model.bytes[m.model.served_tfjs || "tfjs"];
  $("info-size").textContent = bytes ? `${Math.round(bytes / 1024).toLocaleString("en")} KB` : "–";
  const acc = m.test && m.test.accuracy;
  $("info-accuracy").textContent = typeof acc === "number" ? `${pct(acc)} (${m.test.n} pictures)` : "–";
  $("info-date").textContent = m.created ? new Date(m.created).toLocaleDateString(undefined,
    { year: "numeric", month: "short", day: "numeric" }) : "–";
  if (m.data && m.data.synthetic) {
    $("info-model").append(" ", Object.assign(document.createElement("span"),
      { className: "badge warn", textContent: "synthetic demo data", title: "Trained on generated pictures" }));
    $("demo-banner").hidden = false;
  }
  const how = {
    whole: `Each picture is centre-cropped to a square and shrunk to ${s}×${s}, exactly as in training.`,
    crops: `Each picture is brought to at most ${spec.max_side} px on its longer side; the model looks at ` +
      `${spec.grid * spec.grid} crops of ${s}×${s} and their answers are averaged, exactly as in training.`,
    picture: `Each picture is brought to at most ${spec.max_side} px on its longer side and the model ` +
      "looks at all of it, exactly as in training.",
  }[spec.view];
  const unsure = typeof spec.unsure_below === "number"
    ? ` When its answer is below ${pct(spec.unsure_below)} it says "unsure" (chosen so that the answers it ` +
      "does give were right at least 97% of the time on pictures it had not been trained on)."
    : "";
  const small = spec.min_side > 1 ? ` Pictures under ${spec.min_side} px on a side are too small to judge.` : "";
  $("how").textContent = how + unsure + small;
}

// ------------------------------------------------------------------ cards

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function newCard(file) {
  const li = el("li", "card pending");
  const article = el("article");
  const id = `card-${state.results.length}`;
  article.setAttribute("aria-labelledby", `${id}-name`);
  const pics = el("div", "pics");
  const thumbFig = el("figure", "thumb");
  thumbFig.append(el("div", "placeholder", "…"), el("figcaption", null, "Picture"));
  const eyeFig = el("figure", "eye");
  eyeFig.append(el("div", "placeholder", "…"), el("figcaption", null, "What the model sees"));
  pics.append(thumbFig, eyeFig);
  const body = el("div", "body");
  const name = el("h3", "name", file.name || "pasted picture");
  name.id = `${id}-name`;
  name.title = file.name || "";
  const verdict = el("p", "verdict", "Waiting…");
  body.append(name, verdict);
  article.append(pics, body);
  li.append(article);
  $("cards").prepend(li);
  $("clear").hidden = false;
  return { li, thumbFig, eyeFig, body, verdict };
}

function drawThumb(card, canvas, width, height) {
  const scale = Math.min(1, 320 / Math.max(width, height));
  const c = el("canvas");
  c.width = Math.max(1, Math.round(width * scale));
  c.height = Math.max(1, Math.round(height * scale));
  const ctx = c.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, 0, 0, c.width, c.height);
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", `${width}×${height} picture`);
  card.thumbFig.querySelector(".placeholder").replaceWith(c);
  card.thumbFig.querySelector("figcaption").textContent = `${width}×${height}`;
}

/** int32 [s, s, 3] tensor (disposed here) -> a canvas showing it. */
async function drawSquare(t) {
  const [h, w] = t.shape;
  const rgb = await t.data();
  t.dispose();
  const c = el("canvas");
  c.width = w;
  c.height = h;
  const image = new ImageData(w, h);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    image.data[j] = rgb[i];
    image.data[j + 1] = rgb[i + 1];
    image.data[j + 2] = rgb[i + 2];
    image.data[j + 3] = 255;
  }
  c.getContext("2d").putImageData(image, 0, 0);
  return c;
}

function showResult(card, r, spec) {
  const unsure = r.verdict !== spec.class_names[r.top];
  card.li.className = unsure ? "card done unsure" : "card done";
  card.verdict.replaceChildren(el("strong", "class", r.verdict), " ",
    el("span", "prob", unsure ? `(${spec.class_names[r.top]} ${pct(r.probs[r.top])})` : pct(r.probs[r.top])));
  const bars = el("ul", "bars");
  spec.class_names.forEach((name, i) => {
    const row = el("li", i === r.top ? "top" : "");
    const track = el("span", "track");
    const fill = el("span", "fill");
    fill.style.width = `${(100 * r.probs[i]).toFixed(2)}%`; // CSSOM, allowed by the CSP
    track.append(fill);
    track.setAttribute("aria-hidden", "true");
    row.append(el("span", "label", name), track, el("span", "value", pct(r.probs[i])));
    bars.append(row);
  });
  const crops = spec.view === "crops" ? ` (the model votes over ${spec.grid}×${spec.grid} crops)` : "";
  const timing = el("p", "timing",
    `${ms(r.predictMs)} on ${state.backend.toUpperCase()}${crops} · decoding ${ms(r.decodeMs)}`);
  timing.title = "Prediction = preprocessing + model; decoding = reading the file";
  card.body.append(bars, timing);
}

function showError(card, message) {
  card.li.className = "card error";
  card.verdict.replaceChildren(el("strong", "class", "Can't use this file"));
  card.body.append(el("p", "error-text", message));
  for (const fig of [card.thumbFig, card.eyeFig]) fig.querySelector(".placeholder").textContent = "✕";
}

function announce(text) {
  const p = el("p", null, text);
  $("announcer").append(p);
  while ($("announcer").childNodes.length > 5) $("announcer").firstChild.remove();
}

async function classifyOne(file, card, record) {
  const c = state.classifier;
  card.verdict.textContent = "Classifying…";
  try {
    const r = await c.classify(file);
    if (r.tooSmall) {
      drawThumb(card, r.canvas, r.width, r.height);
      card.li.className = "card done unsure";
      card.verdict.replaceChildren(el("strong", "class", TOO_SMALL));
      card.body.append(el("p", "error-text", r.tooSmall));
      card.eyeFig.querySelector(".placeholder").textContent = "–";
      Object.assign(record, { status: "done", verdict: TOO_SMALL, width: r.width, height: r.height });
      announce(`${record.name}: ${TOO_SMALL}`);
      return;
    }
    const eye = await drawSquare(r.eye); // disposes the tensor first thing
    drawThumb(card, r.canvas, r.width, r.height);
    eye.setAttribute("role", "img");
    eye.setAttribute("aria-label", `the ${eye.width}×${eye.height} picture given to the model`);
    card.eyeFig.querySelector(".placeholder").replaceWith(eye);
    if (c.n > 1) card.eyeFig.querySelector("figcaption").textContent = `Model input: crop ${Math.floor(c.n / 2) + 1} of ${c.n}`;
    showResult(card, r, c.spec);
    Object.assign(record, { status: "done", probs: Array.from(r.probs), top: c.spec.class_names[r.top],
      verdict: r.verdict, decodeMs: r.decodeMs, predictMs: r.predictMs, width: r.width, height: r.height });
    announce(`${record.name}: ${r.verdict}, ${pct(r.probs[r.top])}`);
  } catch (e) {
    const message = e instanceof BadImage ? e.message : `could not classify this picture (${e.message || e})`;
    if (!(e instanceof BadImage)) console.error(e);
    showError(card, message);
    Object.assign(record, { status: "error", error: message });
    announce(`${record.name}: error, ${message}`);
  }
}

function addFiles(files) {
  if (!files.length) return;
  if (state.status !== "ready") {
    announce(state.status === "loading" ? "The model is still loading; try again in a moment." : state.message);
    return;
  }
  for (const file of files) {
    const record = { name: file.name || "pasted picture", status: "pending" };
    state.results.push(record);
    const card = newCard(file);
    queue = queue.then(() => classifyOne(file, card, record));
  }
}

// ------------------------------------------------------------------ input: picker, camera, drop, paste

function wireInputs() {
  $("pick").addEventListener("click", () => $("files").click());
  $("camera").addEventListener("click", () => $("capture").click());
  for (const id of ["files", "capture"]) {
    $(id).addEventListener("change", (e) => {
      addFiles([...e.target.files]);
      e.target.value = ""; // choosing the same file again fires change again
    });
  }
  $("clear").addEventListener("click", () => {
    $("cards").replaceChildren();
    $("clear").hidden = true;
    $("pick").focus();
  });
  const drop = $("drop");
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.classList.add("over"); });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.classList.remove("over"); } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove("over");
    addFiles([...(e.dataTransfer ? e.dataTransfer.files : [])]);
  });
  document.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) {
      e.preventDefault();
      addFiles(files);
    }
  });
}

// ------------------------------------------------------------------ start-up

function registerServiceWorker() {
  // Caches the page, runtime and model so the page works offline after the first visit (sw.js).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("sw.js").catch((e) => console.warn("service worker not registered", e));
  }
}

async function start() {
  if (!tf || !tf.loadGraphModel) {
    setStatus("broken", "", { html: ["The TF.js runtime is missing (vendor/). Build it with ",
      code("npm --prefix static_site ci && npm --prefix static_site run build"), ", then reload."] });
    return;
  }
  tf.enableProdMode(); // no per-op NaN checks: they would cost time on every prediction
  let info;
  try {
    info = await loadRunInfo();
  } catch (e) {
    if (e instanceof NoModel) {
      setStatus("no-model", "", { html: ["No model yet — run ", code("python -m train"), ", then reload."] });
    } else {
      setStatus("broken", "", { html: [`The model in model/ is broken: ${e.message}. Train a new one with `,
        code("python -m train"), ", then reload."] });
    }
    $("info-model").textContent = "none";
    console.warn(e);
    return;
  }
  const { spec, metrics } = info;
  Object.assign(state, { spec, metrics });
  showRunInfo(spec, metrics);

  const broken = (message) => setStatus("broken", "", { html: [`The model could not run: ${message}. ` +
    "Train a new one with ", code("python -m train"), ", then reload."] });
  const wanted = new URLSearchParams(location.search).get("backend"); // ?backend=webgl (benchmarks)
  let candidates = wanted ? [wanted] : BACKENDS;
  while (!state.classifier) {
    try {
      setStatus("loading", "Starting TensorFlow.js…");
      state.backend = await startBackend(candidates);
      $("info-backend").textContent = state.backend.toUpperCase();
      setStatus("loading", `Loading the model on ${state.backend.toUpperCase()}…`);
      state.classifier = await Classifier.load(info, state.backend);
      state.firstPredictionMs = performance.now(); // the warm-up prediction is done
    } catch (e) {
      console.warn(e);
      if (e instanceof BrokenModel || !state.backend) return broken(e.message);
      // The backend started but cannot run this model: fall back to the next one.
      state.backendErrors.push(`${state.backend}: ${e.message}`);
      candidates = candidates.slice(candidates.indexOf(state.backend) + 1);
      if (!candidates.length) return broken(state.backendErrors.join("; "));
      state.backend = null;
    }
  }
  $("info-backend").textContent = state.backend.toUpperCase();
  $("info-backend").title = `TF.js ${tf.version_core}; preference ${BACKENDS.join(" > ")}`;
  for (const id of ["pick", "camera"]) $(id).disabled = false;
  setStatus("ready", "Ready.");
  announce(`Model ready on ${state.backend.toUpperCase()}. Choose pictures to classify.`);
}

// Read-only hook for tests and benchmarks: copies of the state, never references into it.
window.renderOrReal = Object.freeze({
  get status() { return state.status; },
  get message() { return state.message; },
  get backend() { return state.backend; },
  get spec() { return state.spec && structuredClone(state.spec); },
  get firstPredictionMs() { return state.firstPredictionMs; },
  results: () => structuredClone(state.results),
  memory: () => (tf ? { ...tf.memory() } : null),
  idle: () => queue.then(() => true),
  timeModel: (runs) => state.classifier.timeModel(runs),
  // The model input for a file, as the page makes it (for preprocessing parity checks).
  modelInput: async (file) => {
    const { ctx, width, height } = await decode(file, state.spec);
    const x = tf.tidy(() => modelInputFrom(canvasReader(ctx), height, width, state.spec));
    const data = await x.data();
    const out = { shape: x.shape, data: Array.from(data) };
    x.dispose();
    return out;
  },
});

registerServiceWorker();
wireInputs();
start();
