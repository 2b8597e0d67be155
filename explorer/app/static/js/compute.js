// Where a drawing's forward pass is computed. The end of a stroke is computed on this page's own thread,
// inside the pointer event, so its panels render in the same task: a whole pass takes about 4 ms here
// (mnist-z16, K = 16), and a worker's answer, measured, waits for this thread after a pointer event
// (3.6 ms at p50, 11 at p95 on 2 cores) longer than the pass would take. A conditional model's end of a
// stroke is heavier (p(y|x) is ten labels' ELBOs, about 18 ms), so it goes to the two computing threads
// (worker.js) at once: both first take half of the labels, then the first the values of steps 1-5 and
// the second the gradient figures of step 2. The live updates while a stroke is drawn and log p(x) (which
// yields between chunks of 100 samples) go to the second; where the second is still busy with them when
// a conditional model's stroke ends, the first computes all of it rather than wait. Drawing and dragging
// never wait on the threads. Each call is a promise.

import { forwardPass, posteriorOf } from "./forward.js";
import { errorKind, toMnist } from "./preprocess.js";

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
  const here = new Map();  // the models this page's thread computes with (their networks arrived)
  return {
    /** Give both threads a model's files (copies of the ArrayBuffers), and this thread the model itself
     *  (`model`: data.js's completeModel, which the page already holds); `labels`: a conditional model's. */
    load(name, files, labels = 0, model = null) {
      if (model) here.set(name, model);
      if (loaded.has(name)) return;
      loaded.add(name);
      if (labels) labelled.set(name, labels);
      for (const t of [fwd, lp]) t.send({ type: "model", name, files });
    },
    /** The WebAssembly kernels on or off in both threads (a test hook: wasm.js). */
    kernels(on) { for (const t of [fwd, lp]) t.send({ type: "kernels", on }); },
    /** The forward pass of a drawing: {result, ms, where: "page" (this thread), "worker" (one computing
     *  thread) or "split" (both), parts: each thread's ms ([this thread's or the first's, the second's]),
     *  waits: where split, [the later thread's wait before it started, the later answer's wait before this
     *  thread took it] (ms; else null)}. `how`: "live" (an update while the stroke is drawn: the second
     *  thread), "worker" (whole on one computing thread, a test hook) or "end" (the end of a stroke). */
    async forward(name, drawing, opts, how = "end") {
      const t0 = performance.now(), msg = { type: "forward", name, drawing, opts };
      if (how === "end" && !labelled.has(name) && here.has(name)) {
        const m = here.get(name);
        let result;
        try { result = forwardPass(m, toMnist(drawing, m.constants), opts); } catch (err) {
          throw new ComputeError(err.message, errorKind(err));
        }
        const ms = performance.now() - t0;
        return { result, ms, where: "page", parts: [ms, 0], waits: null };
      }
      if (how !== "end" || lp.busy()) {
        const { result, ms } = await (how === "live" ? lp : fwd).call(msg)[1];
        return { result, ms: performance.now() - t0, where: "worker", parts: how === "live" ? [0, ms] : [ms, 0], waits: null };
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
      return { result: { ...value.result, ...gradient.result }, ms: performance.now() - t0, where: "split",
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
