// The private audit: a folder laid out like data/ (<folder>/<class>/<pictures>) classified on this device,
// scored here, nothing sent anywhere. Folders whose names are not the model's classes are reported, never
// guessed. The scores mirror train/evaluate.py scores_from_confusion (tests/test_static_site.py holds them
// to it on the same confusion matrix). Nothing happens on import.
import { csvText } from "./results.js";

/** The class folder of a picture at `path` ("data/photo/a.jpg" or "data/photo/studio/a.jpg": "photo");
 *  null for a picture directly in the chosen folder. */
export function classFolder(path) {
  const parts = path.split("/");
  return parts.length >= 3 ? parts[1] : null;
}

/** The chosen folder's pictures split: {labelled: [{file, truth}], unknown: {folder: pictures}}. */
export function labelledPictures(pictures, classNames) {
  const labelled = [];
  const unknown = {};
  for (const file of pictures) {
    const folder = classFolder(file.relativePath || file.webkitRelativePath || file.name);
    if (folder !== null && classNames.includes(folder)) labelled.push({ file, truth: folder });
    else unknown[folder === null ? "(pictures outside a class folder)" : folder] =
      (unknown[folder === null ? "(pictures outside a class folder)" : folder] || 0) + 1;
  }
  return { labelled, unknown };
}

/** Accuracy, balanced accuracy (mean recall of the classes present), macro F1 and per-class precision/
 *  recall/F1/support of a confusion matrix (rows true, columns predicted): train/evaluate.py
 *  scores_from_confusion (scikit-learn, zero_division=0), written out. */
export function scoresFromConfusion(m, classNames) {
  const k = classNames.length;
  const total = m.flat().reduce((a, b) => a + b, 0);
  const perClass = {};
  const present = [];
  for (let i = 0; i < k; i++) {
    const tp = m[i][i];
    const support = m[i].reduce((a, b) => a + b, 0);
    const predicted = m.reduce((a, row) => a + row[i], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[classNames[i]] = { precision, recall, f1, support };
    if (support > 0) present.push(perClass[classNames[i]]);
  }
  const mean = (key) => (present.length ? present.reduce((a, c) => a + c[key], 0) / present.length : NaN);
  return { n: total, accuracy: total ? m.reduce((a, row, i) => a + row[i], 0) / total : NaN,
    balanced_accuracy: mean("recall"), macro_f1: mean("f1"), per_class: perClass, confusion_matrix: m };
}

/** The audit's report from the classified records (each with `truth`): the scores of the model's own
 *  answers, the unsure share (answers held back as unsure or too small), the mistakes, the unknown
 *  folders and the pictures that could not be read. */
export function auditReport(records, classNames, unknown) {
  const k = classNames.length;
  const m = Array.from({ length: k }, () => new Array(k).fill(0));
  const answered = records.filter((r) => r.status === "done" && r.top);
  for (const r of answered) m[classNames.indexOf(r.truth)][classNames.indexOf(r.top)] += 1;
  const unsure = records.filter((r) => r.status === "done" && r.verdict !== r.top).length;
  const judged = records.filter((r) => r.status === "done").length;
  return { classes: classNames, ...scoresFromConfusion(m, classNames),
    unsure_share: judged ? unsure / judged : NaN,
    mistakes: answered.filter((r) => r.top !== r.truth).map((r) => ({ index: r.index, path: r.path,
      true_class: r.truth, predicted_class: r.top })),
    unreadable: records.filter((r) => r.status === "error").map((r) => r.path),
    unknown_folders: unknown };
}

/** The report as CSV: one row per class (its scores and its confusion-matrix row), then the totals. */
export function auditCsv(report) {
  const rows = [["true_class", "precision", "recall", "f1", "support", ...report.classes.map((c) => `predicted_${c}`)]];
  report.classes.forEach((c, i) => {
    const s = report.per_class[c];
    rows.push([c, s.precision, s.recall, s.f1, s.support, ...report.confusion_matrix[i]]);
  });
  for (const key of ["n", "accuracy", "balanced_accuracy", "macro_f1", "unsure_share"]) rows.push([key, report[key]]);
  return csvText(rows);
}
