// `npm run build`: copy the TF.js runtime the page needs from node_modules (installed from the lock
// file by `npm ci`) into vendor/, which git ignores. No bundler: the dist files are already minified
// UMD bundles that attach to the global `tf`; index.html loads them in the order below.
// vendor/runtime.json lists the files (and a content hash the service worker uses as its version).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const site = join(dirname(fileURLToPath(import.meta.url)), "..");
const tfjs = join(site, "node_modules", "@tensorflow");
const vendor = join(site, "vendor");

// [package, file in its dist/, who loads it]. "page": index.html's scripts (in this order) and the WASM
// binaries, what every visit fetches; "isolated": the threaded WASM binary, which TF.js fetches instead
// where the page is cross-origin isolated (sw.js); a backend's name: loaded by classifier.js only when
// that backend is tried (available on this device, and measured, remembered or asked for).
const FILES = [
  ["tfjs-core", "tf-core.es2017.min.js", "page"],
  ["tfjs-converter", "tf-converter.es2017.min.js", "page"],
  ["tfjs-backend-wasm", "tf-backend-wasm.es2017.min.js", "page"],
  // The plain and SIMD builds (TF.js fetches the one the browser supports). The threaded build needs
  // cross-origin isolation (SharedArrayBuffer): the page's service worker gives it (COOP/COEP headers).
  ["tfjs-backend-wasm", "tfjs-backend-wasm.wasm", "page"],
  ["tfjs-backend-wasm", "tfjs-backend-wasm-simd.wasm", "page"],
  ["tfjs-backend-wasm", "tfjs-backend-wasm-threaded-simd.wasm", "isolated"],
  ["tfjs-backend-webgpu", "tf-backend-webgpu.es2017.min.js", "webgpu"],
  ["tfjs-backend-webgl", "tf-backend-webgl.es2017.min.js", "webgl"],
  ["tfjs-backend-cpu", "tf-backend-cpu.es2017.min.js", "cpu"],
];

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
const hash = createHash("sha256");
const files = [];
const page = [];
const isolated = [];
const lazy = {};
let bytes = 0;
for (const [pkg, name, loader] of FILES) {
  const src = join(tfjs, pkg, "dist", name);
  let data;
  try {
    data = readFileSync(src);
  } catch {
    console.error(`build: ${src} is missing; run \`npm --prefix static_site ci\` first`);
    process.exit(1);
  }
  copyFileSync(src, join(vendor, name));
  hash.update(name).update(data);
  bytes += data.length;
  files.push(name);
  if (loader === "page") page.push(name);
  else if (loader === "isolated") isolated.push(name);
  else (lazy[loader] ||= []).push(name);
}
const version = JSON.parse(readFileSync(join(tfjs, "tfjs-core", "package.json"), "utf8")).version;
const runtime = { tfjs: version, files, page, isolated, lazy, bytes, hash: hash.digest("hex").slice(0, 16) };
writeFileSync(join(vendor, "runtime.json"), JSON.stringify(runtime, null, 2) + "\n");
console.log(`vendor/: TF.js ${version}, ${files.length} files, ${(bytes / 1024).toFixed(0)} KB`);
