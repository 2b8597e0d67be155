// A drawing -> the 28x28 input the model sees: the twin of explorer/views/preprocess.py, to the bit. The ink's
// bounding box is scaled to fit 20x20 with Pillow's Lanczos filter (its fixed-point arithmetic, as in
// Pillow's Resample.c), then placed so that its centre of mass sits at the centre, as MNIST's digits were.
// A test holds the page's float32 input to Python's on hundreds of drawings.

const PRECISION_BITS = 22;  // Pillow: 32 - 8 - 2
const ONE = 2 ** PRECISION_BITS;

export class DrawingError extends Error {
  constructor(message, kind) { super(message); this.kind = kind; }  // kind: "blank" or "small"
}

/** What went wrong in computing a drawing, as the page tells it: a DrawingError's kind, else "error". */
export const errorKind = (err) => (err instanceof DrawingError ? err.kind : "error");

const sinc = (x) => { if (x === 0.0) return 1.0; x = x * Math.PI; return Math.sin(x) / x; };
const lanczos = (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0);

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for in -> out pixels: bounds and int coefficients. */
function coefficients(inSize, outSize, in0, in1) {
  const scale = (in1 - in0) / outSize, filterscale = scale < 1.0 ? 1.0 : scale;
  const support = 3.0 * filterscale, ksize = Math.ceil(support) * 2 + 1, inv = 1.0 / filterscale;
  const bounds = new Int32Array(2 * outSize), kk = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) { const w = lanczos((x + xmin - center + 0.5) * inv); kk[xx * ksize + x] = w; ww += w; }
    for (let x = 0; x < xmax; x++) {
      if (ww !== 0.0) kk[xx * ksize + x] /= ww;
      const k = kk[xx * ksize + x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin; bounds[2 * xx + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

const clip8 = (ss) => { const v = Math.floor(ss / ONE); return v < 0 ? 0 : v > 255 ? 255 : v; };

/** One pass of Pillow's 8-bit resampling along x (horizontal) or y, of a w x h uint8 image. */
function pass(src, w, h, horizontal, outSize, box0, box1) {
  const inSize = horizontal ? w : h, { bounds, kk, ksize } = coefficients(inSize, outSize, box0, box1);
  const ow = horizontal ? outSize : w, oh = horizontal ? h : outSize, out = new Uint8Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y, min = bounds[2 * o], n = bounds[2 * o + 1];
      let ss = 1 << (PRECISION_BITS - 1);
      for (let i = 0; i < n; i++) ss += (horizontal ? src[y * w + min + i] : src[(min + i) * w + x]) * kk[o * ksize + i];
      out[y * ow + x] = clip8(ss);
    }
  }
  return out;
}

/** Pillow's Image.resize((nw, nh), LANCZOS) of a w x h mode-"L" image (box = the whole image). */
export function resizeLanczos(src, w, h, nw, nh) {
  if (nw === w && nh === h) return Uint8Array.from(src);
  if (h > w * 100 && nh < h) {  // Pillow resizes a very tall image vertically first
    const tall = pass(src, w, h, false, nh, 0, h);
    return nw !== w ? pass(tall, w, nh, true, nw, 0, w) : tall;
  }
  const wide = nw !== w ? pass(src, w, h, true, nw, 0, w) : src;
  return nh !== h ? pass(wide, nw, h, false, nh, 0, h) : Uint8Array.from(wide);
}

/** Python's round(): halves to even. */
export function roundHalfEven(v) {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The drawing {width, height, pixels: Uint8Array of ink 0..255, row-major} as the model's input: a
 * Float32Array(784) in [0, 1], as explorer/views/preprocess.py's to_mnist. Throws DrawingError (blank, small),
 * with the messages of explorer/constants.py (`C.messages`).
 */
export function toMnist(drawing, C) {
  const { width: W, height: H, pixels } = drawing;
  if (!(W >= 8 && H >= 8) || pixels.length !== W * H) throw new DrawingError(C.messages.small, "small");
  const threshold = Math.fround(C.ink_threshold);
  let count = 0, r0 = H, r1 = -1, c0 = W, c1 = -1;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      if (Math.fround(pixels[r * W + c] / 255) >= threshold) {
        count++; if (r < r0) r0 = r; if (r > r1) r1 = r; if (c < c0) c0 = c; if (c > c1) c1 = c;
      }
    }
  }
  if (count < C.min_ink_pixels) throw new DrawingError(C.messages.blank, "blank");
  const h = r1 - r0 + 1, w = c1 - c0 + 1, s = 20.0 / Math.max(h, w);
  const nh = Math.max(1, roundHalfEven(h * s)), nw = Math.max(1, roundHalfEven(w * s));
  const crop = new Uint8Array(h * w);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) crop[r * w + c] = roundHalfEven(Math.fround(Math.fround(pixels[(r + r0) * W + c + c0] / 255) * 255));
  }
  const grey = resizeLanczos(crop, w, h, nw, nh);
  let total = 0, sy = 0, sx = 0;
  for (let r = 0; r < nh; r++) for (let c = 0; c < nw; c++) { const v = grey[r * nw + c]; total += v; sy += r * v; sx += c * v; }
  if (total <= 0) throw new DrawingError(C.messages.blank, "blank");
  const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
  const top = clamp(roundHalfEven(13.5 - sy / total), 28 - nh), left = clamp(roundHalfEven(13.5 - sx / total), 28 - nw);
  const out = new Float32Array(784);
  let max = 0;
  for (let r = 0; r < nh; r++) {
    for (let c = 0; c < nw; c++) { const v = Math.fround(grey[r * nw + c] / 255); out[(top + r) * 28 + left + c] = v; if (v > max) max = v; }
  }
  for (let i = 0; i < 784; i++) out[i] = Math.fround(out[i] / max);
  return out;
}
