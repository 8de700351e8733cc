// The picture cards: the picture, what the model saw (and, when asked, where it looked), the answer with
// its bars, and the Right/Wrong buttons. Nothing happens on import; `page` (app.js) holds the cards.
import { $, el } from "./ui.js";
import { answerOf, ms, pct } from "./results.js";

const REGION_COLORS = ["31,111,235", "230,110,20", "40,160,90", "170,60,190", "200,50,60", "110,110,110"];

export function newCard(page, file) {
  const li = el("li", "card pending");
  const article = el("article");
  const id = `card-${page.results.length}`;
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

export function drawThumb(card, canvas, width, height) {
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
export async function drawSquare(t) {
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

/** What the model saw, in place of the card's placeholder. */
export async function showEye(card, eyeTensor) {
  const eye = await drawSquare(eyeTensor); // disposes the tensor first thing
  eye.setAttribute("role", "img");
  eye.setAttribute("aria-label", `the ${eye.width}×${eye.height} picture given to the model`);
  card.eyeFig.querySelector(".placeholder").replaceWith(eye);
}

export function showResult(page, card, record) {
  const spec = page.spec;
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
    `${ms(record.predictMs)} on ${page.backend.toUpperCase()}${crops} · decoding ${ms(record.decodeMs)}`);
  timing.title = "Prediction = preprocessing + model; decoding = reading the file";
  const detail = el("div", "detail");
  detail.append(bars, timing);
  if (page.adapter && page.outputs.has(record.index)) detail.append(feedback(page, record));
  if (page.classifier.hasRegions && page.pictureFiles.has(record.index)) detail.append(voteMapToggle(page, card, record));
  if (card.detail) card.detail.replaceWith(detail);
  else card.body.append(detail);
  card.detail = detail;
}

/** "Where it looked": over what the model saw, each region's own answer (crops view: each crop's vote;
 *  other views: the model on each tile), coloured by its most likely class, stronger when surer. */
function voteMapToggle(page, card, record) {
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
      const map = await page.classifier.regions(page.pictureFiles.get(record.index));
      record.regions = map.regions;
      record.regionBoxes = map.boxes;
      card.voteMap = drawVoteMap(eye, map, page.spec.class_names);
      card.voteMap.plain = eye;
      eye.replaceWith(card.voteMap);
    }
    b.setAttribute("aria-pressed", String(Boolean(card.voteMap)));
    card.eyeFig.querySelector("figcaption").textContent = card.voteMap
      ? "Each region's own answer (colour: its class, stronger: surer)" : "What the model sees";
  });
  return b;
}

function drawVoteMap(eye, { regions, boxes, width, height }, names) {
  const c = el("canvas", "votes");
  c.width = eye.width;
  c.height = eye.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(eye, 0, 0);
  const sx = eye.width / width;
  const sy = eye.height / height;
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

/** "Is this right?": the visitor's answer teaches the page (learn.js, through page.correct), on this
 *  device only. */
function feedback(page, record) {
  const names = page.spec.class_names;
  const box = el("div", "feedback");
  if (record.correction) {
    box.append(el("span", "said", `You said: ${record.correction}. `));
    const undo = el("button", "small undo", "Undo");
    undo.type = "button";
    undo.title = "Forget this correction";
    undo.addEventListener("click", () => page.undo(record));
    box.append(undo);
  }
  const ask = (text, label, title) => {
    const b = el("button", "small", text);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", () => page.correct(record, label));
    return b;
  };
  const mine = names.indexOf(answerOf(record).top);
  box.append(ask("Right", mine, `Yes, it is ${names[mine]}`));
  for (let i = 0; i < names.length; i++) {
    if (i !== mine) box.append(ask(names.length === 2 ? "Wrong" : `It's ${names[i]}`, i, `No, it is ${names[i]}`));
  }
  return box;
}

export function showTooSmall(card, r, verdict) {
  drawThumb(card, r.canvas, r.width, r.height);
  card.li.className = "card done unsure";
  card.verdict.replaceChildren(el("strong", "class", verdict));
  card.body.append(el("p", "error-text", r.tooSmall));
  card.eyeFig.querySelector(".placeholder").textContent = "–";
}

export function showError(card, message) {
  card.li.className = "card error";
  card.verdict.replaceChildren(el("strong", "class", "Can't use this file"));
  card.body.append(el("p", "error-text", message));
  for (const fig of [card.thumbFig, card.eyeFig]) fig.querySelector(".placeholder").textContent = "✕";
}

/** The card of the picture being classified now (no longer waiting: a Cancel lets it finish). */
export function showRunning(card) {
  card.li.className = "card running";
  card.verdict.textContent = "Classifying…";
}

/** Every card marked cancelled that was still waiting, moved after the others: the answers come first. */
export function cancelPendingCards() {
  const cancelled = [...document.querySelectorAll(".card.pending")];
  for (const li of cancelled) {
    li.className = "card cancelled";
    li.querySelector(".verdict").textContent = "Cancelled";
  }
  $("cards").append(...cancelled);
}
