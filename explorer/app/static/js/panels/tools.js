// Exploration tools: prior samples on the map, interpolation between two places in z (straight and
// spherical), and traversals of one latent dimension at a time; all computed in this page.

import { digitCanvas, fill, fmt, h, paintGrey, strip } from "../dom.js";
import { savePNG } from "../export.js";
import { toMap } from "../geometry.js";
import { lerp, linspace, priorZ, slerp, traversalGrid, traversalOrder } from "../tools-math.js";

export const markup = {
  prior: `
    <div class="vx-card">
      <h3>Samples from the prior N(0, I), decoded <button type="button" data-vx="prior-png" class="vx-mini">Save PNG</button></h3>
      <div class="vx-grid" data-vx="priorimgs"></div>
      <div class="vx-caption" data-vx="priortxt">Tick “Prior samples” above: they land on the map too, some in the holes between clusters.</div>
    </div>`,
  interp: `
    <div class="vx-card vx-wide" data-title="Interpolate">
      <h3>Interpolate between two places in z</h3>
      <div class="vx-row vx-tools">
        <button type="button" data-vx="setA-ring">A = the ring</button><button type="button" data-vx="setA-draw">A = your drawing</button>
        <button type="button" data-vx="setB-ring">B = the ring</button><button type="button" data-vx="setB-draw">B = your drawing</button>
        <button type="button" data-vx="interp">Interpolate A → B</button>
        <button type="button" data-vx="interp-png">Save PNG</button>
        <span class="vx-caption" data-vx="abtxt">Set A and B (click a digit on the map to move the ring to it).</span>
      </div>
      <div class="vx-strip-label">straight line in z (solid on the map)</div><div class="vx-grid" data-vx="lin"></div>
      <div class="vx-strip-label">spherical path in z, slerp (dashed on the map)</div><div class="vx-grid" data-vx="slerp"></div>
      <div class="vx-repro" data-vx="interp-repro"></div>
    </div>`,
  traverse: `
    <div class="vx-card vx-wide" data-title="Traverse">
      <h3>Traverse: one latent dimension at a time, most used dimensions first</h3>
      <div class="vx-row vx-tools">
        <button type="button" data-vx="trav-draw">From your drawing</button><button type="button" data-vx="trav-ring">From the ring</button>
        <button type="button" data-vx="trav-png">Save PNG</button>
        <span class="vx-caption" data-vx="travtxt">Rows: dimensions ordered by KL; columns: the dimension set to −span … +span, the others kept.</span>
      </div>
      <div data-vx="trav" class="vx-trav"></div>
      <div class="vx-repro" data-vx="trav-repro"></div>
    </div>`,
};

export function mount(ctx, map) {
  const { S, $ } = ctx;
  const C = () => ctx.model().constants;
  const labelFor = () => (ctx.model() && ctx.model().header.labels ? S.label : null);
  const ringZ = () => (S.ringZ ? Array.from(S.ringZ) : null);
  const drawZ = () => (S.result ? S.result.loc.slice() : null);
  const ready = () => { const m = ctx.model(); if (!m || !m.ready) { ctx.status("networks", { name: S.model }); return null; } return m; };

  async function prior() {
    if (!S.showPrior) { S.priorPts = null; map.drawOverlay(); fill($("priorimgs"), []); return; }
    const m = ready();
    if (!m) return;
    const c = C(), n = c.prior_n, zd = m.zdim, z = priorZ(c, S.seed, n, zd);
    // the conditional model decodes them as the chosen digit, else as 0, 1, ..., 9, 0, ... in turn
    const labels = m.header.labels ? Array.from({ length: n }, (_, i) => (labelFor() ?? i % 10)) : null;
    const images = await ctx.compute.decode(S.model, z, n, labels), xy = toMap(m, z, n);
    S.priorPts = Array.from({ length: n }, (_, i) => [xy[2 * i], xy[2 * i + 1]]); map.drawOverlay();
    strip($("priorimgs"), images, n);
    $("priortxt").textContent = `${n} draws z ~ N(0, I) from ${S.model} (seed ${S.seed}), decoded; diamonds on the map. Where the prior puts mass but no digit lives, the decoder makes blends.`;
    S.hooks.lastPrior = { z: Array.from(z), xy: S.priorPts, images: Array.from(images), seed: S.seed };
  }

  const AB = { A: null, B: null };
  function setEnd(which, z, what) {
    if (!z) { ctx.status("note", { text: what === "drawing" ? "draw a digit first" : "the ring has no position yet" }, "warn"); return; }
    AB[which] = { z, what, model: S.model };
    $("abtxt").textContent = ["A", "B"].map((k) => `${k}: ${AB[k] ? AB[k].what : "not set"}`).join(" · ");
    if (AB.A && AB.B) interpolate(performance.now());
  }
  async function interpolate(t0) {
    if (!(AB.A && AB.B)) { ctx.status("note", { text: "set A and B first" }, "warn"); return; }
    if (AB.A.model !== S.model || AB.B.model !== S.model) { ctx.status("note", { text: "A and B were set with another model: set them again" }, "warn"); return; }
    const m = ready();
    if (!m) return;
    const n = C().interp_n, t = linspace(0, 1, n), paths = [lerp(AB.A.z, AB.B.z, t), slerp(AB.A.z, AB.B.z, t)];
    const [lin, sl] = await Promise.all(paths.map((p) => ctx.compute.decode(S.model, p, n, labelFor())));
    strip($("lin"), lin, n);
    strip($("slerp"), sl, n);
    S.paths = paths.map((p) => { const xy = toMap(m, p, n); return Array.from({ length: n }, (_, i) => [xy[2 * i], xy[2 * i + 1]]); });
    map.drawOverlay();
    S.hooks.lastInterp = { n, linear: Array.from(lin), slerp: Array.from(sl), xy: S.paths };
    $("interp-repro").textContent = `reproduce: model ${S.model}, A = ${AB.A.what}, B = ${AB.B.what}, ${n} steps (no randomness)`;
    requestAnimationFrame(() => S.hooks.stats.interpolate.push(performance.now() - t0));
  }

  async function traverse(from, t0) {
    const z = from === "drawing" ? drawZ() : ringZ();
    if (!z) { ctx.status("note", { text: from === "drawing" ? "draw a digit first" : "the ring has no position yet" }, "warn"); return; }
    const m = ready();
    if (!m) return;
    const c = C(), kl = from === "drawing" ? S.result.kl_dims : m.header.kl_mean;
    const dims = traversalOrder(kl, c.traverse_rows), { grid, values } = traversalGrid(z, dims, c.traverse_steps, c.traverse_span);
    const label = from === "drawing" && S.result.label !== undefined ? S.result.label : labelFor();
    const u8 = await ctx.compute.decode(S.model, grid, dims.length * c.traverse_steps, label), rows = [];
    dims.forEach((dim, r) => {
      const cells = [];
      for (let k = 0; k < c.traverse_steps; k++) { const cv = digitCanvas(); paintGrey(cv, u8, 784 * (r * c.traverse_steps + k)); cells.push(cv); }
      rows.push(h("div", { class: "vx-trav-row" }, [h("span", { class: "vx-trav-lab" }, [`z${dim + 1}`, h("br"),
        h("span", { class: "vx-note", text: `KL ${fmt(kl[dim])}` })]), ...cells]));
    });
    rows.push(h("div", { class: "vx-trav-row" }, [h("span", { class: "vx-trav-lab" }),
      ...values.map((v) => h("span", { class: "vx-trav-val", text: `${v > 0 ? "+" : ""}${fmt(v, 1)}` }))]));
    fill($("trav"), rows);
    S.hooks.lastTraverse = { dims, values, kl: dims.map((d) => kl[d]), images: Array.from(u8), steps: c.traverse_steps };
    $("trav-repro").textContent = `reproduce: model ${S.model}, from ${from}, dims by ${from === "drawing" ? "the drawing's KL" : "average KL on the test set"}, ${c.traverse_steps} steps over ±${c.traverse_span} (no randomness)`;
    requestAnimationFrame(() => S.hooks.stats.traverse.push(performance.now() - t0));
  }

  const ringText = () => `the ring at (${fmt(S.ring.x)}, ${fmt(S.ring.y)})`;
  $("setA-ring").addEventListener("click", () => setEnd("A", ringZ(), ringText()));
  $("setB-ring").addEventListener("click", () => setEnd("B", ringZ(), ringText()));
  $("setA-draw").addEventListener("click", () => setEnd("A", drawZ(), "drawing"));
  $("setB-draw").addEventListener("click", () => setEnd("B", drawZ(), "drawing"));
  $("interp").addEventListener("click", (e) => interpolate(e.timeStamp));
  $("trav-draw").addEventListener("click", (e) => traverse("drawing", e.timeStamp));
  $("trav-ring").addEventListener("click", (e) => traverse("ring", e.timeStamp));
  const save = (canvases, cols, caption, file, labels = {}) => {
    if (!savePNG(canvases, cols, caption, file, labels)) ctx.status("note", { text: "nothing to save yet" }, "warn");
  };
  $("interp-png").addEventListener("click", () => save([...$("lin").children, ...$("slerp").children], C().interp_n,
    $("interp-repro").textContent, `interpolation-${S.model}.png`, { rows: ["straight (lerp)", "spherical (slerp)"],
      columns: S.hooks.lastInterp ? [...Array(S.hooks.lastInterp.n).keys()].map((i) => `t=${fmt(i / (S.hooks.lastInterp.n - 1), 2)}`) : null }));
  $("trav-png").addEventListener("click", () => {
    const t = S.hooks.lastTraverse;
    save(Array.from($("trav").querySelectorAll("canvas")), C().traverse_steps, $("trav-repro").textContent,
      `traversal-${S.model}.png`, t ? { rows: t.dims.map((d, r) => `z${d + 1} (KL ${fmt(t.kl[r])})`),
        columns: t.values.map((v) => `${v > 0 ? "+" : ""}${fmt(v, 1)}`) } : {});
  });
  $("prior-png").addEventListener("click", () => save(Array.from($("priorimgs").children), 8,
    $("priortxt").textContent.split(";")[0], `prior-${S.model}-seed${S.seed}.png`));
  $("samples-png").addEventListener("click", () => save(Array.from($("samples").children), 8,
    $("repro").textContent, `samples-${S.model}-seed${S.seed}.png`));
  $("prior").addEventListener("change", (e) => { S.showPrior = e.target.checked; prior(); });
  ctx.on("label", () => { if (S.showPrior) prior(); });
  ctx.on("settings", (name) => { if (name === "seed" && S.showPrior) prior(); });
  ctx.on("ready", () => { S.paths = null; S.priorPts = null; if (S.showPrior) prior(); });
  return { prior };
}
