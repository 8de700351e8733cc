// The read-only hook for the browser tests and the benchmarks (window.renderOrReal): copies of the
// page's state, never references into it, and the few actions a visitor can take.
import { canvasReader, decode, modelInputFrom } from "./preprocess.js";
import { resultsCsv } from "./results.js";

export function installHook(page, { correct, forget, undo, harmCheck }) {
  const tf = globalThis.tf;
  window.renderOrReal = Object.freeze({
    get status() { return page.status; },
    get message() { return page.message; },
    get backend() { return page.backend; },
    // How the backend was chosen: {backend, how, tried: [{backend, ms, check, error}]}.
    get backendChoice() { return page.backendChoice && structuredClone({ ...page.backendChoice, classifier: undefined }); },
    get wasmThreads() { return page.backend === "wasm" ? tf.wasm.getThreadsCount() : null; },
    get spec() { return page.spec && structuredClone(page.spec); },
    get firstPredictionMs() { return page.firstPredictionMs; },
    results: () => structuredClone(page.results),
    corrections: () => (page.adapter ? page.adapter.count : null),
    // Teach the page that result `index` is of class `label` (what the buttons on a card do).
    correct: (index, label) => correct(page.results[index], page.spec.class_names.indexOf(label)),
    forget: () => forget(),
    undo: (index) => undo(page.results[index]),
    // [{name, label}] kept, and the last harm check (learn.js: {n, before, after, pull, weakened, dropped}).
    correctionList: () => (page.adapter ? page.adapter.list() : null),
    harm: () => (page.adapter && page.adapter.check ? { ...page.adapter.check } : null),
    // The harm check on or off (benchmarks.corrections measures both); the adaptation fitted again.
    harmCheck: (on) => harmCheck(on),
    // The last audit of a labelled folder (audit.js auditReport), or null.
    audit: () => (page.audit ? structuredClone(page.audit) : null),
    // The vote map of result `index` (a card's "Where it looked"): {regions, boxes, width, height}.
    regions: (index) => page.classifier.regions(page.pictureFiles.get(index)),
    csv: () => resultsCsv(page.results, page.spec.class_names),
    memory: () => (tf ? { ...tf.memory() } : null),
    idle: () => page.queue.then(() => true),
    timeModel: (runs) => page.classifier.timeModel(runs),
    // The model input for a file, as the page makes it (for preprocessing parity checks).
    modelInput: async (file) => {
      const { ctx, width, height } = await decode(file, page.spec);
      const x = tf.tidy(() => modelInputFrom(canvasReader(ctx), height, width, page.spec));
      const data = await x.data();
      const out = { shape: x.shape, data: Array.from(data) };
      x.dispose();
      return out;
    },
  });
}
