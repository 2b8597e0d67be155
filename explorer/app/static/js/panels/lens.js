// The forward-pass lens: one forward pass of the VAE for the drawing, step by step, beside the lines of
// Pyro's model and guide, with the numbers the server computed (explorer/inference.py encode_drawing).

import { modelPath, postJSON } from "../api.js";
import { b64bytes, empty, fill, fmt, h, paintGrey, svg } from "../dom.js";

const PLACEHOLDER = {
  post: "Draw a digit to see q(z|x).",
  step2: "z = loc + scale · ε appears here.",
  step3: "KL per dimension appears here.",
  step4: "The decoder's probabilities and the reconstruction term appear here.",
  elbo: "Draw a digit.",
};

export const markup = `
  <div class="vx-card vx-wide vx-lens" data-title="The forward pass">
    <h3>One forward pass of the VAE, step by step, for your drawing <span class="vx-note">(nats, as Pyro computes them)</span></h3>
    <div class="vx-row vx-tools">
      <label>ELBO estimator <select data-vx="estimator" aria-label="ELBO estimator">
        <option value="trace">Trace_ELBO (Monte Carlo KL)</option><option value="meanfield">TraceMeanField_ELBO (closed-form KL)</option></select></label>
      <button type="button" data-vx="neweps" title="draw new ε ~ N(0, I): the estimates move, by about their s.e.">New ε</button>
      <span class="vx-caption" data-vx="spread"></span>
    </div>
    <div class="vx-steps">
      <div class="vx-step vx-step1" data-step="1" data-slide="1 guide"><div class="vx-stephead"><b>1 · Guide</b> <code data-snippet="guide"></code></div><div data-vx="post" class="vx-post"></div></div>
      <div class="vx-step" data-step="2" data-slide="2 sample"><div class="vx-stephead"><b>2 · Sample</b> <code data-snippet="sample"></code></div><div data-vx="step2"></div></div>
      <div class="vx-step" data-step="3" data-slide="3 KL"><div class="vx-stephead"><b>3 · KL to the prior</b> <code data-snippet="prior"></code></div><div data-vx="step3"></div></div>
      <div class="vx-step" data-step="4" data-slide="4 decode and score"><div class="vx-stephead"><b>4 · Decode and score</b> <code data-snippet="obs"></code></div><div data-vx="step4"></div></div>
      <div class="vx-step" data-step="5" data-slide="5 ELBO"><div class="vx-stephead"><b>5 · ELBO</b> <code data-snippet="loss"></code></div><div data-vx="elbo"></div></div>
      <div class="vx-step" data-step="6" data-slide="6 backprop" data-vx="step6"></div>
    </div>
  </div>`;

function posteriorSvg(res) {
  const n = res.loc.length, W = 900, H = 190, pl = 34, pb = 22, lim = 3.5, bw = (W - pl) / n;
  const y = (v) => (H - pb) / 2 - Math.max(-lim, Math.min(lim, v)) * ((H - pb) / 2 - 6) / lim;
  const parts = [];
  for (const v of [-3, -2, -1, 0, 1, 2, 3]) {
    parts.push(svg("line", { x1: pl, x2: W, y1: y(v), y2: y(v), class: v ? "vx-gl" : "vx-zero" }),
      svg("text", { x: pl - 6, y: y(v) + 4, class: "vx-tick", "text-anchor": "end", text: v }));
  }
  parts.push(svg("rect", { x: pl, y: y(1), width: W - pl, height: y(-1) - y(1), class: "vx-prior" }, [svg("title", { text: "prior N(0,1): ±1" })]));
  for (let i = 0; i < n; i++) {
    const cx = pl + (i + 0.5) * bw, l = res.loc[i], sc = res.scale[i];
    parts.push(svg("g", {}, [
      svg("title", { text: `z${i + 1}: loc ${fmt(l, 3)}, scale ${fmt(sc, 3)}, KL ${fmt(res.kl_dims[i], 3)} nats` }),
      svg("rect", { x: cx - Math.min(20, Math.max(1.5, bw * 0.3)), y: y(l + sc), width: Math.min(40, Math.max(3, bw * 0.6)),
        height: Math.max(1, y(l - sc) - y(l + sc)), class: "vx-bar" }),
      svg("circle", { cx, cy: y(l), r: Math.min(5, Math.max(2.5, bw * 0.25)), class: "vx-dot" })]));
    if (n <= 20 || i % 5 === 4) parts.push(svg("text", { x: cx, y: H - 5, class: "vx-tick", "text-anchor": "middle", text: i + 1 }));
  }
  return [svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "vx-svg", role: "img", "aria-label": "posterior per dimension" }, parts),
    h("div", { class: "vx-caption", text: "dot: loc; bar: loc ± scale; grey band: the prior's ±1. Hover a dimension for its numbers." })];
}

export function barsSvg(values, { label, unit = "", width = 420, height = 150, cls = "vx-kl" }) {
  const n = values.length, W = width, H = height, pl = 40, pb = 20, vmax = Math.max(1e-9, ...values.map(Math.abs));
  const y = (v) => 6 + (H - pb - 6) * (1 - v / vmax), bw = (W - pl) / n;
  const parts = [svg("line", { x1: pl, x2: W, y1: y(0), y2: y(0), class: "vx-zero" }),
    svg("text", { x: pl - 5, y: y(vmax) + 5, class: "vx-tick", "text-anchor": "end", text: fmt(vmax, vmax < 10 ? 2 : 0) }),
    svg("text", { x: pl - 5, y: y(0) + 4, class: "vx-tick", "text-anchor": "end", text: "0" })];
  for (let i = 0; i < n; i++) {
    const v = values[i], w = Math.min(40, Math.max(1, bw * 0.7)), x = pl + (i + 0.5) * bw - w / 2;
    parts.push(svg("rect", { x, y: Math.min(y(v), y(0)), width: w, height: Math.max(0.5, Math.abs(y(v) - y(0))), class: cls },
      [svg("title", { text: `z${i + 1}: ${fmt(v, 3)} ${unit}` })]));
    if (n <= 20 || i % 10 === 9) parts.push(svg("text", { x: x + w / 2, y: H - 5, class: "vx-tick", "text-anchor": "middle", text: i + 1 }));
  }
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "vx-svg", role: "img", "aria-label": label }, parts);
}

const p = (children) => h("p", { class: "vx-explain" }, children);
const b = (text, name) => h("b", { text, "data-vx-num": name });
const row = (label, note, value, name, extra) => h("tr", { class: extra }, [
  h("td", {}, [label, note ? h("br") : null, note ? h("span", { class: "vx-note" }, note) : null]),
  h("td", { class: "vx-num", "data-vx-num": name }, value)]);

export function mount(ctx) {
  const { S, $ } = ctx;

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

  function step3(res) {
    const zd = res.kl_dims.length;
    const closed = [" ½(loc² + scale² − 1) − log scale = ", b(fmt(res.kl), "kl2"), ` nats over ${zd} dimensions (the bars). `];
    const how = res.estimator === "trace"
      ? [h("b", { text: "Trace_ELBO estimates the KL by Monte Carlo" }), ": log q(z|x) − log p(z) at the z it drew. Over the K samples: ",
        b(fmt(res.kl_mc), "klmc"), ` ± ${fmt(res.kl_mc_se)} (s.e.), an estimate of the closed form Σ`, h("sub", { text: "d" }), ...closed]
      : [h("b", { text: "TraceMeanField_ELBO uses the closed form" }), ": KL = Σ", h("sub", { text: "d" }), ...closed];
    return [barsSvg(res.kl_dims, { label: "KL per dimension", unit: "nats", height: 140 }),
      p([...how, "On the test set, ", b(String(res.active_dims), "active"),
        ` of ${zd} dimensions are active (average KL > ${S.model.constants.active_kl} nats); the others stay at the prior.`])];
  }

  function step4(res) {
    const probs = h("canvas", { class: "vx-px vx-mid", "data-vx": "probs1", width: 28, height: 28 });
    const heat = h("canvas", { class: "vx-px vx-mid", "data-vx": "heat", width: 28, height: 28 });
    paintGrey(probs, b64bytes(res.samples_img), 0);
    const hctx = heat.getContext("2d"), im = hctx.createImageData(28, 28), mx = Math.max(1e-6, ...res.pixel_nats);
    for (let i = 0; i < 784; i++) {
      const t = Math.min(1, res.pixel_nats[i] / mx);
      im.data[4 * i] = 255; im.data[4 * i + 1] = Math.round(255 * (1 - t)); im.data[4 * i + 2] = Math.round(255 * (1 - t)); im.data[4 * i + 3] = 255;
    }
    hctx.putImageData(im, 0, 0);
    return [h("div", { class: "vx-row" }, [
      h("figure", {}, [probs, h("figcaption", { text: "p = decoder(z₁)" })]),
      h("figure", {}, [heat, h("figcaption", { text: "where the nats go" })])]),
    p(["Scoring ", h("code", { text: "obs" }), " against a Bernoulli gives the reconstruction term log p(x|z) = Σ", h("sub", { text: "pixels" }),
      " [x log p + (1 − x) log(1 − p)] — ", h("b", { text: "minus the binary cross-entropy" }), ". Sample 1: ", h("b", { text: fmt(res.recon_samples[0]) }),
      `; mean over K = ${res.k}: `, b(fmt(res.recon), "recon2"), ` ± ${fmt(res.recon_se)} (standard error). Red: pixels costing most nats (max ${fmt(Math.max(...res.pixel_nats))}).`])];
  }

  function elbo(res) {
    const y = res.log_py !== undefined, trace = res.estimator === "trace";
    return h("table", { class: "vx-table" }, [
      row(["reconstruction E", h("sub", { text: "q" }), "[log p(x|z)]"], `−BCE, estimated from K = ${res.k} samples ± s.e.`,
        [fmt(res.recon), " ", h("span", { class: "vx-pm", text: `± ${fmt(res.recon_se)}` })], "recon"),
      trace ? row("− KL, Monte Carlo: E[log q(z|x) − log p(z)]", "what Trace_ELBO uses ± s.e.",
        [`−${fmt(res.kl_mc)}`, " ", h("span", { class: "vx-pm", text: `± ${fmt(res.kl_mc_se)}` })], "kl")
        : row("− KL(q(z|x) ‖ N(0, I))", "closed form, as TraceMeanField_ELBO", `−${fmt(res.kl)}`, "kl"),
      y ? row("+ log p(y) = log 1/10", `the label y = ${res.label}, scored by a Categorical`, fmt(res.log_py), "logpy") : null,
      row([`ELBO = reconstruction − KL${y ? " + log p(y)" : ""}`], `an estimate from K = ${res.k} samples ± s.e.; one ${trace ? "Trace_ELBO" : "TraceMeanField_ELBO"}().loss call (one sample) scatters by ± ${fmt(res.elbo_sd, 1)}`,
        [fmt(res.elbo), " ", h("span", { class: "vx-pm", text: `± ${fmt(res.elbo_se)}` })], "elbo", "vx-total"),
      row("Pyro's loss = −ELBO", ["what ", h("code", { text: "svi.step" }), " minimizes"], fmt(-res.elbo), "loss"),
      row(`log p(x${y ? ", y" : ""}), importance-weighted`, `k = ${S.model.constants.logpx_k.toLocaleString("en")} samples from q(z|x) ± s.e.`, "computing…", "logpx"),
      row("gap log p(x) − ELBO", "≥ 0 in expectation: what the ELBO leaves out", "…", "gap"),
    ]);
  }

  async function fetchLogPx(body, seq, t0) {
    try {
      const res = await ctx.call(() => postJSON(modelPath(S.name, "logpx"), { ...JSON.parse(body), k: S.model.constants.logpx_k }));
      if (seq !== S.seq || res.blank || res.stale || !S.lastEncode) return;
      const cell = ctx.root.querySelector("[data-vx-num=logpx]");
      fill(cell, [fmt(res.log_px), " ", h("span", { class: "vx-pm", text: `± ${fmt(res.log_px_se)} · ESS ${fmt(res.ess, 0)}` })]);
      cell.dataset.state = "done";
      ctx.root.querySelector("[data-vx-num=gap]").textContent = fmt(res.log_px - S.lastEncode.elbo);
      S.lastLogPx = res;
      S.stats.lens.logpx.push(performance.now() - t0);
    } catch (err) { ctx.failed(err, "log p(x) could not be computed"); }
  }

  function render(res) {
    fill($("post"), posteriorSvg(res));
    fill($("step2"), step2(res));
    fill($("step3"), step3(res));
    fill($("step4"), step4(res));
    fill($("elbo"), elbo(res));
    ctx.root.querySelector("[data-vx-num=logpx]").dataset.state = "computing";
  }

  function showSnippets() {
    const sn = S.model.header.snippets;
    for (const el of ctx.root.querySelectorAll("[data-snippet]")) {
      const key = el.dataset.snippet === "loss" ? `loss_${$("estimator").value}` : el.dataset.snippet;
      el.textContent = sn[key];
    }
  }
  // "New ε": the same drawing, new samples; the spread of the estimates over the draws is shown.
  let draws = [];
  function spread(res, body) {
    const key = body.replace(/"seed":\d+,/, "").replace(/"seq":\d+/, "");
    if (!draws.length || draws[0].key !== key || draws[0].estimator !== res.estimator) draws = [];
    if (!draws.some((d) => d.seed === res.seed)) draws.push({ key, seed: res.seed, elbo: res.elbo, estimator: res.estimator });
    const v = draws.map((d) => d.elbo), n = v.length, mean = v.reduce((a, c) => a + c, 0) / n;
    const sd = n > 1 ? Math.sqrt(v.reduce((a, c) => a + (c - mean) ** 2, 0) / (n - 1)) : NaN;
    $("spread").textContent = n > 1 ? `ELBO over ${n} draws of ε: ${fmt(mean)} ± ${fmt(sd)} (sd): each estimate is one draw of this spread`
      : "Press “New ε” to see how much the estimate moves from draw to draw.";
  }
  ctx.on("model", showSnippets);
  ctx.on("encoded", ({ res, final, body, seq, t0 }) => {
    render(res);
    if (final) { spread(res, body); fetchLogPx(body, seq, t0); }  // log p(x) may come later: "computing…"
  });
  ctx.on("cleared", () => { reset(); draws = []; $("spread").textContent = ""; });
  $("estimator").addEventListener("change", (e) => { S.estimator = e.target.value; showSnippets(); ctx.emit("redo"); });
  $("neweps").addEventListener("click", () => ctx.emit("neweps"));
  reset();
  return { reset };
}
