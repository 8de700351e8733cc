// The page: header from the run's files, picture input (drop files or folders, pickers, paste, camera),
// a card per picture (the first CARD_LIMIT), a results table (sortable, CSV download, cancel), and a small
// read-only hook (window.renderOrReal) for the browser tests and the benchmark.
import { BACKENDS, BrokenModel, Classifier, NoModel, loadRunInfo, startBackend } from "./classifier.js";
import { BadImage, TOO_SMALL, canvasReader, decode, modelInputFrom } from "./preprocess.js";

const tf = globalThis.tf;
const $ = (id) => document.getElementById(id);
const state = { status: "loading", message: "", backend: null, spec: null, metrics: null, classifier: null,
  results: [], skippedFiles: 0, firstPredictionMs: null, backendErrors: [] };
let queue = Promise.resolve(); // pictures are classified one at a time: bounded memory, steady timings
// Cards hold two canvases each: past this many pictures, results go to the table only (memory stays
// bounded for a folder of thousands).
const CARD_LIMIT = 60;

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
  if (record.status === "cancelled") return;
  const c = state.classifier;
  if (card) card.verdict.textContent = "Classifying…";
  try {
    const r = await c.classify(file);
    if (r.tooSmall) {
      if (card) {
        drawThumb(card, r.canvas, r.width, r.height);
        card.li.className = "card done unsure";
        card.verdict.replaceChildren(el("strong", "class", TOO_SMALL));
        card.body.append(el("p", "error-text", r.tooSmall));
        card.eyeFig.querySelector(".placeholder").textContent = "–";
      }
      Object.assign(record, { status: "done", verdict: TOO_SMALL, width: r.width, height: r.height });
      announce(`${record.name}: ${TOO_SMALL}`);
      return;
    }
    if (card) {
      const eye = await drawSquare(r.eye); // disposes the tensor first thing
      drawThumb(card, r.canvas, r.width, r.height);
      eye.setAttribute("role", "img");
      eye.setAttribute("aria-label", `the ${eye.width}×${eye.height} picture given to the model`);
      card.eyeFig.querySelector(".placeholder").replaceWith(eye);
      showResult(card, r, c.spec);
    } else {
      r.eye.dispose();
    }
    Object.assign(record, { status: "done", probs: Array.from(r.probs), top: c.spec.class_names[r.top],
      verdict: r.verdict, decodeMs: r.decodeMs, predictMs: r.predictMs, width: r.width, height: r.height });
    announce(`${record.name}: ${r.verdict}, ${pct(r.probs[r.top])}`);
  } catch (e) {
    const message = e instanceof BadImage ? e.message : `could not classify this picture (${e.message || e})`;
    if (!(e instanceof BadImage)) console.error(e);
    if (card) showError(card, message);
    Object.assign(record, { status: "error", error: message });
    announce(`${record.name}: error, ${message}`);
  } finally {
    renderRow(record);
    renderSummary();
  }
}

function addFiles(files, { skipped = 0 } = {}) {
  if (skipped) {
    state.skippedFiles += skipped;
    announce(`${skipped} file${skipped === 1 ? "" : "s"} that are not pictures skipped.`);
    renderSummary();
  }
  if (!files.length) return;
  if (state.status !== "ready") {
    announce(state.status === "loading" ? "The model is still loading; try again in a moment." : state.message);
    return;
  }
  for (const file of files) {
    const record = { index: state.results.length, name: file.name || "pasted picture",
      path: file.relativePath || file.webkitRelativePath || file.name || "pasted picture", status: "pending" };
    state.results.push(record);
    const card = state.results.length <= CARD_LIMIT ? newCard(file) : null;
    addRow(record);
    queue = queue.then(() => classifyOne(file, card, record));
  }
  $("cards-note").hidden = state.results.length <= CARD_LIMIT;
  $("cards-note").textContent = `Pictures are shown for the first ${CARD_LIMIT}; the table has every result.`;
  renderSummary();
}

// ------------------------------------------------------------------ results table, cancel, CSV

const COLUMNS = () => [
  { key: "path", title: "File", value: (r) => r.path },
  { key: "verdict", title: "Verdict", value: (r) => r.verdict || (r.status === "error" ? "error" : r.status) },
  ...state.spec.class_names.map((name, i) => ({ key: `p_${name}`, title: `P(${name})`, numeric: true,
    value: (r) => (r.probs ? r.probs[i] : null) })),
  { key: "error", title: "Problem", value: (r) => r.error || "" },
];
const sort = { key: null, descending: false };

function cellText(col, r) {
  const v = col.value(r);
  return col.numeric ? (typeof v === "number" ? pct(v) : "–") : v;
}

function addRow(record) {
  if (!$("table-head").childElementCount) {
    for (const col of COLUMNS()) {
      const th = el("th");
      th.scope = "col";
      th.dataset.key = col.key;
      const b = el("button", "sort", col.title);
      b.type = "button";
      b.addEventListener("click", () => sortBy(col.key));
      th.append(b);
      $("table-head").append(th);
    }
  }
  const tr = el("tr");
  tr.dataset.index = String(record.index);
  rows.set(record.index, tr);
  $("table-body").append(tr);
  $("results").hidden = false;
  renderRow(record);
}

const rows = new Map(); // record index -> its <tr>

function renderRow(record) {
  const tr = rows.get(record.index);
  if (!tr) return;
  const unsure = record.status === "done" && record.verdict !== record.top;
  tr.className = `${record.status}${unsure ? " unsure" : ""}`;
  tr.replaceChildren(...COLUMNS().map((col) => el(col.key === "path" ? "th" : "td", col.numeric ? "num" : null,
    cellText(col, record))));
  tr.firstChild.scope = "row";
}

function renderSummary() {
  const count = (f) => state.results.filter(f).length;
  const pending = count((r) => r.status === "pending");
  const parts = [`${count((r) => r.status === "done")} done`];
  const unsure = count((r) => r.status === "done" && r.verdict !== r.top);
  if (unsure) parts.push(`${unsure} unsure or too small`);
  const errors = count((r) => r.status === "error");
  if (errors) parts.push(`${errors} could not be read`);
  const cancelled = count((r) => r.status === "cancelled");
  if (cancelled) parts.push(`${cancelled} cancelled`);
  if (pending) parts.push(`${pending} waiting`);
  if (state.skippedFiles) parts.push(`${state.skippedFiles} other files skipped (not pictures)`);
  $("summary").textContent = parts.join(" · ");
  $("cancel").hidden = pending === 0;
}

/** Sort the table by a column (again: the other way). Numbers sort as numbers, missing ones last. */
function sortBy(key) {
  sort.descending = sort.key === key ? !sort.descending : key.startsWith("p_");
  sort.key = key;
  const col = COLUMNS().find((c) => c.key === key);
  const order = [...state.results].sort((a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    if (x === null || x === undefined || y === null || y === undefined) return (x == null) - (y == null);
    const d = col.numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return sort.descending ? -d : d;
  });
  $("table-body").append(...order.map((r) => rows.get(r.index)).filter(Boolean));
  for (const th of $("table-head").children) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (sort.descending ? "descending" : "ascending") : "none");
  }
}

function cancelPending() {
  for (const r of state.results) {
    if (r.status === "pending") {
      r.status = "cancelled";
      renderRow(r);
    }
  }
  for (const li of document.querySelectorAll(".card.pending")) {
    li.className = "card cancelled";
    li.querySelector(".verdict").textContent = "Cancelled";
  }
  renderSummary();
  announce("The remaining pictures were cancelled.");
}

/** The results as CSV, the columns train.predict writes: path, verdict, predicted_class, p_<class>..., error. */
export function resultsCsv(results, classNames) {
  const quote = (v) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [["path", "verdict", "predicted_class", ...classNames.map((c) => `p_${c}`), "error"]];
  for (const r of results) {
    if (r.status === "pending" || r.status === "cancelled") continue;
    lines.push([r.path, r.verdict || "", r.top || "", ...classNames.map((_, i) => (r.probs ? r.probs[i].toFixed(6) : "")),
      r.error || ""]);
  }
  return lines.map((cells) => cells.map((c) => quote(String(c))).join(",")).join("\r\n") + "\r\n";
}

function downloadCsv() {
  const blob = new Blob([resultsCsv(state.results, state.spec.class_names)], { type: "text/csv" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "render-or-real-results.csv";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ------------------------------------------------------------------ input: pickers, camera, drop, paste

/** Pictures among a folder's files (by extension, preprocessing.json's list; hidden files skipped). */
function picturesOf(files) {
  const exts = (state.spec && state.spec.decode.extensions) || [];
  const name = (f) => f.name.toLowerCase();
  const keep = files.filter((f) => !name(f).startsWith(".") && exts.some((e) => name(f).endsWith(e)));
  return { keep, skipped: files.length - keep.length };
}

/** Every file under dropped directory entries (FileSystemEntry API), with its path inside the drop. */
async function filesUnder(entries) {
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push(Object.assign(file, { relativePath: entry.fullPath.replace(/^\//, "") }));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) { // readEntries gives a batch at a time (100 in Chromium) until an empty one
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

function wireInputs() {
  $("pick").addEventListener("click", () => $("files").click());
  $("pick-folder").addEventListener("click", () => $("folder").click());
  $("camera").addEventListener("click", () => $("capture").click());
  for (const id of ["files", "capture"]) {
    $(id).addEventListener("change", (e) => {
      addFiles([...e.target.files]);
      e.target.value = ""; // choosing the same file again fires change again
    });
  }
  $("folder").addEventListener("change", (e) => {
    const { keep, skipped } = picturesOf([...e.target.files]);
    addFiles(keep, { skipped });
    e.target.value = "";
  });
  $("cancel").addEventListener("click", cancelPending);
  $("download").addEventListener("click", downloadCsv);
  $("clear").addEventListener("click", () => {
    cancelPending(); // what is still queued is skipped
    state.results = [];
    state.skippedFiles = 0;
    rows.clear();
    $("cards").replaceChildren();
    $("table-body").replaceChildren();
    $("results").hidden = true;
    $("cards-note").hidden = true;
    $("clear").hidden = true;
    $("pick").focus();
  });
  const drop = $("drop");
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.classList.add("over"); });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.classList.remove("over"); } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove("over");
    const dt = e.dataTransfer;
    if (!dt) return;
    // Entries must be taken while the event lasts; a dropped folder is walked afterwards.
    const entries = [...dt.items || []].map((i) => (i.kind === "file" && i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.some((x) => x && x.isDirectory)) {
      const { keep, skipped } = picturesOf(await filesUnder(entries.filter(Boolean)));
      addFiles(keep, { skipped });
    } else {
      addFiles([...dt.files]);
    }
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
  for (const id of ["pick", "pick-folder", "camera"]) $(id).disabled = false;
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
  csv: () => resultsCsv(state.results, state.spec.class_names),
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
