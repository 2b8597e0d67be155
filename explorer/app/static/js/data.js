// The model's files (explorer/app/bundle.py writes them): the container VXB1 (magic, a CRC-32 of the
// rest, a JSON header, aligned arrays; float16 stored byte-planar), checked before it is read, and the
// page's model object assembled from them: the map first, then the networks and the atlas.

import { makeNets } from "./nn.js";

export class DataError extends Error {}

const CRC = (() => { const t = new Uint32Array(256); for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; } return t; })();
/** CRC-32 (zlib's) of bytes. */
export function crc32(bytes) { let c = 0xffffffff; for (let i = 0; i < bytes.length; i++) c = CRC[(c ^ bytes[i]) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }

// float16 bits -> value, every one of the 65,536 (exact: float16 values are float32 values)
let HALF = null;
function halfTable() {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    HALF[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1024 + f) * 2 ** (e - 25);
  }
  return HALF;
}

/** float16 values (little-endian bytes, 2 per value) as a Float32Array. */
export function halfs(bytes) {
  const T = halfTable(), n = bytes.length >> 1, out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = T[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

const TYPES = { float32: Float32Array, int32: Int32Array, uint16: Uint16Array, uint8: Uint8Array };

/** The header and arrays of one file (an ArrayBuffer); DataError if it is not one, truncated or corrupted. */
export function parseFile(buf, what = "data file") {
  const all = new Uint8Array(buf);
  if (all.length < 12 || String.fromCharCode(...all.subarray(0, 4)) !== "VXB1") throw new DataError(`the ${what} is not an explorer data file`);
  const dv = new DataView(buf);
  if (crc32(all.subarray(8)) !== dv.getUint32(4, true)) throw new DataError(`the ${what} is truncated or corrupted`);
  const hlen = dv.getUint32(8, true), header = JSON.parse(new TextDecoder().decode(all.subarray(12, 12 + hlen)));
  const base = 12 + hlen, arrays = {};
  for (const e of header.arrays) {
    const n = e.shape.reduce((a, b) => a * b, 1), at = base + e.offset;
    let data;
    if (e.dtype === "float16") {
      const hi = all.subarray(at, at + n), lo = all.subarray(at + n, at + 2 * n), T = halfTable();
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = T[(hi[i] << 8) | lo[i]];
    } else {
      const T = TYPES[e.dtype];
      if (!T || at + n * T.BYTES_PER_ELEMENT > buf.byteLength) throw new DataError(`the ${what} is malformed`);
      data = new T(buf, at, n);
    }
    if (data instanceof Float32Array) for (let i = 0; i < n; i++) if (!Number.isFinite(data[i])) throw new DataError(`the ${what} holds numbers that are not finite`);
    arrays[e.name] = { data, shape: e.shape };
  }
  return { header, arrays };
}

/** The page's model from its map file: enough to draw the map; the networks and the atlas join it later. */
export function modelFromMap(file) {
  const { header, arrays } = file;
  return { header, arrays: { ...arrays }, constants: header.constants, name: header.model.name,
    n: arrays.xy.shape[0], zdim: header.z_dim, lastTri: 0, net: null, ready: false };
}

/** Add the networks (the `net` file) and the atlas (loc and the triangulation) to the model. */
export function completeModel(m, net, atlas) {
  m.net = makeNets(m.header, net.arrays);
  Object.assign(m.arrays, atlas.arrays);
  const none = atlas.header.no_neighbor, nb = atlas.arrays.neighbors;  // as int32, "no neighbour" = -1
  m.arrays.neighbors = { shape: nb.shape, data: Int32Array.from(nb.data, (v) => (v === none ? -1 : v)) };
  m.arrays.triangles = { shape: atlas.arrays.triangles.shape, data: Int32Array.from(atlas.arrays.triangles.data) };
  m.ready = true;
  return m;
}

/** The test digits' thumbnails (N x 392, two 16-level pixels a byte) as N x 784 ink. */
export function unpackThumbs(file) {
  const p = file.arrays.thumbs.data, n = file.arrays.thumbs.shape[0], out = new Uint8Array(n * 784);
  for (let i = 0; i < n * 392; i++) { out[2 * i] = (p[i] >> 4) * 17; out[2 * i + 1] = (p[i] & 15) * 17; }
  return out;
}

/** A model's timeline (its `timeline` file) for the page's model `m`: the moments' figures, each moment's
 *  map (Float32Array 2n; the last one is the map file's own xy), and the decoder's images at a grid of map
 *  positions at each moment (grid x grid points, row by row from the top left). */
export function timelineFrom(file, m) {
  const { header, arrays } = file, moments = header.moments, n = m.n, T = moments.length;
  if (arrays.xy.shape[0] !== T - 1 || arrays.xy.shape[1] !== n) throw new DataError("the timeline does not fit this model's map");
  const xy = Array.from({ length: T - 1 }, (_, t) => arrays.xy.data.subarray(2 * n * t, 2 * n * (t + 1)));
  xy.push(m.arrays.xy.data);
  const g = arrays.grid_xy.shape[0];
  return { moments, xy, gridXy: arrays.grid_xy.data, gridN: header.grid, images: arrays.grid_images.data, nodes: g,
    map: header.map, klWeight: header.kl_weight, image: (t, node) => arrays.grid_images.data.subarray((t * g + node) * 784, (t * g + node + 1) * 784) };
}
