// "Check with Pyro": the server runs Pyro's own Trace_ELBO (or TraceMeanField_ELBO) on the drawing at the very
// z this page drew (explorer/views/pyro_check.py), and the page shows Pyro's figures beside its own, with the gap.

import { drawingBody } from "../api.js";
import { empty, fill, fmt, h } from "../dom.js";

export const markup = `
  <div class="vx-card vx-wide" data-vx="checkcard" data-slide="check with Pyro">
    <h3>Are these Pyro's numbers? <button type="button" data-vx="check" title="the server runs Pyro's ELBO on this drawing at the page's z">Check with Pyro</button>
      <span class="vx-caption vx-needs-server" data-vx="check-server"></span></h3>
    <p class="vx-explain">This page computes the forward pass itself (no request per stroke). Here the server runs
      <code data-vx="check-code"></code> once per sample, on the same drawing, with the guide's z set to each z this page drew.</p>
    <div data-vx="checkout"></div>
  </div>`;

const sci = (v) => (v === 0 ? "0" : Math.abs(v) < 1e-3 ? v.toExponential(1).replace("-", "−") : fmt(v, 4));

export function mount(ctx) {
  const { S, $ } = ctx;
  let seq = 0;
  const code = () => (S.estimator === "trace" ? "Trace_ELBO().loss(model, guide, x)" : "TraceMeanField_ELBO().loss(model, guide, x)");

  function availability() {
    const none = S.server === "none", down = S.server === "down";
    $("check").disabled = none || down;
    $("check-server").textContent = none ? "needs Pyro on a server: not in this static copy" : down ? "needs the server, which is not reachable now" : "";
    $("check-code").textContent = code();
  }
  function reset() { seq++; fill($("checkout"), empty("Draw a digit, then check.")); }

  async function run() {
    const res = S.result, d = S.drawing, mine = ++seq;
    if (!res || !d) { ctx.status("note", { text: "draw a digit first" }, "warn"); return; }
    fill($("checkout"), empty("Pyro is computing on the server…"));
    let py;
    try {
      py = await ctx.api.call(ctx, `models/${encodeURIComponent(res.model)}/check`, { method: "POST", timeout: 60000,
        body: { ...drawingBody(d), k: res.k, seed: res.seed, estimator: res.estimator, z: res.z, ...(res.label !== undefined ? { label: res.label } : {}) } });
    } catch (err) {
      if (mine === seq) { fill($("checkout"), []); ctx.failed(err, "Pyro's check could not be run"); }
      return;
    }
    if (mine !== seq || S.result !== res) return;
    const inputSame = atob(py.input).split("").every((c, i) => c.charCodeAt(0) === res.input[i]);
    const trace = res.estimator === "trace", klPage = trace ? res.kl_mc : res.kl, klPyro = trace ? py.kl_mc : py.kl;
    const perSample = res.objective_samples.map((v, i) => Math.abs(v + py.losses[i])), w = res.kl_weight;
    const rows = [
      ["ELBO (mean over the K samples)", res.elbo, py.elbo, "elbo"],
      ...(w !== 1 ? [[`minus Pyro's loss: reconstruction − ${fmt(w, 0)} · KL (this model's KL weight)`, res.objective, py.objective, "objective"]] : []),
      ["reconstruction log p(x|z)", res.recon, py.recon, "recon"],
      [trace ? "KL, Monte Carlo: log q(z|x) − log p(z)" : "KL, closed form (kl_divergence)", klPage, klPyro, "kl"],
      ...(py.log_py !== null ? [["log p(y)", res.log_py, py.log_py, "logpy"]] : []),
    ];
    S.hooks.lastCheck = { py, page: res };
    fill($("checkout"), [
      h("table", { class: "vx-table", "data-vx": "check-table" }, [
        h("tr", {}, ["", "this page", "Pyro (server)", "gap"].map((t) => h("th", { text: t }))),
        ...rows.map(([name, a, b, key]) => h("tr", {}, [h("td", { text: name }), h("td", { class: "vx-num", text: fmt(a, 4) }),
          h("td", { class: "vx-num", "data-vx-num": `pyro-${key}`, text: fmt(b, 4) }), h("td", { class: "vx-num", "data-vx-num": `gap-${key}`, text: sci(a - b) })])),
        h("tr", {}, [h("td", { text: w === 1 ? "each sample: |this page's ELBO + Pyro's loss|, the largest" : "each sample: |this page's objective + Pyro's loss|, the largest" }), h("td", { text: "" }), h("td", { text: "" }),
          h("td", { class: "vx-num", "data-vx-num": "gap-max", text: sci(Math.max(...perSample)) })]),
      ]),
      h("p", { class: "vx-explain", text: `${inputSame ? "The 28×28 input Pyro scored is this page's, pixel for pixel. " : "The 28×28 input differs from this page's! "}` +
        `Gaps of 10⁻⁵ nats and below are float32 rounding: this page sums in float64, Pyro in float32. Pyro ${py.pyro}, ${py.k} samples, seed ${res.seed}.` }),
    ]);
  }

  $("check").addEventListener("click", run);
  ctx.on("server", availability);
  ctx.on("settings", (name) => { if (name === "estimator") availability(); });
  ctx.on("result", ({ final }) => { if (final) reset(); });
  ctx.on("cleared", reset);
  ctx.on("model", reset);
  availability();
  reset();
}
