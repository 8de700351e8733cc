// Service worker: the page, the TF.js runtime and the model keep working offline after one visit.
//
// Network first, cache as the fall-back, for every file of this site: when the server answers, the
// visitor gets what is deployed now (a new model is picked up on the next load) and the cache is
// refreshed; when it does not (offline, server gone), the last copy is served. Only this origin's
// GET requests are touched; nothing else is ever fetched. Entries are keyed by path (no query), so
// ?backend=... and the model's ?v=<run> share one copy.
//
// Every response it gives carries COOP/COEP (same-origin, require-corp): pages it controls (every visit
// after the first) are cross-origin isolated, which lets TF.js run its threaded WASM build. A static host
// cannot send these headers itself; the site loads nothing from other origins, so nothing breaks.
const CACHE = "render-or-real-v1";
// The page's own files are listed once, in files.json (train.site publishes the same list).
const PAGE_LIST = "files.json";
const NETWORK_TIMEOUT_MS = 8000; // a server that accepts but never answers counts as offline

// TF.js loads the SIMD build of its WASM binary where the browser has SIMD (all current ones), else
// the plain one; cache only the one this browser will ask for (same test as TF.js).
const SIMD = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10,
  9, 1, 7, 0, 65, 0, 253, 15, 26, 11]));
const needed = (file) => !file.endsWith(".wasm") || file.includes("-simd") === SIMD;

const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

/** The same response with the isolation headers (an opaque one cannot be read, and is left alone). */
function isolated(response) {
  if (!response || response.type === "opaque" || response.type === "opaqueredirect") return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  const empty = [101, 204, 205, 304].includes(response.status);
  return new Response(empty ? null : response.body, { status: response.status, statusText: response.statusText, headers });
}

const keyOf = (url) => {
  const u = new URL(url, self.location.href);
  return u.origin + u.pathname;
};

// Everything the first visit needs, so even that visit's page (not yet controlled) is covered. The
// page has just fetched the same URLs, so these mostly come from the HTTP cache.
async function precache() {
  const cache = await caches.open(CACHE);
  const put = async (url, cacheMode = "no-cache") => {
    const response = await fetch(url, { cache: cacheMode });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    await cache.put(keyOf(url), response.clone());
    return response;
  };
  const pageFiles = (await (await put(PAGE_LIST)).json()).files;
  const shell = ["./", ...pageFiles.filter((f) => f !== "sw.js" && f !== PAGE_LIST), "vendor/runtime.json"];
  await Promise.all(shell.map((path) => put(path))); // the page itself must be cached, or install fails
  const optional = (url, cacheMode) => put(url, cacheMode).catch(() => null);
  const json = async (url, cacheMode) => {
    const r = await optional(url, cacheMode);
    return r && r.json().catch(() => null);
  };
  const [runtime, metrics] = await Promise.all([json("vendor/runtime.json"), json("model/metrics.json", "reload"),
    optional("model/preprocessing.json", "reload"), optional("model/probes.json", "reload"),
    optional("model/reference.json", "reload")]);
  // The same versioned model URL as classifier.js (modelVersion): "run_id@created".
  const version = metrics && metrics.run_id ? `?v=${encodeURIComponent(`${metrics.run_id}@${metrics.created}`)}` : "";
  const model = await json(`model/model.json${version}`, version ? "default" : "reload");
  await Promise.all([
    // The runtime every visit runs (WASM, and its threaded build for the isolated visits to come); another
    // backend is cached when a visit fetches it.
    ...(runtime ? [...(runtime.page || runtime.files), ...(runtime.isolated || [])].filter(needed)
      .map((f) => optional(`vendor/${f}`)) : []),
    ...(model ? model.weightsManifest.flatMap((g) => g.paths).map(
      (p) => optional(`model/${p}${version}`, version ? "default" : "reload")) : []),
  ]); // no model deployed yet (or no runtime built): the page explains that when it loads
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const key = keyOf(request.url);
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), NETWORK_TIMEOUT_MS);
    // Revalidate what the page asks for plainly; keep the page's own choice otherwise ("reload" for
    // the model's JSON, a versioned URL for its weights).
    const mode = request.cache === "default" ? "no-cache" : request.cache;
    const response = await fetch(request, { signal: controller.signal, cache: mode })
      .finally(() => clearTimeout(timer));
    if (response.ok && response.type === "basic") await cache.put(key, response.clone());
    return isolated(response);
  } catch (e) {
    const cached = (await cache.match(key)) || (request.mode === "navigate" && (await cache.match(keyOf("./"))));
    if (cached) return isolated(cached);
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(networkFirst(event.request));
});
