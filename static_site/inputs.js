// Picture input: the pickers, the camera, dropped files and folders, pasted pictures. Each way ends in
// one of the handlers the page gives (addFiles, addFolder); nothing happens on import.
import { $ } from "./ui.js";

/** Every file under dropped directory entries (FileSystemEntry API), with its path inside the drop. */
export async function filesUnder(entries) {
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push(Object.assign(file, { relativePath: entry.fullPath.replace(/^\//, "") }));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) { // readEntries gives a batch at a time (100 in Chromium) until an empty one
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

/** `addFiles(files)`: pictures chosen, taken, dropped or pasted; `addFolder(files)`: every file of a
 *  chosen or dropped folder (the page keeps the pictures). */
export function wireInputs({ addFiles, addFolder }) {
  $("pick").addEventListener("click", () => $("files").click());
  $("pick-folder").addEventListener("click", () => $("folder").click());
  $("camera").addEventListener("click", () => $("capture").click());
  for (const id of ["files", "capture"]) {
    $(id).addEventListener("change", (e) => {
      addFiles([...e.target.files]);
      e.target.value = ""; // choosing the same file again fires change again
    });
  }
  $("folder").addEventListener("change", (e) => {
    addFolder([...e.target.files]);
    e.target.value = "";
  });
  const drop = $("drop");
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.classList.add("over"); });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.classList.remove("over"); } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove("over");
    const dt = e.dataTransfer;
    if (!dt) return;
    // Entries must be taken while the event lasts; a dropped folder is walked afterwards.
    const entries = [...dt.items || []].map((i) => (i.kind === "file" && i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.some((x) => x && x.isDirectory)) addFolder(await filesUnder(entries.filter(Boolean)));
    else addFiles([...dt.files]);
  });
  document.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) {
      e.preventDefault();
      addFiles(files);
    }
  });
}
