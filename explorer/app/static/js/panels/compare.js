// The models: the card of the model shown, the shipped models side by side, and the same drawing computed
// by a second model (in this page).

import { empty, fill, fmt, h, paintGrey } from "../dom.js";
import { loadMap, loadRest } from "../loader.js";

export const markup = {
  card: `<div class="vx-modelcard" data-vx="card" aria-live="polite"></div>`,
  table: `
    <div class="vx-card vx-wide" data-title="Models">
      <h3>The shipped models side by side</h3>
      <div data-vx="modeltable"></div>
      <div class="vx-row vx-tools"><label>Encode your drawing with <select data-vx="compare"></select> too</label></div>
      <div data-vx="comparebox" class="vx-row"></div>
    </div>`,
};

const COLUMNS = ["model", "z", "hidden", "epochs", "test ELBO", "log p(x) (IWAE)", "active dims", "label accuracy"];

function cardText(s) {
  const where = s.map === "latent" ? "the latent space itself (z is 2-D: no projection)" : "a UMAP projection of the guide means";
  return [h("b", { text: s.name }), s.kind === "cvae" ? " · conditional on the digit label" : "",
    ` · z = ${s.z_dim} · hidden ${s.hidden.join("-")} (${s.activation}) · ${s.epochs} epochs · test ELBO `,
    h("b", { text: `${fmt(s.test_elbo)}${s.test_elbo_se != null ? " ± " + fmt(s.test_elbo_se) : ""} nats/image` }),
    s.test_accuracy != null ? ` · label accuracy ${(100 * s.test_accuracy).toFixed(1)} %` : "",
    ` · active dims ${s.active_dims}/${s.z_dim} · map: ${where}`];
}

export function mount(ctx) {
  const { S, $ } = ctx;
  let compareSeq = 0;

  function showModels(info) {
    const ok = info.models.filter((m) => !m.error), broken = info.models.filter((m) => m.error);
    const rows = ok.map((m) => h("tr", {}, [h("td", {}, h("b", { text: m.name })), h("td", { text: m.z_dim }), h("td", { text: m.hidden.join("-") }),
      h("td", { text: m.epochs }), h("td", { class: "vx-num", text: m.test_elbo_se != null ? `${fmt(m.test_elbo)} ± ${fmt(m.test_elbo_se)}` : fmt(m.test_elbo) }), h("td", { class: "vx-num", text: fmt(m.log_px) }),
      h("td", { text: `${m.active_dims}/${m.z_dim}` }), h("td", { text: m.test_accuracy != null ? (100 * m.test_accuracy).toFixed(1) + " %" : "–" })]));
    fill($("modeltable"), [
      h("table", { class: "vx-table", "data-vx": "models-table" }, [h("tr", {}, COLUMNS.map((c) => h("th", { text: c }))), ...rows]),
      h("p", { class: "vx-caption", text: "Test figures in nats per image over the 10,000 MNIST test digits: the ELBO by Pyro's example protocol, a mean over 5 seeds ± its s.e.; log p(x) by IWAE with k = 200. For the conditional model they bound log p(x, y), the label observed." }),
      ...broken.map((m) => h("p", { class: "vx-caption vx-broken", text: `${m.name}: unavailable — ${m.error}` }))]);
    fill($("compare"), [h("option", { value: "", text: "(choose a model)" }), ...ok.map((m) => h("option", { value: m.name, text: m.name }))]);
  }

  async function compare() {
    // The drawing as this model last computed it, computed by the other model too (in this page); only the
    // newest comparison is shown.
    const other = S.compareWith, mine = S.result, drawing = S.drawing, cseq = ++compareSeq;
    if (!other || !mine || !drawing) { fill($("comparebox"), other ? empty("Draw a digit first.") : []); return; }
    const entry = S.catalogue.models.find((m) => m.name === other);
    let o;
    try {
      fill($("comparebox"), empty(`loading ${other}…`));
      const m = await loadMap(ctx.site, entry, S);
      await loadRest(ctx.site, entry, m, S, ctx);
      ctx.compute.load(other, m.files, m.header.labels || 0);
      ({ result: o } = await ctx.compute.forward(other, drawing, { k: mine.k, seed: mine.seed, estimator: mine.estimator, label: null }));
    } catch (err) {
      if (cseq === compareSeq) fill($("comparebox"), empty(`could not compute with ${other}: ${err.message}`));
      return;
    }
    if (cseq !== compareSeq || !o) return;
    const fig = (res, cls) => {
      const c = h("canvas", { width: 28, height: 28, class: "vx-px vx-mid" });
      paintGrey(c, res.mean_img);
      return h("figure", { class: "vx-cmp", "data-vx-cmp": cls }, [h("figcaption", {}, [h("b", { text: res.model }), ` (z=${res.loc.length})`]), c,
        h("div", {}, ["ELBO ", h("b", { "data-vx-num": `cmp-elbo-${cls}`, text: fmt(res.elbo) }), " nats", h("br"), `KL ${fmt(res.kl)} · recon ${fmt(res.recon)}`])]);
    };
    fill($("comparebox"), [fig(mine, "a"), fig(o, "b")]);
    S.hooks.lastCompare = o;
  }

  $("compare").addEventListener("change", (e) => { S.compareWith = e.target.value; compare(); });
  ctx.on("model", (m) => fill($("card"), cardText(m.header.model)));
  ctx.on("result", ({ final }) => { if (final && S.compareWith) compare(); });
  return { showModels };
}
