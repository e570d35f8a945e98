// Inline SVG icons built through the DOM (no emoji font needed, no inline markup under the CSP).
const PATHS = {
  download: "M12 3v12m-5-5 5 5 5-5M5 21h14",
  trash: "M4 7h16M10 11v6m4-6v6M6 7l1 13h10l1-13M9 7V4h6v3",
  grid: "M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z",
  list: "M4 6h16M4 12h16M4 18h16",
  file: "M6 2h8l5 5v15H6zM14 2v5h5",
  image: "M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15 9.5a1 1 0 1 0 0-.01",
  video: "M3 6h13v12H3zM16 10l5-3v10l-5-3",
  audio: "M9 18V5l11-2v13M9 18a3 3 0 1 1-6 0 3 3 0 0 1 6 0zM20 16a3 3 0 1 1-6 0 3 3 0 0 1 6 0z",
};

export function icon(name, size = 22) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `svg-icon icon-${name}`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", PATHS[name] || PATHS.file);
  svg.append(path);
  return svg;
}

export function iconFor(contentType) {
  const kind = (contentType || "").split("/")[0];
  return icon(["image", "video", "audio"].includes(kind) ? kind : "file", 44);
}
