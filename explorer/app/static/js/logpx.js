// The importance-weighted log p(x) of a drawing, in the page: the twin of explorer/vae/elbo.py's
// log_weights_each and iwae_from_weights for one image. k samples z = loc + scale * eps (eps from the
// shared generator, stream "logpx"), in chunks of 100 through the decoder; the estimate
// log mean exp(log p(x, z) - log q(z|x)) (+ log p(y)), its delta-method s.e. and the effective sample size.

import { bernoulli, decodeLogits, encode, withLabel } from "./nn.js";
import { normals } from "./rng.js";

const LOG_2PI = Math.log(2 * Math.PI), CHUNK = 100;

/** Generator of log-weight chunks (Float64Array each), so that a caller can stop between chunks. */
export function* logWeights(m, x, { k, seed, label = null }) {
  const net = m.net, zd = net.zdim, stream = m.constants.rng_streams.logpx;
  const { loc, scale } = encode(net, withLabel(net, x, 1, 784, label), 1);
  for (let start = 0; start < k; start += CHUNK) {
    const n = Math.min(CHUNK, k - start), eps = normals(seed, stream, n * zd, start * zd), z = new Float64Array(n * zd);
    for (let i = 0; i < n * zd; i++) z[i] = loc[i % zd] + scale[i % zd] * Math.fround(eps[i]);
    const logits = decodeLogits(net, withLabel(net, z, n, zd, label), n), lw = new Float64Array(n);
    for (let s = 0; s < n; s++) {
      let r = 0, lp = 0, lq = 0;
      for (let i = 0; i < 784; i++) r += bernoulli(logits[s * 784 + i], x[i]);
      for (let d = 0; d < zd; d++) {
        const v = z[s * zd + d], u = (v - loc[d]) / scale[d];
        lp += v * v + LOG_2PI;
        lq += -0.5 * u * u - Math.log(scale[d]) - 0.5 * LOG_2PI;
      }
      lw[s] = r - 0.5 * lp - lq;
    }
    yield lw;
  }
}

/** {log_px, log_px_se, ess} from all the log-weights (k of them), as explorer/vae/elbo.py's iwae_from_weights. */
export function iwae(lw, labels) {
  const k = lw.length, top = Math.max(...lw), logPy = labels ? -Math.log(labels) : 0;
  let sum = 0, sum2 = 0;
  const w = lw.map((v) => Math.exp(v - top));
  for (const v of w) { sum += v; sum2 += v * v; }
  const mean = sum / k;
  let ss = 0;
  for (const v of w) ss += (v - mean) ** 2;
  const se = k > 1 ? Math.sqrt(ss / (k - 1)) / (Math.sqrt(k) * mean) : NaN;
  return { log_px: top + Math.log(sum) - Math.log(k) + logPy, log_px_se: se, ess: (sum * sum) / sum2 };
}
