// The lens's charts, drawn as SVG at the size they are shown (one SVG unit = one CSS pixel), so that text is
// always the font size of the page around it: on a phone, a laptop or a projector. Axes carry "nice"
// ticks with room above the top one; crowded bar labels thin out instead of overlapping.

import { fmt, svg } from "./dom.js";

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `n` of them. */
export function ticks(lo, hi, n = 5) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag, out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick's text: as many decimals as its step needs, a true minus sign. */
export function tickText(v, step) {
  const d = step >= 1 ? 0 : Math.min(4, Math.ceil(-Math.log10(step) - 1e-9));
  return v.toFixed(d).replace("-", "−");
}

// A container's width and font, measured once and then kept up to date by a ResizeObserver: reading them
// after the page has changed would make the browser lay the page out again, several times per stroke.
const measured = new WeakMap();
const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
  for (const e of entries) { const m = measured.get(e.target); if (m) m.w = e.contentRect.width; }
});
function measure(el) {
  let m = measured.get(el);
  if (!m) {
    m = { w: el.clientWidth, fs: parseFloat(getComputedStyle(el).fontSize) || 14 };
    measured.set(el, m);
    if (observer) observer.observe(el);
  }
  return m;
}
/** Forget the measured fonts (presenter mode changes them): measured again on next use. */
export function remeasure(els) { for (const el of els) { const m = measured.get(el); if (m) { m.fs = parseFloat(getComputedStyle(el).fontSize) || 14; m.w = el.clientWidth; } } }

/** The chart's size and font from its container (CSS pixels). On a projector (presenter mode) a chart is
 *  taller: up to 42 % of the screen's height. */
export function frame(el, { minWidth = 240, aspect = 0.36, maxHeight = 420, minLines = 6 } = {}) {
  const m = measure(el), w = Math.max(minWidth, Math.round(m.w || 480));
  const fs = m.fs, presenting = !!el.closest(".vx-present");
  const top = presenting ? 0.42 * window.innerHeight : maxHeight;
  return { w, h: Math.round(Math.min(top, Math.max(minLines * fs, w * aspect * (presenting ? 1.6 : 1)))), fs };
}

/** Every label that fits: every one, else every 2nd, 5th, 10th... (the first and last kept). */
function thinned(n, room, fs, longest) {
  const need = Math.max(1.6, longest * 0.62) * fs;
  const every = [1, 2, 5, 10, 20, 50].find((e) => room * e >= need) || n;
  return (i) => every === 1 || (i + 1) % every === 0 || (i === 0 && every >= 5);
}

/**
 * Vertical bars from 0: values[i] with labels[i] under it (thinned when crowded), a y axis with nice ticks.
 * opts: {w, h, fs, unit, title, cls, tip(i): text on hover}
 */
export function bars(values, labels, { w, h, fs, unit = "", title, cls = "vx-kl", tip }) {
  const n = values.length, top = Math.max(1e-9, ...values), tk = ticks(0, top, Math.max(2, Math.round(h / (3 * fs))));
  const ymax = Math.max(top, tk[tk.length - 1]), step = tk.length > 1 ? tk[1] - tk[0] : ymax;
  const padT = fs * 0.9, padB = fs * 1.8, yTextW = Math.max(...tk.map((t) => tickText(t, step).length)) * fs * 0.62;
  const padL = yTextW + fs * 0.8 + (unit ? fs * 1.2 : 0), plotH = h - padT - padB, plotW = w - padL - 4;
  const y = (v) => padT + plotH * (1 - v / ymax), bw = plotW / n, show = thinned(n, bw, fs, Math.max(...labels.map((l) => String(l).length)));
  const parts = [];
  for (const t of tk) {
    parts.push(svg("line", { x1: padL, x2: w - 4, y1: y(t), y2: y(t), class: t ? "vx-gl" : "vx-zero" }),
      svg("text", { x: padL - fs * 0.4, y: y(t) + fs * 0.35, class: "vx-tick", "text-anchor": "end", text: tickText(t, step) }));
  }
  if (unit) parts.push(svg("text", { x: fs * 0.8, y: padT + plotH / 2, class: "vx-tick", "text-anchor": "middle", transform: `rotate(-90 ${fs * 0.8} ${padT + plotH / 2})`, text: unit }));
  for (let i = 0; i < n; i++) {
    const v = values[i], bwid = Math.min(4 * fs, Math.max(1, bw * 0.72)), x = padL + (i + 0.5) * bw - bwid / 2;
    parts.push(svg("rect", { x, y: Math.min(y(v), y(0)), width: bwid, height: Math.max(0.5, Math.abs(y(0) - y(v))), class: cls },
      [svg("title", { text: tip ? tip(i) : `${labels[i]}: ${fmt(v, 3)} ${unit}` })]));
    if (show(i)) parts.push(svg("text", { x: x + bwid / 2, y: h - fs * 0.45, class: "vx-tick", "text-anchor": "middle", text: labels[i] }));
  }
  return svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: "vx-svg", role: "img", "aria-label": title }, parts);
}

/** Horizontal bars, a name on each row (the gradient norm of each named layer). */
export function hbars(values, names, { w, fs, unit = "", title, cls = "vx-kl", groups = null }) {
  const n = values.length, row = fs * 1.5, padT = fs * 0.4, padB = fs * 2.1, nameW = Math.max(...names.map((s) => s.length)) * fs * 0.6 + fs;
  const h = padT + n * row + padB, plotW = w - nameW - fs * 1.5, top = Math.max(1e-9, ...values);
  const tk = ticks(0, top, Math.max(2, Math.round(plotW / (5 * fs)))), xmax = Math.max(top, tk[tk.length - 1]);
  const step = tk.length > 1 ? tk[1] - tk[0] : xmax, x = (v) => nameW + plotW * (v / xmax), parts = [];
  for (const t of tk) {
    parts.push(svg("line", { x1: x(t), x2: x(t), y1: padT, y2: padT + n * row, class: t ? "vx-gl" : "vx-zero" }),
      svg("text", { x: x(t), y: h - padB + fs * 1.2, class: "vx-tick", "text-anchor": "middle", text: tickText(t, step) }));
  }
  if (unit) parts.push(svg("text", { x: nameW + plotW / 2, y: h - fs * 0.2, class: "vx-tick", "text-anchor": "middle", text: unit }));
  values.forEach((v, i) => {
    const y0 = padT + i * row;
    parts.push(svg("text", { x: nameW - fs * 0.5, y: y0 + row * 0.62, class: "vx-tick", "text-anchor": "end", text: names[i] }),
      svg("rect", { x: nameW, y: y0 + row * 0.18, width: Math.max(0.5, x(v) - nameW), height: row * 0.64, class: groups ? groups[i] : cls },
        [svg("title", { text: `${names[i]}: ${fmt(v, 4)}` })]));
  });
  return svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: "vx-svg", role: "img", "aria-label": title }, parts);
}

/** q(z|x) per dimension: loc (dot) ± scale (bar) over the prior's ±1 band, on a shared axis −3.5..3.5. */
export function posterior(res, { w, h, fs }) {
  const n = res.loc.length, lim = 3.5, padT = fs * 0.7, padB = fs * 1.8, padL = fs * 2.6, plotH = h - padT - padB, bw = (w - padL - 4) / n;
  const y = (v) => padT + plotH / 2 - Math.max(-lim, Math.min(lim, v)) * (plotH / 2) / lim;
  const labels = res.loc.map((_, i) => `z${i + 1}`), show = thinned(n, bw, fs, Math.max(...labels.map((l) => l.length)));
  const parts = [svg("rect", { x: padL, y: y(1), width: w - padL - 4, height: y(-1) - y(1), class: "vx-prior" }, [svg("title", { text: "the prior N(0, 1): ±1" })])];
  for (const v of [-3, -2, -1, 0, 1, 2, 3]) {
    parts.push(svg("line", { x1: padL, x2: w - 4, y1: y(v), y2: y(v), class: v ? "vx-gl" : "vx-zero" }),
      svg("text", { x: padL - fs * 0.4, y: y(v) + fs * 0.35, class: "vx-tick", "text-anchor": "end", text: String(v).replace("-", "−") }));
  }
  for (let i = 0; i < n; i++) {
    const cx = padL + (i + 0.5) * bw, l = res.loc[i], sc = res.scale[i];
    parts.push(svg("g", {}, [
      svg("title", { text: `z${i + 1}: loc ${fmt(l, 3)}, scale ${fmt(sc, 3)}, KL ${fmt(res.kl_dims[i], 3)} nats` }),
      svg("rect", { x: cx - Math.min(fs, Math.max(1.5, bw * 0.3)), y: y(l + sc), width: Math.min(2 * fs, Math.max(3, bw * 0.6)),
        height: Math.max(1, y(l - sc) - y(l + sc)), class: "vx-bar" }),
      svg("circle", { cx, cy: y(l), r: Math.min(fs * 0.36, Math.max(2.5, bw * 0.25)), class: "vx-dot" })]));
    if (show(i)) parts.push(svg("text", { x: cx, y: h - fs * 0.45, class: "vx-tick", "text-anchor": "middle", text: labels[i] }));
  }
  return svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: "vx-svg", role: "img", "aria-label": "q(z|x) per dimension" }, parts);
}

/** A curve over training: values[i] at xs[i] (log(1 + step): the early moments spread out), a dot on each
 *  moment, the moment `current` marked by a line and a larger dot; y axis with nice ticks. */
export function curve(values, xs, { w, h, fs, title, current = null, cls = "vx-curve", range = null, ends = null }) {
  const lo0 = range ? range[0] : Math.min(...values), hi0 = range ? range[1] : Math.max(...values);
  const pad = range ? 0 : (hi0 - lo0) * 0.08 || Math.abs(hi0) * 0.1 || 1;
  const tk = ticks(lo0 - pad, hi0 + pad, Math.max(2, Math.round(h / (3.2 * fs)))).filter((t) => !range || Number.isInteger(t));
  const lo = Math.min(lo0 - pad, tk[0]), hi = Math.max(hi0 + pad, tk[tk.length - 1]);
  const step = tk.length > 1 ? tk[1] - tk[0] : 1, padT = fs * 1.5, padB = ends ? fs * 1.5 : fs * 0.6;
  const padL = Math.max(...tk.map((t) => tickText(t, step).length)) * fs * 0.62 + fs * 0.6, x0 = xs[0], x1 = xs[xs.length - 1] || 1;
  const X = (v) => padL + (w - padL - fs * 0.6) * (v - x0) / (x1 - x0 || 1), Y = (v) => padT + (h - padT - padB) * (1 - (v - lo) / (hi - lo));
  const parts = [svg("text", { x: padL, y: fs * 1.05, class: "vx-ctitle", text: title })];
  for (const t of tk) {
    if (Y(t) < padT - 1 || Y(t) > h - padB + 1) continue;
    parts.push(svg("line", { x1: padL, x2: w - fs * 0.6, y1: Y(t), y2: Y(t), class: "vx-gl" }),
      svg("text", { x: padL - fs * 0.3, y: Y(t) + fs * 0.35, class: "vx-tick", "text-anchor": "end", text: tickText(t, step) }));
  }
  parts.push(svg("polyline", { points: values.map((v, i) => `${X(xs[i]).toFixed(1)},${Y(v).toFixed(1)}`).join(" "), class: cls, fill: "none" }));
  values.forEach((v, i) => parts.push(svg("circle", { cx: X(xs[i]), cy: Y(v), r: i === current ? fs * 0.42 : fs * 0.2, class: i === current ? "vx-cnow" : "vx-cdot" },
    [svg("title", { text: `${title}: ${fmt(v)}` })])));
  if (ends) {  // the x axis's first and last values, under its ends
    parts.push(svg("text", { x: X(x0), y: h - fs * 0.2, class: "vx-tick", "text-anchor": "start", text: ends[0] }),
      svg("text", { x: X(x1), y: h - fs * 0.2, class: "vx-tick", "text-anchor": "end", text: ends[1] }));
  }
  if (current !== null) parts.splice(1, 0, svg("line", { x1: X(xs[current]), x2: X(xs[current]), y1: padT, y2: h - padB, class: "vx-cmark" }));
  return svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: "vx-svg", role: "img", "aria-label": title }, parts);
}
