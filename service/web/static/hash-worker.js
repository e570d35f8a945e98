// Web Worker: SHA-256 of a File, read in 4 MiB slices (memory stays flat), posting progress.
import { Sha256 } from "./sha256.js";

const SLICE = 4 * 1024 * 1024;

self.onmessage = async (event) => {
  const file = event.data.file;
  const hash = new Sha256();
  try {
    for (let pos = 0; pos < file.size; pos += SLICE) {
      const buf = await file.slice(pos, Math.min(file.size, pos + SLICE)).arrayBuffer();
      hash.update(new Uint8Array(buf));
      self.postMessage({ done: Math.min(file.size, pos + SLICE) });
    }
    self.postMessage({ sha256: hash.hex() });
  } catch (err) {
    self.postMessage({ error: String(err && err.message || err) });
  }
};
