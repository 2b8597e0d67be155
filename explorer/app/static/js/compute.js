// The page's two computing threads (worker.js). The end of a stroke is computed by both at once: the first
// takes the values of steps 1-5, the second the gradient figures of step 2 (about half the arithmetic
// each; a conditional model's, whose p(y|x) comes first and weighs most, on the first alone). The
// live updates while drawing and log p(x) (which yields between chunks of 100 samples) go to the second,
// so that drawing never waits on them. Each call is a promise.

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
  const labelled = new Set();  // conditional models
  return {
    /** Give both threads a model's files (copies of the ArrayBuffers). */
    load(name, files, conditional = false) {
      if (loaded.has(name)) return;
      loaded.add(name);
      if (conditional) labelled.add(name);
      for (const t of [fwd, lp]) t.send({ type: "model", name, files });
    },
    /** The WebAssembly kernels on or off in both threads (a test hook: wasm.js). */
    kernels(on) { for (const t of [fwd, lp]) t.send({ type: "kernels", on }); },
    /** The forward pass of a drawing: {result, ms}; `live`: an update while the stroke is drawn (one thread). */
    async forward(name, drawing, opts, live = false) {
      if (live) return lp.call({ type: "forward", name, drawing, opts })[1];
      // a conditional model's p(y|x) (ten labels' ELBOs) comes first and is most of the work: one thread
      if (labelled.has(name)) return fwd.call({ type: "forward", name, drawing, opts })[1];
      const t0 = performance.now();
      const [value, gradient] = await Promise.all([fwd.call({ type: "forward", name, drawing, opts, part: "value" })[1],
        lp.call({ type: "forward", name, drawing, opts, part: "gradient" })[1]]);
      return { result: { ...value.result, ...gradient.result }, ms: performance.now() - t0, parts: [value.ms, gradient.ms] };
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
