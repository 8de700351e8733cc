// The page's start-up and flow: the run's files read into the header, TF.js started, then every picture
// given (inputs.js) classified one at a time into a record (results.js), a card (cards.js, the first
// CARD_LIMIT) and a table row (table.js); corrections go through the adapter (learn.js). All the page's
// state is the one `page` object made by start(); nothing happens on import (index.js calls start).
import { auditCsv, auditReport, labelledPictures } from "./audit.js";
import { BrokenModel, NoModel, chooseBackend, loadReference, loadRunInfo, modelVersion, wasmThreads } from "./classifier.js";
import { cancelPendingCards, drawThumb, newCard, showError, showEye, showResult, showRunning, showTooSmall } from "./cards.js";
import { wireInputs } from "./inputs.js";
import { Adapter, HARM, decodeReference } from "./learn.js";
import { BadImage, TOO_SMALL } from "./preprocess.js";
import { adapt, columnsFor, newRecord, pct, picturesOf, resultsCsv } from "./results.js";
import { addRow, clearTable, renderRow, renderSummary } from "./table.js";
import { installHook } from "./testhook.js";
import { $, announce, code, el, showAudit, showCorrectionList, showLine, showStatus } from "./ui.js";

// Cards hold two canvases each: past this many pictures, results go to the table only (memory stays
// bounded for a folder of thousands).
const CARD_LIMIT = 60;

function createPage() {
  return {
    status: "loading", message: "", backend: null, spec: null, metrics: null, classifier: null,
    firstPredictionMs: null, backendChoice: null, adapter: null,
    results: [], skippedFiles: 0,
    cards: new Map(), // record index -> its card (the first CARD_LIMIT pictures)
    outputs: new Map(), // record index -> {probs, features} of the model (for learning; kept out of results)
    pictureFiles: new Map(), // record index -> its File (the vote map decodes it again when asked)
    rows: new Map(), // record index -> its table row
    columns: null, // the table's columns, once the spec names the classes
    sort: { key: null, descending: false },
    queue: Promise.resolve(), // pictures are classified one at a time: bounded memory, steady timings
    correct: null, // (record, label): a visitor's correction (set by start)
    undo: null, // (record): its correction forgotten (set by start)
    audit: null, // the last audit's report (audit.js auditReport)
  };
}

function setStatus(page, status, message, { html = null } = {}) {
  page.status = status;
  page.message = message;
  showStatus(status, message, html);
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
  // The served bundle's bytes, said as train/files.py size_text says them (the commands and the app).
  $("info-size").textContent = !bytes ? "–" : bytes >= 1e5 ? `${(bytes / 1e6).toFixed(1)} MB`
    : bytes >= 1e3 ? `${Math.round(bytes / 1e3)} KB` : `${bytes} B`;
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
  // The accuracy the unsure level was chosen for is the run's own (metrics.json unsure.target).
  const target = m.unsure && m.unsure.target;
  const unsure = typeof spec.unsure_below === "number"
    ? ` When its answer is below ${pct(spec.unsure_below)} it says "unsure"` + (typeof target === "number"
      ? ` (chosen so that the answers it does give were right at least ${Math.round(100 * target)}% of the time ` +
        "on pictures it had not been trained on)." : ".")
    : "";
  const small = spec.min_side > 1 ? ` Pictures under ${spec.min_side} px on a side are too small to judge.` : "";
  $("how").textContent = how + unsure + small;
}

// ------------------------------------------------------------------ pictures in, answers out

async function classifyOne(page, file, card, record) {
  if (record.status === "cancelled") return;
  const c = page.classifier;
  if (card) showRunning(card);
  try {
    const r = await c.classify(file);
    if (r.tooSmall) {
      if (card) showTooSmall(card, r, TOO_SMALL);
      // The reason in `error`, as train.predict gives it (the CSV's columns mean the same on both).
      Object.assign(record, { status: "done", verdict: TOO_SMALL, error: r.tooSmall, width: r.width, height: r.height });
      announce(`${record.name}: ${TOO_SMALL}`);
      return;
    }
    if (card) {
      await showEye(card, r.eye);
      drawThumb(card, r.canvas, r.width, r.height);
    } else {
      r.eye.dispose();
    }
    Object.assign(record, { status: "done", probs: Array.from(r.probs), top: c.spec.class_names[r.top],
      verdict: r.verdict, decodeMs: r.decodeMs, predictMs: r.predictMs, width: r.width, height: r.height });
    if (r.features) page.outputs.set(record.index, { probs: r.probs, features: r.features });
    adapt(record, page.adapter, page.outputs.get(record.index), c.spec);
    if (card) showResult(page, card, record);
    announce(`${record.name}: ${r.verdict}, ${pct(r.probs[r.top])}`);
  } catch (e) {
    const message = e instanceof BadImage ? e.message : `could not classify this picture (${e.message || e})`;
    if (!(e instanceof BadImage)) console.error(e);
    if (card) showError(card, message);
    Object.assign(record, { status: "error", error: message });
    announce(`${record.name}: error, ${message}`);
  } finally {
    renderRow(page, record);
    renderSummary(page);
  }
}

function addFiles(page, files, { skipped = 0 } = {}) {
  if (skipped) {
    page.skippedFiles += skipped;
    announce(`${skipped} file${skipped === 1 ? "" : "s"} that are not pictures skipped.`);
    renderSummary(page);
  }
  if (!files.length) return;
  if (page.status !== "ready") {
    announce(page.status === "loading" ? "The model is still loading; try again in a moment." : page.message);
    return;
  }
  for (const file of files) {
    const record = newRecord(file, page.results.length);
    page.results.push(record);
    const card = page.results.length <= CARD_LIMIT ? newCard(page, file) : null;
    if (card) {
      page.cards.set(record.index, card);
      page.pictureFiles.set(record.index, file);
    }
    addRow(page, record);
    page.queue = page.queue.then(() => classifyOne(page, file, card, record));
  }
  $("cards-note").hidden = page.results.length <= CARD_LIMIT;
  $("cards-note").textContent = `Pictures are shown for the first ${CARD_LIMIT}; the table has every result.`;
  renderSummary(page);
}

function addFolder(page, files) {
  const { keep, skipped } = picturesOf(files, (page.spec && page.spec.decode.extensions) || []);
  addFiles(page, keep, { skipped });
}

function cancelPending(page) {
  for (const r of page.results) {
    if (r.status === "pending") {
      r.status = "cancelled";
      renderRow(page, r);
    }
  }
  cancelPendingCards();
  renderSummary(page);
  announce("The remaining pictures were cancelled.");
}

function clearResults(page) {
  cancelPending(page); // what is still queued is skipped
  page.results = [];
  page.skippedFiles = 0;
  page.cards.clear();
  page.outputs.clear();
  page.pictureFiles.clear();
  clearTable(page);
  $("cards").replaceChildren();
  $("cards-note").hidden = true;
  $("clear").hidden = true;
  $("pick").focus();
}

function downloadCsv(page) {
  download(resultsCsv(page.results, page.spec.class_names), "text/csv", "render-or-real-results.csv");
}

/** `text` saved as the file `name` (made here: nothing is sent). */
function download(text, type, name) {
  const a = el("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ------------------------------------------------------------------ the private audit

/** A folder laid out like data/: its pictures in class folders classified like any others, then scored
 *  here (audit.js); folders that are not the model's classes reported and left out. */
async function runAudit(page, files) {
  if (page.status !== "ready") return announce(page.message || "The model is still loading.");
  const { keep, skipped } = picturesOf(files, page.spec.decode.extensions);
  const { labelled, unknown } = labelledPictures(keep, page.spec.class_names);
  const first = page.results.length;
  addFiles(page, labelled.map((l) => l.file), { skipped });
  const records = page.results.slice(first);
  records.forEach((r, i) => { r.truth = labelled[i].truth; });
  const fileAt = new Map(records.map((r, i) => [r.index, labelled[i].file]));
  await page.queue;
  page.audit = auditReport(records, page.spec.class_names, unknown);
  showAudit(page.audit, (index) => fileAt.get(index), pct);
  announce(`Audit: ${page.audit.n} pictures, accuracy ${pct(page.audit.accuracy)}.`);
}

// ------------------------------------------------------------------ learning from the visitor

async function correct(page, record, label) {
  const o = page.outputs.get(record.index);
  await page.adapter.add(record.path, o.probs, o.features, label);
  record.correction = page.spec.class_names[label];
  refreshAdapted(page);
  announce(`Learned: ${record.name} is ${record.correction}. Adapted with ${page.adapter.count} corrections.`);
}

/** Undo: the correction of the picture at `path` forgotten (every record of that picture). */
async function removeCorrection(page, path) {
  await page.adapter.remove(path);
  for (const r of page.results) if (r.path === path) delete r.correction;
  refreshAdapted(page);
  announce(`Correction of ${path} removed. Adapted with ${page.adapter.count} corrections.`);
}

/** Every answer again through the adapter (after a correction, a reset, or at start with kept ones). */
function refreshAdapted(page) {
  for (const r of page.results) {
    const o = page.outputs.get(r.index);
    if (r.status !== "done" || !o) continue;
    adapt(r, page.adapter, o, page.spec);
    if (page.cards.has(r.index)) showResult(page, page.cards.get(r.index), r);
    renderRow(page, r);
  }
  showLearning(page);
}

/** "Forget the corrections": done (banner hidden, answers the model's own) when the promise settles. */
async function forgetCorrections(page) {
  await page.adapter.reset();
  for (const r of page.results) delete r.correction;
  refreshAdapted(page);
  announce("Corrections forgotten: the answers are the model's own again.");
}

function showLearning(page) {
  const a = page.adapter;
  $("learning").hidden = !a || !a.count;
  if (!a || !a.count) return;
  $("learning-text").textContent = `Adapted with ${a.count} correction${a.count === 1 ? "" : "s"} on this device` +
    (a.saved ? " (kept in this browser, never uploaded)." : " (this browser cannot keep them: gone on reload).");
  showLine("learning-check", harmLine(a.check));
  showCorrectionList(a.list().map((c) => ({ name: c.name, label: page.spec.class_names[c.label] })),
    (name) => removeCorrection(page, name));
}

/** What the harm check (learn.js) did, in one line; null when it left the adaptation as fitted. */
function harmLine(check) {
  if (!check || !(check.weakened || check.dropped)) return null;
  const of = `the run's ${check.n} reference pictures`;
  return check.dropped
    ? `Not used: even weakened, these corrections cost ${of} ${pct(check.before - check.after)} of accuracy ` +
      `(${pct(check.before)} → ${pct(check.after)}); the answers are the model's own. Remove the doubtful ones.`
    : `Weakened (${check.pull}× the pull to the model's own answers) so that ${of} stay within ` +
      `${pct(HARM.tolerance)} of their accuracy (${pct(check.before)} → ${pct(check.after)}).`;
}

// ------------------------------------------------------------------ start-up

const millis = (ms) => `${Math.round(ms)} ms`;

/** The header's tooltip: how the backend was chosen. */
function describeChoice(choice) {
  const how = { asked: "asked for in the address", remembered: "chosen on an earlier visit",
    measured: "the fastest measured here" }[choice.how];
  const rows = choice.tried.map((r) => `${r.backend} ${r.error ? `failed (${r.error})`
    : `${r.ms === null ? "" : `${millis(r.ms)}, `}self-check ${r.check ? (r.check.passed ? "passed" : "failed") : "absent"}`}`);
  return `${how}: ${rows.join("; ")}`;
}

/** One line when a backend failed the self-check: which, by how much, and what the page does instead. */
function showSelfCheck(choice) {
  const failed = choice.tried.filter((r) => r.check && !r.check.passed);
  const line = $("self-check");
  line.hidden = !failed.length;
  if (!failed.length) return;
  const off = failed.map((r) => `${r.backend.toUpperCase()} was ${r.check.maxDiff.toFixed(3)} off`).join(", ");
  const tolerance = failed[0].check.tolerance.toFixed(3);
  const chosen = choice.tried.find((r) => r.backend === choice.backend);
  line.textContent = chosen.check && !chosen.check.passed
    ? `Self-check: no backend of this device gives the trained model's answers (${off}; allowed ${tolerance}): ` +
      `the answers on ${choice.backend.toUpperCase()} may differ from it.`
    : `Self-check: ${off} the trained model's answers (allowed ${tolerance}), so this page runs on ` +
      `${choice.backend.toUpperCase()}.`;
}

function registerServiceWorker() {
  // Caches the page, runtime and model so the page works offline after the first visit (sw.js).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("sw.js").catch((e) => console.warn("service worker not registered", e));
  }
}

async function loadModel(page) {
  const tf = globalThis.tf;
  if (!tf || !tf.loadGraphModel) {
    setStatus(page, "broken", "", { html: ["The TF.js runtime is missing (vendor/). Build it with ",
      code("npm --prefix static_site ci && npm --prefix static_site run build"), ", then reload."] });
    return;
  }
  tf.enableProdMode(); // no per-op NaN checks: they would cost time on every prediction
  let info;
  try {
    info = await loadRunInfo();
  } catch (e) {
    if (e instanceof NoModel) {
      setStatus(page, "no-model", "", { html: ["No model yet — run ", code("python -m train"), ", then reload."] });
    } else {
      setStatus(page, "broken", "", { html: [`The model in model/ is broken: ${e.message}. Train a new one with `,
        code("python -m train"), ", then reload."] });
    }
    $("info-model").textContent = "none";
    console.warn(e);
    return;
  }
  const { spec, metrics } = info;
  Object.assign(page, { spec, metrics, columns: columnsFor(spec.class_names) });
  showRunInfo(spec, metrics);

  const broken = (message) => setStatus(page, "broken", "", { html: [`The model could not run: ${message}. ` +
    "Train a new one with ", code("python -m train"), ", then reload."] });
  const query = new URLSearchParams(location.search);
  // ?backend=webgl, ?threads=1 (benchmarks): that backend only, that many WASM threads.
  const wanted = query.get("backend");
  const threads = Number(query.get("threads")) || null;
  try {
    setStatus(page, "loading", "Starting TensorFlow.js…");
    const choice = await chooseBackend(info, {
      key: `${modelVersion(metrics) || "unversioned"}|${tf.version_core}`, wanted, threads,
      onTry: (name) => setStatus(page, "loading", `Loading the model on ${name.toUpperCase()}…`),
    });
    Object.assign(page, { classifier: choice.classifier, backend: choice.backend, backendChoice: choice });
    page.firstPredictionMs = performance.now(); // the warm-up prediction (and the choice) is done
  } catch (e) {
    console.warn(e);
    return broken(e.message);
  }
  const threadsUsed = page.backend === "wasm" ? wasmThreads() : null;
  $("info-backend").textContent = page.backend.toUpperCase() + (threadsUsed > 1 ? ` · ${threadsUsed} threads` : "");
  $("info-backend").title = `TF.js ${tf.version_core}; ${describeChoice(page.backendChoice)}`;
  showSelfCheck(page.backendChoice);
  if (page.classifier.hasFeatures) {
    let reference = null;
    try {
      const json = await loadReference();
      reference = json && decodeReference(json);
    } catch (e) {
      console.warn("no harm check: model/reference.json unusable", e);
    }
    page.adapter = await Adapter.open(modelVersion(metrics) || "unversioned", spec.class_names.length, reference);
    showLearning(page);
  }
  for (const id of ["pick", "pick-folder", "camera", "pick-audit"]) $(id).disabled = false;
  setStatus(page, "ready", "Ready.");
  announce(`Model ready on ${page.backend.toUpperCase()}. Choose pictures to classify.`);
}

/** The page: its state made, the hook, the service worker and the inputs wired, then the model loaded. */
export async function start() {
  const page = createPage();
  page.correct = (record, label) => correct(page, record, label);
  page.undo = (record) => removeCorrection(page, record.path);
  const forget = () => forgetCorrections(page);
  const harmCheck = async (on) => {
    await page.adapter.setHarmCheck(on);
    refreshAdapted(page);
  };
  installHook(page, { correct: page.correct, forget, undo: page.undo, harmCheck });
  registerServiceWorker();
  wireInputs({ addFiles: (files) => addFiles(page, files), addFolder: (files) => addFolder(page, files) });
  $("cancel").addEventListener("click", () => cancelPending(page));
  $("reset-learning").addEventListener("click", forget);
  $("download").addEventListener("click", () => downloadCsv(page));
  $("pick-audit").addEventListener("click", () => $("audit-input").click());
  $("audit-input").addEventListener("change", (e) => {
    runAudit(page, [...e.target.files]);
    e.target.value = "";
  });
  $("audit-csv").addEventListener("click", () => download(auditCsv(page.audit), "text/csv", "render-or-real-audit.csv"));
  $("audit-json").addEventListener("click", () => download(JSON.stringify(page.audit, null, 1), "application/json",
    "render-or-real-audit.json"));
  $("clear").addEventListener("click", () => clearResults(page));
  await loadModel(page);
  return page;
}
