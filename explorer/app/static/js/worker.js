// The page's computing thread: the live updates' forward passes (forward.js) while a stroke is drawn and
// a drawing's log p(x) (logpx.js) run here, so that drawing and dragging never wait for them. Two of these
// run (compute.js): a conditional model's stroke end is split between them; log p(x), which a newer
// drawing cancels between chunks of 100 samples, runs on the second.
//
// Messages in: {type: "model", name, files: {map, net, atlas}} (ArrayBuffers);
//   {type: "forward", id, name, drawing, opts, part ("value", "gradient" or all)}; {type: "labels", id,
//   name, drawing, opts, labels}: a conditional model's ELBO(x, y) of those labels; {type: "logpx", id, name,
//   drawing, opts}; {type: "cancel", id};
//   {type: "decode", id, name, z, n, labels}: images of latent rows (the tools' strips and grids);
//   {type: "kernels", on}: the WebAssembly kernels on or off (a test hook: wasm.js).
// Messages out: {id, ok: true, result, ms, at: [start, end]} (ms since the epoch: performance.timeOrigin +
//   performance.now(), comparable between threads) or {id, ok: false, kind, message}.

import { completeModel, modelFromMap, parseFile } from "./data.js";
import { decodeImages, forwardPass, gradientPart, labelElbos, valuePart } from "./forward.js";
import { iwae, logWeights } from "./logpx.js";
import { errorKind, toMnist } from "./preprocess.js";
import { useKernels } from "./wasm.js";

const models = {};
let newest = 0;  // the newest log p(x) asked for: older ones stop at their next chunk

function input(name, drawing) {
  const m = models[name];
  if (!m) throw new Error(`model ${name} is not loaded in the worker`);
  return [m, toMnist(drawing, m.constants)];
}

async function logpx(msg) {
  const [m, x] = input(msg.name, msg.drawing), parts = [];
  for (const lw of logWeights(m, x, msg.opts)) {
    parts.push(...lw);
    await new Promise((r) => setTimeout(r, 0));  // let a cancel arrive
    if (msg.id < newest) return null;
  }
  return { model: m.name, k: msg.opts.k, seed: msg.opts.seed, label: msg.opts.label ?? null, ...iwae(parts, m.net.labels) };
}

self.onmessage = async ({ data: msg }) => {
  if (msg.type === "model") {
    const f = msg.files;
    models[msg.name] = completeModel(modelFromMap(parseFile(f.map)), parseFile(f.net), parseFile(f.atlas));
    return;
  }
  if (msg.type === "cancel") { newest = Math.max(newest, msg.id); return; }
  if (msg.type === "kernels") { useKernels(msg.on); return; }
  const t0 = performance.now();
  try {
    let result;
    if (msg.type === "forward") {
      const [m, x] = input(msg.name, msg.drawing), part = { value: valuePart, gradient: gradientPart }[msg.part] || forwardPass;
      result = part(m, x, msg.opts);
    }
    else if (msg.type === "labels") { const [m, x] = input(msg.name, msg.drawing); result = Array.from(labelElbos(m, x, msg.opts.seed, msg.labels)); }
    else if (msg.type === "decode") result = decodeImages(models[msg.name], msg.z, msg.n, msg.labels);
    else { newest = Math.max(newest, msg.id); result = await logpx(msg); }
    const t1 = performance.now(), o = performance.timeOrigin;
    self.postMessage({ id: msg.id, ok: true, result, ms: t1 - t0, at: [o + t0, o + t1] });
  } catch (err) {
    self.postMessage({ id: msg.id, ok: false, kind: errorKind(err), message: err.message });
  }
};
