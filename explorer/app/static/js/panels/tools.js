// Exploration tools: prior samples on the map, interpolation between two places in z (straight and
// spherical), and traversals of one latent dimension at a time.

import { modelPath, postJSON, request } from "../api.js";
import { b64bytes, digitCanvas, fill, fmt, h, paintGrey, strip } from "../dom.js";
import { savePNG } from "../export.js";

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
  const C = () => S.model.constants;
  const labelFor = () => (S.model && S.model.header.labels ? S.label : null);
  const ringZ = () => (S.dragZ ? Array.from(S.dragZ) : null);
  const drawZ = () => (S.lastEncode ? S.lastEncode.loc.slice() : null);

  async function prior() {
    if (!$("prior").checked) { S.priorPts = null; map.drawOverlay(); fill($("priorimgs"), []); return; }
    const lab = S.model.header.labels ? `&label=${S.label}` : "";
    try {
      const res = await ctx.call(() => request(modelPath(S.name, `prior?n=${C().prior_n}&seed=${S.seed}${lab}`)));
      S.priorPts = res.xy; map.drawOverlay();
      strip($("priorimgs"), b64bytes(res.images), res.n);
      $("priortxt").textContent = `${res.n} draws z ~ N(0, I) from ${res.model} (seed ${res.seed}), decoded; diamonds on the map. Where the prior puts mass but no digit lives, the decoder makes blends.`;
      S.lastPrior = res;
    } catch (err) { ctx.failed(err, "prior samples could not be drawn"); }
  }

  const AB = { A: null, B: null };
  function setEnd(which, z, what) {
    if (!z) { ctx.status(what === "drawing" ? "draw a digit first" : "the ring has no position yet", "warn"); return; }
    AB[which] = { z, what, model: S.name };
    $("abtxt").textContent = ["A", "B"].map((k) => `${k}: ${AB[k] ? AB[k].what : "not set"}`).join(" · ");
    if (AB.A && AB.B) interpolate(performance.now());
  }
  async function interpolate(t0) {
    if (!(AB.A && AB.B)) { ctx.status("set A and B first", "warn"); return; }
    if (AB.A.model !== S.name || AB.B.model !== S.name) { ctx.status("A and B were set with another model: set them again", "warn"); return; }
    try {
      const res = await ctx.call(() => postJSON(modelPath(S.name, "interpolate"), { a: AB.A.z, b: AB.B.z, n: C().interp_n, label: labelFor() }));
      strip($("lin"), b64bytes(res.linear.images), res.n);
      strip($("slerp"), b64bytes(res.slerp.images), res.n);
      S.paths = [res.linear.xy, res.slerp.xy]; map.drawOverlay();
      S.lastInterp = res;
      $("interp-repro").textContent = `reproduce: model ${res.model}, A = ${AB.A.what}, B = ${AB.B.what}, ${res.n} steps (no randomness)`;
      requestAnimationFrame(() => S.stats.lens.interpolate.push(performance.now() - t0));
    } catch (err) { ctx.failed(err, "interpolation failed"); }
  }

  async function traverse(from, t0) {
    const z = from === "drawing" ? drawZ() : ringZ();
    if (!z) { ctx.status(from === "drawing" ? "draw a digit first" : "the ring has no position yet", "warn"); return; }
    const kl = from === "drawing" ? S.lastEncode.kl_dims : null, c = C();
    try {
      const res = await ctx.call(() => postJSON(modelPath(S.name, "traverse"), { z, kl, steps: c.traverse_steps, span: c.traverse_span,
        rows: c.traverse_rows, label: from === "drawing" && S.lastEncode.label !== undefined ? S.lastEncode.label : labelFor() }));
      const u8 = b64bytes(res.images), rows = [];
      for (let r = 0; r < res.dims.length; r++) {
        const cells = [];
        for (let k = 0; k < res.steps; k++) { const cv = digitCanvas(); paintGrey(cv, u8, 784 * (r * res.steps + k)); cells.push(cv); }
        rows.push(h("div", { class: "vx-trav-row" }, [h("span", { class: "vx-trav-lab" }, [`z${res.dims[r] + 1}`, h("br"),
          h("span", { class: "vx-note", text: `KL ${fmt(res.kl[r])}` })]), ...cells]));
      }
      rows.push(h("div", { class: "vx-trav-row" }, [h("span", { class: "vx-trav-lab" }),
        ...res.values.map((v) => h("span", { class: "vx-trav-val", text: `${v > 0 ? "+" : ""}${fmt(v, 1)}` }))]));
      fill($("trav"), rows);
      S.lastTraverse = res;
      $("trav-repro").textContent = `reproduce: model ${res.model}, from ${from}, dims by ${kl ? "the drawing's KL" : "average KL on the test set"}, ${res.steps} steps over ±${c.traverse_span} (no randomness)`;
      requestAnimationFrame(() => S.stats.lens.traverse.push(performance.now() - t0));
    } catch (err) { ctx.failed(err, "traversal failed"); }
  }

  const ringText = () => `the ring at (${fmt(S.handle.x)}, ${fmt(S.handle.y)})`;
  $("setA-ring").addEventListener("click", () => setEnd("A", ringZ(), ringText()));
  $("setB-ring").addEventListener("click", () => setEnd("B", ringZ(), ringText()));
  $("setA-draw").addEventListener("click", () => setEnd("A", drawZ(), "drawing"));
  $("setB-draw").addEventListener("click", () => setEnd("B", drawZ(), "drawing"));
  $("interp").addEventListener("click", (e) => interpolate(e.timeStamp));
  $("trav-draw").addEventListener("click", (e) => traverse("drawing", e.timeStamp));
  $("trav-ring").addEventListener("click", (e) => traverse("ring", e.timeStamp));
  const save = (canvases, cols, caption, file, labels = {}) => {
    if (!savePNG(canvases, cols, caption, file, labels)) ctx.status("nothing to save yet", "warn");
  };
  $("interp-png").addEventListener("click", () => save([...$("lin").children, ...$("slerp").children], C().interp_n,
    $("interp-repro").textContent, `interpolation-${S.name}.png`, { rows: ["straight (lerp)", "spherical (slerp)"],
      columns: S.lastInterp ? [...Array(S.lastInterp.n).keys()].map((i) => `t=${fmt(i / (S.lastInterp.n - 1), 2)}`) : null }));
  $("trav-png").addEventListener("click", () => {
    const t = S.lastTraverse;
    save(Array.from($("trav").querySelectorAll("canvas")), C().traverse_steps, $("trav-repro").textContent,
      `traversal-${S.name}.png`, t ? { rows: t.dims.map((d, r) => `z${d + 1} (KL ${fmt(t.kl[r])})`),
        columns: t.values.map((v) => `${v > 0 ? "+" : ""}${fmt(v, 1)}`) } : {});
  });
  $("prior-png").addEventListener("click", () => save(Array.from($("priorimgs").children), 8,
    $("priortxt").textContent.split(";")[0], `prior-${S.name}-seed${S.seed}.png`));
  $("samples-png").addEventListener("click", () => save(Array.from($("samples").children), 8,
    $("repro").textContent, `samples-${S.name}-seed${S.seed}.png`));
  $("prior").addEventListener("change", prior);
  ctx.on("label", () => { if ($("prior").checked) prior(); });
  ctx.on("model", () => { S.paths = null; S.priorPts = null; if ($("prior").checked) prior(); });
  return { prior };
}
