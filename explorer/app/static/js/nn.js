// The networks, run in the page from the model's weights: the twins of explorer/vae/model.py's Encoder and
// Decoder (Linear, activation, ..., Linear), hand-written. The matrix products run in WebAssembly SIMD
// in float32, as torch's do (wasm.js); where that cannot run, here in JavaScript with float64 sums. A
// batch is row-major: n rows of `cols` numbers. The decoder also runs backwards (the gradient of a loss
// with respect to its input z), as autograd does for step 2 of the lens.

import { kernels, place, scratchArea, view } from "./wasm.js";

const softplus = (u) => (u > 20 ? u : Math.log1p(Math.exp(u)));  // torch.nn.Softplus (threshold 20)

function dense(W, b, rows, cols) {
  const T = new Float32Array(rows * cols);  // W transposed: the backward pass as dot products too
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) T[c * rows + r] = W[r * cols + c];
  return { W, b, rows, cols, T, at: null };  // at: where the kernels' memory holds W, b and T ({W, b, T} offsets)
}

/** y[s, r] = sum_c M[r, c] x[s, c] (+ bias[r]) for s < n: M is rows x cols, row-major. Four rows of x
 *  at a time, so that each weight is read once for four samples (2.6x faster here than one at a time). */
function matmul(M, bias, rows, cols, x, n, y) {
  let s = 0;
  for (; s + 3 < n; s += 4) {
    const x0 = s * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols, y0 = s * rows;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let c = 0; c < cols; c++) {
        const w = M[o + c];
        a0 += w * x[x0 + c]; a1 += w * x[x1 + c]; a2 += w * x[x2 + c]; a3 += w * x[x3 + c];
      }
      const b = bias ? bias[r] : 0;
      y[y0 + r] = a0 + b; y[y0 + rows + r] = a1 + b; y[y0 + 2 * rows + r] = a2 + b; y[y0 + 3 * rows + r] = a3 + b;
    }
  }
  for (; s < n; s++) {
    const xo = s * cols, yo = s * rows;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let a0 = 0, a1 = 0, c = 0;
      for (; c + 1 < cols; c += 2) { a0 += M[o + c] * x[xo + c]; a1 += M[o + c + 1] * x[xo + c + 1]; }
      if (c < cols) a0 += M[o + c] * x[xo + c];
      y[yo + r] = a0 + a1 + (bias ? bias[r] : 0);
    }
  }
  return y;
}

/** y = x L^T + b (n rows; x: n x L.cols, y: n x L.rows), or with `back` y = x L (the backward pass: n x
 *  L.cols, no bias): in the kernels where they run, else in matmul. y is a Float64Array. */
function product(L, x, n, y, back = false) {
  const K = kernels();
  const [rows, cols] = back ? [L.cols, L.rows] : [L.rows, L.cols];
  if (!K) return matmul(back ? L.T : L.W, back ? null : L.b, rows, cols, x, n, y);
  L.at ||= {};  // placed on first use: T only for a layer the backward pass goes through (the decoder's)
  if (back) L.at.T ??= place(L.T); else { L.at.W ??= place(L.W); L.at.b ??= place(L.b); }
  const xa = scratchArea(4 * n * (rows + cols)), ya = xa + 4 * n * cols;
  view(Float32Array, xa, n * cols).set(x.length === n * cols ? x : x.subarray(0, n * cols));
  K.matmul(back ? L.at.T : L.at.W, back ? 0 : L.at.b, rows, cols, xa, n, ya);
  y.set(view(Float32Array, ya, n * rows));
  return y;
}

/** The model's two networks from the `net` file's arrays (enc.W0, enc.b0, ..., dec.W0, ...). */
export function makeNets(header, arrays) {
  const take = (prefix, count) => Array.from({ length: count }, (_, i) => {
    const W = arrays[`${prefix}.W${i}`];
    return dense(W.data, arrays[`${prefix}.b${i}`].data, W.shape[0], W.shape[1]);
  });
  const enc = take("enc", header.layers.enc), dec = take("dec", header.layers.dec);
  return {
    body: enc.slice(0, -2), loc: enc[enc.length - 2], scale: enc[enc.length - 1], dec,
    relu: header.activation === "relu", labels: header.labels, zdim: header.z_dim, minScale: header.min_scale || 0,
  };
}

function activate(net, y) {
  if (net.relu) { for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0; }
  else for (let i = 0; i < y.length; i++) y[i] = softplus(y[i]);
}

/** Rows of [v, one-hot(label)] for a conditional model (label: one per row, or one for all), else v. */
export function withLabel(net, v, n, width, labels) {
  if (!net.labels) return v;
  const w = width + net.labels, out = new Float64Array(n * w);
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < width; i++) out[s * w + i] = v[s * width + i];
    out[s * w + width + (Array.isArray(labels) || ArrayBuffer.isView(labels) ? labels[s] : labels)] = 1;
  }
  return out;
}

/** The guide: x (n rows, with the one-hot label appended for a conditional model) -> {loc, scale}, each n x z_dim. */
export function encode(net, x, n) {
  let h = x;
  for (const L of net.body) { h = product(L, h, n, new Float64Array(n * L.rows)); activate(net, h); }
  const loc = product(net.loc, h, n, new Float64Array(n * net.zdim));
  const scale = product(net.scale, h, n, new Float64Array(n * net.zdim));
  const floor = Math.fround(net.minScale);  // torch clamps the float32 scale at the float32 floor
  for (let i = 0; i < scale.length; i++) scale[i] = Math.max(floor, Math.exp(scale[i]));
  return { loc, scale };
}

/** The decoder's logits for z (n rows, one-hot label appended for a conditional model): n x 784.
 *  With `keep`, the activations are kept in `keep.acts` for decodeBackward. */
export function decodeLogits(net, z, n, keep = null, out = null) {
  let h = z;
  const acts = [];
  net.dec.forEach((L, i) => {
    const last = i === net.dec.length - 1;
    const y = last && out ? out : new Float64Array(n * L.rows);
    product(L, h, n, y);
    if (!last) { activate(net, y); acts.push(y); }
    h = y;
  });
  if (keep) keep.acts = acts;
  return h;
}

/** The gradient with respect to the decoder's input of sum_s sum_i g[s, i] logit[s, i]: n rows of
 *  (z_dim + labels). `keep` is what decodeLogits kept for the same rows. */
export function decodeBackward(net, keep, g, n) {
  let d = g;
  for (let i = net.dec.length - 1; i >= 0; i--) {
    const L = net.dec[i], dx = product(L, d, n, new Float64Array(n * L.cols), true);
    if (i > 0) {  // through the activation before this layer: softplus' = sigmoid = 1 - exp(-softplus)
      const a = keep.acts[i - 1];
      if (net.relu) { for (let j = 0; j < dx.length; j++) if (!(a[j] > 0)) dx[j] = 0; }
      else for (let j = 0; j < dx.length; j++) dx[j] *= -Math.expm1(-a[j]);
    }
    d = dx;
  }
  return d;
}

// torch's float32 sigmoid on the CPU, 1 / (1 + exp(-x)) with each step rounded to float32 (it agrees with
// torch for every logit above 12 tested, where the clamp below makes the last bit matter), and the clamp
// to [eps, 1 - eps] (float32 eps) with which torch turns probabilities back into logits for Pyro's
// Bernoulli: a pixel costs at most ~16 nats, as in Pyro.
const EPS32 = 2 ** -23;
export const sigmoid32 = (l) => Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-Math.fround(l)))));

/** The decoder's probabilities as torch has them: sigmoid32 of each logit (a Float32Array). */
export function probs32(logits) {
  const p = new Float32Array(logits.length);
  for (let i = 0; i < p.length; i++) p[i] = sigmoid32(logits[i]);
  return p;
}

/** log p(x_i | z) for pixel ink x and the decoder's probability p (sigmoid32 of its logit), as
 *  explorer/vae/elbo.py's log_bernoulli (Pyro's score); `bernoulli` from the logit; and whether the clamp
 *  is off for p (the gradient passes). */
export function bernoulliAt(p, x) {
  const pc = p < EPS32 ? EPS32 : p > 1 - EPS32 ? 1 - EPS32 : p;
  return x * Math.log(pc) + (1 - x) * Math.log1p(-pc);
}
export const bernoulli = (l, x) => bernoulliAt(sigmoid32(l), x);
export const unclamped = (p) => p >= EPS32 && p <= 1 - EPS32;

/** Probabilities in [0, 1] as grey levels 0..255 (explorer/views/wire.py's to_u8: halves to even). */
export function toU8(probs, out = new Uint8Array(probs.length)) {
  for (let i = 0; i < probs.length; i++) {
    const v = Math.fround(Math.fround(Math.min(1, Math.max(0, probs[i]))) * 255), f = Math.floor(v), d = v - f;
    out[i] = d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
  }
  return out;
}

export const sigmoid = (l) => 1 / (1 + Math.exp(-l));
