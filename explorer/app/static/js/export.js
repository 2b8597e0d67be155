// Save a grid of digit canvases as a PNG that says how to reproduce it: row and column labels, and a
// caption with the model, the seed and the settings. Save the drawing itself (PNG and JSON).

import { crc32 } from "./data.js";

/**
 * canvases: the digits, row by row; cols: per row; caption: one line (model, seed, settings);
 * rows / columns: optional labels (strings) written left of each row / under each column.
 */
export function savePNG(canvases, cols, caption, filename, { rows = null, columns = null } = {}) {
  if (!canvases.length) return false;
  const cell = 56, pad = 4, nrows = Math.ceil(canvases.length / cols), left = rows ? 110 : 0, under = columns ? 22 : 0;
  const W = Math.max(left + cols * (cell + pad) + pad, 560), H = nrows * (cell + pad) + pad + under + 30;
  const out = document.createElement("canvas");
  out.width = W; out.height = H;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H); ctx.imageSmoothingEnabled = false;
  canvases.forEach((c, i) => ctx.drawImage(c, left + pad + (i % cols) * (cell + pad), pad + Math.floor(i / cols) * (cell + pad), cell, cell));
  ctx.fillStyle = "#111"; ctx.font = "14px sans-serif"; ctx.textBaseline = "middle";
  (rows || []).forEach((t, r) => ctx.fillText(t, 4, pad + r * (cell + pad) + cell / 2, left - 8));
  ctx.textAlign = "center";
  (columns || []).forEach((t, c) => ctx.fillText(t, left + pad + c * (cell + pad) + cell / 2, pad + nrows * (cell + pad) + under / 2));
  ctx.textAlign = "left"; ctx.font = "13px sans-serif";
  ctx.fillText(caption, pad, H - 14, W - 2 * pad);
  download(out.toDataURL("image/png"), filename);
  return true;
}

export function download(href, filename) {
  const a = document.createElement("a");
  a.href = href; a.download = filename;
  document.body.append(a); a.click(); a.remove();
}

// PNG text chunks: a PNG that carries how to reproduce it (PIL reads them as Image.text).
/** The PNG of `canvas` with a tEXt chunk `key` = `text` (ASCII JSON), as a Blob. */
export async function pngWithText(canvas, key, text) {
  const png = new Uint8Array(await (await new Promise((r) => canvas.toBlob(r, "image/png"))).arrayBuffer());
  const data = new TextEncoder().encode(`${key}\0${text}`), type = new TextEncoder().encode("tEXt");
  const chunk = new Uint8Array(12 + data.length), view = new DataView(chunk.buffer);
  view.setUint32(0, data.length); chunk.set(type, 4); chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  const iend = png.length - 12;  // IEND is the last chunk: 12 bytes
  return new Blob([png.subarray(0, iend), chunk, png.subarray(iend)], { type: "image/png" });
}
