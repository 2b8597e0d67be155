// Small DOM helpers. Text from the server or from files reaches the page only as text: `h()` and
// `svg()` build elements and set text with textContent, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of [].concat(children ?? []).flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h("td", { class: "vx-num", text: "1.23" }) or h("tr", {}, [cells]). */
export const h = (tag, attrs, children) => build(document.createElement(tag), attrs, children);
/** An SVG element, the same way. */
export const svg = (tag, attrs, children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replace the children of `el` (a node, a list, or text). */
export function fill(el, children) {
  el.replaceChildren(...[].concat(children ?? []).flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return el;
}

export const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));

/** Paint 784 ink values (0..255) from `u8` at `offset` as a 28x28 digit, ink dark on paper. */
export function paintGrey(canvas, u8, offset = 0) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28), d = img.data;
  for (let i = 0; i < 784; i++) {
    const v = 255 - u8[offset + i];
    d[4 * i] = v; d[4 * i + 1] = v; d[4 * i + 2] = v; d[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

export const digitCanvas = (cls = "vx-px vx-small") => h("canvas", { width: 28, height: 28, class: cls });

/** Fill `el` with n digit canvases painted from `u8` (n x 784). */
export function strip(el, u8, n) {
  const cs = [];
  for (let i = 0; i < n; i++) { const c = digitCanvas(); paintGrey(c, u8, 784 * i); cs.push(c); }
  fill(el, cs);
}

/** An empty-state line. */
export const empty = (text) => h("p", { class: "vx-empty", text });
