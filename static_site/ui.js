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
