// The label observed (conditional model only): p(y|x) for the drawing, and its style decoded as each digit.

import { bars, frame, remeasure } from "../charts.js";
import { fill, h, strip } from "../dom.js";
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

export function mount(ctx) {
  const { S, $ } = ctx;
  let labelModel = null;  // the name of a label-aware model here, if any
  ctx.on("catalogue", (info) => { const lm = info.models.find((x) => !x.error && x.kind === "cvae"); labelModel = lm ? lm.name : null; });
  ctx.on("model", (m) => {
    $("withlabel").hidden = !m.header.labels;
    $("nolabel").hidden = !!m.header.labels;
    $("tolabel").hidden = !labelModel;
    $("observed").value = S.observed === null ? "" : String(S.observed);
    fill($("labelprobs"), []); fill($("styles"), []);
  });
  $("tolabel").addEventListener("click", () => { if (labelModel) ctx.S.hooks.show(labelModel); });
  $("observed").addEventListener("change", (e) => ctx.set("observed", e.target.value === "" ? null : Number(e.target.value)));
  ctx.on("settings", (name) => {
    if (name === "observed") $("observed").value = S.observed === null ? "" : String(S.observed);
    if (name === "slide" && S.result) requestAnimationFrame(() => { remeasure([$("labelprobs")]); render(S.result); });
  });
  function render(res) {
    if (!res.label_probs) return;
    const box = $("labelprobs"), f = frame(box, { aspect: 0.3, maxHeight: 300 });
    const chart = bars(res.label_probs, res.label_probs.map((_, d) => String(d)), { ...f, unit: "p(y|x)", title: "p(y|x)",
      tip: (d) => `p(y=${d}|x) = ${res.label_probs[d].toFixed(3)}` });
    chart.querySelectorAll("rect")[res.label]?.setAttribute("class", "vx-chosen");
    fill(box, [chart, h("div", { class: "vx-caption" }, ["The model reads your drawing as a ",
      h("b", { "data-vx-num": "label", text: res.label }),
      S.observed === null ? `; the ELBO below observes that y = ${res.label}.` : `; the ELBO below observes the y you chose, ${res.label}.`])]);
    strip($("styles"), res.styles, 10);
  }
  ctx.on("result", ({ res }) => render(res));
  ctx.on("presenting", () => { remeasure([$("labelprobs")]); if (S.result) render(S.result); });
  ctx.on("cleared", () => { fill($("labelprobs"), []); fill($("styles"), []); });
  $("styles-png").addEventListener("click", () => {
    const caption = S.result ? `styles: model ${S.result.model}, seed ${S.result.seed}, digits 0-9` : "";
    if (!savePNG(Array.from($("styles").children), 10, caption, `styles-${S.model}.png`)) ctx.status("note", { text: "nothing to save yet" }, "warn");
  });
}
