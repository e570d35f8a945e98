// The mybox web UI: sign in, files (grid/list, infinite scroll), uploads with progress,
// pause/resume/cancel, resume after reload, history with completion times.
import { ApiError, api } from "./api.js";
import { FileList } from "./files.js";
import { icon } from "./icons.js";
import { UploadManager, history, resumeStore, setUser } from "./uploads.js";
import { bytes, duration, h, rate, toast, when } from "./util.js";

const $ = (id) => document.getElementById(id);
const uploads = new UploadManager();
let files = null;
let registering = false;

// --- account ---------------------------------------------------------------------------------
async function start() {
  try {
    showApp(await api("GET", "/me"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showAuth();
    else { showAuth(); $("auth-error").textContent = `The server did not answer: ${err.message}`; }
  }
}

function showAuth(message = "") {
  $("app").hidden = true;
  $("account").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("auth-form").username.focus();
}

function showApp(me) {
  setUser(me.username);
  $("auth").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  setUsage(me);
  if (!files) files = new FileList($("files-panel"), { onChange: refreshUsage });
  setView(files.view);
  files.reset();
  renderHistory();
  renderUnfinished();
}

function setUsage(me) {
  $("usage").textContent = `${me.username} · ${me.fileCount} file${me.fileCount === 1 ? "" : "s"} · ${bytes(me.usedBytes)}`;
}

async function refreshUsage() {
  try { setUsage(await api("GET", "/me")); } catch { /* signed out: handled elsewhere */ }
}

function setMode(register) {
  registering = register;
  $("auth-title").textContent = register ? "Create an account" : "Sign in";
  $("auth-submit").textContent = register ? "Create account" : "Sign in";
  $("auth-question").textContent = register ? "Have an account?" : "No account yet?";
  $("auth-switch").textContent = register ? "Sign in" : "Create one";
  $("auth-form").password.autocomplete = register ? "new-password" : "current-password";
  $("auth-error").textContent = "";
}

async function submitAuth(event) {
  event.preventDefault();
  const form = event.target;
  const creds = { username: form.username.value.trim(), password: form.password.value };
  const button = $("auth-submit");
  button.disabled = true;
  $("auth-error").textContent = "";
  try {
    if (registering) await api("POST", "/auth/register", creds);
    await api("POST", "/auth/session", creds);
    form.password.value = "";
    setMode(false);
    showApp(await api("GET", "/me"));
  } catch (err) {
    $("auth-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  for (const u of uploads.items) if (u.active || u.state === "queued") u.pause();  // resumable later
  uploads.items = [];
  $("queue").replaceChildren();
  $("queue-panel").hidden = true;
  try { await api("DELETE", "/auth/session"); } catch { /* cookie cleared anyway */ }
  showAuth();
}

// --- uploads ---------------------------------------------------------------------------------
function statusText(u) {
  const pct = (x) => `${Math.floor(x * 100)} %`;
  switch (u.state) {
    case "queued": return "Waiting…";
    case "preparing": return `Preparing… ${pct(u.size ? u.hashed / u.size : 1)}`;
    case "starting": return "Starting…";
    case "uploading": {
      const left = duration(u.eta);
      return [pct(u.size ? u.sent / u.size : 1), `${bytes(u.sent)} of ${bytes(u.size)}`, rate(u.speed.rate),
              left && `${left} left`].filter(Boolean).join(" · ");
    }
    case "paused": return `Paused at ${pct(u.size ? u.sent / u.size : 0)}`;
    case "done": return `Done at ${when(new Date(u.finishedAt).toISOString())} · took ${duration((u.finishedAt - u.startedAt) / 1000)}`;
    case "cancelled": return "Cancelled";
    case "error": return `Stopped: ${u.error}`;
    default: return u.state;
  }
}

function renderUpload(u, li) {
  const value = u.state === "preparing" ? u.hashed : u.sent;
  const controls = [];
  if (u.active || u.state === "queued") {
    controls.push(h("button", { type: "button", class: "button small", onclick: () => u.pause() }, "Pause"));
  }
  if (u.state === "paused" || u.state === "error") {
    controls.push(h("button", { type: "button", class: "button small primary", onclick: () => u.resume() }, "Resume"));
  }
  if (!["done", "cancelled"].includes(u.state)) {
    controls.push(h("button", { type: "button", class: "button small ghost", onclick: () => u.cancel() }, "Cancel"));
  } else {
    controls.push(h("button", { type: "button", class: "button small ghost", onclick: () => dismiss(u, li) }, "Dismiss"));
  }
  li.dataset.state = u.state;
  li.replaceChildren(
    h("div", { class: "row" },
      h("span", { class: "name", title: u.name }, u.name),
      h("span", { class: "size" }, bytes(u.size))),
    h("progress", { max: String(u.size || 1), value: String(value), class: u.state === "preparing" ? "preparing" : "" }),
    h("div", { class: "row" }, h("span", { class: "status" }, statusText(u)), h("span", { class: "controls" }, controls)));
}

function dismiss(u, li) {
  uploads.items = uploads.items.filter((x) => x !== u);
  li.remove();
  $("queue-panel").hidden = !$("queue").children.length;
}

uploads.addEventListener("added", (e) => {
  const u = e.detail;
  const li = h("li", { class: "upload", dataset: { name: u.name } });
  renderUpload(u, li);
  u.addEventListener("change", () => renderUpload(u, li));
  $("queue").prepend(li);
  $("queue-panel").hidden = false;
});

uploads.addEventListener("uploaded", (e) => {
  if (files) files.add(e.detail);
  renderHistory();
  renderUnfinished();
  refreshUsage();
});

function addFiles(list) {
  const chosen = [...list].filter((f) => f.size >= 0);
  if (!chosen.length) return;
  uploads.add(chosen);
  renderUnfinished();
}

async function renderUnfinished() {
  const busy = new Set(uploads.items.map((u) => u.key));
  const entries = Object.entries(resumeStore.all()).filter(([key]) => !busy.has(key));
  $("unfinished-panel").hidden = !entries.length;
  $("unfinished").replaceChildren(...entries.map(([key, entry]) => {
    const status = h("span", { class: "status" }, "checking…");
    const li = h("li", { class: "upload", dataset: { name: entry.name } },
      h("div", { class: "row" }, h("span", { class: "name" }, entry.name), h("span", { class: "size" }, bytes(entry.size))),
      h("div", { class: "row" }, status, h("span", { class: "controls" },
        h("button", { type: "button", class: "button small ghost", onclick: async () => {
          try { await api("DELETE", `/files/${entry.fileId}/upload`); } catch { /* gone already */ }
          resumeStore.remove(key);
          renderUnfinished();
        } }, "Discard"))));
    api("GET", `/files/${entry.fileId}/upload`).then((st) => {
      if (st.status !== "uploading") { resumeStore.remove(key); li.remove(); return; }
      const pct = Math.floor((100 * st.completedParts.length) / st.partCount);
      status.textContent = `${pct} % sent · choose the file again to resume`;
    }).catch(() => { resumeStore.remove(key); li.remove(); });
    return li;
  }));
}

function renderHistory() {
  const entries = history.all();
  $("history-empty").hidden = entries.length > 0;
  $("history-clear").hidden = !entries.length;
  $("history").replaceChildren(...entries.map((e) => {
    const seconds = (e.finishedAt - e.startedAt) / 1000;
    return h("li", {},
      h("span", { class: "name", title: e.name }, e.name),
      h("span", { class: "sub" },
        `${bytes(e.size)} · completed ${when(new Date(e.finishedAt).toISOString())}`,
        ` (${new Date(e.finishedAt).toLocaleString()}) · took ${duration(seconds)}`,
        seconds > 0 ? ` · ${rate(e.size / seconds)}` : "",
        e.resumed ? " · resumed" : ""));
  }));
}

function setView(view) {
  if (files) files.setView(view);
  $("view-grid").setAttribute("aria-pressed", String(view === "grid"));
  $("view-list").setAttribute("aria-pressed", String(view === "list"));
}

// --- wiring ----------------------------------------------------------------------------------
function selectTab(name) {
  for (const t of ["files", "history"]) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`${t}-panel`).hidden = t !== name;
  }
  document.querySelector(".viewtoggle").hidden = name !== "files";
  if (name === "history") renderHistory();
}

function wire() {
  $("view-grid").replaceChildren(icon("grid"));
  $("view-list").replaceChildren(icon("list"));
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-switch").addEventListener("click", () => setMode(!registering));
  $("signout").addEventListener("click", signOut);
  $("picker").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  $("tab-files").addEventListener("click", () => selectTab("files"));
  $("tab-history").addEventListener("click", () => selectTab("history"));
  $("view-grid").addEventListener("click", () => setView("grid"));
  $("view-list").addEventListener("click", () => setView("list"));
  $("history-clear").addEventListener("click", () => { history.clear(); renderHistory(); });
  window.addEventListener("mybox:signedout", () => showAuth("Your session ended; please sign in again."));
  window.addEventListener("online", () => {
    for (const u of uploads.items) if (u.state === "error") u.resume();
  });
  window.addEventListener("beforeunload", (e) => {
    if (uploads.items.some((u) => u.active)) e.preventDefault();
  });

  // drag and drop anywhere on the page
  let depth = 0;
  const overlay = $("dropzone-overlay");
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  document.addEventListener("dragenter", (e) => { if (hasFiles(e) && !$("app").hidden) { depth++; overlay.hidden = false; } });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; overlay.hidden = true; } });
  document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (!$("app").hidden) addFiles(e.dataTransfer.files);
  });
}

wire();
start();
