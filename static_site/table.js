// The results table on the page: a row per record, sortable by any column, and the summary line above
// it. The columns, sorting and text come from results.js; this module only puts them in the DOM.
// Nothing happens on import: `page` (app.js) holds the rows and the sort.
import { $, el } from "./ui.js";
import { cellText, compareBy, isUnsure, nextSort, sortRecords, summaryOf } from "./results.js";

export function addRow(page, record) {
  if (!$("table-head").childElementCount) {
    for (const col of page.columns) {
      const th = el("th");
      th.scope = "col";
      th.dataset.key = col.key;
      const b = el("button", "sort", col.title);
      b.type = "button";
      b.addEventListener("click", () => sortBy(page, col.key));
      th.append(b);
      $("table-head").append(th);
    }
  }
  const tr = el("tr");
  tr.dataset.index = String(record.index);
  page.rows.set(record.index, tr);
  $("table-body").append(tr);
  $("results").hidden = false;
  renderRow(page, record);
}

export function renderRow(page, record) {
  const tr = page.rows.get(record.index);
  if (!tr) return;
  tr.className = `${record.status}${isUnsure(record) ? " unsure" : ""}`;
  tr.replaceChildren(...page.columns.map((col) => {
    const cell = el(col.key === "path" ? "th" : "td", col.numeric ? "num" : null, cellText(col, record));
    // The column's name beside the value where the phone layout (style.css) shows no header above it.
    if (col.numeric || col.key === "error") cell.dataset.label = col.title;
    const mark = col.mark && col.mark(record);
    if (mark) cell.append(" ", el("span", "badge", mark));
    return cell;
  }));
  tr.firstChild.scope = "row";
  placeRow(page, record);
}

/** A row whose values changed moves to where the table's sort puts it, so the arrow stays true for rows
 *  that finish (or are adapted) after the click. */
function placeRow(page, record) {
  const col = page.sort.key && page.columns.find((c) => c.key === page.sort.key);
  if (!col) return;
  const cmp = compareBy(col, page.sort.descending);
  const tr = page.rows.get(record.index);
  const recordOf = (row) => page.results[Number(row.dataset.index)];
  const prev = tr.previousElementSibling;
  const next = tr.nextElementSibling;
  if ((!prev || cmp(recordOf(prev), record) < 0) && (!next || cmp(record, recordOf(next)) < 0)) return;
  const after = [...$("table-body").children].find((row) => row !== tr && cmp(record, recordOf(row)) < 0);
  if (after) after.before(tr);
  else $("table-body").append(tr);
}

export function renderSummary(page) {
  const { text, pending } = summaryOf(page.results, page.skippedFiles);
  $("summary").textContent = text;
  $("cancel").hidden = pending === 0;
}

/** Sort the table by a column (again: the other way). */
export function sortBy(page, key) {
  page.sort = nextSort(page.sort, key);
  const col = page.columns.find((c) => c.key === key);
  const order = sortRecords(page.results, col, page.sort.descending);
  $("table-body").append(...order.map((r) => page.rows.get(r.index)).filter(Boolean));
  for (const th of $("table-head").children) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (page.sort.descending ? "descending" : "ascending") : "none");
  }
}

/** An empty table, unsorted: new rows come in the order they are given. */
export function clearTable(page) {
  page.rows.clear();
  page.sort = { key: null, descending: false };
  for (const th of $("table-head").children) th.removeAttribute("aria-sort");
  $("table-body").replaceChildren();
  $("results").hidden = true;
}
