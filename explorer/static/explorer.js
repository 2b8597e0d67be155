/* VAE latent-space explorer: the page's own code (map, drawing pad, drag decoding).
 *
 * Hot paths stay in the browser: a drag decodes z with the decoder's weights fetched once per model
 * (the Python decoder is the reference, checked by the tests to 1/255); a stroke goes to the app's
 * /api/models/{name}/encode route, not through Gradio's queue. All state here is per tab.
 */
(function () {
  "use strict";
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const REGION_TEXT = {
    inside: "inside the data: z interpolated between the guide means of the nearest test digits",
    gap: "in a gap between clusters: few test digits nearby, z interpolated across the gap",
    outside: "outside the data's region: showing the nearest test digit's mean",
    latent: "the map is the latent space: z = the ring's position",
  };

  const TEMPLATE = `
  <div class="vx-toolbar">
    <label>Model <select data-vx="model" aria-label="model"></select></label>
    <label>Samples K <select data-vx="k" aria-label="samples">
      <option>4</option><option>8</option><option selected>16</option><option>32</option><option>64</option></select></label>
    <label data-vx="labelpick" class="vx-labelpick" hidden title="the conditional model decodes the ring's z as this digit">Decode as digit
      <select data-vx="label" aria-label="digit to decode as">${[...Array(10).keys()].map((d) => `<option>${d}</option>`).join("")}</select></label>
    <button data-vx="resample" type="button" title="draw new samples z ~ q(z|x)">Resample</button>
    <button data-vx="clear" type="button" title="empty the canvas">Clear</button>
    <label title="overlay samples z ~ N(0, I) on the map"><input type="checkbox" data-vx="prior"> Prior samples</label>
    <a data-vx="csv" class="vx-btn" href="#" download title="the map as CSV: index, label, x, y, loc, scale">Map CSV</a>
    <button data-vx="present" type="button" title="large type, the map and one panel at a time">Presenter mode</button>
    <span class="vx-present-nav"><button data-vx="prevpanel" type="button" aria-label="previous panel">◀</button>
      <span data-vx="panelname"></span><button data-vx="nextpanel" type="button" aria-label="next panel">▶</button></span>
    <span class="vx-status" data-vx="status" role="status"></span>
  </div>
  <div class="vx-main">
    <section class="vx-mapcol">
      <div class="vx-mapwrap" data-vx="mapwrap">
        <div class="vx-map" data-vx="map"></div>
        <canvas class="vx-overlay" data-vx="overlay" aria-hidden="true"></canvas>
        <div class="vx-handle" data-vx="handle" title="drag me" role="slider" aria-label="latent position"></div>
      </div>
      <p class="vx-key"><span class="vx-k-sample">○</span> samples z ~ q(z|x) of your drawing
        <span class="vx-k-mean">★</span> its guide mean <span class="vx-k-prior">◆</span> prior samples z ~ N(0, I)
        <span class="vx-k-ring">◯</span> the ring: drag it</p>
      <p class="vx-hint" data-vx="maphint"></p>
    </section>
    <section class="vx-side">
      <div class="vx-card">
        <h3>Decoder at the ring</h3>
        <div class="vx-row">
          <canvas class="vx-px vx-big" data-vx="dragimg" width="28" height="28"></canvas>
          <div class="vx-dragtxt" data-vx="dragtxt">Drag the ring across the map.</div>
        </div>
      </div>
      <div class="vx-card">
        <h3>Draw a digit</h3>
        <div class="vx-row">
          <canvas class="vx-pad" data-vx="pad" width="280" height="280" aria-label="drawing pad"></canvas>
          <div class="vx-col">
            <div class="vx-caption">What the model sees (28×28, MNIST-style)</div>
            <canvas class="vx-px vx-mid" data-vx="input" width="28" height="28"></canvas>
            <div class="vx-caption">Decoded guide mean</div>
            <canvas class="vx-px vx-mid" data-vx="meanimg" width="28" height="28"></canvas>
          </div>
        </div>
      </div>
    </section>
  </div>
  <div class="vx-panels">
    <div class="vx-card vx-wide" data-vx="labelcard" hidden>
      <h3>The label y, observed: scored by a Categorical <code>pyro.sample("label", dist.OneHotCategorical(probs=0.1), obs=y)</code></h3>
      <div class="vx-row">
        <div class="vx-col"><div class="vx-caption">p(y|x) for your drawing: Bayes' rule with the ELBO of each label as log p(x, y)</div>
          <div data-vx="labelprobs"></div></div>
        <div class="vx-col"><div class="vx-caption">Style vs content: your drawing's z (its style) decoded as each of the ten digits
          <button type="button" data-vx="styles-png" class="vx-mini">Save PNG</button></div>
          <div class="vx-grid" data-vx="styles"></div></div>
      </div>
    </div>
    <div class="vx-card vx-wide vx-lens">
      <h3>One forward pass of the VAE, step by step, for your drawing <span class="vx-note">(all numbers in nats, as Pyro computes them)</span></h3>
      <div class="vx-steps">
        <div class="vx-step vx-step1">
          <div class="vx-stephead"><b>1 · Guide</b> <code>loc, scale = self.encoder(x)</code></div>
          <div data-vx="post" class="vx-post"><p class="vx-empty">Draw a digit to see q(z|x).</p></div>
        </div>
        <div class="vx-step">
          <div class="vx-stephead"><b>2 · Sample</b> <code>pyro.sample("latent", dist.Normal(loc, scale).to_event(1))</code></div>
          <div data-vx="step2"><p class="vx-empty">z = loc + scale · ε appears here.</p></div>
        </div>
        <div class="vx-step">
          <div class="vx-stephead"><b>3 · KL to the prior</b> <code>pyro.sample("latent", dist.Normal(0., 1.).to_event(1))</code></div>
          <div data-vx="step3"><p class="vx-empty">KL per dimension appears here.</p></div>
        </div>
        <div class="vx-step">
          <div class="vx-stephead"><b>4 · Decode and score</b> <code data-vx="step4code">pyro.sample("obs", dist.Bernoulli(self.decoder(z)).to_event(1), obs=x)</code></div>
          <div data-vx="step4"><p class="vx-empty">The decoder's probabilities and the reconstruction term appear here.</p></div>
        </div>
        <div class="vx-step">
          <div class="vx-stephead"><b>5 · ELBO</b> <code>loss = Trace_ELBO().loss(model, guide, x)  # = −ELBO</code></div>
          <div data-vx="elbo"><p class="vx-empty">Draw a digit.</p></div>
        </div>
      </div>
    </div>
    <div class="vx-card">
      <h3>Samples z ~ q(z|x), decoded <button type="button" data-vx="samples-png" class="vx-mini">Save PNG</button></h3>
      <div class="vx-grid" data-vx="samples"></div>
      <div class="vx-repro" data-vx="repro"></div>
    </div>
    <div class="vx-card">
      <h3>Samples from the prior N(0, I), decoded <button type="button" data-vx="prior-png" class="vx-mini">Save PNG</button></h3>
      <div class="vx-grid" data-vx="priorimgs"></div>
      <div class="vx-caption" data-vx="priortxt">Tick “Prior samples” above: they land on the map too, some in the holes between clusters.</div>
    </div>
    <div class="vx-card">
      <h3>Test digit under the pointer</h3>
      <div class="vx-row">
        <figure><canvas class="vx-px vx-mid" data-vx="orig" width="28" height="28"></canvas><figcaption>original</figcaption></figure>
        <figure><canvas class="vx-px vx-mid" data-vx="recon" width="28" height="28"></canvas><figcaption>reconstruction</figcaption></figure>
      </div>
      <div class="vx-caption" data-vx="digittxt">Hover or click a point on the map.</div>
    </div>
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
    </div>
    <div class="vx-card vx-wide" data-title="Traverse">
      <h3>Traverse: one latent dimension at a time over ±3, most used dimensions first</h3>
      <div class="vx-row vx-tools">
        <button type="button" data-vx="trav-draw">From your drawing</button><button type="button" data-vx="trav-ring">From the ring</button>
        <button type="button" data-vx="trav-png">Save PNG</button>
        <span class="vx-caption" data-vx="travtxt">Rows: dimensions ordered by KL; columns: the dimension set to −3 … +3, the others kept.</span>
      </div>
      <div data-vx="trav" class="vx-trav"></div>
      <div class="vx-repro" data-vx="trav-repro"></div>
    </div>
    <div class="vx-card vx-wide" data-title="Models">
      <h3>The shipped models side by side</h3>
      <div data-vx="modeltable"></div>
      <div class="vx-row vx-tools"><label>Encode your drawing with <select data-vx="compare"></select> too</label></div>
      <div data-vx="comparebox" class="vx-row"></div>
    </div>
  </div>`;

  // ---------- small helpers ----------
  function b64bytes(s) {
    const bin = atob(s), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function bytesB64(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  }
  function paintGrey(canvas, u8, offset) {
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28), d = img.data;
    offset = offset || 0;
    for (let i = 0; i < 784; i++) {
      const v = 255 - u8[offset + i];  // ink dark on paper, as people draw
      d[4 * i] = v; d[4 * i + 1] = v; d[4 * i + 2] = v; d[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v)) ? "–" : v.toFixed(d);

  // ---------- the model bundle: map arrays and the decoder, decoded in the page ----------
  function parseBundle(buf) {
    const hlen = new DataView(buf).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, hlen)));
    const base = 4 + hlen, arrays = {};
    const types = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array };
    for (const e of header.arrays) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      arrays[e.name] = { data: new types[e.dtype](buf, base + e.offset, n), shape: e.shape };
    }
    const layers = [];
    for (let i = 0; i < header.layers; i++) layers.push({ W: arrays["W" + i], b: arrays["b" + i] });
    const m = { header, arrays, layers, n: arrays.xy.shape[0], zdim: arrays.loc.shape[1], lastTri: 0 };
    m.buffers = layers.map((l) => new Float64Array(l.W.shape[0]));
    return m;
  }

  function softplus(x) { return x > 20 ? x : Math.log1p(Math.exp(x)); }  // torch.nn.Softplus
  function decode(m, z, out, label) {
    let x = z;
    if (m.header.labels) {  // a conditional VAE decodes [z, one-hot(label)]
      x = new Float64Array(z.length + m.header.labels);
      x.set(z);
      x[z.length + (label || 0)] = 1;
    }
    for (let li = 0; li < m.layers.length; li++) {
      const { W, b } = m.layers[li], rows = W.shape[0], cols = W.shape[1], w = W.data, y = m.buffers[li];
      const last = li === m.layers.length - 1, relu = m.header.activation === "relu";
      for (let r = 0; r < rows; r++) {
        let s = b.data[r];
        const o = r * cols;
        for (let c = 0; c < cols; c++) s += w[o + c] * x[c];
        y[r] = last ? s : (relu ? (s > 0 ? s : 0) : softplus(s));
      }
      x = y;
    }
    for (let i = 0; i < 784; i++) out[i] = Math.round(255 / (1 + Math.exp(-x[i])));
    return out;
  }

  // Map position -> z: walk the Delaunay triangulation to the triangle holding p, then
  // interpolate the guide means of its corners with barycentric weights (as explorer/atlas.py).
  function bary(m, t, px, py) {
    const T = m.arrays.triangles.data, XY = m.arrays.xy.data;
    const a = T[3 * t], b = T[3 * t + 1], c = T[3 * t + 2];
    const x1 = XY[2 * a], y1 = XY[2 * a + 1], x2 = XY[2 * b], y2 = XY[2 * b + 1], x3 = XY[2 * c], y3 = XY[2 * c + 1];
    const det = (y2 - y3) * (x1 - x3) + (x3 - x2) * (y1 - y3);
    const l1 = ((y2 - y3) * (px - x3) + (x3 - x2) * (py - y3)) / det;
    const l2 = ((y3 - y1) * (px - x3) + (x1 - x3) * (py - y3)) / det;
    return [l1, l2, 1 - l1 - l2];
  }
  function locate(m, px, py) {
    const NB = m.arrays.neighbors.data, ntri = m.arrays.triangles.shape[0];
    let t = m.lastTri < ntri ? m.lastTri : 0;
    for (let step = 0; step < 4 * ntri; step++) {
      const w = bary(m, t, px, py);
      let worst = 0, wi = -1;
      for (let i = 0; i < 3; i++) if (w[i] < worst - 1e-12) { worst = w[i]; wi = i; }
      if (wi < 0) { m.lastTri = t; return { t, w }; }
      const next = NB[3 * t + wi];
      if (next < 0) return null;  // crossed the hull: outside the data
      t = next;
    }
    return null;
  }
  function maxEdge(m, t) {
    const T = m.arrays.triangles.data, XY = m.arrays.xy.data;
    let best = 0;
    for (let i = 0; i < 3; i++) {
      const a = T[3 * t + i], b = T[3 * t + (i + 1) % 3];
      best = Math.max(best, Math.hypot(XY[2 * a] - XY[2 * b], XY[2 * a + 1] - XY[2 * b + 1]));
    }
    return best;
  }
  function nearest(m, px, py) {
    const XY = m.arrays.xy.data;
    let best = Infinity, bi = 0;
    for (let i = 0; i < m.n; i++) {
      const dx = XY[2 * i] - px, dy = XY[2 * i + 1] - py, d = dx * dx + dy * dy;
      if (d < best) { best = d; bi = i; }
    }
    return bi;
  }
  function latentAt(m, px, py) {
    const zd = m.zdim, z = new Float64Array(zd), L = m.arrays.loc.data, T = m.arrays.triangles.data;
    const hit = locate(m, px, py);
    if (m.header.map === "latent") {
      z[0] = px; z[1] = py;
      return { z, region: hit ? "latent" : "outside" };
    }
    if (!hit) {
      const i = nearest(m, px, py);
      for (let d = 0; d < zd; d++) z[d] = L[i * zd + d];
      return { z, region: "outside" };
    }
    for (let k = 0; k < 3; k++) {
      const v = T[3 * hit.t + k], wk = hit.w[k];
      for (let d = 0; d < zd; d++) z[d] += wk * L[v * zd + d];
    }
    return { z, region: maxEdge(m, hit.t) > m.header.gap_edge ? "gap" : "inside" };
  }

  // ---------- loading ----------
  // Started as soon as this script runs, before Plotly (which the browser compiles next, ~0.7 s here):
  // the model list and the bundle of the default model (named in this script's URL), so that mount()
  // finds them on hand.
  const DEFAULT_MODEL = new URL(document.currentScript ? document.currentScript.src : location.href).searchParams.get("model");
  const fetchBundle = (name) => fetch(`/api/models/${encodeURIComponent(name)}/bundle`)
    .then((r) => (r.ok ? r.arrayBuffer().then((buf) => ({ name, buf })) : null)).catch(() => null);
  const early = { info: fetch("/api/models").then((r) => (r.ok ? r.json() : null)).catch(() => null) };
  early.bundle = DEFAULT_MODEL ? fetchBundle(DEFAULT_MODEL) : early.info.then((info) => info && fetchBundle(info.default));
  function takeEarly(key) { const p = early[key]; early[key] = null; return p || Promise.resolve(null); }
  const plotlyReady = () => new Promise((resolve, reject) => {
    const giveUp = performance.now() + 30000;
    const poll = () => (window.Plotly ? resolve(window.Plotly)
      : performance.now() > giveUp ? reject(new Error("Plotly's script did not load; reload the page"))
        : setTimeout(poll, 10));
    poll();
  });

  // ---------- the explorer ----------
  function mount(element, props) {
    const root = element.querySelector("[data-vx=root]") || element;
    if (root.dataset.mounted) return;
    root.dataset.mounted = "1";
    root.innerHTML = TEMPLATE;
    const $ = (name) => root.querySelector(`[data-vx=${name}]`);
    const S = {
      models: {}, model: null, name: null, handle: null, seed: 1, drawn: false, seq: 0, inflight: null,
      dragImage: new Uint8Array(784), dragZ: null, lastEncode: null, digitCache: new Map(),
      cloud: null, priorPts: null, label: 0,
      session: (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, ""),
      stats: { drag: [], draw: [], mapDrawn: null, lens: { request: [], render: [], logpx: [], interpolate: [], traverse: [] } }, lastLogPx: null, lastPrior: null, lastBody: null,
    };
    window.vx = S;  // read by the tests and the benchmark script
    const mapDiv = $("map"), handle = $("handle"), pad = $("pad"), pctx = pad.getContext("2d", { willReadFrequently: true });
    const status = (msg, kind) => { const s = $("status"); s.textContent = msg || ""; s.dataset.kind = kind || ""; };

    // ----- map -----
    function mapTraces(m) {
      const XY = m.arrays.xy.data, lab = m.arrays.labels.data, traces = [];
      for (let c = 0; c < 10; c++) {
        const x = [], y = [], idx = [];
        for (let i = 0; i < m.n; i++) if (lab[i] === c) { x.push(XY[2 * i]); y.push(XY[2 * i + 1]); idx.push(i); }
        traces.push({ type: "scattergl", mode: "markers", name: String(c), x, y, customdata: idx,
          marker: { size: 4, color: COLORS[c], opacity: 0.65 },
          hovertemplate: `digit ${c} · test #%{customdata}<extra></extra>` });
      }
      return traces;
    }
    // The cloud (samples, mean) and prior samples are drawn on a canvas over the plot: a Plotly
    // restyle redraws all 10,000 WebGL points (~40 ms here), a canvas draws 17 markers in well under 1 ms.
    const overlay = $("overlay"), octx = overlay.getContext("2d");
    function drawOverlay() {
      const a = axes(), wrap = $("mapwrap"), dpr = window.devicePixelRatio || 1;
      const w = wrap.clientWidth, h = wrap.clientHeight;
      if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(h * dpr)) {
        overlay.width = Math.round(w * dpr); overlay.height = Math.round(h * dpr);
      }
      octx.setTransform(dpr, 0, 0, dpr, 0, 0);
      octx.clearRect(0, 0, w, h);
      if (!a) return;
      octx.save();
      octx.beginPath(); octx.rect(a.xa._offset, a.ya._offset, a.xa._length, a.ya._length); octx.clip();
      const P = (p) => [a.xa._offset + a.xa.c2p(p[0]), a.ya._offset + a.ya.c2p(p[1])];
      for (const p of S.priorPts || []) {
        const [x, y] = P(p);
        octx.beginPath(); octx.moveTo(x, y - 8); octx.lineTo(x + 6, y); octx.lineTo(x, y + 8); octx.lineTo(x - 6, y); octx.closePath();
        octx.fillStyle = "#000"; octx.fill(); octx.lineWidth = 1.5; octx.strokeStyle = "#fff"; octx.stroke();
      }
      if (S.paths) {
        S.paths.forEach((path, k) => {
          octx.setLineDash(k ? [7, 5] : []); octx.lineWidth = 3; octx.strokeStyle = k ? "#c2185b" : "#0b3d91";
          octx.beginPath(); path.forEach((p, i) => { const [x, y] = P(p); if (i) octx.lineTo(x, y); else octx.moveTo(x, y); }); octx.stroke();
        });
        octx.setLineDash([]);
      }
      if (S.cloud) {
        octx.lineWidth = 2.2; octx.strokeStyle = "#111";
        for (const p of S.cloud.samples) { const [x, y] = P(p); octx.beginPath(); octx.arc(x, y, 5.5, 0, 2 * Math.PI); octx.stroke(); }
        const [mx, my] = P(S.cloud.mean);
        octx.beginPath();
        for (let i = 0; i < 10; i++) {
          const r = i % 2 ? 5 : 12, t = -Math.PI / 2 + i * Math.PI / 5;
          octx.lineTo(mx + r * Math.cos(t), my + r * Math.sin(t));
        }
        octx.closePath(); octx.fillStyle = "#ffd400"; octx.fill(); octx.lineWidth = 1.8; octx.strokeStyle = "#111"; octx.stroke();
      }
      octx.restore();
    }
    function layout(m) {
      const latent = m.header.map === "latent";
      return {
        margin: { l: 50, r: 10, t: 10, b: 45 }, dragmode: "pan", hovermode: "closest", uirevision: m.header.model.name,
        xaxis: { title: { text: latent ? "z₁" : "UMAP 1" }, zeroline: latent },
        yaxis: { title: { text: latent ? "z₂" : "UMAP 2" }, zeroline: latent, scaleanchor: "x" },
        legend: { title: { text: "digit (click to toggle)" }, font: { size: 15 }, itemsizing: "constant" },
        font: { size: 15 }, plot_bgcolor: "#fbfbfb", paper_bgcolor: "rgba(0,0,0,0)",
      };
    }
    function axes() { const fl = mapDiv._fullLayout; return fl ? { xa: fl.xaxis, ya: fl.yaxis } : null; }
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
      $("dragtxt").innerHTML = `<b>position</b> (${fmt(S.handle.x)}, ${fmt(S.handle.y)})<br>` +
        `<span class="vx-region" data-region="${r.region}">${REGION_TEXT[r.region]}</span>`;
      if (t0 !== undefined) requestAnimationFrame(() => S.stats.drag.push(performance.now() - t0));
    }
    let dragging = false;
    handle.addEventListener("pointerdown", (e) => { dragging = true; handle.setPointerCapture(e.pointerId); e.preventDefault(); });
    handle.addEventListener("pointermove", (e) => {
      if (!dragging) return;
      const a = axes(), box = $("mapwrap").getBoundingClientRect();
      S.handle = { x: a.xa.p2c(e.clientX - box.left - a.xa._offset), y: a.ya.p2c(e.clientY - box.top - a.ya._offset) };
      handle.style.left = (e.clientX - box.left) + "px";
      handle.style.top = (e.clientY - box.top) + "px";
      decodeHandle(e.timeStamp);
    });
    const stopDrag = () => { dragging = false; };
    handle.addEventListener("pointerup", stopDrag);
    handle.addEventListener("pointercancel", stopDrag);
    handle.addEventListener("keydown", (e) => {
      const a = axes(), step = 8, d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
      if (!a || !d) return;
      S.handle = { x: a.xa.p2c(a.xa.c2p(S.handle.x) + d[0]), y: a.ya.p2c(a.ya.c2p(S.handle.y) + d[1]) };
      placeHandle(); decodeHandle(); e.preventDefault();
    });
    handle.tabIndex = 0;

    async function showDigit(i, moveHandle) {
      const name = S.name, key = name + ":" + i;
      let d = S.digitCache.get(key);
      if (!d) {
        const r = await fetch(`/api/models/${encodeURIComponent(name)}/digit/${i}`);
        if (!r.ok) return;
        d = await r.json();
        S.digitCache.set(key, d);
      }
      if (name !== S.name) return;
      paintGrey($("orig"), b64bytes(d.thumb));
      paintGrey($("recon"), b64bytes(d.recon));
      $("digittxt").textContent = `test digit #${d.index}, label ${d.label}` + (moveHandle ? " — the ring moved to it" : "");
      if (moveHandle) {
        if (S.model.header.labels) { S.label = d.label; $("label").value = String(d.label); }
        S.handle = { x: d.xy[0], y: d.xy[1] }; placeHandle(); decodeHandle();
      }
    }

    async function loadModel(name) {
      status(`loading ${name}…`);
      let m = S.models[name];
      const pre = await takeEarly("bundle");
      if (!m && pre && pre.name === name) { m = parseBundle(pre.buf); S.models[name] = m; }
      if (!m) {
        const r = await fetch(`/api/models/${encodeURIComponent(name)}/bundle`);
        if (!r.ok) { status(`cannot load ${name}: ${(await r.json().catch(() => ({}))).detail || r.status}`, "error"); return; }
        m = parseBundle(await r.arrayBuffer());
        S.models[name] = m;
      }
      S.model = m; S.name = name; S.cloud = null; S.priorPts = null; S.paths = null;
      $("csv").href = `/api/models/${encodeURIComponent(name)}/map.csv`;
      $("labelpick").hidden = !m.header.labels; $("labelcard").hidden = !m.header.labels;
      $("step4code").textContent = `pyro.sample("obs", dist.Bernoulli(self.decoder(${m.header.labels ? "[z, y]" : "z"})).to_event(1), obs=x)`;
      await plotlyReady();
      const t0 = performance.now();
      await Plotly.react(mapDiv, mapTraces(m), layout(m), { responsive: true, scrollZoom: true, displaylogo: false,
        // WebGL at the screen's own pixel ratio (Plotly's default is 2 everywhere: 4x the pixels on a
        // plain screen; the first draw then costs ~0.55 s instead of ~0.35 s here).
        plotGlPixelRatio: Math.min(2, Math.max(1, window.devicePixelRatio || 1)),
        modeBarButtonsToRemove: ["select2d", "lasso2d"] });
      S.stats.mapDrawn = performance.now() - t0;
      if (!mapDiv._vxBound) {
        mapDiv._vxBound = true;
        const follow = () => { placeHandle(); drawOverlay(); };
        mapDiv.on("plotly_relayout", follow);
        mapDiv.on("plotly_relayouting", follow);
        mapDiv.on("plotly_afterplot", follow);
        mapDiv.on("plotly_hover", (ev) => { const p = ev.points[0]; if (p && p.curveNumber < 10) showDigit(p.customdata, false); });
        mapDiv.on("plotly_click", (ev) => { const p = ev.points[0]; if (p && p.curveNumber < 10) showDigit(p.customdata, true); });
      }
      // Start the ring on the test digit nearest the map's centre, so it first shows a real digit.
      const XY = m.arrays.xy.data;
      let cx = 0, cy = 0;
      for (let i = 0; i < m.n; i++) { cx += XY[2 * i]; cy += XY[2 * i + 1]; }
      const i0 = nearest(m, cx / m.n, cy / m.n);
      S.handle = { x: XY[2 * i0], y: XY[2 * i0 + 1] };
      placeHandle(); decodeHandle();
      $("maphint").textContent = m.header.map === "latent"
        ? "z is 2-D: this map is the latent space itself. Each point is the guide mean of one of the 10,000 MNIST test digits."
        : `Each point is the guide mean q(z|x) of one of the 10,000 MNIST test digits (z is ${m.zdim}-D), projected to 2-D with UMAP. Scroll to zoom, drag to pan.`;
      if (S.stats.readyAt === undefined) S.stats.readyAt = performance.now();  // since navigation start
      root.dataset.ready = name;
      // The map is up: the server may now build this model's torch model for the drawings to come
      // (it starts without torch; a drawing sent sooner waits for it).
      const preparing = `${name} ready · preparing the model for your drawings…`;
      status(preparing);
      fetch(`/api/models/${encodeURIComponent(name)}/warm`, { method: "POST" }).then(async (r) => {
        if ($("status").textContent !== preparing) return;
        if (r.ok) status(`${name} ready`);
        else status(`${name}: ${(await r.json().catch(() => ({}))).detail || r.status}`, "error");
      }).catch(() => {});
      if (S.drawn) encodeNow(performance.now(), true);
      if ($("prior").checked) togglePrior();
    }

    // ----- drawing pad -----
    function clearPad() {
      pctx.fillStyle = "#fff"; pctx.fillRect(0, 0, pad.width, pad.height);
      pctx.lineCap = "round"; pctx.lineJoin = "round"; pctx.lineWidth = 20; pctx.strokeStyle = "#000";
    }
    clearPad();
    let drawing = false, last = null, lastSent = 0;
    const padPos = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
    pad.addEventListener("pointerdown", (e) => {
      drawing = true; pad.setPointerCapture(e.pointerId); last = padPos(e);
      pctx.beginPath(); pctx.arc(last[0], last[1], pctx.lineWidth / 2, 0, 2 * Math.PI); pctx.fillStyle = "#000"; pctx.fill();
      S.drawn = true; e.preventDefault();
    });
    pad.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      const p = padPos(e);
      pctx.beginPath(); pctx.moveTo(last[0], last[1]); pctx.lineTo(p[0], p[1]); pctx.stroke();
      last = p;
      if (!S.inflight && e.timeStamp - lastSent > 200) encodeNow(e.timeStamp, false);  // live while drawing
    });
    const endStroke = (e) => { if (!drawing) return; drawing = false; encodeNow(e.timeStamp, true); };
    pad.addEventListener("pointerup", endStroke);
    pad.addEventListener("pointercancel", endStroke);

    // The drawing is sent at half resolution (140 x 140): the model sees 28 x 28 anyway, and a
    // quarter of the bytes keeps the request fast. The server does the MNIST-style preprocessing.
    const SEND = 140, small = document.createElement("canvas");
    small.width = SEND; small.height = SEND;
    const sctx = small.getContext("2d", { willReadFrequently: true });
    function padInk() {
      sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = "high";
      sctx.drawImage(pad, 0, 0, SEND, SEND);
      const d = sctx.getImageData(0, 0, SEND, SEND).data, ink = new Uint8Array(SEND * SEND);
      for (let i = 0; i < ink.length; i++) ink[i] = 255 - d[4 * i];
      return ink;
    }
    async function encodeNow(t0, final) {
      if (!S.drawn || !S.name) return;
      if (S.inflight) S.inflight.abort();  // the newest drawing wins
      const ctl = new AbortController(), seq = ++S.seq;
      S.inflight = ctl; lastSent = t0;
      const body = JSON.stringify({ width: SEND, height: SEND, pixels: bytesB64(padInk()),
        k: Number($("k").value), seed: S.seed, session: S.session, seq });
      S.lastBody = body;
      try {
        const tSend = performance.now();
        const r = await fetch(`/api/models/${encodeURIComponent(S.name)}/encode`, { method: "POST", body,
          headers: { "Content-Type": "application/json" }, signal: ctl.signal });
        const res = await r.json();
        if (seq !== S.seq) return;
        if (!r.ok) { status(typeof res.detail === "string" ? res.detail : "the drawing could not be encoded", "error"); return; }
        if (res.blank) { status(res.message, "warn"); return; }
        if (res.stale) return;
        const tGot = performance.now();
        render(res);
        S.lastEncodeBody = body;  // the drawing that lastEncode is of
        if (final && $("compare").value) runCompare();
        if (final) {
          S.stats.lens.request.push(tGot - tSend);
          S.stats.lens.render.push(performance.now() - tGot);
          requestAnimationFrame(() => S.stats.draw.push(performance.now() - t0));
          fetchLogPx(JSON.parse(body), seq, t0);  // may arrive later; the panel says "computing…"
        }
        status("");
      } catch (err) {
        if (err.name !== "AbortError") status("the server did not answer; your drawing is kept — try again", "error");
      } finally {
        if (S.inflight === ctl) S.inflight = null;
      }
    }

    function render(res) {
      S.lastEncode = res;
      paintGrey($("input"), b64bytes(res.input));
      paintGrey($("meanimg"), b64bytes(res.mean_img));
      renderPosterior(res);
      renderLabel(res);
      renderStep2(res);
      renderStep3(res);
      renderStep4(res);
      renderElbo(res);
      const imgs = b64bytes(res.samples_img), grid = $("samples");
      while (grid.children.length > res.k) grid.lastChild.remove();
      while (grid.children.length < res.k) {
        const c = document.createElement("canvas"); c.width = 28; c.height = 28; c.className = "vx-px vx-small"; grid.appendChild(c);
      }
      for (let i = 0; i < res.k; i++) paintGrey(grid.children[i], imgs, 784 * i);
      $("repro").textContent = `reproduce: model ${res.model}, seed ${res.seed}, K ${res.k}`;
      S.cloud = { samples: res.samples_xy, mean: res.mean_xy };
      drawOverlay();
    }

    function renderPosterior(res) {
      const n = res.loc.length, W = 900, H = 190, pl = 34, pb = 22, lim = 3.5;
      const bw = (W - pl) / n, y = (v) => (H - pb) / 2 - Math.max(-lim, Math.min(lim, v)) * ((H - pb) / 2 - 6) / lim;
      let s = `<svg viewBox="0 0 ${W} ${H}" class="vx-svg" role="img" aria-label="posterior per dimension">`;
      for (const v of [-3, -2, -1, 0, 1, 2, 3]) s += `<line x1="${pl}" x2="${W}" y1="${y(v)}" y2="${y(v)}" class="${v ? "vx-gl" : "vx-zero"}"/><text x="${pl - 6}" y="${y(v) + 4}" class="vx-tick" text-anchor="end">${v}</text>`;
      s += `<rect x="${pl}" y="${y(1)}" width="${W - pl}" height="${y(-1) - y(1)}" class="vx-prior"><title>prior N(0,1): ±1</title></rect>`;
      for (let i = 0; i < n; i++) {
        const cx = pl + (i + 0.5) * bw, l = res.loc[i], sc = res.scale[i];
        s += `<g><title>z${i + 1}: loc ${fmt(l, 3)}, scale ${fmt(sc, 3)}, KL ${fmt(res.kl_dims[i], 3)} nats</title>` +
          `<rect x="${cx - Math.min(20, Math.max(1.5, bw * 0.3))}" y="${y(l + sc)}" width="${Math.min(40, Math.max(3, bw * 0.6))}" height="${Math.max(1, y(l - sc) - y(l + sc))}" class="vx-bar"/>` +
          `<circle cx="${cx}" cy="${y(l)}" r="${Math.min(5, Math.max(2.5, bw * 0.25))}" class="vx-dot"/></g>`;
        if (n <= 20 || i % 5 === 4) s += `<text x="${cx}" y="${H - 5}" class="vx-tick" text-anchor="middle">${i + 1}</text>`;
      }
      s += `</svg><div class="vx-caption">dot: loc; bar: loc ± scale; grey band: the prior's ±1. Hover a dimension for its numbers.</div>`;
      $("post").innerHTML = s;
    }

    function barsSvg(values, opts) {
      const n = values.length, W = opts.width || 420, H = opts.height || 150, pl = 40, pb = 20;
      const vmax = Math.max(1e-9, ...values.map(Math.abs)), lo = opts.signed ? -vmax : 0;
      const y = (v) => 6 + (H - pb - 6) * (1 - (v - lo) / (vmax - lo)), bw = (W - pl) / n;
      let s = `<svg viewBox="0 0 ${W} ${H}" class="vx-svg" role="img" aria-label="${opts.label}">`;
      s += `<line x1="${pl}" x2="${W}" y1="${y(0)}" y2="${y(0)}" class="vx-zero"/>`;
      s += `<text x="${pl - 5}" y="${y(vmax) + 5}" class="vx-tick" text-anchor="end">${fmt(vmax, vmax < 10 ? 2 : 0)}</text>`;
      s += `<text x="${pl - 5}" y="${y(0) + 4}" class="vx-tick" text-anchor="end">0</text>`;
      for (let i = 0; i < n; i++) {
        const v = values[i], w = Math.min(40, Math.max(1, bw * 0.7)), x = pl + (i + 0.5) * bw - w / 2;
        const top = Math.min(y(v), y(0));
        s += `<rect x="${x}" y="${top}" width="${w}" height="${Math.max(0.5, Math.abs(y(v) - y(0)))}" class="${opts.cls || "vx-kl"}"><title>z${i + 1}: ${fmt(v, 3)} ${opts.unit || ""}</title></rect>`;
        if (n <= 20 || i % 10 === 9) s += `<text x="${x + w / 2}" y="${H - 5}" class="vx-tick" text-anchor="middle">${i + 1}</text>`;
      }
      return s + "</svg>";
    }

    function renderLabel(res) {
      if (!res.label_probs) return;
      const W = 520, H = 150, bw = W / 10;
      let svg = `<svg viewBox="0 0 ${W} ${H}" class="vx-svg vx-labels" role="img" aria-label="p(y|x)">`;
      res.label_probs.forEach((p, d) => {
        const h = (H - 40) * p;
        svg += `<rect x="${d * bw + 6}" y="${H - 22 - h}" width="${bw - 12}" height="${Math.max(1, h)}" class="${d === res.label ? "vx-chosen" : "vx-kl"}"><title>p(y=${d}|x) = ${fmt(p, 3)}</title></rect>` +
          `<text x="${d * bw + bw / 2}" y="${H - 6}" class="vx-tick" text-anchor="middle">${d}</text>` +
          `<text x="${d * bw + bw / 2}" y="${H - 26 - h}" class="vx-tick" text-anchor="middle">${p >= 0.01 ? fmt(p, 2) : ""}</text>`;
      });
      $("labelprobs").innerHTML = svg + `</svg><div class="vx-caption">The model reads your drawing as a <b data-vx-num="label">${res.label}</b>; the ELBO below observes y = ${res.label}.</div>`;
      strip($("styles"), b64bytes(res.styles), 10);
    }

    function renderStep2(res) {
      const zd = res.loc.length, order = [...Array(zd).keys()].sort((a, b) => res.kl_dims[b] - res.kl_dims[a]).slice(0, Math.min(zd, 4));
      const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      let rows = order.map((d) => `<tr><td>z${d + 1}</td><td>${fmt(res.loc[d])}</td><td>${fmt(res.scale[d])}</td><td>${fmt(res.eps[0][d])}</td><td><b>${fmt(res.z[0][d])}</b></td></tr>`).join("");
      $("step2").innerHTML = `<p class="vx-explain">Inside SVI, Pyro draws the guide's <code>"latent"</code> with <code>Normal.rsample</code>:
        <b>z = loc + scale · ε</b>, ε ~ N(0, I) — the reparameterization trick. Sample 1, the ${order.length} most used dimensions:</p>
        <table class="vx-table vx-small-table"><tr><th></th><th>loc</th><th>scale</th><th>ε</th><th>z</th></tr>${rows}</table>
        <p class="vx-explain">z is a differentiable function of loc and scale, so the gradient of the reconstruction term reaches the encoder:
        ‖∂/∂loc‖ = <b data-vx-num="gradloc">${fmt(norm(res.grad_loc))}</b>, ‖∂/∂scale‖ = <b data-vx-num="gradscale">${fmt(norm(res.grad_scale))}</b>.</p>`;
    }

    function renderStep3(res) {
      const zd = res.kl_dims.length;
      $("step3").innerHTML = barsSvg(res.kl_dims, { label: "KL per dimension", unit: "nats", height: 140 }) +
        `<p class="vx-explain">KL(q(z|x) ‖ N(0, I)) = Σ<sub>d</sub> ½(loc² + scale² − 1) − log scale, in closed form:
        total <b data-vx-num="kl2">${fmt(res.kl)}</b> nats over ${zd} dimensions.
        On the test set, <b data-vx-num="active">${res.active_dims}</b> of ${zd} dimensions are active (average KL &gt; 0.01 nats); the others stay at the prior.</p>`;
    }

    function renderStep4(res) {
      const imgs = b64bytes(res.samples_img);
      $("step4").innerHTML = `<div class="vx-row">
          <figure><canvas class="vx-px vx-mid" data-vx="probs1" width="28" height="28"></canvas><figcaption>p = decoder(z₁)</figcaption></figure>
          <figure><canvas class="vx-px vx-mid" data-vx="heat" width="28" height="28"></canvas><figcaption>where the nats go</figcaption></figure>
        </div>
        <p class="vx-explain">Scoring <code>obs</code> against a Bernoulli gives the reconstruction term
        log p(x|z) = Σ<sub>pixels</sub> [x log p + (1 − x) log(1 − p)] — <b>minus the binary cross-entropy</b>.
        Sample 1: <b>${fmt(res.recon_samples[0])}</b>; mean over K = ${res.k}:
        <b data-vx-num="recon2">${fmt(res.recon)}</b> ± ${fmt(res.recon_se)} (standard error). Red: pixels costing most nats (max ${fmt(Math.max(...res.pixel_nats))}).</p>`;
      paintGrey(root.querySelector("[data-vx=probs1]"), imgs, 0);
      const heat = root.querySelector("[data-vx=heat]"), ctx = heat.getContext("2d"), im = ctx.createImageData(28, 28);
      const mx = Math.max(1e-6, ...res.pixel_nats);
      for (let i = 0; i < 784; i++) {
        const t = Math.min(1, res.pixel_nats[i] / mx);
        im.data[4 * i] = 255; im.data[4 * i + 1] = Math.round(255 * (1 - t)); im.data[4 * i + 2] = Math.round(255 * (1 - t)); im.data[4 * i + 3] = 255;
      }
      ctx.putImageData(im, 0, 0);
    }

    function renderElbo(res) {
      $("elbo").innerHTML = `<table class="vx-table">
        <tr><td>reconstruction E<sub>q</sub>[log p(x|z)]<br><span class="vx-note">−BCE, mean of K = ${res.k} ± s.e.</span></td>
            <td class="vx-num" data-vx-num="recon">${fmt(res.recon)} <span class="vx-pm">± ${fmt(res.recon_se)}</span></td></tr>
        <tr><td>− KL(q(z|x) ‖ N(0, I))<br><span class="vx-note">closed form</span></td><td class="vx-num" data-vx-num="kl">−${fmt(res.kl)}</td></tr>
        ${res.log_py !== undefined ? `<tr><td>+ log p(y) = log 1/10<br><span class="vx-note">the label y = ${res.label}, scored by a Categorical</span></td><td class="vx-num" data-vx-num="logpy">${fmt(res.log_py)}</td></tr>` : ""}
        <tr class="vx-total"><td>ELBO = reconstruction − KL${res.log_py !== undefined ? " + log p(y)" : ""}</td><td class="vx-num" data-vx-num="elbo">${fmt(res.elbo)}</td></tr>
        <tr><td>Pyro's loss = −ELBO<br><span class="vx-note">what <code>svi.step</code> minimizes</span></td><td class="vx-num" data-vx-num="loss">${fmt(-res.elbo)}</td></tr>
        <tr><td>log p(x${res.log_py !== undefined ? ", y" : ""}), importance-weighted<br><span class="vx-note">k = 1,000 samples from q(z|x)</span></td><td class="vx-num" data-vx-num="logpx" data-state="computing">computing…</td></tr>
        <tr><td>gap log p(x) − ELBO<br><span class="vx-note">≥ 0: what the ELBO leaves out</span></td><td class="vx-num" data-vx-num="gap">…</td></tr>
      </table>`;
    }

    async function fetchLogPx(body, seq, t0) {
      try {
        const r = await fetch(`/api/models/${encodeURIComponent(S.name)}/logpx`, { method: "POST",
          body: JSON.stringify({ ...body, k: 1000 }), headers: { "Content-Type": "application/json" } });
        const res = await r.json();
        if (seq !== S.seq || !r.ok || res.blank || !S.lastEncode) return;
        const cell = root.querySelector("[data-vx-num=logpx]");
        if (!cell) return;
        cell.textContent = fmt(res.log_px); cell.dataset.state = "done";
        root.querySelector("[data-vx-num=gap]").textContent = fmt(res.log_px - S.lastEncode.elbo);
        S.lastLogPx = res;
        S.stats.lens.logpx.push(performance.now() - t0);
      } catch (err) { /* the main panel stays; the cell keeps saying computing */ }
    }

    async function togglePrior() {
      const on = $("prior").checked;
      if (!on) {
        S.priorPts = null; drawOverlay();
        $("priorimgs").innerHTML = "";
        return;
      }
      const lab = S.model.header.labels ? `&label=${S.label}` : "";
      const r = await fetch(`/api/models/${encodeURIComponent(S.name)}/prior?n=16&seed=${S.seed}${lab}`);
      if (!r.ok) { status("prior samples could not be drawn", "error"); return; }
      const res = await r.json();
      S.priorPts = res.xy; drawOverlay();
      const grid = $("priorimgs"), imgs = b64bytes(res.images);
      grid.innerHTML = "";
      for (let i = 0; i < res.n; i++) {
        const c = document.createElement("canvas"); c.width = 28; c.height = 28; c.className = "vx-px vx-small";
        grid.appendChild(c); paintGrey(c, imgs, 784 * i);
      }
      $("priortxt").textContent = `16 draws z ~ N(0, I) (seed ${res.seed}), decoded; diamonds on the map. Where the prior puts mass but no digit lives, the decoder makes blends.`;
      S.lastPrior = res;
    }

    // ----- tools: interpolation, traversal, model comparison, export, presenter mode -----
    const AB = { A: null, B: null };
    const labelFor = () => (S.model && S.model.header.labels ? S.label : null);
    function ringZ() { return S.dragZ ? Array.from(S.dragZ) : null; }
    function drawZ() { return S.lastEncode ? S.lastEncode.loc.slice() : null; }
    function setEnd(which, z, what) {
      if (!z) { status(what === "drawing" ? "draw a digit first" : "the ring has no position yet", "warn"); return; }
      AB[which] = { z, what, model: S.name };
      $("abtxt").textContent = ["A", "B"].map((k) => `${k}: ${AB[k] ? AB[k].what : "not set"}`).join(" · ");
      if (AB.A && AB.B) runInterp(performance.now());
    }
    function strip(el, u8, n) {
      el.innerHTML = "";
      for (let i = 0; i < n; i++) {
        const c = document.createElement("canvas"); c.width = 28; c.height = 28; c.className = "vx-px vx-small";
        el.appendChild(c); paintGrey(c, u8, 784 * i);
      }
    }
    async function postJSON(path, body) {
      const r = await fetch(`/api/models/${encodeURIComponent(S.name)}/${path}`, { method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" } });
      const res = await r.json();
      if (!r.ok) throw new Error(typeof res.detail === "string" ? res.detail : `HTTP ${r.status}`);
      return res;
    }
    async function runInterp(t0) {
      if (!(AB.A && AB.B)) { status("set A and B first", "warn"); return; }
      if (AB.A.model !== S.name || AB.B.model !== S.name) { status("A and B were set with another model: set them again", "warn"); return; }
      try {
        const res = await postJSON("interpolate", { a: AB.A.z, b: AB.B.z, n: 10, label: labelFor() });
        strip($("lin"), b64bytes(res.linear.images), res.n);
        strip($("slerp"), b64bytes(res.slerp.images), res.n);
        S.paths = [res.linear.xy, res.slerp.xy]; drawOverlay();
        S.lastInterp = res;
        $("interp-repro").textContent = `reproduce: model ${res.model}, A = ${AB.A.what}, B = ${AB.B.what}, 10 steps (no randomness)`;
        requestAnimationFrame(() => S.stats.lens.interpolate.push(performance.now() - t0));
      } catch (err) { status("interpolation failed: " + err.message, "error"); }
    }
    async function runTraverse(from, t0) {
      const z = from === "drawing" ? drawZ() : ringZ();
      if (!z) { status(from === "drawing" ? "draw a digit first" : "the ring has no position yet", "warn"); return; }
      const kl = from === "drawing" ? S.lastEncode.kl_dims : null;
      try {
        const res = await postJSON("traverse", { z, kl, steps: 9, span: 3, rows: 16,
          label: from === "drawing" && S.lastEncode.label !== undefined ? S.lastEncode.label : labelFor() });
        const u8 = b64bytes(res.images), box = $("trav");
        let html = "";
        for (let r = 0; r < res.dims.length; r++) {
          html += `<div class="vx-trav-row"><span class="vx-trav-lab">z${res.dims[r] + 1}<br><span class="vx-note">KL ${fmt(res.kl[r])}</span></span>`;
          for (let c = 0; c < res.steps; c++) html += `<canvas width="28" height="28" class="vx-px vx-small"></canvas>`;
          html += "</div>";
        }
        html += `<div class="vx-trav-row"><span class="vx-trav-lab"></span>${res.values.map((v) => `<span class="vx-trav-val">${v > 0 ? "+" : ""}${fmt(v, 1)}</span>`).join("")}</div>`;
        box.innerHTML = html;
        const canv = box.querySelectorAll("canvas");
        for (let i = 0; i < canv.length; i++) paintGrey(canv[i], u8, 784 * i);
        S.lastTraverse = res;
        $("trav-repro").textContent = `reproduce: model ${res.model}, from ${from}, dims by ${kl ? "the drawing's KL" : "average KL on the test set"}, 9 steps over ±3 (no randomness)`;
        requestAnimationFrame(() => S.stats.lens.traverse.push(performance.now() - t0));
      } catch (err) { status("traversal failed: " + err.message, "error"); }
    }
    function savePNG(canvases, cols, caption, filename) {
      if (!canvases.length) { status("nothing to save yet", "warn"); return; }
      const cell = 56, pad = 4, rows = Math.ceil(canvases.length / cols), W = cols * (cell + pad) + pad, H = rows * (cell + pad) + pad + 26;
      const out = document.createElement("canvas"); out.width = W; out.height = H;
      const ctx = out.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H); ctx.imageSmoothingEnabled = false;
      canvases.forEach((c, i) => ctx.drawImage(c, pad + (i % cols) * (cell + pad), pad + Math.floor(i / cols) * (cell + pad), cell, cell));
      ctx.fillStyle = "#111"; ctx.font = "13px sans-serif"; ctx.fillText(caption, pad, H - 9);
      const a = document.createElement("a"); a.href = out.toDataURL("image/png"); a.download = filename;
      document.body.appendChild(a); a.click(); a.remove();
    }
    async function renderModelTable() {
      const info = await (await fetch("/api/models")).json();
      const rows = info.models.filter((m) => !m.error).map((m) => `<tr><td><b>${m.name}</b></td><td>${m.z_dim}</td><td>${m.hidden.join("-")}</td>
        <td>${m.epochs}</td><td class="vx-num">${fmt(m.test_elbo)}</td><td class="vx-num">${fmt(m.log_px)}</td><td>${m.active_dims}/${m.z_dim}</td><td>${m.test_accuracy != null ? (100 * m.test_accuracy).toFixed(1) + " %" : "–"}</td></tr>`).join("");
      $("modeltable").innerHTML = `<table class="vx-table" data-vx="models-table"><tr><th>model</th><th>z</th><th>hidden</th><th>epochs</th>
        <th>test ELBO</th><th>log p(x) (IWAE)</th><th>active dims</th><th>label accuracy</th></tr>${rows}</table>
        <p class="vx-caption">Test figures in nats per image over the 10,000 MNIST test digits (Pyro example protocol; IWAE with k = 200). For the conditional model they bound log p(x, y), the label observed.</p>`;
      const sel = $("compare");
      sel.innerHTML = '<option value="">(choose a model)</option>' + info.models.filter((m) => !m.error).map((m) => `<option>${m.name}</option>`).join("");
    }
    let compareSeq = 0;
    async function runCompare() {
      // The drawing as this model last encoded it, sent to the other model too; only the newest
      // comparison is shown (an older one, e.g. of a half-drawn stroke, may answer later).
      const other = $("compare").value, mine = S.lastEncode, sent = S.lastEncodeBody, cseq = ++compareSeq;
      if (!other || !mine || !sent) { $("comparebox").innerHTML = other ? '<p class="vx-empty">Draw a digit first.</p>' : ""; return; }
      const body = { ...JSON.parse(sent), session: "", seq: 0 };
      const r = await fetch(`/api/models/${encodeURIComponent(other)}/encode`, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
      const o = await r.json();
      if (cseq !== compareSeq) return;
      if (!r.ok || o.blank) { $("comparebox").innerHTML = '<p class="vx-empty">could not encode with ' + other + "</p>"; return; }
      const fig = (res, cls) => `<figure class="vx-cmp" data-vx-cmp="${cls}"><figcaption><b>${res.model}</b> (z=${res.loc.length})</figcaption>
        <canvas width="28" height="28" class="vx-px vx-mid"></canvas><div>ELBO <b data-vx-num="cmp-elbo-${cls}">${fmt(res.elbo)}</b> nats<br>KL ${fmt(res.kl)} · recon ${fmt(res.recon)}</div></figure>`;
      $("comparebox").innerHTML = fig(mine, "a") + fig(o, "b");
      const cs = $("comparebox").querySelectorAll("canvas");
      paintGrey(cs[0], b64bytes(mine.mean_img)); paintGrey(cs[1], b64bytes(o.mean_img));
      S.lastCompare = o; S.lastCompareMine = mine;
    }
    const panels = () => Array.from(root.querySelectorAll(".vx-panels > .vx-card, .vx-side > .vx-card"));
    let presentIdx = 0;
    function showPanel() {
      const ps = panels();
      ps.forEach((p, i) => p.classList.toggle("vx-shown", i === presentIdx));
      $("panelname").textContent = (ps[presentIdx].querySelector("h3") || {}).textContent || "";
    }

    // ----- toolbar -----
    $("clear").addEventListener("click", () => {
      clearPad(); S.drawn = false; S.seq++; S.lastEncode = null;
      for (const n of ["input", "meanimg"]) $(n).getContext("2d").clearRect(0, 0, 28, 28);
      $("samples").innerHTML = ""; $("repro").textContent = "";
      $("post").innerHTML = '<p class="vx-empty">Draw a digit to see q(z|x).</p>';
      $("elbo").innerHTML = '<p class="vx-empty">Draw a digit.</p>';
      for (const st of ["step2", "step3", "step4"]) $(st).innerHTML = '<p class="vx-empty">Draw a digit.</p>';
      S.lastLogPx = null;
      S.cloud = null; drawOverlay();
      status("");
    });
    $("resample").addEventListener("click", (e) => { S.seed += 1; encodeNow(e.timeStamp, true); if ($("prior").checked) togglePrior(); });
    $("k").addEventListener("change", (e) => encodeNow(e.timeStamp, true));
    $("prior").addEventListener("change", togglePrior);
    $("model").addEventListener("change", async (e) => {
      await loadModel(e.target.value);
      props.value = e.target.value;  // tells the Gradio side (the model card) which model is shown
    });
    $("setA-ring").addEventListener("click", () => setEnd("A", ringZ(), `the ring at (${fmt(S.handle.x)}, ${fmt(S.handle.y)})`));
    $("setB-ring").addEventListener("click", () => setEnd("B", ringZ(), `the ring at (${fmt(S.handle.x)}, ${fmt(S.handle.y)})`));
    $("setA-draw").addEventListener("click", () => setEnd("A", drawZ(), "drawing"));
    $("setB-draw").addEventListener("click", () => setEnd("B", drawZ(), "drawing"));
    $("interp").addEventListener("click", (e) => runInterp(e.timeStamp));
    $("trav-draw").addEventListener("click", (e) => runTraverse("drawing", e.timeStamp));
    $("trav-ring").addEventListener("click", (e) => runTraverse("ring", e.timeStamp));
    $("interp-png").addEventListener("click", () => savePNG([...$("lin").children, ...$("slerp").children], 10,
      $("interp-repro").textContent, `interpolation-${S.name}.png`));
    $("trav-png").addEventListener("click", () => savePNG(Array.from($("trav").querySelectorAll("canvas")), 9,
      $("trav-repro").textContent, `traversal-${S.name}.png`));
    $("compare").addEventListener("change", runCompare);
    $("label").addEventListener("change", (e) => {
      S.label = Number(e.target.value); decodeHandle();
      if ($("prior").checked) togglePrior();
    });
    $("prior-png").addEventListener("click", () => savePNG(Array.from($("priorimgs").children), 8,
      $("priortxt").textContent.split(";")[0], `prior-${S.name}-seed${S.seed}.png`));
    $("styles-png").addEventListener("click", () => savePNG(Array.from($("styles").children), 10,
      S.lastEncode ? `styles: model ${S.lastEncode.model}, seed ${S.lastEncode.seed}, digits 0-9` : "", `styles-${S.name}.png`));
    $("samples-png").addEventListener("click", () => savePNG(Array.from($("samples").children), 8,
      $("repro").textContent, `samples-${S.name}-seed${S.seed}.png`));
    $("present").addEventListener("click", () => {
      const on = root.classList.toggle("vx-present");
      $("present").textContent = on ? "Leave presenter mode" : "Presenter mode";
      if (on) showPanel(); else panels().forEach((p) => p.classList.remove("vx-shown"));
      placeHandle(); drawOverlay();
    });
    $("nextpanel").addEventListener("click", () => { presentIdx = (presentIdx + 1) % panels().length; showPanel(); });
    $("prevpanel").addEventListener("click", () => { presentIdx = (presentIdx + panels().length - 1) % panels().length; showPanel(); });
    window.addEventListener("resize", () => { placeHandle(); drawOverlay(); });
    // A closing tab tells the server to forget it now (otherwise its entry expires after 10 minutes).
    window.addEventListener("pagehide", () => {
      navigator.sendBeacon("/api/bye", new Blob([JSON.stringify({ session: S.session })], { type: "application/json" }));
    });

    (async () => {
      try {
        const info = (await takeEarly("info")) || (await (await fetch("/api/models")).json());
        const sel = $("model");
        for (const mm of info.models) {
          const o = document.createElement("option");
          o.value = mm.name; o.disabled = !!mm.error;
          o.textContent = mm.error ? `${mm.name} (unavailable)` : `${mm.name} (z=${mm.z_dim})`;
          sel.appendChild(o);
        }
        const first = props.value && info.models.some((x) => x.name === props.value) ? props.value : info.default;
        sel.value = first;
        await loadModel(first);
        renderModelTable();
      } catch (err) {
        status("could not load the explorer: " + err, "error");
      }
    })();
  }

  window.VaeExplorer = { mount, decode, latentAt, parseBundle };
})();
