// Step 6 of the lens, backprop: what svi.step does after the loss, on the learner's drawing. Real Adam
// steps of Pyro's SVI run on a copy of the model on the server (explorer/views/backprop.py): this step needs
// Pyro, so it needs the server; the model everyone uses never changes, so "Reset" only clears this panel.

import { drawingBody } from "../api.js";
import { hbars } from "../charts.js";
import { digitCanvas, empty, fill, fmt, h, paintGrey } from "../dom.js";

const MARKUP = `
  <div class="vx-stephead"><b>6 · Backprop and step</b> <code data-snippet="backward"></code> <code data-snippet="optimizer"></code></div>
  <p class="vx-explain"><code>svi.step(x)</code> computes the loss above, then <b>loss.backward()</b> sends its gradient through
    z = loc + scale · ε into the encoder, and through the <code>obs</code> score into the decoder; then <b>the optimizer</b> (Adam)
    moves every weight. Try it on your drawing, on a copy of the model (Pyro's real SVI, on the server):</p>
  <div class="vx-row vx-tools">
    <button type="button" data-vx="step1">1 Adam step</button><button type="button" data-vx="step10">10 Adam steps</button>
    <label>learning rate <select data-vx="lr"><option>0.00001</option><option selected>0.0001</option><option>0.001</option></select></label>
    <button type="button" data-vx="stepreset">Reset</button>
    <span class="vx-caption vx-needs-server" data-vx="step-server"></span>
  </div>
  <div data-vx="stepout"></div>`;

/** A layer's name as a learner reads it: "encoder.body.0" -> "enc 1", "encoder.fc_loc" -> "enc → loc". */
export function layerName(part, name, i) {
  const short = name.replace(/^body\.|^net\./, "");
  if (short === "fc_loc") return "enc → loc";
  if (short === "fc_scale") return "enc → log scale";
  return `${part} ${/^\d+$/.test(short) ? Number(short) / 2 + 1 : i + 1}`;
}

export function mount(ctx) {
  const { S, $ } = ctx;
  const tpl = document.createElement("template");
  tpl.innerHTML = MARKUP;  // constant markup: no data in it
  fill($("step6"), tpl.content);
  let seq = 0;

  function reset() { seq++; S.hooks.lastStep = null; fill($("stepout"), empty("Draw a digit, then take a step.")); }
  function availability() {
    const none = S.server === "none", down = S.server === "down";
    for (const n of ["step1", "step10"]) $(n).disabled = none || down;
    $("step-server").textContent = none ? "needs Pyro on a server: not in this static copy (run python -m explorer)"
      : down ? "needs the server, which is not reachable now: it comes back with it" : "";
  }

  async function run(steps) {
    const res = S.result, d = S.drawing;
    if (!res || !d) { ctx.status("note", { text: "draw a digit first" }, "warn"); return; }
    const mine = ++seq, body = { ...drawingBody(d), seed: res.seed, steps, lr: S.lr, estimator: res.estimator,
      ...(res.label !== undefined ? { label: res.label } : {}) };
    fill($("stepout"), empty(`taking ${steps} step${steps > 1 ? "s" : ""} on the server…`));
    let out;
    try { out = await ctx.api.call(ctx, `models/${encodeURIComponent(res.model)}/step`, { method: "POST", body, timeout: 60000 }); } catch (err) {
      if (mine === seq) { fill($("stepout"), []); ctx.failed(err, "the step could not be taken"); }
      return;
    }
    if (mine !== seq) return;
    S.hooks.lastStep = out;
    render(out);
  }

  function render(out) {
    const L = out.losses, imgs = [out.image_before, out.image_after].map((im) => { const c = digitCanvas("vx-px vx-mid"); paintGrey(c, Uint8Array.from(im)); return c; });
    const moved = out.loc_before.map((v, dd) => ({ dd, dl: out.loc_after[dd] - v, ds: out.scale_after[dd] - out.scale_before[dd] }))
      .sort((a, c) => Math.abs(c.dl) - Math.abs(a.dl)).slice(0, 4);
    const layers = [...out.encoder.map((l, i) => ({ ...l, name: layerName("enc", l.layer, i), cls: "vx-enc" })),
      ...out.decoder.map((l, i) => ({ ...l, name: layerName("dec", l.layer, i), cls: "vx-dec" }))];
    const chart = h("div", { class: "vx-chart vx-gradchart" });
    fill($("stepout"), [
      h("div", { class: "vx-row vx-steprow" }, [
        h("table", { class: "vx-table vx-grow" }, [
          h("tr", {}, [h("td", { text: "Pyro's loss, before → after (the same ε)" }),
            h("td", { class: "vx-num", "data-vx-num": "steploss", text: `${fmt(L[0])} → ${fmt(L[L.length - 1])}` })]),
          h("tr", {}, [h("td", {}, ["plain PyTorch's loss (BCE + KL, the same z)", h("br"), h("code", { "data-snippet": "torch_loss", text: ctx.model().header.snippets.torch_loss })]),
            h("td", { class: "vx-num", "data-vx-num": "torchloss", text: fmt(out.torch_loss) })]),
        ]),
        h("figure", {}, [imgs[0], h("figcaption", { text: "decoded loc, before" })]),
        h("figure", {}, [imgs[1], h("figcaption", { text: `after ${out.steps} step${out.steps > 1 ? "s" : ""}` })]),
      ]),
      h("div", { class: "vx-caption vx-gradcaption", text: "gradient norm of each layer (weights and bias), first step: encoder, then decoder" }), chart,
      h("p", { class: "vx-explain", text: "loc moved most in " + moved.map((m) => `z${m.dd + 1} by ${fmt(m.dl, 3)} (scale ${m.ds >= 0 ? "+" : ""}${fmt(m.ds, 3)})`).join(", ") +
        `. lr ${out.lr}, ${out.estimator === "trace" ? "Trace_ELBO" : "TraceMeanField_ELBO"}, seed ${out.seed}.` }),
    ]);
    const fs = parseFloat(getComputedStyle(chart).fontSize) || 14;
    fill(chart, hbars(layers.map((l) => l.grad_norm), layers.map((l) => l.name),
      { w: Math.max(260, chart.clientWidth || 420), fs, unit: "‖∂loss/∂weights‖", title: "gradient norm per layer", groups: layers.map((l) => l.cls) }));
  }

  const again = () => { if (S.hooks.lastStep && $("stepout").querySelector(".vx-gradchart")) requestAnimationFrame(() => render(S.hooks.lastStep)); };
  ctx.on("presenting", again);
  ctx.on("settings", (name) => { if (name === "slide") again(); });
  $("lr").value = String(S.lr);
  $("lr").addEventListener("change", (e) => { S.lr = Number(e.target.value); });
  $("step1").addEventListener("click", () => run(1));
  $("step10").addEventListener("click", () => run(10));
  $("stepreset").addEventListener("click", reset);
  ctx.on("cleared", reset);
  ctx.on("model", reset);
  ctx.on("server", availability);
  ctx.on("result", ({ final }) => { if (final) reset(); });
  availability();
  reset();
}
