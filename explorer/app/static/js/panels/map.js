// The map (the page's own canvas scatter of the test digits' guide means), the canvas over it (the cloud
// of samples, prior samples, interpolation paths), the ring to drag, and the test digit under the pointer.
// The map is drawn from its own small file, before the networks arrive; the ring then decodes in the page.

import { drawOverlay } from "../overlay.js";
import { fill, fmt, h, paintGrey } from "../dom.js";
import { decodeImages } from "../forward.js";
import { latentAt, nearest } from "../geometry.js";
import { loadThumbs } from "../loader.js";
import { createScatter } from "../scatter.js";

// Petroff's accessible 10-colour sequence (distinct under the common colour-vision deficiencies), with
// each cluster also labelled by its digit, so colour is never the only cue.
export const COLORS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd"];
const REGION_TEXT = {
  inside: "inside the data: z interpolated between the guide means of the nearest test digits",
  gap: "in a gap between clusters: few test digits nearby, z interpolated across the gap",
  outside: "outside the data's region: showing the nearest test digit's mean",
  latent: "the map is the latent space: z = the ring's position",
  tail: "far in the prior's tail (|z| > 3): the decoder saw almost nothing like this in training; z = the ring's position",
};

export const markup = {
  map: `
    <div class="vx-mapwrap" data-vx="mapwrap">
      <canvas class="vx-plot" data-vx="plot" tabindex="0" aria-label="the map of the test digits: drag to pan, scroll to zoom, double-click to reset"></canvas>
      <canvas class="vx-overlay" data-vx="overlay" aria-hidden="true"></canvas>
      <div class="vx-handle" data-vx="handle" title="drag me" role="slider" aria-label="latent position" tabindex="0"></div>
      <div class="vx-tip" data-vx="tip" hidden><canvas class="vx-px" data-vx="tiporig" width="28" height="28"></canvas>
        <canvas class="vx-px" data-vx="tiprecon" width="28" height="28"></canvas><div data-vx="tiptxt"></div></div>
    </div>
    <div class="vx-legend" data-vx="legend" aria-label="digits shown (click to hide or show)"></div>
    <p class="vx-key"><span class="vx-k-sample">○</span> samples z ~ q(z|x) of your drawing
      <span class="vx-k-mean">★</span> its guide mean <span class="vx-k-prior">◆</span> prior samples z ~ N(0, I)
      <span class="vx-k-ring">◯</span> the ring: drag it</p>
    <p class="vx-hint" data-vx="maphint"></p>`,
  ring: `
    <div class="vx-card" data-slide="decoder at the ring">
      <h3>Decoder at the ring</h3>
      <div class="vx-row">
        <canvas class="vx-px vx-big" data-vx="dragimg" width="28" height="28"></canvas>
        <div class="vx-dragtxt" data-vx="dragtxt">Drag the ring across the map.</div>
      </div>
    </div>`,
  digit: `
    <div class="vx-card">
      <h3>Test digit under the pointer</h3>
      <div class="vx-row">
        <figure><canvas class="vx-px vx-mid" data-vx="orig" width="28" height="28"></canvas><figcaption>original</figcaption></figure>
        <figure><canvas class="vx-px vx-mid" data-vx="recon" width="28" height="28"></canvas><figcaption>reconstruction</figcaption></figure>
      </div>
      <div class="vx-caption" data-vx="digittxt">Hover or click a point on the map.</div>
    </div>`,
};

export function mount(ctx) {
  const { S, $ } = ctx;
  const handle = $("handle"), overlay = $("overlay");
  const m = () => ctx.model();
  const scatter = createScatter($("plot"), {
    colors: COLORS,
    onView: () => { placeHandle(); redrawOverlay(); },
    onHover: (i, e) => hover(i, e),
    onClick: (i) => showDigit(i, true),
  });
  const redrawOverlay = () => drawOverlay(overlay, scatter.T, S);
  const legend = $("legend");
  fill(legend, COLORS.map((c, d) => h("button", { type: "button", class: "vx-leg", "data-digit": d, "aria-pressed": "true",
    title: `show or hide the digit ${d}` }, [h("span", { class: "vx-swatch", style: `background:${c}` }), String(d)])));
  legend.addEventListener("click", (e) => {
    const btn = e.target.closest("[data-digit]");
    if (!btn) return;
    const d = Number(btn.dataset.digit), hide = btn.getAttribute("aria-pressed") === "true";
    btn.setAttribute("aria-pressed", String(!hide));
    scatter.setHidden(d, hide);
  });

  function placeHandle() {
    if (!S.ring || !scatter.view) return;
    handle.style.left = `${scatter.T.toPx(S.ring.x)}px`;
    handle.style.top = `${scatter.T.toPy(S.ring.y)}px`;
  }

  /** The decoder's image at map positions, as the page shows them (the contract test compares with Python). */
  function decodeAt(points, lab) {
    const mm = m();
    return points.map(([x, y]) => {
      const r = latentAt(mm, x, y);
      return { image: Array.from(decodeImages(mm, r.z, 1, lab ?? 0)), region: r.region, z: Array.from(r.z) };
    });
  }

  /** The ring in the timeline: the nearest point of the grid the timeline's decoder images are at. */
  function ringOnGrid(tl) {
    let best = 0, bd = Infinity;
    for (let i = 0; i < tl.nodes; i++) {
      const d = (tl.gridXy[2 * i] - S.ring.x) ** 2 + (tl.gridXy[2 * i + 1] - S.ring.y) ** 2;
      if (d < bd) { bd = d; best = i; }
    }
    S.ringNode = [tl.gridXy[2 * best], tl.gridXy[2 * best + 1]];
    S.ringImage = tl.image(S.moment, best);
    paintGrey($("dragimg"), S.ringImage);
    const mo = tl.moments[S.moment];
    fill($("dragtxt"), [h("b", { text: "position" }), ` (${fmt(S.ring.x)}, ${fmt(S.ring.y)})`, h("br"),
      h("span", { class: "vx-region", "data-region": "moment", text: `the decoder at step ${mo.step.toLocaleString("en")}, at the nearest point (the square) of a ${tl.gridN} × ${tl.gridN} grid on the map` })]);
    S.hooks.ringNode = best;
    redrawOverlay();
  }

  function decodeRing(t0) {
    if (S.timeline && S.moment !== null) { ringOnGrid(S.timeline); return; }
    S.ringNode = null;
    const mm = m(), where = [h("b", { text: "position" }), ` (${fmt(S.ring.x)}, ${fmt(S.ring.y)})`, h("br")];
    if (!mm.ready) {  // the map is drawn; the atlas and the decoder are still on their way
      fill($("dragtxt"), [...where, h("span", { class: "vx-note", text: "the decoder is still arriving…" })]);
      return;
    }
    const r = latentAt(mm, S.ring.x, S.ring.y);
    S.ringZ = r.z;
    S.ringImage = decodeImages(mm, r.z, 1, S.label);
    paintGrey($("dragimg"), S.ringImage);
    fill($("dragtxt"), [...where, h("span", { class: "vx-region", "data-region": r.region, text: REGION_TEXT[r.region] })]);
    if (t0 !== undefined) requestAnimationFrame(() => S.hooks.stats.drag.push(performance.now() - t0));
    ctx.emit("ring", { x: S.ring.x, y: S.ring.y, z: r.z, region: r.region });
  }

  function moveRing(x, y) { S.ring = { x, y }; placeHandle(); decodeRing(); }

  let dragging = false;
  handle.addEventListener("pointerdown", (e) => { dragging = true; handle.setPointerCapture(e.pointerId); e.preventDefault(); });
  handle.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    const p = scatter.T.plot(), box = $("mapwrap").getBoundingClientRect();
    // The ring stays on the plot: the pointer's position, clamped to the axes' area.
    const px = Math.min(p.l + p.w, Math.max(p.l, e.clientX - box.left)), py = Math.min(p.t + p.h, Math.max(p.t, e.clientY - box.top));
    S.ring = { x: scatter.T.fromPx(px), y: scatter.T.fromPy(py) };
    handle.style.left = `${px}px`; handle.style.top = `${py}px`;
    decodeRing(e.timeStamp);
  });
  const stopDrag = () => { dragging = false; };
  handle.addEventListener("pointerup", stopDrag);
  handle.addEventListener("pointercancel", stopDrag);
  handle.addEventListener("keydown", (e) => {
    const d = { ArrowLeft: [-8, 0], ArrowRight: [8, 0], ArrowUp: [0, -8], ArrowDown: [0, 8] }[e.key];
    if (!d || !S.ring) return;
    const T = scatter.T;
    moveRing(T.fromPx(T.toPx(S.ring.x) + d[0]), T.fromPy(T.toPy(S.ring.y) + d[1]));
    e.preventDefault();
  });

  async function showDigit(i, moveHandle) {
    const mm = m(), name = S.model, entry = S.catalogue.models.find((x) => x.name === name);
    const lab = mm.arrays.labels.data[i];
    let thumbs = null;
    try { thumbs = await loadThumbs(ctx.site, entry, S); } catch (err) { ctx.status("failed", { what: "the test digits could not be shown", why: err.message }, "error"); }
    if (name !== S.model) return;
    const recon = mm.ready ? decodeImages(mm, mm.arrays.loc.data.subarray(i * mm.zdim, (i + 1) * mm.zdim), 1, lab) : null;
    for (const [o, r] of [["orig", "recon"], ["tiporig", "tiprecon"]]) {
      if (thumbs) paintGrey($(o), thumbs, 784 * i);
      if (recon) paintGrey($(r), recon);
    }
    $("tiptxt").textContent = `#${i}, label ${lab}`;
    $("digittxt").textContent = `test digit #${i}, label ${lab}` + (moveHandle ? " — the ring moved to it" : "");
    if (moveHandle) {
      if (mm.header.labels) ctx.emit("label", lab);
      moveRing(mm.arrays.xy.data[2 * i], mm.arrays.xy.data[2 * i + 1]);
    }
  }

  function hover(i, e) {
    const tip = $("tip");
    if (i < 0 || !e) { tip.hidden = true; return; }
    const box = $("mapwrap").getBoundingClientRect();
    tip.style.left = `${Math.min(box.width - 250, e.clientX - box.left + 18)}px`;
    tip.style.top = `${Math.max(0, e.clientY - box.top - 70)}px`;
    tip.hidden = false;
    showDigit(i, false);
  }

  function show(mm) {
    const t0 = performance.now(), latent = mm.header.map === "latent";
    scatter.setData(mm.arrays.xy.data, mm.arrays.labels.data, latent ? ["z₁", "z₂"] : ["UMAP 1", "UMAP 2"]);
    S.hooks.stats.mapDrawn = performance.now() - t0;
    // The ring starts on the test digit nearest the map's centre, so it first shows a real digit.
    const XY = mm.arrays.xy.data;
    let cx = 0, cy = 0;
    for (let i = 0; i < mm.n; i++) { cx += XY[2 * i]; cy += XY[2 * i + 1]; }
    const i0 = nearest(mm, cx / mm.n, cy / mm.n);
    moveRing(XY[2 * i0], XY[2 * i0 + 1]);
    redrawOverlay();
    $("maphint").textContent = latent
      ? "z is 2-D: this map is the latent space itself. Each point is the guide mean of one of the 10,000 MNIST test digits."
      : `Each point is the guide mean q(z|x) of one of the 10,000 MNIST test digits (z is ${mm.zdim}-D), projected to 2-D with UMAP. Scroll to zoom, drag to pan, double-click to reset.`;
  }

  function resize() { scatter.resize(); placeHandle(); redrawOverlay(); }
  /** The map of the model shown again, its view fitted (after the timeline). */
  function refit() { const mm = m(); scatter.setData(mm.arrays.xy.data, mm.arrays.labels.data, mm.header.map === "latent" ? ["z₁", "z₂"] : ["UMAP 1", "UMAP 2"]); }
  function setPresenting(on) { scatter.setFont(on ? 20 : 15); resize(); }
  ctx.on("model", show);
  ctx.on("ready", () => { if (S.ring) decodeRing(); });
  ctx.on("label", () => { if (S.ring) decodeRing(); });
  ctx.on("moment", () => { if (S.ring) decodeRing(); redrawOverlay(); });
  return { show, drawOverlay: redrawOverlay, placeHandle, moveRing, resize, setPresenting, decodeAt, scatter, refit };
}
