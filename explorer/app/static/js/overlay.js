// What is drawn over the map: the cloud of samples z ~ q(z|x) with its guide mean, prior samples and
// interpolation paths. A canvas over the plot: a few dozen markers draw in well under a millisecond.
// The samples often sit within a few pixels of the mean: then they are drawn magnified about it, inside a
// dashed 2-sd ellipse, with the factor written beside it.

// The magnification's label, drawn once per text and scale on a canvas outside the document, then copied: text
// drawn on the overlay itself would make the browser compute the page's styles first (its font and direction
// inherit from the page), which after a stroke's new panels took 1.4 ms of each stroke's end.
const labels = new Map();
function labelImage(text, dpr) {
  const key = `${text} ${dpr}`;
  if (!labels.has(key)) {
    const cv = document.createElement("canvas"), c = cv.getContext("2d"), font = "bold 18px sans-serif";
    c.font = font;
    const w = Math.ceil(c.measureText(text).width) + 8, h = 28;
    cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);  // (this resets the context's state)
    c.setTransform(dpr, 0, 0, dpr, 0, 0); c.font = font; c.textBaseline = "alphabetic";
    c.lineWidth = 4; c.strokeStyle = "#fff"; c.fillStyle = "#111"; c.lineJoin = "round";
    c.strokeText(text, 4, 20); c.fillText(text, 4, 20);
    labels.set(key, { cv, w, h });
    if (labels.size > 16) labels.delete(labels.keys().next().value);  // the oldest: a few are ever in use
  }
  return labels.get(key);
}

/** Draw S.priorPts, S.paths and S.cloud on `canvas`, of the plot's size, placed by the plot's transform T. */
export function drawOverlay(canvas, T, S) {
  const c = canvas.getContext("2d"), dpr = window.devicePixelRatio || 1, { w, h: hgt } = T.size();
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(hgt * dpr);
  }
  c.setTransform(dpr, 0, 0, dpr, 0, 0);
  c.clearRect(0, 0, w, hgt);
  if (!T || !S) return;
  let p;
  try { p = T.plot(); T.toPx(0); } catch { return; }  // no map yet
  c.save();
  c.beginPath(); c.rect(p.l, p.t, p.w, p.h); c.clip();
  const P = (q) => [T.toPx(q[0]), T.toPy(q[1])];
  for (const q of S.priorPts || []) {
    const [x, y] = P(q);
    c.beginPath(); c.moveTo(x, y - 8); c.lineTo(x + 6, y); c.lineTo(x, y + 8); c.lineTo(x - 6, y); c.closePath();
    c.fillStyle = "#000"; c.fill(); c.lineWidth = 1.5; c.strokeStyle = "#fff"; c.stroke();
  }
  (S.paths || []).forEach((path, k) => {
    c.setLineDash(k ? [7, 5] : []); c.lineWidth = 3; c.strokeStyle = k ? "#c2185b" : "#0b3d91";
    c.beginPath(); path.forEach((q, i) => { const [x, y] = P(q); if (i) c.lineTo(x, y); else c.moveTo(x, y); }); c.stroke();
  });
  c.setLineDash([]);
  if (S.ringNode && S.timeline) {  // the timeline's ring: the grid point its image is decoded at
    const [x, y] = P(S.ringNode);
    c.lineWidth = 2.5; c.strokeStyle = "#111"; c.strokeRect(x - 6, y - 6, 12, 12);
    c.lineWidth = 1; c.strokeStyle = "#fff"; c.strokeRect(x - 8, y - 8, 16, 16);
  }
  // the drawing's q(z|x) and samples are the trained model's: not shown at an earlier moment of its training
  const earlier = S.timeline && S.moment !== null && S.moment < S.timeline.moments.length - 1;
  if (S.cloud && !earlier) {
    const [mx, my] = P(S.cloud.mean), pts = S.cloud.samples.map(P);
    const n = pts.length, dx = pts.map((q) => q[0] - mx), dy = pts.map((q) => q[1] - my);
    const sxx = dx.reduce((a, v) => a + v * v, 0) / n, syy = dy.reduce((a, v) => a + v * v, 0) / n;
    const sxy = dx.reduce((a, v, i) => a + v * dy[i], 0) / n, tr = sxx + syy, det = sxx * syy - sxy * sxy;
    const l1 = tr / 2 + Math.sqrt(Math.max(0, tr * tr / 4 - det)), l2 = Math.max(0, tr - l1);
    const f = Math.max(1, Math.ceil(35 / Math.max(1e-6, 2 * Math.sqrt(l1))));
    const angle = Math.atan2(l1 - sxx, sxy || 1e-12);
    c.setLineDash([5, 4]); c.lineWidth = 2; c.strokeStyle = "#111";
    c.beginPath(); c.ellipse(mx, my, Math.max(2, 2 * f * Math.sqrt(l1)), Math.max(2, 2 * f * Math.sqrt(l2)), angle, 0, 2 * Math.PI); c.stroke();
    c.setLineDash([]);
    if (f > 1) {
      const img = labelImage(`q(z|x) ×${f}`, dpr), lx = mx + 2 * f * Math.sqrt(l1) + 8, ly = my - 8;
      c.drawImage(img.cv, lx - 4, ly - 20, img.w, img.h);  // the text's baseline at ly, as fillText(text, lx, ly)
    }
    S.hooks.cloudMagnification = f;
    c.lineWidth = 2.2; c.strokeStyle = "#111";
    for (let i = 0; i < n; i++) { c.beginPath(); c.arc(mx + f * dx[i], my + f * dy[i], 5.5, 0, 2 * Math.PI); c.stroke(); }
    c.beginPath();
    for (let i = 0; i < 10; i++) { const r = i % 2 ? 5 : 12, t = -Math.PI / 2 + i * Math.PI / 5; c.lineTo(mx + r * Math.cos(t), my + r * Math.sin(t)); }
    c.closePath(); c.fillStyle = "#ffd400"; c.fill(); c.lineWidth = 1.8; c.strokeStyle = "#111"; c.stroke();
  }
  c.restore();
}
