// Watch it learn: the model's training replayed. A slider and a play button over the moments recorded while
// it trained (`train --snapshots N`), from the untrained model to the shipped one; the map's points move to
// where the guide put each test digit at that moment, the ring decodes with that moment's decoder, and the
// curves of the test ELBO, its two terms and the active dimensions mark the moment. A presenter slide too:
// there the clicker steps through the moments, then on to the next slide.

import { curve, frame } from "../charts.js";
import { empty, fill, fmt, h } from "../dom.js";
import { loadTimeline } from "../loader.js";

export const markup = `
  <div class="vx-card vx-wide vx-timeline" data-vx="tlcard" data-slide="watch it learn">
    <h3>Watch it learn</h3>
    <p class="vx-explain" data-vx="tl-intro"></p>
    <div class="vx-row vx-tl-controls">
      <button type="button" data-vx="tl-open">Open the timeline</button>
      <button type="button" data-vx="tl-play" hidden aria-label="play the training" title="play the training from the start (or from here)">▶ Play</button>
      <input type="range" data-vx="tl-slider" min="0" max="1" step="1" value="0" hidden aria-label="moment of training">
      <span class="vx-tl-label" data-vx="tl-label" aria-live="polite"></span>
      <button type="button" data-vx="tl-close" hidden title="the map and the ring of the trained model again">Back to the trained model</button>
    </div>
    <div class="vx-tl-curves" data-vx="tl-curves"></div>
    <p class="vx-note" data-vx="tl-note"></p>
  </div>`;

const CURVES = [
  ["elbo", "test ELBO (nats)"],
  ["recon", "reconstruction"],
  ["kl", "KL(q(z|x) ‖ p(z))"],
  ["active", "active dimensions"],
];
const STEP_MS = 750, HOLD_MS = 350;

export function mount(ctx, map) {
  const { S, $ } = ctx;
  const entry = () => S.catalogue.models.find((x) => x.name === S.model);
  let seq = 0;

  function intro() {
    const e = entry(), tl = e && e.files && e.files.timeline;
    $("tl-open").hidden = !tl || !!S.timeline;
    if (!e) return;
    if (tl) {
      $("tl-open").textContent = `Open the timeline (${(e.bytes.timeline / 1e6).toFixed(1)} MB)`;
      $("tl-intro").textContent = `${e.name} was trained by Pyro's SVI; these are moments of that run, from the untrained model to the one shipped. `
        + "Each point is a test digit's guide mean at that moment: watch the one blob of initialisation unfold into ten clusters, "
        + "the KL pull the codes toward the prior while the reconstruction pulls them apart, and latent dimensions switch on.";
    } else {
      $("tl-intro").textContent = e.timeline_error ? `${e.name}'s timeline is unavailable: ${e.timeline_error}`
        : `${e.name} has no timeline. Train with \`python -m explorer train ... --snapshots 12\`, then build it with \`python -m explorer atlas NAME --timeline\`.`;
    }
  }

  function label(t) {
    const tl = S.timeline, mo = tl.moments[t], last = tl.moments.length - 1, total = tl.moments[last].step;
    const when = t === 0 ? "the untrained model" : t === last ? "the trained model, as shipped" : `epoch ${fmt(mo.epoch, mo.epoch < 10 ? 2 : 1)}`;
    return `moment ${t + 1} of ${last + 1} · step ${mo.step.toLocaleString("en")} of ${total.toLocaleString("en")} · ${when}`;
  }

  function curves() {
    const tl = S.timeline, box = $("tl-curves");
    if (!tl) { fill(box, []); return; }
    const xs = tl.moments.map((m) => Math.log10(1 + m.step));
    const cols = box.clientWidth > 700 ? 4 : box.clientWidth > 480 ? 2 : 1;  // each curve drawn at its shown size
    box.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    const f = frame(box, { aspect: 0.1, maxHeight: 200, minLines: 8 }), w = Math.max(150, Math.floor(f.w / cols) - 12);
    const ends = ["step 0", `${tl.moments[tl.moments.length - 1].step.toLocaleString("en")} (log scale)`];
    fill(box, CURVES.map(([key, title]) => h("figure", { class: "vx-tl-curve", "data-curve": key },
      curve(tl.moments.map((m) => m[key]), xs, { w, h: Math.round(Math.max(8 * f.fs, w * 0.62)), fs: f.fs, title, current: S.moment,
        ends, range: key === "active" ? [0, ctx.model().zdim] : null }))));
  }

  function note(t) {
    const tl = S.timeline, last = tl.moments.length - 1, mo = tl.moments[t], zd = ctx.model().zdim;
    const grid = `${tl.gridN} × ${tl.gridN}`;
    fill($("tl-note"), [
      `Test ELBO ${fmt(mo.elbo)} = reconstruction ${fmt(mo.recon)} − KL ${fmt(mo.kl)} nats (one sample per test digit, the KL in closed form); `,
      `${mo.active} of ${zd} dimensions active. `,
      t === last ? "The ring decodes with the shipped decoder; your drawing's q(z|x) and samples are shown on the map."
        : `The ring shows this moment's decoder at the nearest point of a ${grid} grid on the map (the square); your drawing's q(z|x) is the trained encoder's, so it is shown at the last moment only.`,
    ]);
  }

  /** Show moment t: the map's points move there (over `ms`), the ring decodes with its decoder. */
  async function setMoment(t, ms = STEP_MS) {
    const tl = S.timeline;
    if (!tl) return null;
    t = Math.max(0, Math.min(tl.moments.length - 1, t));
    S.moment = t;
    $("tl-slider").value = String(t);
    $("tl-label").textContent = label(t);
    curves(); note(t);
    ctx.emit("moment", t);
    const moved = await map.scatter.moveTo(tl.xy[t], ms);
    if (moved.done && ms > 0) S.hooks.stats.frames.push({ frames: moved.frames, ms: moved.ms });
    return moved;
  }

  let pending = null;  // the model whose timeline is being fetched: asking again meanwhile waits for it
  async function open(at = 0) {
    const e = entry(), m = ctx.model();
    if (!e || !e.files.timeline || S.timeline || pending === e.name) return;
    const mine = ++seq;
    $("tl-open").disabled = true;
    fill($("tl-note"), empty("fetching the timeline…"));
    let tl;
    pending = e.name;
    try { tl = await loadTimeline(ctx.site, e, m, S); } catch (err) {
      $("tl-open").disabled = false;
      fill($("tl-note"), []);
      ctx.status("failed", { what: "the timeline could not be opened", why: err.message }, "error");
      return;
    }
    finally { if (pending === e.name) pending = null; }
    $("tl-open").disabled = false;
    if (mine !== seq || S.model !== e.name) return;
    S.timeline = tl;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;  // the view holds every moment's map
    for (const xy of tl.xy) for (let i = 0; i < xy.length; i += 2) { x0 = Math.min(x0, xy[i]); x1 = Math.max(x1, xy[i]); y0 = Math.min(y0, xy[i + 1]); y1 = Math.max(y1, xy[i + 1]); }
    map.scatter.setBox([x0, x1, y0, y1]);
    const slider = $("tl-slider");
    slider.max = String(tl.moments.length - 1);
    for (const k of ["tl-play", "tl-slider", "tl-close"]) $(k).hidden = false;
    $("tl-open").hidden = true;
    await setMoment(at);
  }

  function close() {
    if (!S.timeline) return;
    seq++; S.playing = false; $("tl-play").textContent = "▶ Play";
    const m = ctx.model();
    S.timeline = null; S.moment = null;
    map.scatter.moveTo(m.arrays.xy.data, 500).then(() => { if (!S.timeline) map.refit(); });
    for (const k of ["tl-play", "tl-slider", "tl-close"]) $(k).hidden = true;
    fill($("tl-note"), []); fill($("tl-curves"), []); $("tl-label").textContent = "";
    intro();
    ctx.emit("moment", null);
  }

  async function play() {
    if (S.playing) { S.playing = false; $("tl-play").textContent = "▶ Play"; return; }
    if (!S.timeline) await open(0);
    const tl = S.timeline;
    if (!tl) return;
    S.playing = true; $("tl-play").textContent = "❚❚ Pause";
    const last = tl.moments.length - 1;
    if (S.moment === last) await setMoment(0, 400);
    while (S.playing && S.timeline === tl && S.moment < last) {
      await setMoment(S.moment + 1);
      await new Promise((r) => setTimeout(r, HOLD_MS));
    }
    if (S.timeline === tl) { S.playing = false; $("tl-play").textContent = "▶ Play"; }
    S.hooks.playedTo = S.moment;
  }

  $("tl-open").addEventListener("click", () => open(0));
  $("tl-close").addEventListener("click", close);
  $("tl-play").addEventListener("click", play);
  $("tl-slider").addEventListener("input", (e) => { S.playing = false; $("tl-play").textContent = "▶ Play"; setMoment(Number(e.target.value), 350); });
  ctx.on("model", () => { if (S.timeline) close(); intro(); });
  ctx.on("presenting", () => { if (S.timeline) curves(); });
  ctx.on("settings", (name) => {  // presenter mode: this slide opens the timeline, another closes it
    if (name !== "slide") return;
    const shown = S.slide !== null && $("tlcard").classList.contains("vx-shown");
    if (shown && !S.timeline) open(0);
    else if (!shown && S.timeline && S.slide !== null) close();
  });
  let width = 0;
  new ResizeObserver((es) => { const w = Math.round(es[0].contentRect.width); if (w !== width) { width = w; if (S.timeline) curves(); } }).observe($("tl-curves"));

  /** The presenter's clicker on this slide: the next (or previous) moment; false at either end (the slide
   *  changes then). Entering the slide opens the timeline at the first moment. */
  function clicker(d) {
    if (!S.timeline) { open(0); return true; }
    const next = S.moment + d;
    if (next < 0 || next >= S.timeline.moments.length) return false;
    S.playing = false;
    setMoment(next);
    return true;
  }
  ctx.clickers["watch it learn"] = clicker;
  return { open, close, setMoment, play, clicker, intro };
}
