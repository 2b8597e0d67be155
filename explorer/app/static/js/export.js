// Save a grid of digit canvases as a PNG, with a caption (what reproduces it: model, seed, settings).

export function savePNG(canvases, cols, caption, filename) {
  if (!canvases.length) return false;
  const cell = 56, pad = 4, rows = Math.ceil(canvases.length / cols);
  const W = Math.max(cols * (cell + pad) + pad, 480), H = rows * (cell + pad) + pad + 26;
  const out = document.createElement("canvas");
  out.width = W; out.height = H;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H); ctx.imageSmoothingEnabled = false;
  canvases.forEach((c, i) => ctx.drawImage(c, pad + (i % cols) * (cell + pad), pad + Math.floor(i / cols) * (cell + pad), cell, cell));
  ctx.fillStyle = "#111"; ctx.font = "13px sans-serif"; ctx.fillText(caption, pad, H - 9);
  const a = document.createElement("a");
  a.href = out.toDataURL("image/png"); a.download = filename;
  document.body.append(a); a.click(); a.remove();
  return true;
}
