// The drawing pad: strokes become the drawing (an object: width, height, ink), computed in this page's
// worker live while drawing and at the end of each stroke (the newest wins); the 28x28 input the model
// sees, the decoded guide mean and the samples' grid render from the result.

import { digitCanvas, fill, paintGrey } from "../dom.js";
import { download, pngWithText } from "../export.js";

export const markup = {
  pad: `
    <div class="vx-card" data-slide="draw a digit">
      <h3>Draw a digit</h3>
      <div class="vx-row">
        <canvas class="vx-pad" data-vx="pad" width="280" height="280" aria-label="drawing pad"></canvas>
        <div class="vx-col">
          <div class="vx-caption">What the model sees (28×28, MNIST-style)</div>
          <canvas class="vx-px vx-mid" data-vx="input" width="28" height="28"></canvas>
          <div class="vx-caption">Decoded guide mean</div>
          <canvas class="vx-px vx-mid" data-vx="meanimg" width="28" height="28"></canvas>
          <button type="button" data-vx="save-drawing" class="vx-mini" title="the drawing as PNG, carrying what reproduces it in Python (PNG text chunk vx-drawing)">Save drawing</button>
        </div>
      </div>
    </div>`,
  samples: `
    <div class="vx-card" data-slide="samples, decoded">
      <h3>Samples z ~ q(z|x), decoded <button type="button" data-vx="samples-png" class="vx-mini">Save PNG</button></h3>
      <div class="vx-grid" data-vx="samples"></div>
      <div class="vx-repro" data-vx="repro"></div>
    </div>`,
};

export function mount(ctx) {
  const { S, $ } = ctx;
  const pad = $("pad"), pctx = pad.getContext("2d", { willReadFrequently: true });
  const C = () => ctx.model().constants;
  let drawn = false;

  function clearPad() {
    pctx.fillStyle = "#fff"; pctx.fillRect(0, 0, pad.width, pad.height);
    pctx.lineCap = "round"; pctx.lineJoin = "round"; pctx.lineWidth = 20; pctx.strokeStyle = "#000";
  }
  clearPad();

  let stroking = false, last = null, lastLive = 0, busy = false, ink = null;  // ink: the drawing object, until the pad changes
  // forward passes asked for, the newest of them shown, and the newest stroke's end: an older answer is dropped,
  // and so is a live update that answers after its stroke ended (the end's answer is coming)
  let asked = 0, shown = 0, ended = 0;
  const padPos = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (e) => {
    stroking = true; pad.setPointerCapture(e.pointerId); last = padPos(e);
    pctx.beginPath(); pctx.arc(last[0], last[1], pctx.lineWidth / 2, 0, 2 * Math.PI); pctx.fillStyle = "#000"; pctx.fill();
    drawn = true; ink = null; e.preventDefault();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!stroking) return;
    const p = padPos(e);
    pctx.beginPath(); pctx.moveTo(last[0], last[1]); pctx.lineTo(p[0], p[1]); pctx.stroke();
    last = p; ink = null;
    if (!busy && e.timeStamp - lastLive > C().live_interval_ms) { lastLive = e.timeStamp; compute(e.timeStamp, false); }  // live
  });
  const endStroke = (e) => { if (!stroking) return; stroking = false; compute(e.timeStamp, true); };
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // The model sees 28 x 28: the pad is read at half resolution, then prepared as MNIST's digits were.
  const small = document.createElement("canvas"), sctx = small.getContext("2d", { willReadFrequently: true });
  /** The pad's ink as a drawing: {width, height, pixels} (0 paper .. 255 ink). */
  function padInk() {
    const n = C().send_size;
    small.width = n; small.height = n;
    sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = "high";
    sctx.drawImage(pad, 0, 0, n, n);
    const d = sctx.getImageData(0, 0, n, n).data, ink = new Uint8Array(n * n);
    for (let i = 0; i < ink.length; i++) ink[i] = 255 - d[4 * i];
    return { width: n, height: n, pixels: ink };
  }

  /** Compute the pad's drawing in the page (the worker); `final` at the end of a stroke. */
  async function compute(t0, final) {
    const m = ctx.model();
    if (!drawn || !m || !m.ready) return;
    const drawing = (ink ||= padInk()), name = S.model;
    const opts = { k: S.k, seed: S.seed, estimator: S.estimator, label: m.header.labels ? S.observed : null };
    const mine = ++asked;
    if (final) ended = mine; else busy = true;
    S.pending++;
    let out;
    try { out = await ctx.compute.forward(name, drawing, opts, final ? "end" : "live"); } catch (err) {
      if (err.kind === "blank" || err.kind === "small") ctx.status("blank", { message: err.message }, "warn");
      else ctx.status("failed", { what: "your drawing could not be computed; it is kept", why: err.message }, "error");
      return;
    } finally { if (!final) busy = false; S.pending--; }
    if (mine < shown || mine < ended || name !== S.model) return;  // overtaken, or another model is shown now
    shown = mine;
    S.drawing = drawing; S.result = out.result; S.final = final; S.logpx = null;
    const tRender = performance.now();
    render(out.result);
    ctx.emit("result", { res: out.result, final });
    if (final) {
      const stats = S.hooks.stats;
      stats.compute.push(out.ms);
      stats.where.push(out.where);
      stats.parts.push(out.parts);
      stats.waits.push(out.waits);
      stats.render.push(performance.now() - tRender);
      stats.panel.push(performance.now() - t0);  // from the stroke's end to every panel rendered
      if (S.status.key === "blank") ctx.status("none");
    }
  }

  function render(res) {
    paintGrey($("input"), res.input);
    paintGrey($("meanimg"), res.mean_img);
    const grid = $("samples");
    while (grid.children.length > res.k) grid.lastChild.remove();
    while (grid.children.length < res.k) grid.append(digitCanvas());
    for (let i = 0; i < res.k; i++) paintGrey(grid.children[i], res.samples_img, 784 * i);
    $("repro").textContent = `reproduce: model ${res.model}, seed ${res.seed}, K ${res.k}, ${res.estimator}`;
    S.cloud = { samples: res.samples_xy, mean: res.mean_xy };
  }

  function saveDrawing() {
    const res = S.result, d = S.drawing;
    if (!res || !d) { ctx.status("note", { text: "draw a digit first" }, "warn"); return; }
    const stem = `drawing-${res.model}-seed${res.seed}`;
    let b64 = "";
    for (let i = 0; i < d.pixels.length; i += 0x8000) b64 += String.fromCharCode.apply(null, d.pixels.subarray(i, i + 0x8000));
    const record = { model: res.model, seed: res.seed, k: res.k, estimator: res.estimator, label: res.label ?? null,
      observed: S.observed, sent: { width: d.width, height: d.height, pixels_base64: btoa(b64) },
      input_28x28: Array.from(res.input), elbo: res.elbo, elbo_se: res.elbo_se, kl: res.kl, recon: res.recon,
      reproduce: `python -c "import explorer; print(explorer.reproduce('${stem}.png')['elbo'])"` };
    // One file: the drawing as drawn, carrying the drawing, the model, the seed and the numbers in its text.
    pngWithText(pad, "vx-drawing", JSON.stringify(record)).then((blob) => download(URL.createObjectURL(blob), `${stem}.png`));
  }
  $("save-drawing").addEventListener("click", saveDrawing);

  function reset() {
    clearPad(); drawn = false; ink = null; S.cloud = null;
    for (const n of ["input", "meanimg"]) $(n).getContext("2d").clearRect(0, 0, 28, 28);
    fill($("samples"), []); $("repro").textContent = "";
  }
  ctx.on("ready", () => compute(performance.now(), true));  // a model's networks arrived: the pad's drawing, if any
  return { compute, reset, padInk, drawn: () => drawn };
}
