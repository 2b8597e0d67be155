// The forward-pass lens: one forward pass of the VAE for the drawing, step by step, beside the lines of
// Pyro's model and guide, with the numbers this page computed (forward.js, the twin of Python's
// encode_drawing). Every panel renders from the state: the result, the estimator, log p(x).

import { drawingBody } from "../api.js";
import { bars, frame, posterior, remeasure } from "../charts.js";
import { empty, fill, fmt, h, paintGrey } from "../dom.js";

const PLACEHOLDER = {
  post: "Draw a digit to see q(z|x).",
  step2: "z = loc + scale · ε appears here.",
  step3: "KL per dimension appears here.",
  step4: "The decoder's probabilities and the reconstruction term appear here.",
  elbo: "Draw a digit.",
};

export const markup = `
  <div class="vx-card vx-wide vx-lens" data-title="The forward pass">
    <h3>One forward pass of the VAE, step by step, for your drawing <span class="vx-note">(nats, computed in this page as Pyro computes them)</span></h3>
    <div class="vx-row vx-tools">
      <label>ELBO estimator <select data-vx="estimator" aria-label="ELBO estimator">
        <option value="trace">Trace_ELBO (Monte Carlo KL)</option><option value="meanfield">TraceMeanField_ELBO (closed-form KL)</option></select></label>
      <button type="button" data-vx="neweps" title="draw new ε ~ N(0, I): the estimates move, by about their s.e.">New ε</button>
      <span class="vx-caption" data-vx="spread"></span>
    </div>
    <div class="vx-steps">
      <div class="vx-step vx-step1" data-step="1" data-slide="1 guide"><div class="vx-stephead"><b>1 · Guide</b> <code data-snippet="guide"></code></div><div data-vx="post" class="vx-post vx-chart"></div></div>
      <div class="vx-step" data-step="2" data-slide="2 sample"><div class="vx-stephead"><b>2 · Sample</b> <code data-snippet="sample"></code></div><div data-vx="step2"></div></div>
      <div class="vx-step" data-step="3" data-slide="3 KL"><div class="vx-stephead"><b>3 · KL to the prior</b> <code data-snippet="prior"></code></div><div data-vx="step3"></div></div>
      <div class="vx-step" data-step="4" data-slide="4 decode and score"><div class="vx-stephead"><b>4 · Decode and score</b> <code data-snippet="obs"></code></div><div data-vx="step4"></div></div>
      <div class="vx-step" data-step="5" data-slide="5 ELBO"><div class="vx-stephead"><b>5 · ELBO</b> <code data-snippet="loss"></code></div><div data-vx="elbo"></div></div>
      <div class="vx-step" data-step="6" data-slide="6 backprop" data-vx="step6"></div>
    </div>
  </div>`;

const p = (children) => h("p", { class: "vx-explain" }, children);
const b = (text, name) => h("b", { text, "data-vx-num": name });
const row = (label, note, value, name, extra) => h("tr", { class: extra }, [
  h("td", {}, [label, note ? h("br") : null, note ? h("span", { class: "vx-note" }, note) : null]),
  h("td", { class: "vx-num", "data-vx-num": name }, value)]);

export function mount(ctx) {
  const { S, $ } = ctx;
  const C = () => ctx.model().constants;

  function reset() { for (const [k, text] of Object.entries(PLACEHOLDER)) fill($(k), empty(text)); }

  function step2(res) {
    const zd = res.loc.length, order = [...Array(zd).keys()].sort((a, c) => res.kl_dims[c] - res.kl_dims[a]).slice(0, Math.min(zd, 4));
    const rows = order.map((d) => h("tr", {}, [h("td", { text: `z${d + 1}` }), h("td", { text: fmt(res.loc[d]) }),
      h("td", { text: fmt(res.scale[d]) }), h("td", { text: fmt(res.eps[0][d]) }), h("td", {}, h("b", { text: fmt(res.z[0][d]) }))]));
    return [
      p(["Inside SVI, Pyro draws the guide's ", h("code", { text: '"latent"' }), " with ", h("code", { text: "Normal.rsample" }), ": ",
        h("b", { text: "z = loc + scale · ε" }), `, ε ~ N(0, I) — the reparameterization trick. Sample 1, the ${order.length} most used dimensions:`]),
      h("table", { class: "vx-table vx-small-table" }, [h("tr", {}, ["", "loc", "scale", "ε", "z"].map((t) => h("th", { text: t }))), ...rows]),
      p(["z is a differentiable function of loc and scale, so the gradient of the reconstruction term reaches the encoder. Estimated from the K = ",
        String(res.k), " samples (unbiased, ± s.e.): ‖E ∂/∂loc‖ ≈ ", b(fmt(res.grad_loc_norm), "gradloc"), ` ± ${fmt(res.grad_loc_norm_se)}`,
        ", ‖E ∂/∂scale‖ ≈ ", b(fmt(res.grad_scale_norm), "gradscale"), ` ± ${fmt(res.grad_scale_norm_se)}`,
        h("span", { class: "vx-note", text: ` (the plain norm of the K-sample mean, ${fmt(res.grad_loc_norm_naive)}, is biased upward by the samples' noise)` })])];
  }

  function step3(res, box) {
    const zd = res.kl_dims.length, f = frame(box, { aspect: 0.3, maxHeight: 360 });
    const closed = [" ½(loc² + scale² − 1) − log scale = ", b(fmt(res.kl), "kl2"), ` nats over ${zd} dimensions (the bars). `];
    const how = res.estimator === "trace"
      ? [h("b", { text: "Trace_ELBO estimates the KL by Monte Carlo" }), ": log q(z|x) − log p(z) at the z it drew. Over the K samples: ",
        b(fmt(res.kl_mc), "klmc"), ` ± ${fmt(res.kl_mc_se)} (s.e.), an estimate of the closed form Σ`, h("sub", { text: "d" }), ...closed]
      : [h("b", { text: "TraceMeanField_ELBO uses the closed form" }), ": KL = Σ", h("sub", { text: "d" }), ...closed];
    return [h("div", { class: "vx-chart" }, bars(res.kl_dims, res.kl_dims.map((_, i) => `z${i + 1}`), { ...f, unit: "nats", title: "KL per dimension" })),
      p([...how, "On the test set, ", b(String(res.active_dims), "active"),
        ` of ${zd} dimensions are active (average KL > ${C().active_kl} nats); the others stay at the prior.`])];
  }

  // step 4's two images: the same canvases each time (a new canvas and its context cost more than the paint)
  const probs = h("canvas", { class: "vx-px vx-big", "data-vx": "probs1", width: 28, height: 28 });
  const heat = h("canvas", { class: "vx-px vx-big", "data-vx": "heat", width: 28, height: 28 }), hctx = heat.getContext("2d");
  function step4(res) {
    paintGrey(probs, res.samples_img, 0);
    const im = hctx.createImageData(28, 28), mx = Math.max(1e-6, ...res.pixel_nats);
    for (let i = 0; i < 784; i++) {
      const t = Math.min(1, res.pixel_nats[i] / mx);
      im.data[4 * i] = 255; im.data[4 * i + 1] = Math.round(255 * (1 - t)); im.data[4 * i + 2] = Math.round(255 * (1 - t)); im.data[4 * i + 3] = 255;
    }
    hctx.putImageData(im, 0, 0);
    return [h("div", { class: "vx-row vx-figs" }, [
      h("figure", {}, [probs, h("figcaption", { text: "p = decoder(z₁)" })]),
      h("figure", {}, [heat, h("figcaption", { text: "where the nats go" })])]),
    p(["Scoring ", h("code", { text: "obs" }), " against a Bernoulli gives the reconstruction term log p(x|z) = Σ", h("sub", { text: "pixels" }),
      " [x log p + (1 − x) log(1 − p)] — ", h("b", { text: "minus the binary cross-entropy" }), ". Sample 1: ", h("b", { text: fmt(res.recon_samples[0]) }),
      `; mean over K = ${res.k}: `, b(fmt(res.recon), "recon2"), ` ± ${fmt(res.recon_se)} (standard error). Red: pixels costing most nats (max ${fmt(Math.max(...res.pixel_nats))}).`])];
  }

  function logpxCell(res) {
    const lp = S.logpx;
    if (!lp) return "computing in this page…";
    return [fmt(lp.log_px), " ", h("span", { class: "vx-pm", text: `± ${fmt(lp.log_px_se)} · ESS ${fmt(lp.ess, 0)}` }),
      h("br"), h("span", { class: "vx-note", text: lp.where === "server" ? `k = ${lp.k.toLocaleString("en")}, on the server` : `k = ${lp.k.toLocaleString("en")}, in this page` })];
  }

  function elbo(res) {
    const y = res.log_py !== undefined, trace = res.estimator === "trace", lp = S.logpx;
    const tighter = h("button", { type: "button", class: "vx-mini", "data-vx": "logpx-server", text: `k = ${C().logpx_max_k.toLocaleString("en")} on the server`,
      title: "a tighter estimate with more importance samples: computed on the server", disabled: !ctx.api.available() || null });
    return h("table", { class: "vx-table" }, [
      row(["reconstruction E", h("sub", { text: "q" }), "[log p(x|z)]"], `−BCE, estimated from K = ${res.k} samples ± s.e.`,
        [fmt(res.recon), " ", h("span", { class: "vx-pm", text: `± ${fmt(res.recon_se)}` })], "recon"),
      trace ? row("− KL, Monte Carlo: E[log q(z|x) − log p(z)]", "what Trace_ELBO uses ± s.e.",
        [`−${fmt(res.kl_mc)}`, " ", h("span", { class: "vx-pm", text: `± ${fmt(res.kl_mc_se)}` })], "kl")
        : row("− KL(q(z|x) ‖ N(0, I))", "closed form, as TraceMeanField_ELBO", `−${fmt(res.kl)}`, "kl"),
      y ? row("+ log p(y) = log 1/10", `the label y = ${res.label}, scored by a Categorical`, fmt(res.log_py), "logpy") : null,
      row([`ELBO = reconstruction − KL${y ? " + log p(y)" : ""}`], `an estimate from K = ${res.k} samples ± s.e.; one ${trace ? "Trace_ELBO" : "TraceMeanField_ELBO"}().loss call (one sample) scatters by ± ${fmt(res.elbo_sd, 1)}`,
        [fmt(res.elbo), " ", h("span", { class: "vx-pm", text: `± ${fmt(res.elbo_se)}` })], "elbo", "vx-total"),
      res.kl_weight === 1 ? row("Pyro's loss = −ELBO", ["what ", h("code", { text: "svi.step" }), " minimizes"], fmt(-res.elbo), "loss")
        : row(`Pyro's loss = −(reconstruction − ${fmt(res.kl_weight, 0)} · KL${y ? " + log p(y)" : ""})`,
          [`what `, h("code", { text: "svi.step" }), ` minimizes for this model: its KL is weighted ${fmt(res.kl_weight, 0)}`,
            res.kl_weight === 0 ? " (an autoencoder: only the reconstruction is trained)" : " (a β-VAE)", ", so it is not −ELBO"],
          fmt(-res.objective), "loss"),
      row([`log p(x${y ? ", y" : ""}), importance-weighted `, tighter], "samples from q(z|x) ± s.e.", logpxCell(res), "logpx"),
      row("gap log p(x) − ELBO", "≥ 0 in expectation: what the ELBO leaves out", lp ? fmt(lp.log_px - res.elbo) : "…", "gap"),
    ]);
  }

  async function logpxHere(final) {
    const res = S.result, d = S.drawing, name = S.model, t0 = performance.now();
    if (!res || !final) return;
    try {
      const { result } = await ctx.compute.logpx(name, d, { k: C().logpx_k, seed: res.seed, label: res.label ?? null });
      if (!result || S.result !== res) return;  // a newer drawing overtook it
      S.logpx = { ...result, where: "page" };
      S.hooks.stats.logpx.push(performance.now() - t0);
      fill($("elbo"), elbo(res));
    } catch (err) { ctx.status("failed", { what: "log p(x) could not be computed", why: err.message }, "error"); }
  }

  async function logpxServer() {
    const res = S.result, d = S.drawing;
    if (!res) return;
    try {
      const out = await ctx.api.call(ctx, `models/${encodeURIComponent(res.model)}/logpx`, { method: "POST",
        body: { ...drawingBody(d), k: C().logpx_max_k, seed: res.seed, ...(res.label !== undefined ? { label: res.label } : {}) }, timeout: 60000 });
      if (S.result !== res) return;
      S.logpx = { ...out, where: "server" };
      fill($("elbo"), elbo(res));
    } catch (err) { ctx.failed(err, "the server's log p(x)"); }
  }

  function render(res) {
    fill($("post"), posterior(res, frame($("post"), { aspect: 0.24, maxHeight: 320, minLines: 12 })));
    fill($("step2"), step2(res));
    fill($("step3"), step3(res, $("step3")));
    fill($("step4"), step4(res));
    fill($("elbo"), elbo(res));
  }

  function showSnippets() {
    const sn = ctx.model().header.snippets;
    for (const el of ctx.root.querySelectorAll("[data-snippet]")) {
      const key = el.dataset.snippet === "loss" ? `loss_${S.estimator}` : el.dataset.snippet;
      el.textContent = sn[key];
    }
  }
  // "New ε": the same drawing, new samples; the spread of the estimates over the draws is shown.
  let draws = [], drawingSeen = null;
  function spread(res) {
    if (drawingSeen !== S.drawing || !draws.length || draws[0].estimator !== res.estimator || draws[0].k !== res.k) draws = [];
    drawingSeen = S.drawing;
    if (!draws.some((d) => d.seed === res.seed)) draws.push({ seed: res.seed, elbo: res.elbo, estimator: res.estimator, k: res.k });
    const v = draws.map((d) => d.elbo), n = v.length, mean = v.reduce((a, c) => a + c, 0) / n;
    const sd = n > 1 ? Math.sqrt(v.reduce((a, c) => a + (c - mean) ** 2, 0) / (n - 1)) : NaN;
    $("spread").textContent = n > 1 ? `ELBO over ${n} draws of ε: ${fmt(mean)} ± ${fmt(sd)} (sd): each estimate is one draw of this spread`
      : "Press “New ε” to see how much the estimate moves from draw to draw.";
  }
  ctx.on("model", () => { showSnippets(); reset(); });
  ctx.on("result", ({ res, final }) => { render(res); if (final) { spread(res); logpxHere(final); } });
  ctx.on("cleared", () => { reset(); draws = []; $("spread").textContent = ""; });
  ctx.on("server", () => { if (S.result) fill($("elbo"), elbo(S.result)); });
  ctx.on("presenting", () => { remeasure([$("post"), $("step3")]); if (S.result) render(S.result); });
  ctx.on("settings", (name) => {
    if (name === "estimator") { $("estimator").value = S.estimator; showSnippets(); }
    if (name === "slide" && S.result) requestAnimationFrame(() => { remeasure([$("post"), $("step3")]); render(S.result); });  // at the slide's size
  });
  $("estimator").value = S.estimator;
  $("estimator").addEventListener("change", (e) => ctx.set("estimator", e.target.value));
  $("neweps").addEventListener("click", () => ctx.$("resample").click());
  ctx.root.addEventListener("click", (e) => { if (e.target.dataset && e.target.dataset.vx === "logpx-server") logpxServer(); });
  let resized = null, width = 0;  // charts are drawn at their shown size: again when the width changes
  new ResizeObserver((entries) => {
    const now = Math.round(entries[0].contentRect.width);
    if (now === width) return;
    width = now;
    clearTimeout(resized); resized = setTimeout(() => { if (S.result) render(S.result); }, 120);
  }).observe($("post"));
  reset();
  return { reset, render };
}
