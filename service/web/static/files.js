// The file list: newest first, grid (thumbnails) or list view, infinite scroll by cursor.
import { api, apiRetry } from "./api.js";
import { icon, iconFor } from "./icons.js";
import { bytes, h, toast, when } from "./util.js";

const PAGE_SIZE = 30;
const VIEW_KEY = "mybox.view";

export class FileList {
  constructor(root, { onChange } = {}) {
    this.root = root;
    this.onChange = onChange || (() => {});
    this.items = new Map();
    this.cursor = null;
    this.loading = false;
    this.ended = false;
    this.view = localStorage.getItem(VIEW_KEY) || "grid";
    this.list = h("ul", { class: `files ${this.view}`, "aria-live": "polite" });
    this.empty = h("p", { class: "empty", hidden: true }, "No files yet. Drop some here or choose them above.");
    this.more = h("button", { class: "more", type: "button", onclick: () => this.load() }, "Load more");
    this.sentinel = h("div", { class: "sentinel" });
    root.replaceChildren(this.list, this.empty, this.more, this.sentinel);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.load();
    }, { rootMargin: "400px" });
    this.observer.observe(this.sentinel);
  }

  setView(view) {
    this.view = view;
    localStorage.setItem(VIEW_KEY, view);
    this.list.className = `files ${view}`;
  }

  async reset() {
    this.items.clear();
    this.list.replaceChildren();
    this.cursor = null;
    this.ended = false;
    await this.load();
  }

  async load() {
    if (this.loading || this.ended) return;
    this.loading = true;
    this.more.disabled = true;
    try {
      const q = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
      if (this.cursor) q.set("cursor", this.cursor);
      const page = await apiRetry("GET", `/files?${q}`);
      for (const f of page.items) if (!this.items.has(f.id)) this.list.append(this._row(f));
      this.cursor = page.nextCursor;
      this.ended = !page.nextCursor;
    } catch (err) {
      toast(`Could not load files: ${err.message}`, "error");
    } finally {
      this.loading = false;
      this.more.disabled = false;
      this.more.hidden = this.ended;
      this.empty.hidden = this.items.size > 0;
    }
  }

  // A file that just finished uploading: show it at the top, then follow it until its
  // checksum is verified and its thumbnail exists.
  add(info) {
    const old = this.items.get(info.id);
    const row = this._row(info);
    if (old) old.el.replaceWith(row); else this.list.prepend(row);
    this.empty.hidden = true;
    this._follow(info.id, 0);
  }

  async _follow(id, round) {
    const cur = this.items.get(id);
    if (!cur || round > 45) return;
    const f = cur.info;
    const wantsThumb = /^(image|video)\//.test(f.contentType) && !f.thumbnailUrl;
    if (f.status === "available" && !wantsThumb) return;
    setTimeout(async () => {
      if (!this.items.has(id)) return;  // deleted meanwhile
      try {
        const fresh = await api("GET", `/files/${id}/metadata`);
        const now = this.items.get(id);
        if (!now) return;
        if (fresh.status !== now.info.status || fresh.thumbnailUrl !== now.info.thumbnailUrl) {
          now.el.replaceWith(this._row(fresh));
        }
        this._follow(id, round + 1);
      } catch { /* deleted meanwhile */ }
    }, 2000);
  }

  _thumb(f) {
    const placeholder = iconFor(f.contentType);
    if (!f.thumbnailUrl) return h("div", { class: "thumb" }, placeholder);
    const img = h("img", { src: f.thumbnailUrl, alt: "", loading: "lazy", decoding: "async" });
    img.addEventListener("error", () => img.replaceWith(placeholder));
    return h("div", { class: "thumb" }, img);
  }

  _row(f) {
    const available = f.status === "available";
    const el = h("li", { class: `file status-${f.status}`, dataset: { id: f.id } },
      this._thumb(f),
      h("div", { class: "meta" },
        h("span", { class: "name", title: f.name }, f.name),
        h("span", { class: "sub" },
          bytes(f.size), " · ", when(f.uploadedAt || f.createdAt),
          available ? "" : h("span", { class: "badge" }, f.status))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "icon-btn", title: "Download", "aria-label": `Download ${f.name}`,
                      disabled: !available, onclick: () => this.download(f) }, icon("download")),
        h("button", { type: "button", class: "icon-btn danger", title: "Delete", "aria-label": `Delete ${f.name}`,
                      onclick: () => this.remove(f) }, icon("trash"))));
    this.items.set(f.id, { info: f, el });
    return el;
  }

  async download(f) {
    try {
      const { url } = await api("GET", `/files/${f.id}/download-url`);
      // a presigned S3 URL answering with Content-Disposition: attachment; no token travels
      const a = h("a", { href: url, download: f.name, rel: "noopener", hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      toast(`Download failed: ${err.message}`, "error");
    }
  }

  async remove(f) {
    if (!confirm(`Delete “${f.name}”? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/files/${f.id}`);
      const cur = this.items.get(f.id);
      if (cur) cur.el.remove();
      this.items.delete(f.id);
      this.empty.hidden = this.items.size > 0;
      toast(`Deleted ${f.name}`);
      this.onChange();
    } catch (err) {
      toast(`Delete failed: ${err.message}`, "error");
    }
  }
}
