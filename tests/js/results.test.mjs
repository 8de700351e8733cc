// The page's pure parts in Node (node --test): records, the adapted answer, columns, sorting, the
// summary line, the CSV (train.predict's columns) and the folder filter. Run by tests/test_page_modules.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  adapt, answerOf, cellText, columnsFor, isUnsure, newRecord, nextSort, picturesOf, resultsCsv, sortRecords,
  spreadsheetSafe, summaryOf,
} from "../../static_site/results.js";

const spec = { class_names: ["photo", "render"], unsure_below: 0.7 };
const done = (index, path, probs, extra = {}) => ({
  index, path, name: path, status: "done", probs, top: spec.class_names[probs.indexOf(Math.max(...probs))],
  verdict: Math.max(...probs) < 0.7 ? "unsure" : spec.class_names[probs.indexOf(Math.max(...probs))], ...extra,
});

test("a record names the file by its path inside a dropped folder, else its name", () => {
  assert.deepEqual(newRecord({ name: "a.jpg", relativePath: "x/a.jpg" }, 3),
    { index: 3, name: "a.jpg", path: "x/a.jpg", status: "pending" });
  assert.equal(newRecord({ name: "" }, 0).path, "pasted picture");
});

test("the adapted answer replaces the model's once the adapter has a head, and goes with it", () => {
  const r = done(0, "a.jpg", [0.8, 0.2]);
  const adapter = { count: 1, W: Float32Array.from([0, 0]), adapt: () => Float32Array.from([0.1, 0.9]) };
  adapt(r, adapter, { probs: [0.8, 0.2], features: [1] }, spec);
  assert.deepEqual(answerOf(r), { probs: [Float32Array.from([0.1])[0], Float32Array.from([0.9])[0]], top: "render",
    verdict: "render", adapted: true });
  assert.equal(r.verdict, "photo"); // the model's own stays
  adapt(r, { count: 0, W: null }, { probs: [0.8, 0.2], features: [1] }, spec);
  assert.equal(answerOf(r).adapted, false);
  assert.ok(!("adaptedProbs" in r));
  adapt(r, { ...adapter, W: null }, { probs: [0.8, 0.2], features: [1] }, spec); // the harm check dropped it
  assert.equal(answerOf(r).adapted, false);
});

test("columns: the file, the verdict, one probability per class, the problem", () => {
  const cols = columnsFor(["a", "b", "c"]);
  assert.deepEqual(cols.map((c) => c.key), ["path", "verdict", "p_a", "p_b", "p_c", "error"]);
  const r = { path: "x", status: "error", error: "broken" };
  assert.deepEqual(cols.map((c) => cellText(c, r)), ["x", "error", "–", "–", "–", "broken"]);
  assert.equal(cellText(cols[2], { probs: [0.1234, 0.2, 0.6766] }), "12.3%");
});

test("sorting: numbers as numbers, names in natural order, missing last, a second click turns it round", () => {
  const cols = columnsFor(spec.class_names);
  const rs = [done(0, "img10.jpg", [0.3, 0.7]), done(1, "img2.jpg", [0.9, 0.1]),
    { index: 2, path: "img1.jpg", status: "error", error: "x" }];
  const byPath = cols.find((c) => c.key === "path");
  assert.deepEqual(sortRecords(rs, byPath, false).map((r) => r.path), ["img1.jpg", "img2.jpg", "img10.jpg"]);
  const byRender = cols.find((c) => c.key === "p_render");
  let sort = nextSort({ key: null, descending: false }, "p_render");
  assert.deepEqual(sort, { key: "p_render", descending: true }); // probabilities: highest first
  assert.deepEqual(sortRecords(rs, byRender, sort.descending).map((r) => r.index), [0, 1, 2]);
  sort = nextSort(sort, "p_render");
  assert.deepEqual(sortRecords(rs, byRender, sort.descending).map((r) => r.index), [1, 0, 2]); // missing still last
  assert.deepEqual(nextSort(sort, "path"), { key: "path", descending: false });
  assert.deepEqual(rs.map((r) => r.index), [0, 1, 2]); // the records themselves are not reordered
});

test("the summary counts every state and says how many wait", () => {
  const rs = [done(0, "a", [0.9, 0.1]), done(1, "b", [0.6, 0.4]), { status: "error" }, { status: "pending" },
    { status: "cancelled" }];
  assert.deepEqual(summaryOf(rs, 2), {
    text: "2 done · 1 unsure or too small · 1 could not be read · 1 cancelled · 1 waiting · 2 other files skipped (not pictures)",
    pending: 1 });
  assert.equal(isUnsure(rs[1]), true);
  assert.equal(isUnsure(rs[0]), false);
});

test("the CSV has train.predict's columns, quotes what needs it, skips what was not classified", () => {
  const rs = [done(0, 'dir/a "quoted", name.jpg', [0.25, 0.75]), { index: 1, path: "b.png", status: "error", error: "not a picture" },
    { index: 2, path: "c.jpg", status: "pending" }];
  const csv = resultsCsv(rs, spec.class_names);
  assert.equal(csv, 'path,verdict,predicted_class,p_photo,p_render,error\r\n' +
    '"dir/a ""quoted"", name.jpg",render,render,0.250000,0.750000,\r\n' +
    "b.png,,,,,not a picture\r\n");
  rs[0].adaptedProbs = [0.5, 0.5];
  rs[0].adaptedVerdict = "unsure";
  rs[0].correction = "photo";
  const lines = resultsCsv(rs, spec.class_names).split("\r\n");
  assert.equal(lines[0], "path,verdict,predicted_class,p_photo,p_render,error,adapted_verdict,adapted_p_photo," +
    "adapted_p_render,your_answer");
  assert.ok(lines[1].endsWith(",unsure,0.500000,0.500000,photo"));
});

test("CSV cells that a spreadsheet would run as a formula get a leading quote (OWASP)", () => {
  const names = ["=HYPERLINK(\"x\").jpg", "+1.png", "-2.png", "@cmd.png", "\ttab.png", "\rcr.png", "a=b.png"];
  const rs = names.map((n, i) => done(i, n, [0.25, 0.75]));
  rs.push({ index: 9, path: "=bad.png", status: "error", error: "=bad.png: not a picture" });
  const rows = resultsCsv(rs, spec.class_names).split("\r\n").slice(1, -1);
  assert.deepEqual(rows.map((r) => r.split(",")[0]), ['"\'=HYPERLINK(""x"").jpg"', "'+1.png", "'-2.png",
    "'@cmd.png", "'\ttab.png", '"\'\rcr.png"', "a=b.png", "'=bad.png"]);
  assert.ok(rows[7].endsWith(",'=bad.png: not a picture"));
  assert.deepEqual(["=", "x", "'=", ""].map(spreadsheetSafe), ["'=", "x", "'=", ""]);
});

test("a folder's pictures are chosen by the spec's extensions; hidden files are skipped", () => {
  const files = ["a.JPG", "b.png", ".c.jpg", "notes.txt"].map((name) => ({ name }));
  const { keep, skipped } = picturesOf(files, [".jpg", ".png"]);
  assert.deepEqual(keep.map((f) => f.name), ["a.JPG", "b.png"]);
  assert.equal(skipped, 2);
});
