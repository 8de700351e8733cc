// Learning from the visitor's corrections, on this device only. The shipped model is never changed: a
// small residual head on its embedding ("features", train/model.py exported_model) is fitted here, in
// TF.js, and the corrections are kept in this browser's IndexedDB. Nothing is uploaded.
//
//   adapted logits = log p_model + z · W,   z = features / |features|
//
// W starts at zero, so with no corrections the answer is the model's own. It is fitted on the corrected
// (and confirmed) pictures by Adam on their cross-entropy, with an L2 pull towards zero: the further a
// picture's embedding is from the corrected ones, the less its answer moves.
//
// The harm check: before W is used, it is scored on the run's reference set (model/reference.json, train/
// export.py reference_set: validation pictures as features and labels). If it costs more than
// HARM.tolerance of their accuracy, it is fitted again with HARM.pullFactor times the pull, up to
// HARM.rounds times, and dropped (the model's own answers) if it still does; `check` says what happened.
const tf = () => globalThis.tf;

const DB_NAME = "render-or-real";
const STORE = "corrections";
// l2: benchmarks.corrections (4 held-out sources of shared/realdata, k = 5-20) measured 1e-3 at 0.99-1.00
// on the corrected source but 0.90-0.92 on the rest (from 0.97); 1e-2 at 0.96-0.99 and 0.93-0.94.
export const FIT = { steps: 150, learningRate: 0.05, l2: 1e-2 };
// tolerance: the goal (harm at most 1 point); measured with benchmarks.corrections (README).
export const HARM = { tolerance: 0.01, pullFactor: 10, rounds: 3 };

/** model/reference.json decoded: {n, labels, logp: [Float32Array], features: [Float32Array] (unit)}. */
export function decodeReference(json) {
  const bytes = Uint8Array.from(atob(json.features), (c) => c.charCodeAt(0));
  const q = new Int8Array(bytes.buffer);
  if (q.length !== json.n * json.dim || json.labels.length !== json.n || json.probabilities.length !== json.n) {
    throw new Error(`reference.json: ${json.n} pictures of ${json.dim} features do not fit its data`);
  }
  const rows = Array.from({ length: json.n }, (_, i) => unit(q.subarray(i * json.dim, (i + 1) * json.dim)));
  return { n: json.n, dim: json.dim, labels: json.labels, features: rows,
    logp: json.probabilities.map((p) => Float32Array.from(p, (v) => Math.log(Math.max(v, 1e-7)))) };
}

function unit(features) {
  let norm = 0;
  for (const v of features) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  return Float32Array.from(features, (v) => v / norm);
}

function openDb() {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === "undefined") return reject(new Error("IndexedDB is not available"));
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function dbCall(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const request = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(request && request.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export class Adapter {
  /** `version`: the model's run ("run_id@created"); corrections belong to one model's embedding. */
  constructor(version, numClasses) {
    this.version = version;
    this.k = numClasses;
    this.examples = []; // {name, features (unit), logp, label}
    this.W = null; // Float32Array [D * k], row-major, or null: no corrections yet
    this.saved = true; // false when this browser cannot keep them (no IndexedDB)
    this.reference = null; // decodeReference(...), or null: no harm check (a run made before it existed)
    this.checkHarm = true;
    this.check = null; // the last fit's harm check: {before, after, pull, weakened, dropped}, or null
  }

  get count() {
    return this.examples.length;
  }

  /** The adapter of this model with the corrections this browser kept for it (fitted again). */
  static async open(version, numClasses, reference = null) {
    const a = new Adapter(version, numClasses);
    a.reference = reference;
    try {
      const kept = await dbCall("readonly", (s) => s.get(version));
      a.examples = (kept && kept.examples) || [];
    } catch (e) {
      console.warn("corrections cannot be kept on this device", e);
      a.saved = false;
    }
    if (a.count) await a.fit();
    return a;
  }

  async persist() {
    if (!this.saved) return;
    try {
      await dbCall("readwrite", (s) => s.put({ version: this.version, examples: this.examples }, this.version));
    } catch (e) {
      console.warn("corrections not saved", e);
      this.saved = false;
    }
  }

  /** Learn that the picture `name` (its model probabilities and features) is of class `label`. A second
   *  answer for the same picture replaces the first. */
  async add(name, probs, features, label) {
    const logp = Float32Array.from(probs, (p) => Math.log(Math.max(p, 1e-7)));
    this.examples = this.examples.filter((e) => e.name !== name);
    this.examples.push({ name, features: unit(features), logp, label });
    await this.persist();
    await this.fit();
  }

  /** Undo: the correction of the picture `name` forgotten, the rest fitted again. */
  async remove(name) {
    this.examples = this.examples.filter((e) => e.name !== name);
    await this.persist();
    await this.fit();
  }

  /** The corrections, oldest first: [{name, label}]. */
  list() {
    return this.examples.map((e) => ({ name: e.name, label: e.label }));
  }

  async setHarmCheck(on) {
    this.checkHarm = on;
    await this.fit();
  }

  async reset() {
    this.examples = [];
    this.W = null;
    this.check = null;
    if (this.saved) {
      try {
        await dbCall("readwrite", (s) => s.delete(this.version));
      } catch (e) {
        console.warn("corrections not cleared", e);
      }
    }
  }

  /** W fitted on the examples, then held to the harm check (weakened or dropped; this.check). */
  async fit() {
    this.check = null;
    if (!this.count) {
      this.W = null;
      return;
    }
    let l2 = FIT.l2;
    this.W = await this.fitted(l2);
    const ref = this.checkHarm ? this.reference : null;
    if (!ref || ref.dim !== this.examples[0].features.length) return;
    const before = this.accuracy(ref, null);
    let after = this.accuracy(ref, this.W);
    const check = { n: ref.n, before, after, pull: 1, weakened: false, dropped: false };
    for (let round = 0; before - after > HARM.tolerance && round < HARM.rounds; round++) {
      l2 *= HARM.pullFactor;
      this.W = await this.fitted(l2);
      after = this.accuracy(ref, this.W);
      Object.assign(check, { after, pull: l2 / FIT.l2, weakened: true });
    }
    if (before - after > HARM.tolerance) {
      this.W = null;
      check.dropped = true;
    }
    this.check = check;
  }

  /** Accuracy on the reference set with the head W (null: the model's own answers). */
  accuracy(ref, W) {
    let right = 0;
    for (let i = 0; i < ref.n; i++) {
      const logits = this.logits(ref.logp[i], ref.features[i], W);
      right += logits.indexOf(Math.max(...logits)) === ref.labels[i];
    }
    return right / ref.n;
  }

  /** log p + z · W for unit features z. */
  logits(logp, z, W) {
    const out = Float32Array.from(logp);
    if (!W) return out;
    for (let c = 0; c < this.k; c++) {
      let s = 0;
      for (let i = 0; i < z.length; i++) s += z[i] * W[i * this.k + c];
      out[c] += s;
    }
    return out;
  }

  /** W fitted on the examples with the pull `l2`: Adam on the mean cross-entropy plus the L2 pull, in TF.js
   *  ops. The gradient is written out (Xᵀ(softmax(L + XW) − Y) / n + 2·l2·W: the page's runtime,
   *  tfjs-core alone, has no gradient registry). Every tensor is disposed. */
  async fitted(l2) {
    const t = tf();
    const n = this.count;
    const d = this.examples[0].features.length;
    const X = t.tensor2d(this.examples.map((e) => Array.from(e.features)), [n, d]);
    const L = t.tensor2d(this.examples.map((e) => Array.from(e.logp)), [n, this.k]);
    const Y = t.tidy(() => t.oneHot(t.tensor1d(this.examples.map((e) => e.label), "int32"), this.k));
    const Xt = t.transpose(X);
    let W = t.zeros([d, this.k]);
    let m = t.zerosLike(W);
    let v = t.zerosLike(W);
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    try {
      for (let step = 1; step <= FIT.steps; step++) {
        const [W2, m2, v2] = t.tidy(() => {
          const p = t.softmax(t.add(L, t.matMul(X, W)));
          const g = t.add(t.div(t.matMul(Xt, t.sub(p, Y)), n), t.mul(2 * l2, W));
          const mNew = t.add(t.mul(b1, m), t.mul(1 - b1, g));
          const vNew = t.add(t.mul(b2, v), t.mul(1 - b2, t.square(g)));
          const mHat = t.div(mNew, 1 - b1 ** step);
          const vHat = t.div(vNew, 1 - b2 ** step);
          return [t.sub(W, t.mul(FIT.learningRate, t.div(mHat, t.add(t.sqrt(vHat), eps)))), mNew, vNew];
        });
        t.dispose([W, m, v]);
        [W, m, v] = [W2, m2, v2];
      }
      return await W.data();
    } finally {
      t.dispose([X, L, Y, Xt, W, m, v]);
    }
  }

  /** The adapted probabilities of a picture (its model probabilities and features): Float32Array. */
  adapt(probs, features) {
    if (!this.W || !features) return Float32Array.from(probs);
    const logits = this.logits(Float32Array.from(probs, (p) => Math.log(Math.max(p, 1e-7))), unit(features), this.W);
    const top = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }
}
