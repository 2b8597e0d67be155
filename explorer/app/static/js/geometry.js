// Map position -> latent z: the twin of Atlas.inverse in explorer/store/atlas.py. Walk the stored Delaunay
// triangulation to the triangle holding the point, then interpolate its corners' guide means with
// barycentric weights. Regions are the words of explorer/constants.py REGIONS.

import { kernels, place, scratchArea, view } from "./wasm.js";

function bary(m, t, px, py) {
  const T = m.arrays.triangles.data, XY = m.arrays.xy.data;
  const a = T[3 * t], b = T[3 * t + 1], c = T[3 * t + 2];
  const x1 = XY[2 * a], y1 = XY[2 * a + 1], x2 = XY[2 * b], y2 = XY[2 * b + 1], x3 = XY[2 * c], y3 = XY[2 * c + 1];
  const det = (y2 - y3) * (x1 - x3) + (x3 - x2) * (y1 - y3);
  const l1 = ((y2 - y3) * (px - x3) + (x3 - x2) * (py - y3)) / det;
  const l2 = ((y3 - y1) * (px - x3) + (x1 - x3) * (py - y3)) / det;
  return [l1, l2, 1 - l1 - l2];
}

function locate(m, px, py) {
  const NB = m.arrays.neighbors.data, ntri = m.arrays.triangles.shape[0];
  let t = m.lastTri < ntri ? m.lastTri : 0;
  for (let step = 0; step < 4 * ntri; step++) {
    const w = bary(m, t, px, py);
    let worst = 0, wi = -1;
    for (let i = 0; i < 3; i++) if (w[i] < worst - 1e-12) { worst = w[i]; wi = i; }
    if (wi < 0) { m.lastTri = t; return { t, w }; }
    const next = NB[3 * t + wi];
    if (next < 0) return null;  // crossed the hull: outside the data
    t = next;
  }
  return null;
}

function maxEdge(m, t) {
  const T = m.arrays.triangles.data, XY = m.arrays.xy.data;
  let best = 0;
  for (let i = 0; i < 3; i++) {
    const a = T[3 * t + i], b = T[3 * t + (i + 1) % 3];
    best = Math.max(best, Math.hypot(XY[2 * a] - XY[2 * b], XY[2 * a + 1] - XY[2 * b + 1]));
  }
  return best;
}

/** Index of the test digit whose map position is nearest (px, py). */
export function nearest(m, px, py) {
  const XY = m.arrays.xy.data;
  let best = Infinity, bi = 0;
  for (let i = 0; i < m.n; i++) {
    const dx = XY[2 * i] - px, dy = XY[2 * i + 1] - py, d = dx * dx + dy * dy;
    if (d < best) { best = d; bi = i; }
  }
  return bi;
}

/** { z: Float64Array(z_dim), region } for map position (px, py). */
export function latentAt(m, px, py) {
  const zd = m.zdim, z = new Float64Array(zd), L = m.arrays.loc.data, T = m.arrays.triangles.data;
  if (m.header.map === "latent") {  // the map is the latent space
    z[0] = px; z[1] = py;
    return { z, region: Math.hypot(px, py) > m.constants.tail_radius ? "tail" : "latent" };
  }
  const hit = locate(m, px, py);
  if (!hit) {
    const i = nearest(m, px, py);
    for (let d = 0; d < zd; d++) z[d] = L[i * zd + d];
    return { z, region: "outside" };
  }
  for (let k = 0; k < 3; k++) {
    const v = T[3 * hit.t + k], wk = hit.w[k];
    for (let d = 0; d < zd; d++) z[d] += wk * L[v * zd + d];
  }
  return { z, region: maxEdge(m, hit.t) > m.header.gap_edge ? "gap" : "inside" };
}

/** Keep the k smallest (d2, i) pairs seen so far, sorted, in bestD / bestI (ties: the lower index, seen first). */
function offer(bestD, bestI, k, d2, i) {
  if (d2 >= bestD[k - 1]) return;
  let j = k - 1;
  while (j > 0 && bestD[j - 1] > d2) { bestD[j] = bestD[j - 1]; bestI[j] = bestI[j - 1]; j--; }
  bestD[j] = d2; bestI[j] = i;
}

/** The k nearest test digits (squared distances and indices, sorted; ties: the lower index) of each of n
 *  latent rows z: the distances in the kernels where they run (float64, in m's copy of the guide means
 *  placed there once), else here, four rows at a time so that each test digit's mean is read once for four. */
function nearestK(m, z, n, k) {
  const zd = m.zdim, N = m.n, L = m.arrays.loc.data, K = kernels();
  const D = Array.from({ length: n }, () => new Float64Array(k).fill(Infinity));
  const I = Array.from({ length: n }, () => new Int32Array(k).fill(-1));
  if (K) {
    if (m.locAt === undefined) m.locAt = place(L, Float64Array);
    const qa = scratchArea(8 * n * (zd + N)), oa = qa + 8 * n * zd;
    view(Float64Array, qa, n * zd).set(z.subarray(0, n * zd));
    K.sqdist(m.locAt, N, zd, qa, n, oa);
    const d2 = view(Float64Array, oa, n * N);
    for (let j = 0; j < n; j++) {  // most distances are past the k-th best so far: one comparison each
      const o = j * N, bestD = D[j], bestI = I[j];
      let worst = Infinity;
      for (let i = 0; i < N; i++) if (d2[o + i] < worst) { offer(bestD, bestI, k, d2[o + i], i); worst = bestD[k - 1]; }
    }
    return [D, I];
  }
  for (let s0 = 0; s0 < n; s0 += 4) {
    const [z0, z1, z2, z3] = [0, 1, 2, 3].map((j) => Math.min(s0 + j, n - 1) * zd);
    const [D0, D1, D2, D3] = [0, 1, 2, 3].map((j) => D[Math.min(s0 + j, n - 1)]);
    const [I0, I1, I2, I3] = [0, 1, 2, 3].map((j) => I[Math.min(s0 + j, n - 1)]);
    const q = Math.min(4, n - s0);
    for (let i = 0; i < N; i++) {
      const o = i * zd;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let d = 0; d < zd; d++) {
        const l = L[o + d], t0 = l - z[z0 + d], t1 = l - z[z1 + d], t2 = l - z[z2 + d], t3 = l - z[z3 + d];
        a0 += t0 * t0; a1 += t1 * t1; a2 += t2 * t2; a3 += t3 * t3;
      }
      offer(D0, I0, k, a0, i);
      if (q > 1) offer(D1, I1, k, a1, i);
      if (q > 2) offer(D2, I2, k, a2, i);
      if (q > 3) offer(D3, I3, k, a3, i);
    }
  }
  return [D, I];
}

/**
 * Latent points -> map positions: the twin of Atlas.forward in explorer/store/atlas.py. z: n rows of z_dim;
 * returns Float64Array(2n). On a latent map, z itself (as float32); else the inverse-distance-weighted
 * mean of the map positions of the k test digits nearest in latent space (ties: the lower index).
 */
export function toMap(m, z, n) {
  const zd = m.zdim, out = new Float64Array(2 * n), XY = m.arrays.xy.data;
  if (m.header.map === "latent") {
    for (let s = 0; s < n; s++) { out[2 * s] = Math.fround(z[s * zd]); out[2 * s + 1] = Math.fround(z[s * zd + 1]); }
    return out;
  }
  const k = m.constants.knn, [D, I] = nearestK(m, z, n, k);
  for (let j = 0; j < n; j++) {
    let wsum = 0, x = 0, y = 0;
    const w = new Float64Array(k);
    for (let t = 0; t < k; t++) { w[t] = 1 / (Math.sqrt(D[j][t]) + 1e-6); wsum += w[t]; }
    for (let t = 0; t < k; t++) { const wt = w[t] / wsum; x += wt * XY[2 * I[j][t]]; y += wt * XY[2 * I[j][t] + 1]; }
    out[2 * j] = Math.fround(x); out[2 * j + 1] = Math.fround(y);
  }
  return out;
}
