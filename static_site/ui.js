// The DOM behind tiny exports: element lookup and creation, the status line, the screen-reader log.
// Nothing happens on import.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function code(text) {
  return el("code", null, text);
}

/** The status line: a class for its look, and plain text or a list of nodes; hidden once ready. */
export function showStatus(status, message, html = null) {
  const s = $("status");
  s.className = `status ${status}`;
  if (html) s.replaceChildren(...html);
  else s.textContent = message;
  s.hidden = status === "ready";
}

/** A line for screen readers (the last five are kept). */
export function announce(text) {
  const log = $("announcer");
  log.append(el("p", null, text));
  while (log.childNodes.length > 5) log.firstChild.remove();
}

/** The list of the visitor's corrections ([{name, label}]), each with a Remove button calling onRemove(name). */
export function showCorrectionList(items, onRemove) {
  $("learning-list").replaceChildren(...items.map(({ name, label }) => {
    const li = el("li", null, `${name}: ${label} `);
    const b = el("button", "small remove-correction", "Remove");
    b.type = "button";
    b.title = `Forget that ${name} is ${label}`;
    b.addEventListener("click", () => onRemove(name));
    li.append(b);
    return li;
  }));
}

/** One line under the learning banner (null: hidden). */
export function showLine(id, text) {
  $(id).hidden = !text;
  $(id).textContent = text || "";
}

/** `file` drawn into `canvas`, its longer side at most `maxSide` px. */
export async function drawPicture(canvas, file, maxSide) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
}

function tableOf(head, rows) {
  const tr = (cells, tag) => {
    const r = el("tr");
    r.append(...cells.map((c) => el(tag, null, String(c))));
    return r;
  };
  return [tr(head, "th"), ...rows.map((cells) => tr(cells, "td"))];
}

/** The audit (audit.js auditReport) shown: summary, folders not used, confusion matrix, per-class scores,
 *  the mistakes as a grid of pictures (`fileOf(index)`: its File), a click shows one large. */
export function showAudit(report, fileOf, pct) {
  $("audit").hidden = false;
  $("audit-summary").textContent = `${report.n} pictures: accuracy ${pct(report.accuracy)}, balanced accuracy ` +
    `${pct(report.balanced_accuracy)}, macro F1 ${pct(report.macro_f1)}; unsure ${pct(report.unsure_share)}` +
    (report.unreadable.length ? `; ${report.unreadable.length} could not be read` : "") + ".";
  const unknown = Object.entries(report.unknown_folders);
  $("audit-unknown").hidden = !unknown.length;
  $("audit-unknown").textContent = unknown.length ? "Not scored (not one of the model's classes, " +
    `${report.classes.join(", ")}): ` + unknown.map(([f, n]) => `${f} (${n} picture${n === 1 ? "" : "s"})`).join(", ") : "";
  $("audit-confusion").replaceChildren(...tableOf(["true \\ model said", ...report.classes],
    report.classes.map((c, i) => [c, ...report.confusion_matrix[i]])));
  $("audit-classes").replaceChildren(...tableOf(["class", "precision", "recall", "F1", "pictures"],
    report.classes.map((c) => {
      const s = report.per_class[c];
      return [c, pct(s.precision), pct(s.recall), pct(s.f1), s.support];
    })));
  const view = $("audit-view");
  view.hidden = true;
  $("audit-mistakes").replaceChildren(...report.mistakes.map((m) => {
    const li = el("li");
    const b = el("button", "mistake");
    b.type = "button";
    b.title = `${m.path}: ${m.true_class}, the model said ${m.predicted_class}`;
    const thumb = el("canvas");
    b.append(thumb);
    drawPicture(thumb, fileOf(m.index), 96).catch(() => null);
    b.addEventListener("click", async () => {
      await drawPicture(view.querySelector("canvas"), fileOf(m.index), 512);
      view.querySelector("figcaption").textContent = b.title;
      view.hidden = false;
    });
    li.append(b);
    return li;
  }));
}
