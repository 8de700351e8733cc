// The page: header from the run's files, picture input (drop files or folders, pickers, paste, camera),
// a card per picture (the first CARD_LIMIT), a results table (sortable, CSV download, cancel), and a small
// read-only hook (window.renderOrReal) for the browser tests and the benchmark.
import { BACKENDS, BrokenModel, Classifier, NoModel, loadRunInfo, modelVersion, startBackend } from "./classifier.js";
import { Adapter } from "./learn.js";
import { BadImage, TOO_SMALL, canvasReader, decide, decode, modelInputFrom } from "./preprocess.js";

const tf = globalThis.tf;
const $ = (id) => document.getElementById(id);
const state = { status: "loading", message: "", backend: null, spec: null, metrics: null, classifier: null,
  results: [], skippedFiles: 0, firstPredictionMs: null, backendErrors: [], adapter: null };
const cards = new Map(); // record index -> its card (the first CARD_LIMIT pictures)
const outputs = new Map(); // record index -> {probs, features} of the model (for learning; kept out of results)
const pictureFiles = new Map(); // record index -> its File (the vote map decodes it again when asked)
const REGION_COLORS = ["31,111,235", "230,110,20", "40,160,90", "170,60,190", "200,50,60", "110,110,110"];
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

/** The answer shown for a record: the adapted one once the visitor has corrected the page. */
function answerOf(record) {
  if (record.adaptedProbs) {
    return { probs: record.adaptedProbs, top: record.adaptedTop, verdict: record.adaptedVerdict, adapted: true };
  }
  return { probs: record.probs, top: record.top, verdict: record.verdict, adapted: false };
}

function showResult(card, record) {
  const spec = state.spec;
  const a = answerOf(record);
  const unsure = a.verdict !== a.top;
  card.li.className = unsure ? "card done unsure" : "card done";
  const top = spec.class_names.indexOf(a.top);
  card.verdict.replaceChildren(el("strong", "class", a.verdict), " ",
    el("span", "prob", unsure ? `(${a.top} ${pct(a.probs[top])})` : pct(a.probs[top])));
  if (a.adapted) {
    card.verdict.append(" ", el("span", "badge", "adapted"));
    const own = spec.class_names.indexOf(record.top);
    card.verdict.append(el("span", "original", ` the model alone: ${record.verdict} ${pct(record.probs[own])}`));
  }
  const bars = el("ul", "bars");
  spec.class_names.forEach((name, i) => {
    const row = el("li", i === top ? "top" : "");
    const track = el("span", "track");
    const fill = el("span", "fill");
    fill.style.width = `${(100 * a.probs[i]).toFixed(2)}%`; // CSSOM, allowed by the CSP
    track.append(fill);
    track.setAttribute("aria-hidden", "true");
    row.append(el("span", "label", name), track, el("span", "value", pct(a.probs[i])));
    bars.append(row);
  });
  const crops = spec.view === "crops" ? ` (the model votes over ${spec.grid}×${spec.grid} crops)` : "";
  const timing = el("p", "timing",
    `${ms(record.predictMs)} on ${state.backend.toUpperCase()}${crops} · decoding ${ms(record.decodeMs)}`);
  timing.title = "Prediction = preprocessing + model; decoding = reading the file";
  const detail = el("div", "detail");
  detail.append(bars, timing);
  if (state.adapter && outputs.has(record.index)) detail.append(feedback(record));
  if (state.classifier.hasRegions && pictureFiles.has(record.index)) detail.append(voteMapToggle(card, record));
  if (card.detail) card.detail.replaceWith(detail);
  else card.body.append(detail);
  card.detail = detail;
}

/** "Where it looked": over what the model saw, each region's own answer (crops view: each crop's vote;
 *  other views: the model on each tile), coloured by its most likely class, stronger when surer. */
function voteMapToggle(card, record) {
  const b = el("button", "small", "Where it looked");
  b.type = "button";
  b.setAttribute("aria-pressed", String(Boolean(card.voteMap)));
  b.addEventListener("click", async () => {
    const eye = card.eyeFig.querySelector("canvas");
    if (!eye) return;
    if (card.voteMap) { // off: the plain input again
      card.voteMap.replaceWith(eye.plain || eye);
      card.voteMap = null;
    } else {
      const map = await state.classifier.regions(pictureFiles.get(record.index));
      record.regions = map.regions;
      record.regionBoxes = map.boxes;
      card.voteMap = drawVoteMap(eye, map);
      card.voteMap.plain = eye;
      eye.replaceWith(card.voteMap);
    }
    b.setAttribute("aria-pressed", String(Boolean(card.voteMap)));
    card.eyeFig.querySelector("figcaption").textContent = card.voteMap
      ? "Each region's own answer (colour: its class, stronger: surer)" : "What the model sees";
  });
  return b;
}

function drawVoteMap(eye, { regions, boxes, width, height }) {
  const c = el("canvas", "votes");
  c.width = eye.width;
  c.height = eye.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(eye, 0, 0);
  const sx = eye.width / width;
  const sy = eye.height / height;
  const names = state.spec.class_names;
  ctx.font = `${Math.max(10, Math.round(eye.width / 18))}px system-ui, sans-serif`;
  regions.forEach((p, i) => {
    const [top, left, h, w] = boxes[i];
    const k = p.indexOf(Math.max(...p));
    const sure = (p[k] - 1 / names.length) / (1 - 1 / names.length); // 0 at chance, 1 when certain
    ctx.fillStyle = `rgba(${REGION_COLORS[k % REGION_COLORS.length]},${(0.15 + 0.45 * sure).toFixed(3)})`;
    ctx.fillRect(left * sx, top * sy, w * sx, h * sy);
    ctx.strokeStyle = "rgba(255,255,255,0.8)";
    ctx.strokeRect(left * sx + 0.5, top * sy + 0.5, w * sx - 1, h * sy - 1);
    ctx.fillStyle = "#fff";
    ctx.fillText(`${names[k]} ${Math.round(100 * p[k])}%`, left * sx + 4, top * sy + 4 + parseInt(ctx.font, 10));
  });
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", regions.map((p, i) => {
    const k = p.indexOf(Math.max(...p));
    return `region ${i + 1}: ${names[k]} ${Math.round(100 * p[k])}%`;
  }).join("; "));
  return c;
}

/** "Is this right?": the visitor's answer teaches the page (learn.js), on this device only. */
function feedback(record) {
  const names = state.spec.class_names;
  const box = el("div", "feedback");
  if (record.correction) box.append(el("span", "said", `You said: ${record.correction}. `));
  const ask = (text, label, title) => {
    const b = el("button", "small", text);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", () => correct(record, label));
    return b;
  };
  const mine = names.indexOf(answerOf(record).top);
  box.append(ask("Right", mine, `Yes, it is ${names[mine]}`));
  for (let i = 0; i < names.length; i++) {
    if (i !== mine) box.append(ask(names.length === 2 ? "Wrong" : `It's ${names[i]}`, i, `No, it is ${names[i]}`));
  }
  return box;
}

async function correct(record, label) {
  const o = outputs.get(record.index);
  await state.adapter.add(record.path, o.probs, o.features, label);
  record.correction = state.spec.class_names[label];
  refreshAdapted();
  announce(`Learned: ${record.name} is ${record.correction}. Adapted with ${state.adapter.count} corrections.`);
}

/** Every answer again through the adapter (after a correction, a reset, or at start with kept ones). */
function refreshAdapted() {
  const a = state.adapter;
  for (const r of state.results) {
    const o = outputs.get(r.index);
    if (r.status !== "done" || !o) continue;
    if (a && a.count) {
      const p = a.adapt(o.probs, o.features);
      const { top, verdict } = decide(p, state.spec);
      Object.assign(r, { adaptedProbs: Array.from(p), adaptedTop: state.spec.class_names[top], adaptedVerdict: verdict });
    } else {
      delete r.adaptedProbs;
      delete r.adaptedTop;
      delete r.adaptedVerdict;
    }
    if (cards.has(r.index)) showResult(cards.get(r.index), r);
    renderRow(r);
  }
  showLearning();
}

/** "Forget the corrections": done (banner hidden, answers the model's own) when the promise settles. */
async function forgetCorrections() {
  await state.adapter.reset();
  for (const r of state.results) delete r.correction;
  refreshAdapted();
  announce("Corrections forgotten: the answers are the model's own again.");
}

function showLearning() {
  const a = state.adapter;
  $("learning").hidden = !a || !a.count;
  if (!a || !a.count) return;
  $("learning-text").textContent = `Adapted with ${a.count} correction${a.count === 1 ? "" : "s"} on this device` +
    (a.saved ? " (kept in this browser, never uploaded)." : " (this browser cannot keep them: gone on reload).");
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
    } else {
      r.eye.dispose();
    }
    Object.assign(record, { status: "done", probs: Array.from(r.probs), top: c.spec.class_names[r.top],
      verdict: r.verdict, decodeMs: r.decodeMs, predictMs: r.predictMs, width: r.width, height: r.height });
    if (r.features) outputs.set(record.index, { probs: r.probs, features: r.features });
    if (state.adapter && state.adapter.count) {
      const p = state.adapter.adapt(r.probs, r.features);
      const d = decide(p, c.spec);
      Object.assign(record, { adaptedProbs: Array.from(p), adaptedTop: c.spec.class_names[d.top], adaptedVerdict: d.verdict });
    }
    if (card) showResult(card, record);
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
    if (card) cards.set(record.index, card);
    if (card) pictureFiles.set(record.index, file);
    addRow(record);
    queue = queue.then(() => classifyOne(file, card, record));
  }
  $("cards-note").hidden = state.results.length <= CARD_LIMIT;
  $("cards-note").textContent = `Pictures are shown for the first ${CARD_LIMIT}; the table has every result.`;
  renderSummary();
}

// ------------------------------------------------------------------ results table, cancel, CSV

let columns = null; // made once the spec is known (it names the classes)
const COLUMNS = () => columns || (columns = [
  { key: "path", title: "File", value: (r) => r.path },
  { key: "verdict", title: "Verdict", value: (r) => answerOf(r).verdict || (r.status === "error" ? "error" : r.status) },
  ...state.spec.class_names.map((name, i) => ({ key: `p_${name}`, title: `P(${name})`, numeric: true,
    value: (r) => (answerOf(r).probs ? answerOf(r).probs[i] : null) })),
  { key: "error", title: "Problem", value: (r) => r.error || "" },
]);
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
  const unsure = record.status === "done" && answerOf(record).verdict !== answerOf(record).top;
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

/** The results as CSV: the model's answers in the columns train.predict writes (path, verdict,
 *  predicted_class, p_<class>..., error); once the page learned from corrections, the adapted answers too. */
export function resultsCsv(results, classNames) {
  const quote = (v) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const adapted = results.some((r) => r.adaptedProbs);
  const probsOf = (p) => classNames.map((_, i) => (p ? p[i].toFixed(6) : ""));
  const lines = [["path", "verdict", "predicted_class", ...classNames.map((c) => `p_${c}`), "error",
    ...(adapted ? ["adapted_verdict", ...classNames.map((c) => `adapted_p_${c}`), "your_answer"] : [])]];
  for (const r of results) {
    if (r.status === "pending" || r.status === "cancelled") continue;
    lines.push([r.path, r.verdict || "", r.top || "", ...probsOf(r.probs), r.error || "",
      ...(adapted ? [r.adaptedVerdict || "", ...probsOf(r.adaptedProbs), r.correction || ""] : [])]);
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
  $("reset-learning").addEventListener("click", forgetCorrections);
  $("download").addEventListener("click", downloadCsv);
  $("clear").addEventListener("click", () => {
    cancelPending(); // what is still queued is skipped
    state.results = [];
    state.skippedFiles = 0;
    rows.clear();
    cards.clear();
    outputs.clear();
    pictureFiles.clear();
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
  if (state.classifier.hasFeatures) {
    state.adapter = await Adapter.open(modelVersion(metrics) || "unversioned", spec.class_names.length);
    showLearning();
  }
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
  corrections: () => (state.adapter ? state.adapter.count : null),
  // Teach the page that result `index` is of class `label` (what the buttons on a card do).
  correct: (index, label) => correct(state.results[index], state.spec.class_names.indexOf(label)),
  forget: () => forgetCorrections(),
  // The vote map of result `index` (a card's "Where it looked"): {regions, boxes, width, height}.
  regions: (index) => state.classifier.regions(pictureFiles.get(index)),
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
