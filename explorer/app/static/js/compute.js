// The page's two computing threads (worker.js): one for forward passes, one for log p(x), so that a long
// log p(x) never holds up the next stroke. Each call is a promise; the newest forward pass wins.

export class ComputeError extends Error {
  constructor(message, kind) { super(message); this.kind = kind; }  // kind: "blank", "small" or "error"
}

function thread(url) {
  const worker = new Worker(url, { type: "module" }), waiting = new Map();
  let id = 0;
  worker.onmessage = ({ data }) => {
    const w = waiting.get(data.id);
    if (!w) return;
    waiting.delete(data.id);
    if (data.ok) w.resolve({ result: data.result, ms: data.ms }); else w.reject(new ComputeError(data.message, data.kind));
  };
  worker.onerror = (e) => { for (const w of waiting.values()) w.reject(new ComputeError(e.message || "the computing thread failed", "error")); waiting.clear(); };
  return {
    send: (msg, transfer = []) => worker.postMessage(msg, transfer),
    call(msg) { const my = ++id; return [my, new Promise((resolve, reject) => { waiting.set(my, { resolve, reject }); worker.postMessage({ ...msg, id: my }); })]; },
  };
}

export function createCompute() {
  const url = new URL("./worker.js", import.meta.url), fwd = thread(url), lp = thread(url), loaded = new Set();
  let newestForward = 0;
  return {
    /** Give both threads a model's files (copies of the ArrayBuffers). */
    load(name, files) {
      if (loaded.has(name)) return;
      loaded.add(name);
      for (const t of [fwd, lp]) t.send({ type: "model", name, files });
    },
    /** The forward pass of a drawing: {result, ms}, or null when a newer one was asked for meanwhile. */
    async forward(name, drawing, opts) {
      const [my, p] = fwd.call({ type: "forward", name, drawing, opts });
      newestForward = my;
      const out = await p;
      return my === newestForward ? out : null;
    },
    /** log p(x): {result, ms}; result is null when a newer one overtook it (it stops between chunks). */
    async logpx(name, drawing, opts) {
      const [my, p] = lp.call({ type: "logpx", name, drawing, opts });
      lp.send({ type: "cancel", id: my });
      return p;
    },
    /** Images (n x 784 grey levels) of latent rows z (n x z_dim), decoded as `labels` (conditional model). */
    async decode(name, z, n, labels = null) {
      const [, p] = fwd.call({ type: "decode", name, z, n, labels });
      return (await p).result;
    },
  };
}
