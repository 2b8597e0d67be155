// The map's plot: a canvas scatter of the 10,000 test digits, coloured by digit, with axes, ticks and the
// digit written at each cluster's centre. Drag to pan, wheel or pinch to zoom, double-click to reset;
// hover and click find the nearest point through a grid. 10,000 points draw in a few milliseconds, so a
// pan, a zoom or a moving map (the training timeline) simply redraws.

import { ticks, tickText } from "./charts.js";

const CELLS = 64;  // the hover grid: CELLS x CELLS over the data's box

/** Each digit's cluster centre (the median x and y of its points): [{c, x, y}]. */
function centresOf(xy, labels) {
  const out = [], n = labels.length;
  for (let c = 0; c < 10; c++) {
    const xs = [], ys = [];
    for (let i = 0; i < n; i++) if (labels[i] === c) { xs.push(xy[2 * i]); ys.push(xy[2 * i + 1]); }
    if (xs.length) { const med = (v) => v.sort((a, b) => a - b)[v.length >> 1]; out.push({ c, x: med(xs), y: med(ys) }); }
  }
  return out;
}

export function createScatter(canvas, { colors, onHover, onClick, onView }) {
  const ctx = canvas.getContext("2d");
  const P = { xy: null, labels: null, n: 0, hidden: new Set(), names: ["x", "y"], centres: [], fontSize: 15,
    box: null, view: null, w: 0, h: 0, dpr: 1, grid: null, sprites: null, pointRadius: 2.6, dirty: false };
  const margin = () => ({ l: 3.6 * P.fontSize, r: 10, t: 10, b: 3.2 * P.fontSize });
  const plot = () => { const m = margin(); return { l: m.l, t: m.t, w: Math.max(10, P.w - m.l - m.r), h: Math.max(10, P.h - m.t - m.b) }; };

  /** Equal scales on both axes (a unit is as long across as up), the box centred in the plot. */
  function fit(box, p = plot()) {
    const sx = (box.x1 - box.x0) / p.w, sy = (box.y1 - box.y0) / p.h, s = Math.max(sx, sy);
    const cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
    return { x0: cx - s * p.w / 2, x1: cx + s * p.w / 2, y0: cy - s * p.h / 2, y1: cy + s * p.h / 2 };
  }
  const T = {
    toPx: (x) => { const p = plot(); return p.l + (x - P.view.x0) / (P.view.x1 - P.view.x0) * p.w; },
    toPy: (y) => { const p = plot(); return p.t + (P.view.y1 - y) / (P.view.y1 - P.view.y0) * p.h; },
    fromPx: (px) => { const p = plot(); return P.view.x0 + (px - p.l) / p.w * (P.view.x1 - P.view.x0); },
    fromPy: (py) => { const p = plot(); return P.view.y1 - (py - p.t) / p.h * (P.view.y1 - P.view.y0); },
    plot,
    size: () => ({ w: P.w, h: P.h }),
  };

  // Each colour's dot as coverage-weighted RGBA stamps (alpha 0.7 at the centre), blended straight into a
  // pixel buffer of the plot: 10,000 points in a few milliseconds, so a moving map (the timeline) animates.
  function sprites() {
    const r = P.pointRadius * P.dpr, size = Math.ceil(2 * r + 2), c = size / 2, cover = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {  // 4 x 4 subsamples of each pixel inside the disc
        let k = 0;
        for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) if ((x + (sx + 0.5) / 4 - c) ** 2 + (y + (sy + 0.5) / 4 - c) ** 2 <= r * r) k++;
        cover[y * size + x] = 0.7 * k / 16;
      }
    }
    P.sprites = colors.map((hex) => ({ size, cover, rgb: [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) }));
  }
  const BG = [0xfb, 0xfb, 0xfb], GRIDLINE = [0xe4, 0xe4, 0xe4];
  /** The points (and the grid lines under them) into the plot's pixels: one putImageData. */
  function drawPoints(p, tx, ty) {
    const dpr = P.dpr, X0 = Math.round(p.l * dpr), Y0 = Math.round(p.t * dpr), W = Math.max(1, Math.round(p.w * dpr)), H = Math.max(1, Math.round(p.h * dpr));
    if (!P.img || P.img.width !== W || P.img.height !== H) P.img = ctx.createImageData(W, H);
    const d = P.img.data;
    for (let i = 0; i < d.length; i += 4) { d[i] = BG[0]; d[i + 1] = BG[1]; d[i + 2] = BG[2]; d[i + 3] = 255; }
    for (const v of tx) { const x = Math.round(T.toPx(v) * dpr) - X0; if (x >= 0 && x < W) for (let y = 0; y < H; y++) d.set(GRIDLINE, 4 * (y * W + x)); }
    for (const v of ty) { const y = Math.round(T.toPy(v) * dpr) - Y0; if (y >= 0 && y < H) for (let x = 0; x < W; x++) d.set(GRIDLINE, 4 * (y * W + x)); }
    const { xy, labels, n } = P, size = P.sprites[0].size, half = size / 2, cover = P.sprites[0].cover;
    const v = P.view, sx = p.w * dpr / (v.x1 - v.x0), sy = p.h * dpr / (v.y1 - v.y0);
    for (let i = 0; i < n; i++) {
      const lab = labels[i];
      if (P.hidden.has(lab)) continue;
      const px = Math.round((xy[2 * i] - v.x0) * sx - half), py = Math.round((v.y1 - xy[2 * i + 1]) * sy - half);
      if (px <= -size || py <= -size || px >= W || py >= H) continue;
      const [r, g, b] = P.sprites[lab].rgb;
      for (let yy = Math.max(0, -py); yy < size && py + yy < H; yy++) {
        let o = 4 * ((py + yy) * W + px + Math.max(0, -px)), k = yy * size + Math.max(0, -px);
        for (let xx = Math.max(0, -px); xx < size && px + xx < W; xx++, o += 4, k++) {
          const a = cover[k];
          if (a === 0) continue;
          d[o] += (r - d[o]) * a; d[o + 1] += (g - d[o + 1]) * a; d[o + 2] += (b - d[o + 2]) * a;
        }
      }
    }
    ctx.putImageData(P.img, X0, Y0);
  }

  function buildGrid() {
    const { xy, n } = P, b = P.box, cells = Array.from({ length: CELLS * CELLS }, () => []);
    for (let i = 0; i < n; i++) cells[cellOf(xy[2 * i], xy[2 * i + 1], b)].push(i);
    P.grid = cells;
  }
  const cellOf = (x, y, b) => {
    const cx = Math.min(CELLS - 1, Math.max(0, Math.floor((x - b.x0) / (b.x1 - b.x0) * CELLS)));
    const cy = Math.min(CELLS - 1, Math.max(0, Math.floor((y - b.y0) / (b.y1 - b.y0) * CELLS)));
    return cy * CELLS + cx;
  };

  function resize(rect) {
    const r = rect || canvas.parentElement.getBoundingClientRect(), dpr = window.devicePixelRatio || 1, old = P.w ? plot() : null;
    P.w = Math.max(50, r.width); P.h = Math.max(50, r.height);
    canvas.style.width = `${P.w}px`; canvas.style.height = `${P.h}px`;
    canvas.width = Math.round(P.w * dpr); canvas.height = Math.round(P.h * dpr);
    if (dpr !== P.dpr || !P.sprites) { P.dpr = dpr; sprites(); }
    relayout(old);
    draw();
  }
  /** After the plot's size changed (from `old`): the same centre and the same zoom relative to the fitted
   *  view, on the new plot's shape (refitting the old view itself would widen it at every resize). */
  function relayout(old) {
    if (!P.box) return;
    if (!P.view || !old) { P.view = fit(P.box); return; }
    const before = fit(P.box, old), zoom = (P.view.x1 - P.view.x0) / (before.x1 - before.x0), now = fit(P.box);
    const cx = (P.view.x0 + P.view.x1) / 2, cy = (P.view.y0 + P.view.y1) / 2;
    const hw = zoom * (now.x1 - now.x0) / 2, hh = zoom * (now.y1 - now.y0) / 2;
    P.view = { x0: cx - hw, x1: cx + hw, y0: cy - hh, y1: cy + hh };
  }

  function draw() {
    P.dirty = false;
    if (!P.view) return;
    const p = plot(), dpr = P.dpr, fs = P.fontSize;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, P.w, P.h);
    ctx.font = `${fs}px system-ui, sans-serif`; ctx.fillStyle = "#333";
    const tx = ticks(P.view.x0, P.view.x1, Math.max(3, Math.round(p.w / (6 * fs))));
    const ty = ticks(P.view.y0, P.view.y1, Math.max(3, Math.round(p.h / (4 * fs))));
    drawPoints(p, tx, ty);
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of tx) ctx.fillText(tickText(v, tx[1] - tx[0]), T.toPx(v), p.t + p.h + 4);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of ty) ctx.fillText(tickText(v, ty[1] - ty[0]), p.l - 5, T.toPy(v));
    ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(P.names[0], p.l + p.w / 2, P.h - 2);
    ctx.save(); ctx.translate(fs * 0.9, p.t + p.h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle"; ctx.fillText(P.names[1], 0, 0); ctx.restore();
    ctx.save();
    ctx.beginPath(); ctx.rect(p.l, p.t, p.w, p.h); ctx.clip();
    ctx.font = `bold ${Math.round(fs * 1.45)}px system-ui, sans-serif`; ctx.textBaseline = "middle";
    for (const { c, x, y } of P.centres) {
      if (P.hidden.has(c)) continue;
      const px = T.toPx(x), py = T.toPy(y), w = fs * 1.4;
      ctx.fillStyle = "rgba(255,255,255,0.8)"; ctx.fillRect(px - w / 2, py - w / 2, w, w);
      ctx.fillStyle = "#000"; ctx.fillText(String(c), px, py + 1);
    }
    ctx.restore();
    ctx.strokeStyle = "#999"; ctx.strokeRect(p.l + 0.5, p.t + 0.5, p.w - 1, p.h - 1);
    if (onView) onView();
  }
  const redraw = () => { if (!P.dirty) { P.dirty = true; requestAnimationFrame(draw); } };

  /** The point nearest the canvas position (px, py) within `radius` pixels, or -1. */
  function nearestAt(px, py, radius = 9) {
    if (!P.grid) return -1;
    const x = T.fromPx(px), y = T.fromPy(py), r = radius * (P.view.x1 - P.view.x0) / plot().w, b = P.box;
    const cw = (b.x1 - b.x0) / CELLS, ch = (b.y1 - b.y0) / CELLS;
    const c0 = Math.floor((x - r - b.x0) / cw), c1 = Math.floor((x + r - b.x0) / cw);
    const r0 = Math.floor((y - r - b.y0) / ch), r1 = Math.floor((y + r - b.y0) / ch);
    let best = -1, bd = r * r;
    for (let cy = Math.max(0, r0); cy <= Math.min(CELLS - 1, r1); cy++) {
      for (let cx = Math.max(0, c0); cx <= Math.min(CELLS - 1, c1); cx++) {
        for (const i of P.grid[cy * CELLS + cx]) {
          if (P.hidden.has(P.labels[i])) continue;
          const d = (P.xy[2 * i] - x) ** 2 + (P.xy[2 * i + 1] - y) ** 2;
          if (d <= bd) { bd = d; best = i; }
        }
      }
    }
    return best;
  }

  // ---- pan, zoom, hover, click ----
  let drag = null;
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const pointers = new Map();
  function zoomAt(px, py, factor) {
    const x = T.fromPx(px), y = T.fromPy(py), v = P.view;
    P.view = { x0: x - (x - v.x0) * factor, x1: x + (v.x1 - x) * factor, y0: y - (y - v.y0) * factor, y1: y + (v.y1 - y) * factor };
    redraw();
  }
  canvas.addEventListener("pointerdown", (e) => {
    pointers.set(e.pointerId, local(e));
    canvas.setPointerCapture(e.pointerId);
    const [px, py] = local(e);
    drag = { px, py, view: { ...P.view }, moved: false, pinch: pointers.size === 2 ? spread() : null };
  });
  const spread = () => { const [a, b] = [...pointers.values()]; return Math.hypot(a[0] - b[0], a[1] - b[1]); };
  canvas.addEventListener("pointermove", (e) => {
    const [px, py] = local(e);
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, [px, py]);
    if (drag && pointers.size === 2 && drag.pinch) {
      const now = spread();
      if (now > 0) { zoomAt(px, py, drag.pinch / now); drag.pinch = now; drag.moved = true; }
      return;
    }
    if (drag && pointers.size === 1) {
      if (Math.hypot(px - drag.px, py - drag.py) > 3) drag.moved = true;
      if (!drag.moved) return;
      const p = plot(), sx = (drag.view.x1 - drag.view.x0) / p.w, sy = (drag.view.y1 - drag.view.y0) / p.h;
      const dx = (px - drag.px) * sx, dy = (py - drag.py) * sy;
      P.view = { x0: drag.view.x0 - dx, x1: drag.view.x1 - dx, y0: drag.view.y0 + dy, y1: drag.view.y1 + dy };
      redraw();
      return;
    }
    if (onHover) { const i = nearestAt(px, py); onHover(i, e); }
  });
  const end = (e) => {
    pointers.delete(e.pointerId);
    if (drag && !drag.moved && e.type === "pointerup" && onClick) { const [px, py] = local(e); const i = nearestAt(px, py); if (i >= 0) onClick(i); }
    if (pointers.size === 0) drag = null;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", () => { if (onHover && !drag) onHover(-1, null); });
  canvas.addEventListener("wheel", (e) => { e.preventDefault(); const [px, py] = local(e); zoomAt(px, py, Math.exp(e.deltaY * 0.0015)); }, { passive: false });
  canvas.addEventListener("dblclick", () => reset());
  canvas.addEventListener("keydown", (e) => {
    const p = plot(), step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[e.key];
    if (e.key === "+" || e.key === "=") zoomAt(p.l + p.w / 2, p.t + p.h / 2, 1 / 1.25);
    else if (e.key === "-") zoomAt(p.l + p.w / 2, p.t + p.h / 2, 1.25);
    else if (e.key === "0") reset();
    else if (step) {
      const dx = step[0] * 0.1 * (P.view.x1 - P.view.x0), dy = step[1] * 0.1 * (P.view.y1 - P.view.y0);
      P.view = { x0: P.view.x0 + dx, x1: P.view.x1 + dx, y0: P.view.y0 + dy, y1: P.view.y1 + dy }; redraw();
    } else return;
    e.preventDefault();
  });
  new ResizeObserver((entries) => resize(entries[0].contentRect)).observe(canvas.parentElement);

  function reset() { if (P.box) { P.view = fit(P.box); redraw(); } }

  /** The map's points: xy (Float32Array 2n), labels (Uint8Array n), axis names; the view fits them. */
  function setData(xy, labels, names, { keepView = false } = {}) {
    P.xy = xy; P.labels = labels; P.n = labels.length; P.names = names;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < P.n; i++) { const x = xy[2 * i], y = xy[2 * i + 1]; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
    const px = 0.04 * (x1 - x0), py = 0.04 * (y1 - y0);
    P.box = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
    P.centres = centresOf(xy, labels);
    buildGrid();
    if (!keepView || !P.view) { if (!P.w) resize(); P.view = fit(P.box); }
    draw();
  }
  let motion = 0;
  /** Move the points to `to` (the same points in the same order, Float32Array 2n) over `ms` milliseconds,
   *  eased; the view stays. Resolves with {frames, ms, done} once there (done false: another move took over). */
  function moveTo(to, ms = 700) {
    const id = ++motion, from = Float32Array.from(P.xy), cur = new Float32Array(to.length), t0 = performance.now();
    const c0 = P.centres, c1 = centresOf(to, P.labels);
    let frames = 0;
    return new Promise((resolve) => {
      const step = (now) => {
        if (id !== motion) { resolve({ frames, ms: now - t0, done: false }); return; }
        const u = ms > 0 ? Math.min(1, (now - t0) / ms) : 1, e = u < 0.5 ? 2 * u * u : 1 - 2 * (1 - u) ** 2;
        for (let i = 0; i < cur.length; i++) cur[i] = from[i] + (to[i] - from[i]) * e;
        P.xy = cur;
        P.centres = c1.map((c) => { const a = c0.find((q) => q.c === c.c) || c; return { c: c.c, x: a.x + (c.x - a.x) * e, y: a.y + (c.y - a.y) * e }; });
        draw(); frames++;
        if (u < 1) { requestAnimationFrame(step); return; }
        P.xy = to; P.centres = c1; buildGrid(); draw();
        resolve({ frames, ms: now - t0, done: true });
      };
      requestAnimationFrame(step);
    });
  }
  /** The box the view fits (double-click, "0") and the hover grid covers: [x0, x1, y0, y1] with a margin. */
  function setBox([x0, x1, y0, y1], refit = true) {
    const px = 0.04 * (x1 - x0), py = 0.04 * (y1 - y0);
    P.box = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
    buildGrid();
    if (refit) P.view = fit(P.box);
    draw();
  }
  function setFont(px) { const old = plot(); P.fontSize = px; P.pointRadius = px >= 18 ? 3.4 : 2.6; sprites(); relayout(old); draw(); }
  function setHidden(c, hidden) { if (hidden) P.hidden.add(c); else P.hidden.delete(c); redraw(); }

  return { T, setData, moveTo, setBox, setFont, setHidden, reset, resize, draw, nearestAt, get view() { return P.view; }, get hidden() { return P.hidden; }, get xy() { return P.xy; } };
}
