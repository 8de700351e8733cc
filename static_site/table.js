// The results table on the page: a row per record, sortable by any column, and the summary line above
// it. The columns, sorting and text come from results.js; this module only puts them in the DOM.
// Nothing happens on import: `page` (app.js) holds the rows and the sort.
import { $, el } from "./ui.js";
import { cellText, isUnsure, nextSort, sortRecords, summaryOf } from "./results.js";

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
  tr.replaceChildren(...page.columns.map((col) => el(col.key === "path" ? "th" : "td", col.numeric ? "num" : null,
    cellText(col, record))));
  tr.firstChild.scope = "row";
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

export function clearTable(page) {
  page.rows.clear();
  $("table-body").replaceChildren();
  $("results").hidden = true;
}
