// One forward pass of the VAE for a drawing, in the page: the twin of explorer/views/inference.py's
// encode_drawing, field for field. Steps: (1) the guide's loc and scale, (2) z = loc + scale * eps with
// eps from the shared generator, and the gradient of the reconstruction term through z, (3) the KL, by
// Monte Carlo (Trace_ELBO) and in closed form (TraceMeanField_ELBO), (4) the Bernoulli score of each
// pixel, (5) the ELBO and its s.e.; for a conditional model also p(y|x) and the observed label.
// A test holds every number to Python's on hundreds of drawings for every shipped model.

import { gradNormEstimate, meanSe, sd } from "./estimates.js";
import { toMap } from "./geometry.js";
import { bernoulliAt, decodeBackward, decodeLogits, encode, probs32, sigmoid, toU8, unclamped, withLabel } from "./nn.js";
import { normals } from "./rng.js";

const LOG_2PI = Math.log(2 * Math.PI);

/** eps (k x z_dim) for a seed, rounded to float32 as the model computes (inference.py eps_for). */
export function epsFor(C, seed, k, zd) {
  const e = normals(seed, C.rng_streams.eps, k * zd);
  for (let i = 0; i < e.length; i++) e[i] = Math.fround(e[i]);
  return e;
}

/** n copies of the row v, one after the other. */
const repeat = (v, n) => { const out = new Float64Array(n * v.length); for (let i = 0; i < n; i++) out.set(v, i * v.length); return out; };

/** Per-dimension KL(N(loc, scale^2) || N(0, 1)) of one row. */
export function klDims(loc, scale, zd, row = 0) {
  const out = new Float64Array(zd);
  for (let d = 0; d < zd; d++) {
    const l = loc[row * zd + d], s = scale[row * zd + d];
    out[d] = 0.5 * (l * l + s * s - 1.0) - Math.log(s);
  }
  return out;
}

/** Sum over the pixels of log p(x | z) for each of n rows of the decoder's probabilities (probs32). */
function scoreRows(probs, x, n, perPixel) {
  const recon = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    let t = 0;
    for (let i = 0; i < 784; i++) { const v = bernoulliAt(probs[s * 784 + i], x[i]); if (perPixel) perPixel[s * 784 + i] = v; t += v; }
    recon[s] = t;
  }
  return recon;
}

/** The ELBO(x, y) of each of `labels` (digits) for a conditional model, label_k samples each with the
 *  closed-form KL, minus log 10: the terms of p(y|x). Each label's samples are its own rows of the
 *  generator's eps, so the labels can be computed apart (two threads: compute.js) and give the same numbers. */
export function labelElbos(m, x, seed, labels) {
  const net = m.net, C = m.constants, zd = net.zdim, n = net.labels, k = C.label_k, q = labels.length;
  const { loc, scale } = encode(net, withLabel(net, repeat(x, q), q, 784, labels), q);
  const eps = normals(seed, C.rng_streams.labels, k * n * zd);
  const z = new Float64Array(k * q * zd), rows = new Int32Array(k * q);
  for (let s = 0; s < k; s++) {
    for (let j = 0; j < q; j++) {
      rows[s * q + j] = labels[j];
      for (let d = 0; d < zd; d++) z[(s * q + j) * zd + d] = loc[j * zd + d] + scale[j * zd + d] * Math.fround(eps[(s * n + labels[j]) * zd + d]);
    }
  }
  const recon = scoreRows(probs32(decodeLogits(net, withLabel(net, z, k * q, zd, rows), k * q)), x, k * q, null);
  const elbo = new Float64Array(q);
  for (let j = 0; j < q; j++) {
    let r = 0;
    for (let s = 0; s < k; s++) r += recon[s * q + j];
    const kl = klDims(loc, scale, zd, j).reduce((a, b) => a + b, 0);
    elbo[j] = r / k - kl - Math.log(n);
  }
  return elbo;
}

/** p(y|x) from every label's ELBO: their softmax (Bayes' rule with the uniform prior over labels). */
export function posteriorOf(elbo) {
  const top = Math.max(...elbo), w = Array.from(elbo, (e) => Math.exp(e - top)), tot = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / tot);
}

/** p(y|x) for a conditional model: the softmax over labels of ELBO(x, y). */
export function labelPosterior(m, x, seed) {
  return posteriorOf(labelElbos(m, x, seed, Array.from({ length: m.net.labels }, (_, y) => y)));
}

/** Steps 1 and 2 for a drawing's input x: the label (conditional model), the guide's loc and scale, eps and
 *  z. `probs`: p(y|x) where it was computed already (compute.js splits it between the threads). */
function guideAndSamples(m, x, { k, seed, label = null }, probs = null) {
  const net = m.net, C = m.constants, zd = net.zdim, extra = {};
  let y = null;
  if (net.labels) {
    probs ??= labelPosterior(m, x, seed);
    y = label === null || label === undefined ? probs.indexOf(Math.max(...probs)) : label;
    Object.assign(extra, { label: y, label_probs: probs, log_py: -Math.log(net.labels) });
  }
  const { loc, scale } = encode(net, withLabel(net, x, 1, 784, y), 1);
  const eps = epsFor(C, seed, k, zd), z = new Float64Array(k * zd);
  for (let s = 0; s < k; s++) for (let d = 0; d < zd; d++) z[s * zd + d] = loc[d] + scale[d] * eps[s * zd + d];
  return { y, extra, loc, scale, eps, z, logPy: extra.log_py ?? 0 };
}

/** Step 4's decoder run on the samples z: their logits and probabilities (torch's float32 sigmoid, each
 *  computed once for the score, the clamp, the gradient and the images), and what the backward pass needs
 *  (`keep`). Computed once where one thread takes both parts (forwardPass), once in each where two threads
 *  share them (a conditional model's stroke end). */
function decodeSamples(m, { y, z }, k) {
  const net = m.net, keep = {}, logits = decodeLogits(net, withLabel(net, z, k, net.zdim, y), k, keep);
  return { logits, probs: probs32(logits), keep };
}

const rows2 = (v, d) => Array.from({ length: v.length / d }, (_, s) => Array.from(v.subarray(s * d, (s + 1) * d)));
const colMean = (v, d, rows) => { const o = new Float64Array(d); for (let s = 0; s < rows; s++) for (let j = 0; j < d; j++) o[j] += v[s * d + j] / rows; return o; };

/** Step 2's gradient figures: d log p(x|z_s) / d loc and / d scale for each sample (backprop through the
 *  decoder, as autograd does through z = loc + scale * eps), their means and their norms' estimates. */
export function gradientPart(m, x, opts, guide = guideAndSamples(m, x, opts, opts.probs),
  { probs, keep } = decodeSamples(m, guide, opts.k)) {
  const net = m.net, C = m.constants, zd = net.zdim, k = opts.k, { eps } = guide, g = new Float64Array(k * 784);
  for (let i = 0; i < g.length; i++) g[i] = unclamped(probs[i]) ? x[i % 784] - probs[i] : 0;
  const dIn = decodeBackward(net, keep, g, k), width = zd + net.labels;
  const gLoc = new Float64Array(k * zd), gScale = new Float64Array(k * zd);
  for (let s = 0; s < k; s++) {
    for (let d = 0; d < zd; d++) { gLoc[s * zd + d] = dIn[s * width + d]; gScale[s * zd + d] = dIn[s * width + d] * eps[s * zd + d]; }
  }
  const boot = C.bootstrap, seed = opts.seed;
  const [locNorm, locSe, locNaive] = gradNormEstimate(gLoc, k, zd, { boot, seed, stream: C.rng_streams.boot_loc });
  const [scaleNorm, scaleSe, scaleNaive] = gradNormEstimate(gScale, k, zd, { boot, seed, stream: C.rng_streams.boot_scale });
  return {
    grad_loc: Array.from(colMean(gLoc, zd, k)), grad_scale: Array.from(colMean(gScale, zd, k)),
    grad_loc_norm: locNorm, grad_loc_norm_se: locSe, grad_loc_norm_naive: locNaive,
    grad_scale_norm: scaleNorm, grad_scale_norm_se: scaleSe, grad_scale_norm_naive: scaleNaive,
  };
}

/** Everything else the lens shows: q(z|x), the samples and their images and places on the map, the KL both
 *  ways, the Bernoulli score of each pixel, the ELBO with its s.e.; for a conditional model p(y|x). */
export function valuePart(m, x, opts, guide = guideAndSamples(m, x, opts, opts.probs),
  { probs } = decodeSamples(m, guide, opts.k)) {
  const net = m.net, zd = net.zdim, { k, seed, estimator = "trace" } = opts;
  const { y, loc, scale, eps, z, logPy } = guide, extra = { ...guide.extra };
  // 4. decode and score (probs: the decoder's at each z): log p(x|z) = sum x log p + (1 - x) log(1 - p),
  // Pyro's clamp included
  const perPixel = new Float64Array(k * 784), recon = scoreRows(probs, x, k, perPixel);
  // 3. the KL: closed form per dimension, and Trace_ELBO's log q(z|x) - log p(z) at each sample
  const kl_dims = klDims(loc, scale, zd), kl = kl_dims.reduce((a, b) => a + b, 0);
  const klSamples = new Float64Array(k);
  for (let s = 0; s < k; s++) {
    let lq = 0, lp = 0;
    for (let d = 0; d < zd; d++) {
      const v = z[s * zd + d], u = (v - loc[d]) / scale[d];
      lq += -0.5 * u * u - Math.log(scale[d]) - 0.5 * LOG_2PI;
      lp += v * v + LOG_2PI;
    }
    klSamples[s] = lq + 0.5 * lp;
  }
  // 5. the ELBO: each sample is one Trace_ELBO (or TraceMeanField_ELBO) loss, negated
  const samples = new Float64Array(k);
  for (let s = 0; s < k; s++) samples[s] = recon[s] - (estimator === "trace" ? klSamples[s] : kl) + logPy;
  // what SVI optimises for a model whose KL is weighted (a beta-VAE, an autoencoder): minus Pyro's loss
  const w = m.header.kl_weight, objective = w === 1 ? samples : samples.map((_, s) => recon[s] - w * (estimator === "trace" ? klSamples[s] : kl) + logPy);
  const [reconMean, reconSe] = meanSe(recon), [klMc, klMcSe] = meanSe(klSamples), [elbo, elboSe] = meanSe(samples);
  const pixelNats = new Float64Array(784);
  for (let s = 0; s < k; s++) for (let i = 0; i < 784; i++) pixelNats[i] -= perPixel[s * 784 + i] / k;
  const meanLogits = decodeLogits(net, withLabel(net, loc, 1, zd, y), 1);
  const xy = toMap(m, new Float64Array([...loc, ...z]), k + 1);
  if (net.labels) {  // style vs content: this drawing's z (its guide mean) decoded as each of the ten digits
    const digits = Array.from({ length: net.labels }, (_, i) => i);
    const styles = decodeLogits(net, withLabel(net, repeat(loc, net.labels), net.labels, zd, digits), net.labels);
    extra.styles = toU8(styles.map(sigmoid));
  }
  return {
    model: m.name, seed, k, estimator, input: toU8(x),
    loc: Array.from(loc), scale: Array.from(scale), eps: rows2(eps, zd), z: rows2(z, zd),
    mean_img: toU8(meanLogits.map(sigmoid)), samples_img: toU8(probs),
    mean_xy: [xy[0], xy[1]], samples_xy: rows2(xy.subarray(2), 2),
    recon: reconMean, recon_se: reconSe, recon_samples: Array.from(recon), pixel_nats: Array.from(pixelNats),
    kl, kl_mc: klMc, kl_mc_se: klMcSe, kl_dims: Array.from(kl_dims),
    elbo, elbo_se: elboSe, elbo_sd: k > 1 ? sd(samples, elbo) : NaN, elbo_samples: Array.from(samples),
    kl_weight: w, objective: w === 1 ? elbo : meanSe(objective)[0], objective_samples: Array.from(objective),
    active_dims: m.header.model.active_dims, ...extra,
  };
}

/**
 * Everything the lens shows for one drawing's input x (Float32Array(784)), with the keys and meanings of
 * Python's encode_drawing. opts: {k, seed, label (observed digit or null), estimator: "trace" | "meanfield",
 * probs (optional): a conditional model's p(y|x), where it was computed already}.
 * Images are Uint8Array grey levels (Python sends them as base64). Its two parts can be computed apart
 * (a conditional model's, two worker threads at once: compute.js), each from steps 1 and 2 (`guide`) and
 * the samples' decoding, which neither changes.
 */
export function forwardPass(m, x, opts) {
  const guide = guideAndSamples(m, x, opts), decoded = decodeSamples(m, guide, opts.k);
  return { ...valuePart(m, x, opts, guide, decoded), ...gradientPart(m, x, opts, guide, decoded) };
}

/** Grey-level images (n x 784) of latent rows z (n x z_dim), decoded as `labels` (one per row, or one
 *  for all) by a conditional model: the decoder at those points, as explorer/views/tools.py decodes them. */
export function decodeImages(m, z, n, labels = null) {
  const net = m.net;
  return toU8(decodeLogits(net, withLabel(net, z, n, net.zdim, labels ?? 0), n).map(sigmoid));
}
