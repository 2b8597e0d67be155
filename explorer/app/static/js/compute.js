// The page's two computing threads (worker.js). The end of a stroke is computed by both at once: the first
// takes the values of steps 1-5, the second the gradient figures of step 2 (each about half the work);
// for a conditional model both first take half of the labels behind p(y|x), which both parts need.
// The live updates while a stroke is drawn and log p(x) (which yields between chunks of 100 samples) go
// to the second; where the second is still busy with them when a stroke ends, the first computes all of
// that stroke's forward pass rather than wait. Drawing and dragging never wait on either. Each call is a
// promise.

import { posteriorOf } from "./forward.js";

export class ComputeError extends Error {
  constructor(message, kind) { super(message); this.kind = kind; }  // kind: "blank", "small" or "error"
}

const now = () => performance.timeOrigin + performance.now();  // comparable with the workers' clocks

function thread(url) {
  const worker = new Worker(url, { type: "module" }), waiting = new Map();
  let id = 0;
  worker.onmessage = ({ data }) => {
    const w = waiting.get(data.id);
    if (!w) return;
    waiting.delete(data.id);
    if (data.ok) w.resolve({ result: data.result, ms: data.ms, at: data.at, back: now() - data.at[1] }); else w.reject(new ComputeError(data.message, data.kind));
  };
  worker.onerror = (e) => { for (const w of waiting.values()) w.reject(new ComputeError(e.message || "the computing thread failed", "error")); waiting.clear(); };
  return {
    send: (msg, transfer = []) => worker.postMessage(msg, transfer),
    /** Whether an answer is awaited (the thread is computing, or has work queued). */
    busy: () => waiting.size > 0,
    call(msg) { const my = ++id; return [my, new Promise((resolve, reject) => { waiting.set(my, { resolve, reject }); worker.postMessage({ ...msg, id: my }); })]; },
  };
}

export function createCompute() {
  const url = new URL("./worker.js", import.meta.url), fwd = thread(url), lp = thread(url), loaded = new Set();
  const labelled = new Map();  // conditional models: their number of labels
  return {
    /** Give both threads a model's files (copies of the ArrayBuffers); `labels`: a conditional model's. */
    load(name, files, labels = 0) {
      if (loaded.has(name)) return;
      loaded.add(name);
      if (labels) labelled.set(name, labels);
      for (const t of [fwd, lp]) t.send({ type: "model", name, files });
    },
    /** The WebAssembly kernels on or off in both threads (a test hook: wasm.js). */
    kernels(on) { for (const t of [fwd, lp]) t.send({ type: "kernels", on }); },
    /** The forward pass of a drawing: {result, ms, parts: the two threads' ms, waits: [the later thread's
     *  wait before it started, the later answer's wait before this thread took it] (ms; null where one
     *  thread computed it all)}; `live`: an update while the stroke is drawn, all on the second thread. */
    async forward(name, drawing, opts, live = false) {
      const t0 = performance.now(), msg = { type: "forward", name, drawing, opts };
      if (live || lp.busy()) {
        const { result, ms } = await (live ? lp : fwd).call(msg)[1];
        return { result, ms: performance.now() - t0, parts: live ? [0, ms] : [ms, 0], waits: null };
      }
      const n = labelled.get(name), before = [0, 0];
      if (n) {  // p(y|x): half of the labels' ELBOs on each thread
        const all = Array.from({ length: n }, (_, y) => y), half = Math.ceil(n / 2);
        const elbos = await Promise.all([fwd.call({ ...msg, type: "labels", labels: all.slice(0, half) })[1],
          lp.call({ ...msg, type: "labels", labels: all.slice(half) })[1]]);
        msg.opts = { ...opts, probs: posteriorOf([...elbos[0].result, ...elbos[1].result]) };
        before[0] = elbos[0].ms; before[1] = elbos[1].ms;
      }
      const sent = now(), [value, gradient] = await Promise.all([fwd.call({ ...msg, part: "value" })[1],
        lp.call({ ...msg, part: "gradient" })[1]]);
      return { result: { ...value.result, ...gradient.result }, ms: performance.now() - t0,
        parts: [before[0] + value.ms, before[1] + gradient.ms],
        waits: [Math.max(value.at[0], gradient.at[0]) - sent, Math.max(value.back, gradient.back)] };
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
