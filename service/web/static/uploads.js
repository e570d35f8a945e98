// Uploads from the browser. Small files: one POST /files (XHR, for progress). Large files: S3
// multipart through presigned part URLs, PARALLEL_PARTS parts in flight, each a File slice PUT
// straight to S3 (the bucket's CORS exposes ETag), then reported with part-complete.
//
// Resume: localStorage maps (name, size, lastModified) -> fileId. Choosing the same file again,
// even after a reload, asks GET /files/{id}/upload which parts the server has and sends the rest.
//
// Checksums: files up to HASH_MAX are hashed first ("preparing", in a Web Worker with an
// incremental SHA-256) and the sha256 is declared, so the server verifies what it stored.
// Larger files are not hashed here (at ~100-300 MB/s in JavaScript a 20 GB video would spend
// minutes preparing); the server's worker computes their sha256 from the stored bytes.
import { ApiError, api, apiRetry, csrfToken, errorFrom, xhr } from "./api.js";
import { backoff, sleep } from "./util.js";

export const SMALL_MAX = 16 * 1024 * 1024;
export const HASH_MAX = 1024 * 1024 * 1024;
const PARALLEL_PARTS = 4;
const PARALLEL_FILES = 2;
const PART_ATTEMPTS = 8;
let RESUME_KEY = "mybox.resume.v1";
let HISTORY_KEY = "mybox.history.v1";

// Resume records and history belong to the signed-in user (a shared browser keeps them apart).
export function setUser(username) {
  RESUME_KEY = `mybox.resume.v1.${username}`;
  HISTORY_KEY = `mybox.history.v1.${username}`;
}

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

export const resumeStore = {
  all() { return load(RESUME_KEY, {}); },
  get(key) { return this.all()[key] || null; },
  put(key, value) { const all = this.all(); all[key] = value; localStorage.setItem(RESUME_KEY, JSON.stringify(all)); },
  remove(key) { const all = this.all(); delete all[key]; localStorage.setItem(RESUME_KEY, JSON.stringify(all)); },
};

export const history = {
  all() { return load(HISTORY_KEY, []); },
  add(entry) { localStorage.setItem(HISTORY_KEY, JSON.stringify([entry, ...this.all()].slice(0, 200))); },
  clear() { localStorage.removeItem(HISTORY_KEY); },
};

export function fileKey(file) { return `${file.name}|${file.size}|${file.lastModified}`; }

class Stopped extends Error {}

// bytes per second over the last few seconds
class Speedometer {
  constructor() { this.samples = []; }
  add(total) {
    const now = performance.now();
    this.samples.push([now, total]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
  }
  reset() { this.samples = []; }
  get rate() {  // 0 (not shown) until a second of samples exists
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0], [t1, b1] = this.samples[this.samples.length - 1];
    return t1 - t0 >= 1000 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

export class Upload extends EventTarget {
  constructor(file, manager) {
    super();
    this.file = file;
    this.manager = manager;
    this.name = file.name;
    this.size = file.size;
    this.key = fileKey(file);
    this.state = "queued";  // queued, preparing, starting, uploading, paused, done, error, cancelled
    this.hashed = 0;
    this.sent = 0;
    this.error = "";
    this.speed = new Speedometer();
    this.requests = new Set();
    this.partLoaded = new Map();
    this.urls = new Map();
    this.fileId = null;
    this.sha256 = null;
    this.info = null;
    this.resumed = false;
    this.startedAt = null;
  }

  get multipart() { return this.size >= SMALL_MAX; }
  get active() { return ["preparing", "starting", "uploading"].includes(this.state); }
  get eta() { const r = this.speed.rate; return r > 0 ? (this.size - this.sent) / r : Infinity; }

  emit() {
    if (this._pending) return;
    this._pending = requestAnimationFrame(() => { this._pending = 0; this.dispatchEvent(new Event("change")); });
  }

  set(state, error = "") { this.state = state; this.error = error; this.emit(); }

  // --- controls --------------------------------------------------------------------------
  pause() {
    if (!this.active && this.state !== "queued") return;
    this._stop("paused");
  }

  resume() {
    if (!["paused", "error"].includes(this.state)) return;
    this.set("queued");
    this.manager.pump();
  }

  async cancel() {
    this._stop("cancelled");
    resumeStore.remove(this.key);
    if (this.fileId && this.multipart) {
      try { await api("DELETE", `/files/${this.fileId}/upload`); } catch { /* already gone */ }
    }
  }

  _stop(state) {
    this.stopped = true;
    for (const r of this.requests) r.abort();
    this.requests.clear();
    if (this.hasher) { this.hasher.terminate(); this.hasher = null; }
    this.partLoaded.clear();
    this.sent = this.multipart && this.done ? this._doneBytes() : 0;  // bytes in flight are dropped
    this.speed.reset();
    this.set(state);
    this.manager.pump();
  }

  // --- the run ---------------------------------------------------------------------------
  async run() {
    this.stopped = false;
    this.partLoaded.clear();
    this.startedAt = this.startedAt || Date.now();
    this.set("starting");  // synchronously: pump() must not start it twice
    try {
      if (this.multipart) await this._multipart(); else await this._small();
      this._finish();
    } catch (err) {
      if (!(err instanceof Stopped) && !this.stopped) {
        this.set("error", err.message || String(err));
      }
    } finally {
      this.manager.pump();
    }
  }

  _check() { if (this.stopped) throw new Stopped(); }

  _finish() {
    this.sent = this.size;
    this.finishedAt = Date.now();
    history.add({
      fileId: this.info.id, name: this.name, size: this.size, status: this.info.status,
      startedAt: this.startedAt, finishedAt: this.finishedAt, resumed: this.resumed,
    });
    this.set("done");
    this.manager.dispatchEvent(new CustomEvent("uploaded", { detail: this.info }));
  }

  _hash() {
    if (this.sha256 || this.size > HASH_MAX) return Promise.resolve(this.sha256);
    this.set("preparing");
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
      this.hasher = worker;
      worker.onmessage = (e) => {
        if (e.data.done !== undefined) { this.hashed = e.data.done; this.emit(); return; }
        worker.terminate();
        this.hasher = null;
        if (e.data.error) reject(new Error(`could not read the file: ${e.data.error}`));
        else { this.sha256 = e.data.sha256; resolve(this.sha256); }
      };
      worker.onerror = (e) => { worker.terminate(); reject(new Error(e.message || "hashing failed")); };
      worker.postMessage({ file: this.file });
      // a pause terminates the worker: the promise must still settle
      const poll = setInterval(() => {
        if (this.stopped) { clearInterval(poll); reject(new Stopped()); }
        if (!this.hasher) clearInterval(poll);
      }, 200);
    });
  }

  _progress(total) {
    this.sent = Math.min(this.size, total);
    this.speed.add(this.sent);
    this.emit();
  }

  async _small() {
    const sha = await this._hash();
    this._check();
    this.set("uploading");
    const form = new FormData();
    if (sha) form.append("sha256", sha);
    form.append("file", this.file, this.name);
    const res = await xhr("POST", "/files", form, {
      headers: { "X-CSRF-Token": csrfToken() },
      onProgress: (loaded) => this._progress(loaded),
      track: (x) => this.requests.add(x),
    });
    this._check();
    if (res.status !== 201) {
      if (res.status === 0) throw new Error("network error; press resume to try again");
      throw await errorFrom(new Response(res.body, { status: res.status }));
    }
    this.info = JSON.parse(res.body);
  }

  async _multipart() {
    await this._findSession();
    this._check();
    if (this.info) return;  // the server already has the whole file
    if (!this.fileId) {
      const sha = await this._hash();
      this._check();
      this.set("starting");
      const init = await api("POST", "/files/init-multipart", {
        name: this.name, size: this.size, contentType: this.file.type || "application/octet-stream",
        ...(sha ? { sha256: sha } : {}),
      });
      this.fileId = init.fileId;
      this.partSize = init.partSize;
      this.partCount = init.partCount;
      this.done = new Set();
      this._addUrls(init.parts, init.urlsExpireAt || init.expiresAt);
      resumeStore.put(this.key, { fileId: this.fileId, name: this.name, size: this.size, sha256: sha,
                                  startedAt: this.startedAt });
    }
    this.set("uploading");
    this.queue = [];
    for (let n = 1; n <= this.partCount; n++) if (!this.done.has(n)) this.queue.push(n);
    this._progress(this._doneBytes());
    this.speed.reset();
    const lanes = Math.min(PARALLEL_PARTS, this.queue.length);
    try {
      await Promise.all(Array.from({ length: lanes }, () => this._lane()));
    } catch (err) {
      if (!(err instanceof Stopped)) { this.stopped = true; for (const r of this.requests) r.abort(); }
      throw err;
    }
    this._check();
    let status = this.lastStatus;
    if (!status || status === "uploading") status = (await apiRetry("GET", `/files/${this.fileId}/upload`)).status;
    if (status !== "available" && status !== "verifying") throw new Error(`the server left the upload ${status}`);
    this.info = await apiRetry("GET", `/files/${this.fileId}/metadata`);
    resumeStore.remove(this.key);
  }

  // An earlier run (this page, or before a reload) may have started this file: continue it.
  async _findSession() {
    const saved = resumeStore.get(this.key);
    const fileId = this.fileId || (saved && saved.fileId);
    if (!fileId) return;
    let st = null;
    try {
      st = await apiRetry("GET", `/files/${fileId}/upload`);
    } catch (err) {
      if (!(err instanceof ApiError) || ![404, 410].includes(err.status)) throw err;
    }
    if (st && (st.status === "available" || st.status === "verifying")) {
      this.fileId = fileId;
      this.info = await apiRetry("GET", `/files/${fileId}/metadata`);
      resumeStore.remove(this.key);
      return;
    }
    if (!st || st.status !== "uploading") {  // expired, aborted or gone: start over
      resumeStore.remove(this.key);
      this.fileId = null;
      return;
    }
    this.resumed = true;
    if (saved && saved.startedAt) this.startedAt = saved.startedAt;
    this.fileId = fileId;
    this.sha256 = this.sha256 || (saved && saved.sha256) || null;
    this.partSize = st.partSize;
    this.partCount = st.partCount;
    this.done = new Set(st.completedParts);
  }

  _doneBytes() {
    let total = 0;
    for (const n of this.done) total += this._partLength(n);
    for (const v of this.partLoaded.values()) total += v;
    return total;
  }

  _partLength(n) { return Math.min(this.partSize, this.size - (n - 1) * this.partSize); }

  async _lane() {
    while (this.queue.length) {
      this._check();
      await this._part(this.queue.shift());
    }
  }

  async _part(n) {
    const start = (n - 1) * this.partSize;
    const blob = this.file.slice(start, start + this._partLength(n));
    let refreshed = 0;
    for (let attempt = 0; ; attempt++) {
      this._check();
      const url = await this._url(n);
      this._check();
      const res = await xhr("PUT", url, blob, {
        onProgress: (loaded) => { this.partLoaded.set(n, loaded); this._progress(this._doneBytes()); },
        track: (x) => this.requests.add(x),
      });
      this._check();
      if (res.status === 200) {
        if (!res.etag) throw new Error("S3 did not expose the ETag header (check the bucket's CORS rules)");
        this.partLoaded.set(n, this._partLength(n));  // counted as sent while it is being reported
        const r = await apiRetry("POST", `/files/${this.fileId}/part-complete`, { partNumber: n, etag: res.etag });
        this.partLoaded.delete(n);
        this.done.add(n);
        this.lastStatus = r.status;
        this._progress(this._doneBytes());
        return;
      }
      this.partLoaded.delete(n);
      this._progress(this._doneBytes());
      if (res.status === 403 && refreshed++ < 3) { this.urls.delete(n); continue; }  // expired URL
      if (res.status >= 400 && res.status < 500 && ![403, 408, 429].includes(res.status)) {
        throw new Error(`storage refused part ${n} (HTTP ${res.status})`);
      }
      if (attempt >= PART_ATTEMPTS - 1) throw new Error("network problem; press resume to continue");
      await sleep(backoff(attempt));
    }
  }

  _addUrls(parts, expiresAt) {
    const lifetime = new Date(expiresAt).getTime() - Date.now();
    const until = Date.now() + lifetime - Math.min(60000, lifetime / 10);
    for (const p of parts) this.urls.set(p.partNumber, { url: p.url, until });
  }

  _fresh(n) { const u = this.urls.get(n); return u && u.until > Date.now(); }

  async _url(n) {
    while (!this._fresh(n)) {
      if (!this.signing) {
        const batch = [n, ...this.queue.filter((m) => !this._fresh(m))].slice(0, 100);
        this.signing = apiRetry("POST", `/files/${this.fileId}/part-urls`, { partNumbers: batch })
          .then((r) => this._addUrls(r.parts, r.expiresAt))
          .finally(() => { this.signing = null; });
      }
      await this.signing;
    }
    return this.urls.get(n).url;
  }
}

export class UploadManager extends EventTarget {
  constructor() { super(); this.items = []; }

  add(files) {
    for (const file of files) {
      const same = this.items.find((u) => u.key === fileKey(file) && !["done", "cancelled"].includes(u.state));
      if (same) { same.resume(); continue; }
      const item = new Upload(file, this);
      this.items.unshift(item);
      this.dispatchEvent(new CustomEvent("added", { detail: item }));
    }
    this.pump();
  }

  pump() {
    let running = this.items.filter((u) => u.active).length;
    for (const item of [...this.items].reverse()) {
      if (running >= PARALLEL_FILES) break;
      if (item.state === "queued") { running++; item.run(); }
    }
  }
}
