// The map (Plotly WebGL scatter of the test digits' guide means), the canvas over it (the cloud of
// samples, prior samples, interpolation paths), the ring to drag, and the test digit under the pointer.

import { request, modelPath } from "../api.js";
import { decode } from "../decoder.js";
import { b64bytes, fill, fmt, h, paintGrey } from "../dom.js";
import { latentAt, nearest } from "../geometry.js";

// Petroff's accessible 10-colour sequence (distinct under the common colour-vision deficiencies), with
// each cluster also labelled by its digit, so colour is never the only cue.
const COLORS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd"];
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
      <div class="vx-map" data-vx="map"></div>
      <canvas class="vx-overlay" data-vx="overlay" aria-hidden="true"></canvas>
      <div class="vx-handle" data-vx="handle" title="drag me" role="slider" aria-label="latent position" tabindex="0"></div>
      <div class="vx-tip" data-vx="tip" hidden><canvas class="vx-px" data-vx="tiporig" width="28" height="28"></canvas>
        <canvas class="vx-px" data-vx="tiprecon" width="28" height="28"></canvas><div data-vx="tiptxt"></div></div>
    </div>
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

function traces(m) {
  const XY = m.arrays.xy.data, lab = m.arrays.labels.data, out = [];
  for (let c = 0; c < 10; c++) {
    const x = [], y = [], idx = [];
    for (let i = 0; i < m.n; i++) if (lab[i] === c) { x.push(XY[2 * i]); y.push(XY[2 * i + 1]); idx.push(i); }
    out.push({ type: "scattergl", mode: "markers", name: String(c), x, y, customdata: idx,
      marker: { size: 4, color: COLORS[c], opacity: 0.65 }, hovertemplate: `digit ${c} · test #%{customdata}<extra></extra>` });
  }
  return out;
}

function centres(m) {
  const XY = m.arrays.xy.data, lab = m.arrays.labels.data, out = [];
  for (let c = 0; c < 10; c++) {
    const xs = [], ys = [];
    for (let i = 0; i < m.n; i++) if (lab[i] === c) { xs.push(XY[2 * i]); ys.push(XY[2 * i + 1]); }
    if (!xs.length) continue;
    const med = (v) => v.sort((a, b) => a - b)[v.length >> 1];
    out.push({ x: med(xs), y: med(ys), text: `<b>${c}</b>`, showarrow: false, font: { size: 22, color: "#000" },
      bgcolor: "rgba(255,255,255,0.75)", borderpad: 1 });
  }
  return out;
}

function layout(m, big) {
  const latent = m.header.map === "latent", size = big ? 20 : 15;
  return {
    margin: { l: 55, r: 10, t: 10, b: 50 }, dragmode: "pan", hovermode: "closest", uirevision: m.name,
    xaxis: { title: { text: latent ? "z₁" : "UMAP 1" }, zeroline: latent },
    yaxis: { title: { text: latent ? "z₂" : "UMAP 2" }, zeroline: latent, scaleanchor: "x" },
    legend: { title: { text: "digit (click to toggle)" }, font: { size }, itemsizing: "constant" },
    font: { size }, plot_bgcolor: "#fbfbfb", paper_bgcolor: "rgba(0,0,0,0)", annotations: centres(m),
  };
}

export function mount(ctx) {
  const { S, $ } = ctx;
  const mapDiv = $("map"), handle = $("handle"), overlay = $("overlay"), octx = overlay.getContext("2d");
  const axes = () => { const fl = mapDiv._fullLayout; return fl ? { xa: fl.xaxis, ya: fl.yaxis } : null; };

  // The cloud and the prior samples go on a canvas over the plot: a Plotly restyle redraws all 10,000
  // WebGL points, a canvas draws a few dozen markers in well under a millisecond.
  function drawOverlay() {
    const a = axes(), wrap = $("mapwrap"), dpr = window.devicePixelRatio || 1, w = wrap.clientWidth, hgt = wrap.clientHeight;
    if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(hgt * dpr)) {
      overlay.width = Math.round(w * dpr); overlay.height = Math.round(hgt * dpr);
    }
    octx.setTransform(dpr, 0, 0, dpr, 0, 0);
    octx.clearRect(0, 0, w, hgt);
    if (!a) return;
    octx.save();
    octx.beginPath(); octx.rect(a.xa._offset, a.ya._offset, a.xa._length, a.ya._length); octx.clip();
    const P = (p) => [a.xa._offset + a.xa.c2p(p[0]), a.ya._offset + a.ya.c2p(p[1])];
    for (const p of S.priorPts || []) {
      const [x, y] = P(p);
      octx.beginPath(); octx.moveTo(x, y - 8); octx.lineTo(x + 6, y); octx.lineTo(x, y + 8); octx.lineTo(x - 6, y); octx.closePath();
      octx.fillStyle = "#000"; octx.fill(); octx.lineWidth = 1.5; octx.strokeStyle = "#fff"; octx.stroke();
    }
    (S.paths || []).forEach((path, k) => {
      octx.setLineDash(k ? [7, 5] : []); octx.lineWidth = 3; octx.strokeStyle = k ? "#c2185b" : "#0b3d91";
      octx.beginPath(); path.forEach((p, i) => { const [x, y] = P(p); if (i) octx.lineTo(x, y); else octx.moveTo(x, y); }); octx.stroke();
    });
    octx.setLineDash([]);
    if (S.cloud) {
      // The samples often sit within a few pixels of the mean: then they are drawn magnified about it,
      // inside a dashed 2-sd ellipse, with the factor written beside it.
      const [mx, my] = P(S.cloud.mean), pts = S.cloud.samples.map(P);
      const n = pts.length, dx = pts.map((p) => p[0] - mx), dy = pts.map((p) => p[1] - my);
      const sxx = dx.reduce((a, v) => a + v * v, 0) / n, syy = dy.reduce((a, v) => a + v * v, 0) / n;
      const sxy = dx.reduce((a, v, i) => a + v * dy[i], 0) / n, tr = sxx + syy, det = sxx * syy - sxy * sxy;
      const l1 = tr / 2 + Math.sqrt(Math.max(0, tr * tr / 4 - det)), l2 = Math.max(0, tr - l1);
      const f = Math.max(1, Math.ceil(35 / Math.max(1e-6, 2 * Math.sqrt(l1))));
      const angle = Math.atan2(l1 - sxx, sxy || 1e-12);
      octx.setLineDash([5, 4]); octx.lineWidth = 2; octx.strokeStyle = "#111";
      octx.beginPath(); octx.ellipse(mx, my, Math.max(2, 2 * f * Math.sqrt(l1)), Math.max(2, 2 * f * Math.sqrt(l2)), angle, 0, 2 * Math.PI); octx.stroke();
      octx.setLineDash([]);
      if (f > 1) {
        octx.font = "bold 18px sans-serif"; octx.fillStyle = "#111"; octx.lineWidth = 4; octx.strokeStyle = "#fff";
        const label = `q(z|x) ×${f}`, lx = mx + 2 * f * Math.sqrt(l1) + 8, ly = my - 8;
        octx.strokeText(label, lx, ly); octx.fillText(label, lx, ly);
      }
      S.cloudMagnification = f;
      octx.lineWidth = 2.2; octx.strokeStyle = "#111";
      for (let i = 0; i < n; i++) { octx.beginPath(); octx.arc(mx + f * dx[i], my + f * dy[i], 5.5, 0, 2 * Math.PI); octx.stroke(); }
      octx.beginPath();
      for (let i = 0; i < 10; i++) { const r = i % 2 ? 5 : 12, t = -Math.PI / 2 + i * Math.PI / 5; octx.lineTo(mx + r * Math.cos(t), my + r * Math.sin(t)); }
      octx.closePath(); octx.fillStyle = "#ffd400"; octx.fill(); octx.lineWidth = 1.8; octx.strokeStyle = "#111"; octx.stroke();
    }
    octx.restore();
  }

  function placeHandle() {
    const a = axes();
    if (!a || !S.handle) return;
    handle.style.left = (a.xa._offset + a.xa.c2p(S.handle.x)) + "px";
    handle.style.top = (a.ya._offset + a.ya.c2p(S.handle.y)) + "px";
  }

  function decodeHandle(t0) {
    const m = S.model, r = latentAt(m, S.handle.x, S.handle.y);
    decode(m, r.z, S.dragImage, S.label);
    S.dragZ = r.z;
    paintGrey($("dragimg"), S.dragImage);
    fill($("dragtxt"), [h("b", { text: "position" }), ` (${fmt(S.handle.x)}, ${fmt(S.handle.y)})`, h("br"),
      h("span", { class: "vx-region", "data-region": r.region, text: REGION_TEXT[r.region] })]);
    if (t0 !== undefined) requestAnimationFrame(() => S.stats.drag.push(performance.now() - t0));
  }

  function moveRing(x, y) { S.handle = { x, y }; placeHandle(); decodeHandle(); }

  let dragging = false;
  handle.addEventListener("pointerdown", (e) => { dragging = true; handle.setPointerCapture(e.pointerId); e.preventDefault(); });
  handle.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    const a = axes(), box = $("mapwrap").getBoundingClientRect();
    // The ring stays on the plot: the pointer's position, clamped to the axes' area.
    const px = Math.min(a.xa._offset + a.xa._length, Math.max(a.xa._offset, e.clientX - box.left));
    const py = Math.min(a.ya._offset + a.ya._length, Math.max(a.ya._offset, e.clientY - box.top));
    S.handle = { x: a.xa.p2c(px - a.xa._offset), y: a.ya.p2c(py - a.ya._offset) };
    handle.style.left = px + "px";
    handle.style.top = py + "px";
    decodeHandle(e.timeStamp);
  });
  const stopDrag = () => { dragging = false; };
  handle.addEventListener("pointerup", stopDrag);
  handle.addEventListener("pointercancel", stopDrag);
  handle.addEventListener("keydown", (e) => {
    const a = axes(), step = 8, d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    if (!a || !d) return;
    moveRing(a.xa.p2c(a.xa.c2p(S.handle.x) + d[0]), a.ya.p2c(a.ya.c2p(S.handle.y) + d[1]));
    e.preventDefault();
  });

  async function showDigit(i, moveHandle) {
    const name = S.name, key = name + ":" + i;
    let d = S.digitCache.get(key);
    if (!d) {
      try { d = await request(modelPath(name, `digit/${i}`)); } catch (err) { ctx.failed(err, "the test digit could not be shown"); return; }
      S.digitCache.set(key, d);
    }
    if (name !== S.name) return;
    for (const [o, r] of [["orig", "recon"], ["tiporig", "tiprecon"]]) {
      paintGrey($(o), b64bytes(d.thumb));
      paintGrey($(r), b64bytes(d.recon));
    }
    $("tiptxt").textContent = `#${d.index}, label ${d.label}`;
    $("digittxt").textContent = `test digit #${d.index}, label ${d.label}` + (moveHandle ? " — the ring moved to it" : "");
    if (moveHandle) {
      if (S.model.header.labels) ctx.emit("label", d.label);
      moveRing(d.xy[0], d.xy[1]);
    }
  }

  let presenting = false;
  async function show(m) {
    const t0 = performance.now();
    await window.Plotly.react(mapDiv, traces(m), layout(m, presenting), { responsive: true, scrollZoom: true, displaylogo: false,
      // WebGL at the screen's own pixel ratio (Plotly's default of 2 draws 4x the pixels on a plain screen).
      plotGlPixelRatio: Math.min(2, Math.max(1, window.devicePixelRatio || 1)),
      modeBarButtonsToRemove: ["select2d", "lasso2d"] });
    S.stats.mapDrawn = performance.now() - t0;
    if (!mapDiv._vxBound) {
      mapDiv._vxBound = true;
      const follow = () => { placeHandle(); drawOverlay(); };
      for (const ev of ["plotly_relayout", "plotly_relayouting", "plotly_afterplot"]) mapDiv.on(ev, follow);
      mapDiv.on("plotly_hover", (ev) => {
        const p = ev.points[0];
        if (!p || p.curveNumber >= 10) return;
        const box = $("mapwrap").getBoundingClientRect(), tip = $("tip");
        tip.style.left = Math.min(box.width - 250, ev.event.clientX - box.left + 18) + "px";
        tip.style.top = Math.max(0, ev.event.clientY - box.top - 70) + "px";
        tip.hidden = false;
        showDigit(p.customdata, false);
      });
      mapDiv.on("plotly_unhover", () => { $("tip").hidden = true; });
      mapDiv.on("plotly_click", (ev) => { const p = ev.points[0]; if (p && p.curveNumber < 10) showDigit(p.customdata, true); });
    }
    // The ring starts on the test digit nearest the map's centre, so it first shows a real digit.
    const XY = m.arrays.xy.data;
    let cx = 0, cy = 0;
    for (let i = 0; i < m.n; i++) { cx += XY[2 * i]; cy += XY[2 * i + 1]; }
    const i0 = nearest(m, cx / m.n, cy / m.n);
    moveRing(XY[2 * i0], XY[2 * i0 + 1]);
    drawOverlay();
    $("maphint").textContent = m.header.map === "latent"
      ? "z is 2-D: this map is the latent space itself. Each point is the guide mean of one of the 10,000 MNIST test digits."
      : `Each point is the guide mean q(z|x) of one of the 10,000 MNIST test digits (z is ${m.zdim}-D), projected to 2-D with UMAP. Scroll to zoom, drag to pan.`;
  }

  function resize() { window.Plotly.Plots.resize(mapDiv); placeHandle(); drawOverlay(); }
  function setPresenting(on) {
    presenting = on;
    if (S.model) window.Plotly.relayout(mapDiv, { "font.size": on ? 20 : 15, "legend.font.size": on ? 20 : 15 }).then(resize);
  }
  window.addEventListener("resize", () => { placeHandle(); drawOverlay(); });
  ctx.on("label", () => decodeHandle());
  return { show, drawOverlay, placeHandle, decodeHandle, moveRing, resize, setPresenting };
}
