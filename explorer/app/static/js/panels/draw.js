// The drawing pad: strokes become the ink the server encodes (live while drawing, then at the end of
// each stroke; the newest drawing wins), the 28x28 input the model sees, and the samples' grid.

import { modelPath, postJSON } from "../api.js";
import { b64bytes, bytesB64, digitCanvas, fill, paintGrey } from "../dom.js";
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
          <button type="button" data-vx="save-drawing" class="vx-mini" title="the drawing as PNG, carrying what was sent, the 28×28 input, model and seed (PNG text chunk vx-drawing)">Save drawing</button>
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
  const C = () => S.model.constants;

  function clearPad() {
    pctx.fillStyle = "#fff"; pctx.fillRect(0, 0, pad.width, pad.height);
    pctx.lineCap = "round"; pctx.lineJoin = "round"; pctx.lineWidth = 20; pctx.strokeStyle = "#000";
  }
  clearPad();

  let drawing = false, last = null, lastSent = 0;
  const padPos = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (e) => {
    drawing = true; pad.setPointerCapture(e.pointerId); last = padPos(e);
    pctx.beginPath(); pctx.arc(last[0], last[1], pctx.lineWidth / 2, 0, 2 * Math.PI); pctx.fillStyle = "#000"; pctx.fill();
    S.drawn = true; e.preventDefault();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const p = padPos(e);
    pctx.beginPath(); pctx.moveTo(last[0], last[1]); pctx.lineTo(p[0], p[1]); pctx.stroke();
    last = p;
    if (!S.inflight && e.timeStamp - lastSent > C().live_interval_ms) encode(e.timeStamp, false);  // live while drawing
  });
  const endStroke = (e) => { if (!drawing) return; drawing = false; encode(e.timeStamp, true); };
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // The drawing is sent at half resolution: the model sees 28 x 28 anyway. The server does the
  // MNIST-style preprocessing (explorer/preprocess.py).
  const small = document.createElement("canvas"), sctx = small.getContext("2d", { willReadFrequently: true });
  function padInk() {
    const n = C().send_size;
    small.width = n; small.height = n;
    sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = "high";
    sctx.drawImage(pad, 0, 0, n, n);
    const d = sctx.getImageData(0, 0, n, n).data, ink = new Uint8Array(n * n);
    for (let i = 0; i < ink.length; i++) ink[i] = 255 - d[4 * i];
    return { width: n, height: n, pixels: bytesB64(ink) };
  }

  async function encode(t0, final) {
    if (!S.drawn || !S.name) return;
    if (S.inflight) S.inflight.abort();  // the newest drawing wins
    const ctl = new AbortController(), seq = ++S.seq;
    S.inflight = ctl; lastSent = t0;
    const body = JSON.stringify({ ...padInk(), k: Number($("k").value), seed: S.seed, session: S.session, seq,
      estimator: S.estimator, ...(S.model.header.labels && S.observedLabel !== null ? { label: S.observedLabel } : {}) });
    S.lastBody = body;
    try {
      const tSend = performance.now();
      const res = await ctx.call(() => postJSON(modelPath(S.name, "encode"), body, { signal: ctl.signal }));
      if (seq !== S.seq || res.stale) return;
      if (res.blank) { ctx.status(res.message, "warn"); return; }
      const tGot = performance.now();
      S.lastEncode = res;
      S.lastEncodeBody = body;  // the drawing that lastEncode is of
      render(res);
      ctx.emit("encoded", { res, final, body, seq, t0 });
      if (final) {
        S.stats.lens.request.push(tGot - tSend);
        S.stats.lens.render.push(performance.now() - tGot);
        requestAnimationFrame(() => S.stats.draw.push(performance.now() - t0));
      }
      ctx.status("");
    } catch (err) {
      if (err.name !== "AbortError") ctx.failed(err, "your drawing could not be encoded; it is kept — draw on or try again");
    } finally {
      if (S.inflight === ctl) S.inflight = null;
    }
  }

  function render(res) {
    paintGrey($("input"), b64bytes(res.input));
    paintGrey($("meanimg"), b64bytes(res.mean_img));
    const imgs = b64bytes(res.samples_img), grid = $("samples");
    while (grid.children.length > res.k) grid.lastChild.remove();
    while (grid.children.length < res.k) grid.append(digitCanvas());
    for (let i = 0; i < res.k; i++) paintGrey(grid.children[i], imgs, 784 * i);
    $("repro").textContent = `reproduce: model ${res.model}, seed ${res.seed}, K ${res.k}`;
    S.cloud = { samples: res.samples_xy, mean: res.mean_xy };
  }

  function saveDrawing() {
    if (!S.lastEncode || !S.lastEncodeBody) { ctx.status("draw a digit first", "warn"); return; }
    const sent = JSON.parse(S.lastEncodeBody), res = S.lastEncode, stem = `drawing-${res.model}-seed${res.seed}`;
    const record = { model: res.model, seed: res.seed, k: res.k, estimator: res.estimator, label: res.label ?? null,
      sent: { width: sent.width, height: sent.height, pixels_base64: sent.pixels },
      input_28x28: Array.from(b64bytes(res.input)), elbo: res.elbo, elbo_se: res.elbo_se,
      reproduce: `POST /api/models/${res.model}/encode with "sent" as width, height, pixels and seed ${res.seed}` };
    // One file: the drawing as drawn, carrying what was sent, the 28x28 input, model and seed in its text.
    pngWithText(pad, "vx-drawing", JSON.stringify(record)).then((blob) => download(URL.createObjectURL(blob), `${stem}.png`));
  }
  $("save-drawing").addEventListener("click", saveDrawing);

  function reset() {
    clearPad(); S.drawn = false; S.seq++; S.lastEncode = null; S.lastEncodeBody = null; S.cloud = null;
    for (const n of ["input", "meanimg"]) $(n).getContext("2d").clearRect(0, 0, 28, 28);
    fill($("samples"), []); $("repro").textContent = "";
  }

  return { encode, reset };
}
