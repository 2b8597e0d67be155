// The explorer's orchestrator: reads the model list, draws the map as soon as its file arrives, then
// fetches the networks (they compute every drawing in this page, in worker threads), builds the page from
// the panels' markup, keeps the shared settings in the URL, and says what needs the server when it is away.

import { ApiError, createApi } from "./api.js";
import { createCompute } from "./compute.js";
import { loadMap, loadRest } from "./loader.js";
import * as backprop from "./panels/backprop.js";
import * as check from "./panels/check.js";
import * as compare from "./panels/compare.js";
import * as draw from "./panels/draw.js";
import * as kl from "./panels/kl.js";
import * as label from "./panels/label.js";
import * as lens from "./panels/lens.js";
import * as live from "./panels/live.js";
import * as map from "./panels/map.js";
import * as presenter from "./panels/presenter.js";
import * as timeline from "./panels/timeline.js";
import * as tools from "./panels/tools.js";
import { h } from "./dom.js";
import { EVENTS, STATUS, createState, parseHash, toHash } from "./state.js";
import * as rng from "./rng.js";
import { toMnist } from "./preprocess.js";
import { useKernels } from "./wasm.js";

const { MAX_SEED } = rng;
/** A drawing whose ink is base64 (as the server's routes take it) as the page's drawing object. */
const fromB64 = (d) => ({ width: d.width, height: d.height, pixels: Uint8Array.from(atob(d.pixels), (c) => c.charCodeAt(0)) });

const SITE = new URL("../../../", import.meta.url);  // the folder holding models.json (vx/)
// Started at once, before Gradio has drawn the page's frame: the model list, then the map of the model the
// page opens (the link's, else the default), so that the map is drawn as soon as there is a place for it.
const early = fetch(new URL("models.json", SITE), { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
const earlyMaps = {};
const opening = early.then((cat) => {
  if (!cat || !cat.models) return;
  const wanted = new URLSearchParams(location.hash.slice(1)).get("model");
  const entry = cat.models.find((m) => m.name === wanted && !m.error) || cat.models.find((m) => m.name === cat.default && !m.error);
  if (entry) earlyMaps[entry.name] = fetch(new URL(entry.files.map, SITE), { credentials: "same-origin" }).then((r) => (r.ok ? r.arrayBuffer() : null)).catch(() => null);
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
    <button data-vx="share" type="button" title="copy a link to this view: the model, the seed, K, the estimator, the label, the slide">Copy link</button>
    ${presenter.markup}
  </div>
  <div class="vx-statusline"><span class="vx-status" data-vx="status" role="status"></span><span class="vx-server" data-vx="server"></span></div>`;

function skeleton() {
  return `<header class="vx-head"><h1>VAE latent-space explorer</h1>
    <p>Draw a digit: the guide encodes it to q(z|x), samples of z are decoded and placed on the map, and the ELBO is split into its terms.
    Drag the ring on the map to decode any place. Everything is computed here, in your browser; the server takes Pyro's real steps.</p></header>
  ${TOOLBAR}${compare.markup.card}
  <div class="vx-main">
    <section class="vx-mapcol">${map.markup.map}</section>
    <section class="vx-side">${map.markup.ring}${draw.markup.pad}</section>
  </div>
  <div class="vx-panels">${label.markup}${lens.markup}${timeline.markup}${live.markup}${kl.markup}${check.markup}${draw.markup.samples}${tools.markup.prior}${map.markup.digit}${tools.markup.interp}${tools.markup.traverse}${compare.markup.table}</div>`;
}

function makeContext(root, S, api, compute) {
  const listeners = {};
  const $ = (name) => root.querySelector(`[data-vx=${name}]`);
  const declared = (ev) => { if (!(ev in EVENTS)) throw new Error(`undeclared event ${ev}`); };
  const ctx = {
    root, S, $, api, compute, site: SITE,
    clickers: {},  // slide name -> (direction) => true if the slide took the presenter's click itself
    on: (ev, fn) => { declared(ev); (listeners[ev] ||= []).push(fn); },
    emit: (ev, data) => { declared(ev); for (const fn of listeners[ev] || []) fn(data); },
    /** Show a declared status (state.js STATUS) with its details. */
    status(key, details = {}, kind = "") {
      if (!(key in STATUS)) throw new Error(`undeclared status ${key}`);
      S.status = { key, kind };
      const s = $("status");
      s.textContent = STATUS[key](details); s.dataset.kind = kind; s.dataset.key = key;
    },
    /** Change a shared setting: the state, the URL, then the panels (they render from S). */
    set(name, value) {
      if (S[name] === value) return;
      S[name] = value;
      history.replaceState(null, "", location.pathname + location.search + toHash(S));
      ctx.emit("settings", name);
    },
    failed(err, what) {
      const why = err instanceof ApiError && err.kind === "down" ? "the server is not answering" : err.message;
      ctx.status("failed", { what, why }, "error");
    },
    model: () => S.models[S.model],
  };
  return ctx;
}

async function mount(root) {
  const S = createState();
  window.vx = S;  // the one debug name: read by the tests and the benchmark scripts
  const catalogue = await early || await fetch(new URL("models.json", SITE)).then((r) => r.json()).catch(() => null);
  await opening;
  if (!catalogue || !catalogue.models) { root.textContent = "The explorer could not load its list of models: reload the page."; return; }
  S.catalogue = catalogue;
  S.server = catalogue.server ? "unknown" : "none";
  const api = createApi(catalogue.server ? new URL("../api/", SITE) : null, S);
  const compute = createCompute();
  const usable = catalogue.models.filter((m) => !m.error).map((m) => m.name);
  const first = catalogue.models.find((m) => m.name === catalogue.default) || catalogue.models.find((m) => !m.error);
  const { settings, notes } = parseHash(location.hash, { models: usable, kChoices: [4, 8, 16, 32, 64], maxSeed: MAX_SEED });
  Object.assign(S, settings);
  S.model = settings.model || first.name;
  let pendingSlide = S.slide;  // opened once the first model's panels are there (their count depends on it)
  S.slide = null;

  // The map first: its file is small, the networks follow
  let m;
  try { m = await loadMap(SITE, catalogue.models.find((x) => x.name === S.model), S, earlyMaps[S.model]); } catch (err) {
    root.textContent = `The explorer could not load ${S.model}: ${err.message}`;
    return;
  }
  const C = m.constants;
  root.innerHTML = skeleton();  // constant markup: no data in it
  const ctx = makeContext(root, S, api, compute), $ = ctx.$;
  for (const v of C.k_choices) $("k").append(h("option", { value: v, text: v }));
  $("k").value = String(S.k);
  for (const mm of catalogue.models) {
    $("model").append(h("option", { value: mm.name, disabled: !!mm.error, text: mm.error ? `${mm.name} (unavailable)` : `${mm.name} (z=${mm.z_dim})` }));
  }
  ctx.on("label", (d) => { S.label = d; $("label").value = String(d); });  // first: the panels then see the new label
  const mapPanel = map.mount(ctx), drawPanel = draw.mount(ctx);
  lens.mount(ctx); backprop.mount(ctx); label.mount(ctx); check.mount(ctx);
  const toolPanel = tools.mount(ctx, mapPanel);
  compare.mount(ctx).showModels(catalogue);
  const slides = presenter.mount(ctx, mapPanel);
  const timelinePanel = timeline.mount(ctx, mapPanel);
  kl.mount(ctx);
  live.mount(ctx);
  ctx.on("result", () => mapPanel.drawOverlay());
  ctx.emit("catalogue", catalogue);

  async function show(name) {
    const entry = catalogue.models.find((x) => x.name === name);
    if (!entry || entry.error) return;
    const previous = S.model;
    ctx.status("loading", { name });
    let mm = S.models[name];
    try { if (!mm) mm = await loadMap(SITE, entry, S); } catch (err) {
      $("model").value = previous;
      ctx.status("failed", { what: `cannot load ${name}`, why: err.message }, "error");
      return;
    }
    ctx.set("model", name);
    $("model").value = name;
    S.cloud = null; S.result = null; S.logpx = null;
    $("csv").href = entry.files ? new URL(`../api/models/${encodeURIComponent(name)}/map.csv`, SITE).href : "#";
    $("csv").hidden = S.server === "none";
    $("labelpick").hidden = !mm.header.labels;
    ctx.emit("model", mm);
    if (pendingSlide !== null) { const note = slides.open(pendingSlide); if (note) notes.push(note); pendingSlide = null; }
    if (S.hooks.stats.readyAt === undefined) S.hooks.stats.readyAt = performance.now();  // since navigation start
    root.dataset.ready = name;
    if (!mm.ready) ctx.status("networks", { name });
    try { await loadRest(SITE, entry, mm, S, ctx); } catch (err) {
      ctx.status("failed", { what: `the networks of ${name} could not be loaded`, why: err.message }, "error");
      return;
    }
    compute.load(name, mm.files, mm.header.labels || 0, mm);
    if (S.hooks.stats.computesAt === undefined) S.hooks.stats.computesAt = performance.now();
    root.dataset.computes = name;
    if (S.model !== name) return;
    ctx.status(S.server === "down" ? "offline" : "ready", { name }, S.server === "down" ? "warn" : "");
    ctx.emit("ready", mm);
  }
  Object.assign(S.hooks, {
    show, slides, timeline: timelinePanel, scatter: mapPanel.scatter,
    /** The page's forward passes of drawings {width, height, pixels: base64}, one after the other (the
     *  contract test), where a stroke's end is computed (this thread, or both workers for a conditional
     *  model): each answer with its images as arrays, or {error, message}. An item with `whole` is computed
     *  whole on one worker, as a live update is. */
    forwardAll: async (items) => {
      const out = [];
      for (const { drawing, opts, whole = false } of items) {
        try {
          const { result } = await compute.forward(S.model, fromB64(drawing), opts, whole ? "worker" : "end");
          out.push(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v) : v])));
        } catch (err) { out.push({ error: err.kind, message: err.message }); }
      }
      return out;
    },
    /** The WebAssembly kernels on (true) or off, here and in the workers: whether they are on now. */
    useKernels: (on) => { compute.kernels(on); return useKernels(on); },
    toMnist: (drawing) => Array.from(toMnist(fromB64(drawing), ctx.model().constants)),
    logpx: async (drawing, opts) => (await compute.logpx(S.model, fromB64(drawing), opts)).result,
    rng,
    decodeAt: (points, lab) => mapPanel.decodeAt(points, lab),
    ringTo: (x, y) => mapPanel.moveRing(x, y),
    /** Where a map position is on the screen (client pixels), and the plot's box [left, top, width, height]. */
    toScreen: (x, y) => { const r = $("plot").getBoundingClientRect(), T = mapPanel.scatter.T; return [r.left + T.toPx(x), r.top + T.toPy(y)]; },
    view: () => ({ ...mapPanel.scatter.view }),
    nearestAt: (px, py) => mapPanel.scatter.nearestAt(px, py),
    plotBox: () => { const r = $("plot").getBoundingClientRect(), p = mapPanel.scatter.T.plot(); return [r.left + p.l, r.top + p.t, p.w, p.h]; },
  });

  $("clear").addEventListener("click", () => { drawPanel.reset(); S.result = null; S.logpx = null; S.drawing = null; ctx.emit("cleared"); mapPanel.drawOverlay(); ctx.status("none"); });
  const newEps = () => { ctx.set("seed", (S.seed + 1) % (MAX_SEED + 1)); };
  $("resample").addEventListener("click", newEps);
  $("k").addEventListener("change", (e) => ctx.set("k", Number(e.target.value)));
  $("model").addEventListener("change", (e) => show(e.target.value));
  $("label").addEventListener("change", (e) => ctx.emit("label", Number(e.target.value)));
  $("share").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(location.href); ctx.status("note", { text: "link copied: it opens this model, seed, K, estimator, label and slide" }); }
    catch { ctx.status("note", { text: `the link to this view: ${location.href}` }); }
  });
  ctx.on("settings", (name) => {
    if (name === "k") $("k").value = String(S.k);
    if (name === "seed" || name === "k" || name === "estimator" || name === "observed") drawPanel.compute(performance.now(), true);
  });
  window.addEventListener("hashchange", () => {
    const { settings: next } = parseHash(location.hash, { models: usable, kChoices: C.k_choices, maxSeed: MAX_SEED });
    if (next.model && next.model !== S.model) show(next.model);
    for (const key of ["seed", "k", "estimator", "observed"]) if (key in next) ctx.set(key, next[key]);
    const note = "slide" in next && next.slide !== S.slide ? slides.open(next.slide) : null;
    if (note) ctx.status("note", { text: `the link's ${note} is not valid here: the first slide is shown` }, "warn");
  });
  api.watch(ctx);
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register(new URL("../sw.js", SITE), { scope: new URL("../", SITE).pathname }).catch(() => {});
  }
  await show(S.model);
  if (notes.length) ctx.status("note", { text: `the link's ${notes.join(", ")} ${notes.length > 1 ? "are" : "is"} not valid here: the defaults are shown instead` }, "warn");
}

// The root element is ours (the static page) or Gradio's (explorer/app/page.py): mount once it is there.
function whenRoot() {
  const root = document.querySelector("[data-vx=root]");
  if (root && !root.dataset.mounted) { root.dataset.mounted = "1"; mount(root); return true; }
  return false;
}
if (!whenRoot()) {
  const obs = new MutationObserver(() => { if (whenRoot()) obs.disconnect(); });
  obs.observe(document.documentElement, { childList: true, subtree: true });
}
