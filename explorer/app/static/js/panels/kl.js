// What the KL term does: the same 2-D architecture trained three ways, side by side: the VAE (the KL weighted
// 1, as Pyro's examples/vae/vae.py trains it), a beta-VAE (weighted 4: poutine.scale) and an autoencoder
// (weighted 0: poutine.mask). For each: its map with the prior's circle, samples from the prior decoded, and
// its test ELBO with the two terms. The models' files are fetched when the comparison is opened.

import { empty, fill, fmt, h, strip } from "../dom.js";
import { decodeImages } from "../forward.js";
import { loadMap, loadRest } from "../loader.js";
import { createScatter } from "../scatter.js";
import { priorZ } from "../tools-math.js";
import { COLORS } from "./map.js";

export const markup = `
  <div class="vx-card vx-wide" data-vx="klcard" data-slide="what the KL does">
    <h3>What the KL term does <button type="button" data-vx="kl-open">Compare three trainings</button></h3>
    <p class="vx-explain">One architecture (z = 2, hidden 512-256), trained by Pyro's SVI three ways: the ELBO as it is, the KL term
      weighted 4, and the KL term left out. The only difference in the code is a handler around the <code>"latent"</code> site.</p>
    <div class="vx-klrow" data-vx="kl-row"></div>
  </div>`;

// name, what it is, the handler (the code line that makes it differ), the one the tutorial trains?
const TRIO = [
  { name: "mnist-z2", title: "the VAE (KL weighted 1)", handler: "no handler: the ELBO itself", vae: true,
    reads: "The codes fill the prior's circle, so a sample of the prior lands among them: it decodes to a digit, or a blend of two." },
  { name: "mnist-z2-beta4", title: "β-VAE (KL weighted 4)", handler: "with poutine.scale(scale=4):",
    reads: "Pulled harder to the prior: the clusters crowd into the circle and overlap; reconstructions blur, so the ELBO is lower." },
  { name: "mnist-z2-ae", title: "autoencoder (KL weighted 0)", handler: "with poutine.mask(mask=False):",
    reads: "Nothing pulls the codes to the prior: they sprawl over hundreds of units, the circle is a speck, and the prior's samples all decode to one blur. Its reconstruction is the best, its KL (so its ELBO) by far the worst." },
];
const PRIOR_N = 8;

export function mount(ctx) {
  const { S, $ } = ctx;
  let opened = false;

  function column(spec) {
    const entry = S.catalogue.models.find((m) => m.name === spec.name && !m.error);
    const head = [h("h4", {}, [h("b", { text: spec.name }), " · ", spec.title]), h("code", { class: "vx-klcode", text: spec.handler })];
    if (!entry) return h("div", { class: "vx-klcol", "data-kl": spec.name }, [...head, empty("not available in this copy")]);
    const plot = h("canvas", { class: "vx-klmap", "aria-label": `the map of ${spec.name}` });
    const priors = h("div", { class: "vx-grid vx-klprior", "data-vx-kl-prior": spec.name });
    const terms = h("table", { class: "vx-table vx-klterms" }, [
      h("tr", {}, [h("td", { text: "test ELBO" }), h("td", { class: "vx-num", "data-vx-kl-elbo": spec.name, text: `${fmt(entry.test_elbo)} ± ${fmt(entry.test_elbo_se)}` })]),
      h("tr", {}, [h("td", { text: "reconstruction" }), h("td", { class: "vx-num", text: fmt(entry.test_recon) })]),
      h("tr", {}, [h("td", { text: "KL(q(z|x) ‖ p(z))" }), h("td", { class: "vx-num", "data-vx-kl-kl": spec.name, text: fmt(entry.test_kl) })]),
      h("tr", {}, [h("td", { text: "active dimensions" }), h("td", { class: "vx-num", text: `${entry.active_dims}/${entry.z_dim}` })]),
    ]);
    const verdict = spec.vae ? h("p", { class: "vx-klverdict", text: "This is the VAE: the model Pyro's VAE tutorial trains, and the one this page's lens follows." }) : null;
    return h("div", { class: "vx-klcol", "data-kl": spec.name }, [...head, verdict, h("div", { class: "vx-klmapwrap" }, plot),
      h("div", { class: "vx-caption", text: "its map: the test digits' guide means; the circle is the prior's radius 2" }), priors,
      h("div", { class: "vx-caption", text: `${PRIOR_N} samples z ~ N(0, I) decoded` }), terms, h("p", { class: "vx-note", text: spec.reads })]);
  }

  async function fillColumn(spec, col) {
    const entry = S.catalogue.models.find((m) => m.name === spec.name && !m.error);
    if (!entry) return;
    const m = await loadMap(ctx.site, entry, S);
    const canvas = col.querySelector(".vx-klmap");
    let sc = null;
    const ring = () => {  // the prior's circle of radius 2 over the map
      if (!sc) return;
      const g = canvas.getContext("2d"), T = sc.T, r = Math.abs(T.toPx(2) - T.toPx(0));
      g.save(); g.setLineDash([6, 4]); g.lineWidth = 2; g.strokeStyle = "#111";
      g.beginPath(); g.ellipse(T.toPx(0), T.toPy(0), r, r, 0, 0, 2 * Math.PI); g.stroke(); g.restore();
    };
    sc = createScatter(canvas, { colors: COLORS, onView: ring });
    sc.setFont(12);
    sc.setData(m.arrays.xy.data, m.arrays.labels.data, ["z₁", "z₂"]);
    await loadRest(ctx.site, entry, m, S, ctx);
    priors(spec, col, m);
  }

  function priors(spec, col, m) {
    const z = priorZ(m.constants, S.seed, PRIOR_N, m.zdim), images = decodeImages(m, z, PRIOR_N);
    strip(col.querySelector(".vx-klprior"), images, PRIOR_N);
    S.hooks.klPrior = { ...(S.hooks.klPrior || {}), [spec.name]: { z: Array.from(z), images: Array.from(images), seed: S.seed } };
  }

  async function open() {
    opened = true;
    $("kl-open").hidden = true;
    const cols = TRIO.map(column);
    fill($("kl-row"), cols);
    try { await Promise.all(TRIO.map((spec, i) => fillColumn(spec, cols[i]))); } catch (err) {
      ctx.status("failed", { what: "the comparison could not be loaded", why: err.message }, "error");
    }
    S.hooks.klReady = true;
  }

  $("kl-open").addEventListener("click", open);
  ctx.on("catalogue", (cat) => {
    const some = TRIO.filter((t) => cat.models.some((m) => m.name === t.name && !m.error)).length;
    $("klcard").hidden = some < 2;  // nothing to compare in a copy without these models
  });
  ctx.on("settings", (name) => {
    if (name === "slide" && S.slide !== null && $("klcard").classList.contains("vx-shown") && !opened) open();
    if (name !== "seed" || !opened) return;  // "New ε": new prior samples too
    TRIO.forEach((spec, i) => { const m = S.models[spec.name], col = $("kl-row").children[i]; if (m && m.ready && col) priors(spec, col, m); });
  });
  return { open };
}
