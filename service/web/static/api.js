// The service's JSON API over fetch, authenticated by the HttpOnly session cookie. State-changing
// requests echo the CSRF cookie in X-CSRF-Token (double submit, on top of SameSite=Strict).
import { backoff, sleep } from "./util.js";

export class ApiError extends Error {
  constructor(status, message, code = "", field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)mybox_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export async function errorFrom(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  const message = body.message || response.statusText || `HTTP ${response.status}`;
  return new ApiError(response.status, message, body.code || "", body.field || null);
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && !path.startsWith("/auth/")) {
    window.dispatchEvent(new CustomEvent("mybox:signedout"));
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

const TRANSIENT = new Set([0, 429, 502, 503, 504]);

// api() with retries on network errors and transient statuses (for idempotent calls).
export async function apiRetry(method, path, body, attempts = 7) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api(method, path, body);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      if (!TRANSIENT.has(status) || attempt >= attempts - 1) throw err;
      await sleep(backoff(attempt));
    }
  }
}

// XMLHttpRequest (fetch has no upload progress). Resolves with {status, etag, body, aborted};
// network errors resolve with status 0. `track` receives the request so it can be aborted.
export function xhr(method, url, body, { headers = {}, onProgress, track } = {}) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => resolve({ status: x.status, etag: x.getResponseHeader("ETag"), body: x.responseText });
    x.onerror = x.ontimeout = () => resolve({ status: 0 });
    x.onabort = () => resolve({ status: 0, aborted: true });
    if (track) track(x);
    x.send(body);
  });
}
