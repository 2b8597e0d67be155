// The model's bundle (explorer/app/bundle.py writes it): a 4-byte header length, a JSON header, then
// aligned arrays. The header carries the shared constants (explorer/constants.py).

const TYPES = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array };

export function parseBundle(buf) {
  const hlen = new DataView(buf).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, hlen)));
  const base = 4 + hlen, arrays = {};
  for (const e of header.arrays) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    arrays[e.name] = { data: new TYPES[e.dtype](buf, base + e.offset, n), shape: e.shape };
  }
  const layers = [];
  for (let i = 0; i < header.layers; i++) layers.push({ W: arrays["W" + i], b: arrays["b" + i] });
  return {
    header, arrays, layers, constants: header.constants, name: header.model.name,
    n: arrays.xy.shape[0], zdim: arrays.loc.shape[1], lastTri: 0,
    buffers: layers.map((l) => new Float64Array(l.W.shape[0])),
  };
}
