// Step 6 of the lens, backprop: what svi.step does after the loss, on the learner's drawing. Real Adam
// steps of Pyro's SVI run on a copy of the model on the server (explorer/backprop.py); the model that
// everyone uses never changes, so "Reset" only clears this panel.

import { modelPath, postJSON } from "../api.js";
import { digitCanvas, empty, fill, fmt, h, paintGrey } from "../dom.js";
import { barsSvg } from "./lens.js";

const MARKUP = `
  <div class="vx-stephead"><b>6 · Backprop and step</b> <code data-snippet="backward"></code> <code data-snippet="optimizer"></code></div>
  <p class="vx-explain"><code>svi.step(x)</code> computes the loss above, then <b>loss.backward()</b> sends its gradient through
    z = loc + scale · ε into the encoder, and through the <code>obs</code> score into the decoder; then <b>the optimizer</b> (Adam)
    moves every weight. Try it on your drawing, on a copy of the model:</p>
  <div class="vx-row vx-tools">
    <button type="button" data-vx="step1">1 Adam step</button><button type="button" data-vx="step10">10 Adam steps</button>
    <label>learning rate <select data-vx="lr"><option>0.00001</option><option selected>0.0001</option><option>0.001</option></select></label>
    <button type="button" data-vx="stepreset">Reset</button>
  </div>
  <div data-vx="stepout"></div>`;

function bytes(list) { return Uint8Array.from(list); }

export function mount(ctx) {
  const { S, $ } = ctx;
  const tpl = document.createElement("template");
  tpl.innerHTML = MARKUP;  // constant markup: no data in it
  fill($("step6"), tpl.content);
  let seq = 0;

  function reset() { seq++; fill($("stepout"), empty("Draw a digit, then take a step.")); }

  async function run(steps) {
    if (!S.lastEncode || !S.lastEncodeBody) { ctx.status("draw a digit first", "warn"); return; }
    const mine = ++seq, body = { ...JSON.parse(S.lastEncodeBody), session: "", seq: 0, steps, lr: Number($("lr").value),
      estimator: S.estimator, ...(S.lastEncode.label !== undefined ? { label: S.lastEncode.label } : {}) };
    fill($("stepout"), empty(`taking ${steps} step${steps > 1 ? "s" : ""}…`));
    let res;
    try { res = await ctx.call(() => postJSON(modelPath(S.name, "step"), body, { timeout: 60000 })); } catch (err) {
      if (mine === seq) { fill($("stepout"), []); ctx.failed(err, "the step could not be taken"); }
      return;
    }
    if (mine !== seq) return;
    S.lastStep = res;
    const L = res.losses, imgs = [res.image_before, res.image_after].map((im) => { const c = digitCanvas("vx-px vx-mid"); paintGrey(c, bytes(im)); return c; });
    const moved = res.loc_before.map((v, d) => ({ d, dl: res.loc_after[d] - v, ds: res.scale_after[d] - res.scale_before[d] }))
      .sort((a, b) => Math.abs(b.dl) - Math.abs(a.dl)).slice(0, 4);
    fill($("stepout"), [
      h("table", { class: "vx-table" }, [
        h("tr", {}, [h("td", { text: "Pyro's loss at this ε, before → after" }),
          h("td", { class: "vx-num", "data-vx-num": "steploss", text: `${fmt(L[0])} → ${fmt(L[L.length - 1])}` })]),
        h("tr", {}, [h("td", {}, ["the same loss in plain PyTorch (BCE + KL at the same z)", h("br"), h("code", { "data-snippet": "torch_loss", text: S.model.header.snippets.torch_loss })]),
          h("td", { class: "vx-num", "data-vx-num": "torchloss", text: fmt(res.torch_loss) })]),
      ]),
      h("div", { class: "vx-row" }, [
        h("div", { class: "vx-col" }, [h("div", { class: "vx-caption", text: "gradient norm per layer, first step: encoder | decoder" }),
          barsSvg([...res.encoder, ...res.decoder].map((l) => l.grad_norm), { label: "gradient norm per layer", unit: "", width: 420, height: 130 }),
          h("div", { class: "vx-caption", text: [...res.encoder.map((l) => "enc " + l.layer), ...res.decoder.map((l) => "dec " + l.layer)].map((n, i) => `${i + 1}: ${n}`).join(" · ") })]),
        h("figure", {}, [imgs[0], h("figcaption", { text: "decoded loc, before" })]),
        h("figure", {}, [imgs[1], h("figcaption", { text: `after ${res.steps} step${res.steps > 1 ? "s" : ""}` })]),
      ]),
      h("p", { class: "vx-explain", text: "loc moved most in " + moved.map((m) => `z${m.d + 1} by ${fmt(m.dl, 3)} (scale ${m.ds >= 0 ? "+" : ""}${fmt(m.ds, 3)})`).join(", ") +
        `. lr ${res.lr}, ${res.estimator === "trace" ? "Trace_ELBO" : "TraceMeanField_ELBO"}, seed ${res.seed}.` }),
    ]);
  }

  $("step1").addEventListener("click", () => run(1));
  $("step10").addEventListener("click", () => run(10));
  $("stepreset").addEventListener("click", reset);
  ctx.on("cleared", reset);
  ctx.on("model", reset);
  ctx.on("encoded", ({ final }) => { if (final) reset(); });
  reset();
}
