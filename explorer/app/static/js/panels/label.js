// The label observed (conditional model only): p(y|x) for the drawing, and its style decoded as each digit.

import { b64bytes, fill, fmt, h, strip, svg } from "../dom.js";
import { savePNG } from "../export.js";

export const markup = `
  <div class="vx-card vx-wide" data-vx="labelcard" data-slide="the label, observed">
    <h3>What if a one-hot label is observed too? <code data-snippet="label"></code></h3>
    <div data-vx="nolabel" class="vx-row" hidden>
      <p class="vx-explain">This model does not see labels: its ELBO is that of x alone. A model that also observes the digit
        adds a <b>"label"</b> site scored by a Categorical, log p(y) = log 1/10 = −2.30 nats joins the ELBO, and y is fed to the
        encoder and the decoder (a conditional VAE).</p>
      <button type="button" data-vx="tolabel">Switch to the label-aware model</button>
    </div>
    <div data-vx="withlabel" hidden>
      <div class="vx-row vx-tools"><label>Observed label y <select data-vx="observed" aria-label="observed label">
        <option value="">the most probable under p(y|x)</option>${[...Array(10).keys()].map((d) => `<option value="${d}">${d}</option>`).join("")}
      </select></label><span class="vx-caption">the ELBO below is ELBO(x, y) for this y</span></div>
      <div class="vx-row">
        <div class="vx-col"><div class="vx-caption">p(y|x) for your drawing: Bayes' rule with the ELBO of each label as log p(x, y)</div>
          <div data-vx="labelprobs"></div></div>
        <div class="vx-col"><div class="vx-caption">Style vs content: your drawing's z (its style) decoded as each of the ten digits
          <button type="button" data-vx="styles-png" class="vx-mini">Save PNG</button></div>
          <div class="vx-grid" data-vx="styles"></div></div>
      </div>
    </div>
  </div>`;

function probsSvg(res) {
  const W = 520, H = 150, bw = W / 10, parts = [];
  res.label_probs.forEach((pr, d) => {
    const hh = (H - 40) * pr;
    parts.push(svg("rect", { x: d * bw + 6, y: H - 22 - hh, width: bw - 12, height: Math.max(1, hh), class: d === res.label ? "vx-chosen" : "vx-kl" },
      [svg("title", { text: `p(y=${d}|x) = ${fmt(pr, 3)}` })]),
    svg("text", { x: d * bw + bw / 2, y: H - 6, class: "vx-tick", "text-anchor": "middle", text: d }),
    svg("text", { x: d * bw + bw / 2, y: H - 26 - hh, class: "vx-tick", "text-anchor": "middle", text: pr >= 0.01 ? fmt(pr, 2) : "" }));
  });
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "vx-svg vx-labels", role: "img", "aria-label": "p(y|x)" }, parts);
}

export function mount(ctx) {
  const { S, $ } = ctx;
  let labelModel = null;  // the name of a label-aware model on this server, if any
  ctx.on("models", (info) => { const lm = info.models.find((x) => !x.error && x.kind === "cvae"); labelModel = lm ? lm.name : null; });
  ctx.on("model", (m) => {
    $("withlabel").hidden = !m.header.labels;
    $("nolabel").hidden = !!m.header.labels;
    $("tolabel").hidden = !labelModel;
    S.observedLabel = null; $("observed").value = "";
  });
  $("tolabel").addEventListener("click", () => { if (labelModel) ctx.emit("switch", labelModel); });
  $("observed").addEventListener("change", (e) => {
    S.observedLabel = e.target.value === "" ? null : Number(e.target.value);
    ctx.emit("redo");
  });
  ctx.on("encoded", ({ res }) => {
    if (!res.label_probs) return;
    fill($("labelprobs"), [probsSvg(res), h("div", { class: "vx-caption" }, ["The model reads your drawing as a ",
      h("b", { "data-vx-num": "label", text: res.label }),
      S.observedLabel === null ? `; the ELBO below observes that y = ${res.label}.` : `; the ELBO below observes the y you chose, ${res.label}.`])]);
    strip($("styles"), b64bytes(res.styles), 10);
  });
  ctx.on("cleared", () => { fill($("labelprobs"), []); fill($("styles"), []); });
  $("styles-png").addEventListener("click", () => {
    const caption = S.lastEncode ? `styles: model ${S.lastEncode.model}, seed ${S.lastEncode.seed}, digits 0-9` : "";
    if (!savePNG(Array.from($("styles").children), 10, caption, `styles-${S.name}.png`)) ctx.status("nothing to save yet", "warn");
  });
}
