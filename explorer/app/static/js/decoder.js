// The decoder, run in the page from the bundle's weights: the twin of explorer/model.py's Decoder
// (Linear, activation, ..., Linear, sigmoid). A test holds it to Python's at 500 map positions per model.

const softplus = (x) => (x > 20 ? x : Math.log1p(Math.exp(x)));  // torch.nn.Softplus (threshold 20)

/** Decode latent `z` (length z_dim) into `out` (784 uint8, ink 0..255); a conditional VAE decodes [z, one-hot(label)]. */
export function decode(m, z, out, label) {
  let x = z;
  if (m.header.labels) {
    x = new Float64Array(z.length + m.header.labels);
    x.set(z);
    x[z.length + (label || 0)] = 1;
  }
  const relu = m.header.activation === "relu";
  for (let li = 0; li < m.layers.length; li++) {
    const { W, b } = m.layers[li], rows = W.shape[0], cols = W.shape[1], w = W.data, y = m.buffers[li];
    const last = li === m.layers.length - 1;
    for (let r = 0; r < rows; r++) {
      let s = b.data[r];
      const o = r * cols;
      for (let c = 0; c < cols; c++) s += w[o + c] * x[c];
      y[r] = last ? s : (relu ? (s > 0 ? s : 0) : softplus(s));
    }
    x = y;
  }
  for (let i = 0; i < 784; i++) out[i] = Math.round(255 / (1 + Math.exp(-x[i])));
  return out;
}
