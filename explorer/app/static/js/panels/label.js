// The label observed (conditional model only): p(y|x) for the drawing, and its style decoded as each digit.

import { b64bytes, fill, fmt, h, strip, svg } from "../dom.js";
import { savePNG } from "../export.js";

export const markup = `
  <div class="vx-card vx-wide" data-vx="labelcard" hidden>
    <h3>The label y, observed: scored by a Categorical <code>pyro.sample("label", dist.OneHotCategorical(probs=0.1), obs=y)</code></h3>
    <div class="vx-row">
      <div class="vx-col"><div class="vx-caption">p(y|x) for your drawing: Bayes' rule with the ELBO of each label as log p(x, y)</div>
        <div data-vx="labelprobs"></div></div>
      <div class="vx-col"><div class="vx-caption">Style vs content: your drawing's z (its style) decoded as each of the ten digits
        <button type="button" data-vx="styles-png" class="vx-mini">Save PNG</button></div>
        <div class="vx-grid" data-vx="styles"></div></div>
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
  ctx.on("model", (m) => { $("labelcard").hidden = !m.header.labels; });
  ctx.on("encoded", ({ res }) => {
    if (!res.label_probs) return;
    fill($("labelprobs"), [probsSvg(res), h("div", { class: "vx-caption" }, ["The model reads your drawing as a ",
      h("b", { "data-vx-num": "label", text: res.label }), `; the ELBO below observes y = ${res.label}.`])]);
    strip($("styles"), b64bytes(res.styles), 10);
  });
  ctx.on("cleared", () => { fill($("labelprobs"), []); fill($("styles"), []); });
  $("styles-png").addEventListener("click", () => {
    const caption = S.lastEncode ? `styles: model ${S.lastEncode.model}, seed ${S.lastEncode.seed}, digits 0-9` : "";
    if (!savePNG(Array.from($("styles").children), 10, caption, `styles-${S.name}.png`)) ctx.status("nothing to save yet", "warn");
  });
}
