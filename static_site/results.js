// The results as data: one record per picture, its answer (the adapted one once the visitor has
// corrected the page), the table's columns, sorting, the summary line and the CSV. Pure functions, no
// DOM and no state of their own: tested in Node (tests/js/results.test.mjs).
import { decide } from "./preprocess.js";

export const pct = (p) => `${(100 * p).toFixed(1)}%`;
export const ms = (t) => `${t < 10 ? t.toFixed(1) : Math.round(t)} ms`;

/** A new record for a picture file, at position `index` of the results. */
export function newRecord(file, index) {
  return { index, name: file.name || "pasted picture",
    path: file.relativePath || file.webkitRelativePath || file.name || "pasted picture", status: "pending" };
}

/** The answer shown for a record: the adapted one once the visitor has corrected the page. */
export function answerOf(record) {
  if (record.adaptedProbs) {
    return { probs: record.adaptedProbs, top: record.adaptedTop, verdict: record.adaptedVerdict, adapted: true };
  }
  return { probs: record.probs, top: record.top, verdict: record.verdict, adapted: false };
}

/** The record's adapted answer from the adapter (learn.js) and the model's outputs {probs, features};
 *  none when the adapter has no corrections (or the record no outputs). The one place it is applied. */
export function adapt(record, adapter, output, spec) {
  if (adapter && adapter.W && output) { // W is null when the harm check dropped it
    const p = adapter.adapt(output.probs, output.features);
    const { top, verdict } = decide(p, spec);
    Object.assign(record, { adaptedProbs: Array.from(p), adaptedTop: spec.class_names[top], adaptedVerdict: verdict });
  } else {
    delete record.adaptedProbs;
    delete record.adaptedTop;
    delete record.adaptedVerdict;
  }
  return record;
}

/** Is the record's shown answer "unsure" (or too small to judge) rather than a class? */
export const isUnsure = (record) => record.status === "done" && answerOf(record).verdict !== answerOf(record).top;

/** The results table's columns for these classes: {key, title, numeric, value(record), mark(record)?}. */
export function columnsFor(classNames) {
  return [
    { key: "path", title: "File", value: (r) => r.path },
    { key: "verdict", title: "Verdict", value: (r) => answerOf(r).verdict || (r.status === "error" ? "error" : r.status),
      // Once the visitor corrected the page, the verdict shown is the adapter's: said so beside it.
      mark: (r) => (answerOf(r).adapted ? `adapted (the model alone: ${r.verdict})` : null) },
    ...classNames.map((name, i) => ({ key: `p_${name}`, title: `P(${name})`, numeric: true,
      value: (r) => (answerOf(r).probs ? answerOf(r).probs[i] : null) })),
    { key: "error", title: "Problem", value: (r) => r.error || "" },
  ];
}

export function cellText(col, record) {
  const v = col.value(record);
  return col.numeric ? (typeof v === "number" ? pct(v) : "–") : v;
}

/** The sort after a click on column `key`: the same column again turns it round; a new one starts
 *  ascending, probabilities descending. */
export function nextSort(sort, key) {
  return { key, descending: sort.key === key ? !sort.descending : key.startsWith("p_") };
}

/** The order of column `col` as a comparator of records: numbers as numbers, text in natural order (2
 *  before 10), missing values last whichever the direction, ties in arrival order (so one row can be put
 *  in place alone, as it finishes). */
export function compareBy(col, descending) {
  return (a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    const missing = (x == null) - (y == null);
    if (missing || x == null) return missing || a.index - b.index;
    const d = col.numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return (descending ? -d : d) || a.index - b.index;
  };
}

/** The records in the order of column `col` (compareBy). A new array. */
export function sortRecords(results, col, descending) {
  return [...results].sort(compareBy(col, descending));
}

/** The summary line ("3 done · 1 unsure or too small · ...") and how many are still waiting. */
export function summaryOf(results, skippedFiles = 0) {
  const count = (f) => results.filter(f).length;
  const pending = count((r) => r.status === "pending");
  const parts = [`${count((r) => r.status === "done")} done`];
  const unsure = count((r) => r.status === "done" && r.verdict !== r.top);
  if (unsure) parts.push(`${unsure} unsure or too small`);
  const errors = count((r) => r.status === "error");
  if (errors) parts.push(`${errors} could not be read`);
  const cancelled = count((r) => r.status === "cancelled");
  if (cancelled) parts.push(`${cancelled} cancelled`);
  if (pending) parts.push(`${pending} waiting`);
  if (skippedFiles) parts.push(`${skippedFiles} other files skipped (not pictures)`);
  return { text: parts.join(" · "), pending };
}

/** A CSV cell a spreadsheet will not run as a formula: prefixed with a single quote when it starts with
 *  =, +, -, @, tab or CR (OWASP; README, "CSV files"; train/csvfile.py applies it to train.predict's CSV). */
export function spreadsheetSafe(cell) {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** The results as CSV: the model's answers in the columns train.predict writes (path, verdict,
 *  predicted_class, p_<class>..., error); once the page learned from corrections, the adapted answers too.
 *  Every cell spreadsheet-safe, and quoted when it holds a quote, a comma or a line break. */
export function resultsCsv(results, classNames) {
  const adapted = results.some((r) => r.adaptedProbs);
  const probsOf = (p) => classNames.map((_, i) => (p ? p[i].toFixed(6) : ""));
  const lines = [["path", "verdict", "predicted_class", ...classNames.map((c) => `p_${c}`), "error",
    ...(adapted ? ["adapted_verdict", ...classNames.map((c) => `adapted_p_${c}`), "your_answer"] : [])]];
  for (const r of results) {
    if (r.status === "pending" || r.status === "cancelled") continue;
    lines.push([r.path, r.verdict || "", r.top || "", ...probsOf(r.probs), r.error || "",
      ...(adapted ? [r.adaptedVerdict || "", ...probsOf(r.adaptedProbs), r.correction || ""] : [])]);
  }
  return csvText(lines);
}

/** Rows of cells as CSV: every cell spreadsheet-safe, and quoted when it holds a quote, a comma or a line break. */
export function csvText(rows) {
  const quote = (v) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return rows.map((cells) => cells.map((c) => quote(spreadsheetSafe(String(c)))).join(",")).join("\r\n") + "\r\n";
}

/** Pictures among a folder's files (by extension, preprocessing.json's list; hidden files skipped). */
export function picturesOf(files, extensions) {
  const name = (f) => f.name.toLowerCase();
  const keep = files.filter((f) => !name(f).startsWith(".") && extensions.some((e) => name(f).endsWith(e)));
  return { keep, skipped: files.length - keep.length };
}
