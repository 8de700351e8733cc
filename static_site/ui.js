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
