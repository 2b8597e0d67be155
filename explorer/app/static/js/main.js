// The explorer's orchestrator: fetches the model while the browser compiles Plotly, builds the page
// from the panels' markup, wires the toolbar, loads models, and shows the server's state.

import { ApiError, modelPath, request, setTab } from "./api.js";
import { parseBundle } from "./bundle.js";
import { decode } from "./decoder.js";
import { latentAt } from "./geometry.js";
import * as backprop from "./panels/backprop.js";
import * as compare from "./panels/compare.js";
import * as draw from "./panels/draw.js";
import * as label from "./panels/label.js";
import * as lens from "./panels/lens.js";
import * as map from "./panels/map.js";
import * as presenter from "./panels/presenter.js";
import * as tools from "./panels/tools.js";
import { h } from "./dom.js";
import { createState } from "./state.js";

// Started at once, before Plotly (which the browser compiles next): the model list and the bundle of
// the default model (named in this module's URL).
const DEFAULT_MODEL = new URL(import.meta.url).searchParams.get("model");
const early = {
  info: request("/api/models").catch(() => null),
  bundle: DEFAULT_MODEL ? request(modelPath(DEFAULT_MODEL, "bundle"), { binary: true }).then((buf) => ({ name: DEFAULT_MODEL, buf })).catch(() => null) : null,
};
const takeEarly = (key) => { const p = early[key]; early[key] = null; return p || Promise.resolve(null); };
const plotlyReady = () => new Promise((resolve, reject) => {
  const giveUp = performance.now() + 30000;
  const poll = () => (window.Plotly ? resolve(window.Plotly)
    : performance.now() > giveUp ? reject(new Error("Plotly's script did not load; reload the page")) : setTimeout(poll, 10));
  poll();
});

const TOOLBAR = `
  <div class="vx-toolbar">
    <label>Model <select data-vx="model" aria-label="model"></select></label>
    <label>Samples K <select data-vx="k" aria-label="samples"></select></label>
    <label data-vx="labelpick" class="vx-labelpick" hidden title="the conditional model decodes the ring's z as this digit">Decode as digit
      <select data-vx="label" aria-label="digit to decode as">${[...Array(10).keys()].map((d) => `<option>${d}</option>`).join("")}</select></label>
    <button data-vx="resample" type="button" title="draw new ε ~ N(0, I): new samples z = loc + scale · ε">New ε</button>
    <button data-vx="clear" type="button" title="empty the canvas">Clear</button>
    <label title="overlay samples z ~ N(0, I) on the map"><input type="checkbox" data-vx="prior"> Prior samples</label>
    <a data-vx="csv" class="vx-btn" href="#" download title="the map as CSV: index, label, x, y, loc, scale">Map CSV</a>
    ${presenter.markup}
  </div>
  <div class="vx-statusline"><span class="vx-status" data-vx="status" role="status"></span></div>`;

function skeleton() {
  return `<header class="vx-head"><h1>VAE latent-space explorer</h1>
    <p>Draw a digit: the guide encodes it to q(z|x), samples of z are decoded and placed on the map, and the ELBO is split into its terms.
    Drag the ring on the map to decode any place.</p></header>
  ${TOOLBAR}${compare.markup.card}
  <div class="vx-main">
    <section class="vx-mapcol">${map.markup.map}</section>
    <section class="vx-side">${map.markup.ring}${draw.markup.pad}</section>
  </div>
  <div class="vx-panels">${label.markup}${lens.markup}${draw.markup.samples}${tools.markup.prior}${map.markup.digit}${tools.markup.interp}${tools.markup.traverse}${compare.markup.table}</div>`;
}

function makeContext(root, S) {
  const listeners = {};
  const $ = (name) => root.querySelector(`[data-vx=${name}]`);
  const status = (msg, kind) => { const s = $("status"); s.textContent = msg || ""; s.dataset.kind = kind || ""; };
  return {
    root, S, $, status,
    on: (ev, fn) => { (listeners[ev] ||= []).push(fn); },
    emit: (ev, data) => { for (const fn of listeners[ev] || []) fn(data); },
    /** Run an API call; a busy server (429/503) is retried, a slow answer shows the busy sign. */
    async call(fn, tries = 5) {
      const busy = setTimeout(() => { root.dataset.busy = "1"; }, 400);
      try {
        for (let i = 1; ; i++) {
          try { return await fn(); } catch (err) {
            if (!(err instanceof ApiError) || err.kind !== "busy" || i >= tries) throw err;
            status("the server is busy, retrying…", "warn");
            await new Promise((r) => setTimeout(r, 500 * i));
          }
        }
      } finally { clearTimeout(busy); delete root.dataset.busy; }
    },
    failed(err, what) {
      const why = err instanceof ApiError && err.kind === "down" ? "the server is not answering" : err.message;
      status(`${what}: ${why}`, "error");
    },
  };
}

async function mount(root) {
  const S = createState();
  setTab(S.session);
  window.vx = S;  // the one debug name: read by the tests and the benchmark scripts
  const pre = await takeEarly("bundle");
  const first = pre ? parseBundle(pre.buf) : null;
  if (first) S.models[first.name] = first;
  const constants = first ? first.constants : (await loadBundle(S, (await request("/api/models")).default)).constants;
  root.innerHTML = skeleton();  // constant markup: no data in it
  const ctx = makeContext(root, S), $ = ctx.$;
  for (const v of constants.k_choices) $("k").append(h("option", { value: v, text: v, selected: v === constants.default_k }));
  ctx.on("label", (d) => { S.label = d; $("label").value = String(d); });  // first: the panels then see the new label
  const mapPanel = map.mount(ctx), drawPanel = draw.mount(ctx);
  lens.mount(ctx); backprop.mount(ctx); label.mount(ctx);
  const toolPanel = tools.mount(ctx, mapPanel), comparePanel = compare.mount(ctx);
  presenter.mount(ctx, mapPanel);
  ctx.on("encoded", () => mapPanel.drawOverlay());

  async function show(name) {
    const sel = $("model"), previous = S.name;
    ctx.status(`loading ${name}…`);
    let m;
    try { m = S.models[name] || (await ctx.call(() => loadBundle(S, name))); } catch (err) {
      sel.value = previous || "";  // the selector goes back to the model still shown
      ctx.failed(err, `cannot load ${name}`);
      return;
    }
    S.model = m; S.name = name; S.cloud = null;
    sel.value = name;
    $("csv").href = modelPath(name, "map.csv");
    $("labelpick").hidden = !m.header.labels;
    await plotlyReady();
    ctx.emit("model", m);
    await mapPanel.show(m);
    if (S.stats.readyAt === undefined) S.stats.readyAt = performance.now();  // since navigation start
    root.dataset.ready = name;
    // The map is up: the server may now build this model's torch model (it starts without torch).
    const preparing = `${name} ready · preparing the model for your drawings…`;
    ctx.status(preparing);
    request(modelPath(name, "warm"), { method: "POST", timeout: 120000 })
      .then(() => { if ($("status").textContent === preparing) ctx.status(`${name} ready`); })
      .catch((err) => { if ($("status").textContent === preparing) ctx.failed(err, name); });
    if (S.drawn) drawPanel.encode(performance.now(), true);
  }

  $("clear").addEventListener("click", () => {
    drawPanel.reset(); ctx.emit("cleared"); S.lastLogPx = null; mapPanel.drawOverlay(); ctx.status("");
  });
  const newEps = (t) => { S.seed += 1; drawPanel.encode(t, true); if ($("prior").checked) toolPanel.prior(); };
  $("resample").addEventListener("click", (e) => newEps(e.timeStamp));
  ctx.on("neweps", () => newEps(performance.now()));
  ctx.on("redo", () => drawPanel.encode(performance.now(), true));
  $("k").addEventListener("change", (e) => drawPanel.encode(e.timeStamp, true));
  $("model").addEventListener("change", (e) => show(e.target.value));
  ctx.on("switch", (name) => show(name));
  $("label").addEventListener("change", (e) => ctx.emit("label", Number(e.target.value)));
  // An idle page still tells the truth: a health check every 5 s while nothing else is asked.
  let lastOk = performance.now();
  setInterval(async () => {
    if (document.hidden || S.inflight || root.dataset.busy) return;
    try {
      await request("/api/health", { timeout: 4000 });
      if (root.dataset.down) { delete root.dataset.down; ctx.status("the server is back", "warn"); }
      lastOk = performance.now();
    } catch (err) {
      if (err.status === 401) { ctx.status("you are logged out: reload the page to log in again", "error"); return; }
      root.dataset.down = "1";
      ctx.status(`the server is not answering (${Math.round((performance.now() - lastOk) / 1000)} s): your drawing is kept; trying again…`, "error");
    }
  }, 5000);
  // A closing tab tells the server to forget it now (otherwise its entry expires after 10 minutes).
  window.addEventListener("pagehide", () => {
    navigator.sendBeacon("/api/bye", new Blob([JSON.stringify({ session: S.session })], { type: "application/json" }));
  });
  S.hooks = {
    /** Decode map positions as the page does: [{image: [784], region}] (the contract test compares with Python). */
    decodeAt: (points, lab) => points.map(([x, y]) => {
      const r = latentAt(S.model, x, y), out = new Uint8Array(784);
      decode(S.model, r.z, out, lab);
      return { image: Array.from(out), region: r.region, z: Array.from(r.z) };
    }),
    show,
  };

  try {
    const info = (await takeEarly("info")) || (await ctx.call(() => request("/api/models")));
    fill_models($("model"), info);
    comparePanel.showModels(info);
    ctx.emit("models", info);
    await show(DEFAULT_MODEL && info.models.some((x) => x.name === DEFAULT_MODEL && !x.error) ? DEFAULT_MODEL : info.default);
  } catch (err) {
    ctx.failed(err, "could not load the explorer");
  }
}

function fill_models(sel, info) {
  for (const mm of info.models) {
    const o = document.createElement("option");
    o.value = mm.name; o.disabled = !!mm.error;
    o.textContent = mm.error ? `${mm.name} (unavailable)` : `${mm.name} (z=${mm.z_dim})`;
    sel.append(o);
  }
}

async function loadBundle(S, name) {
  const m = parseBundle(await request(modelPath(name, "bundle"), { binary: true }));
  S.models[name] = m;
  return m;
}

// Gradio renders the root element (explorer/app/page.py); mount into it once it is there.
function whenRoot() {
  const root = document.querySelector("[data-vx=root]");
  if (root && !root.dataset.mounted) { root.dataset.mounted = "1"; mount(root); return true; }
  return false;
}
if (!whenRoot()) {
  const obs = new MutationObserver(() => { if (whenRoot()) obs.disconnect(); });
  obs.observe(document.documentElement, { childList: true, subtree: true });
}
