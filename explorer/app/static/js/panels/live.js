// Train it live: a short real run of Pyro's SVI on the server (explorer/views/live.py), a fresh z = 2 VAE, and its
// map and curves as it trains. Every page connected watches the same run (server-sent events); only the
// lecturer starts or stops it: a browser on the server's machine, or the --lecturer login.

import { curve, frame } from "../charts.js";
import { empty, fill, fmt, h } from "../dom.js";
import { halfs } from "../data.js";
import { createScatter } from "../scatter.js";
import { COLORS } from "./map.js";

const choice = (name, label, options, chosen) => `<label>${label} <select data-vx="live-${name}">${options.map(([v, t]) =>
  `<option value="${v}"${v === chosen ? " selected" : ""}>${t}</option>`).join("")}</select></label>`;

export const markup = `
  <div class="vx-card vx-wide vx-live" data-vx="livecard" data-slide="train it live">
    <h3>Train it live <span class="vx-caption" data-vx="live-role"></span></h3>
    <p class="vx-explain">A real run of Pyro's SVI on the server: a fresh VAE with z = 2 (mnist-z2's architecture) trained on MNIST
      digits, with its test digits' guide means (the map) and its test ELBO measured twice a second. Everyone connected watches the same run.</p>
    <div class="vx-row vx-live-controls" data-vx="live-controls" hidden>
      ${choice("steps", "steps", [["500", "500"], ["1500", "1,500"], ["3000", "3,000"], ["5000", "5,000"]], "1500")}
      ${choice("lr", "learning rate", [["0.0003", "3·10⁻⁴"], ["0.001", "10⁻³"], ["0.003", "3·10⁻³"]], "0.001")}
      ${choice("batch", "batch", [["32", "32"], ["128", "128"], ["256", "256"]], "128")}
      ${choice("kl_weight", "KL weight", [["1", "1 (the VAE)"], ["4", "4 (β-VAE)"], ["0", "0 (autoencoder)"]], "1")}
      <button type="button" data-vx="live-start">Start a run</button><button type="button" data-vx="live-stop" disabled>Stop</button>
    </div>
    <form class="vx-row vx-live-login" data-vx="live-login" hidden>
      <span>Lecturer?</span><input data-vx="live-user" autocomplete="username" placeholder="user" aria-label="lecturer's user name">
      <input data-vx="live-pass" type="password" autocomplete="current-password" placeholder="password" aria-label="lecturer's password">
      <button type="submit">Log in to start runs</button>
    </form>
    <div class="vx-live-body"><div class="vx-livemapwrap"><canvas data-vx="live-map" aria-label="the live run's map: its test digits' guide means"></canvas></div>
      <div class="vx-live-curves" data-vx="live-curves"></div></div>
    <p class="vx-note" data-vx="live-status" aria-live="polite"></p>
  </div>`;

const CURVES = [["elbo", "test ELBO (nats)"], ["recon", "reconstruction"], ["kl", "KL"], ["active", "active dimensions"]];

export function mount(ctx) {
  const { S, $ } = ctx;
  const live = { info: null, run: null, updates: [], seen: 0, source: null, lecturer: false, auth: null, scatter: null, mapped: false };
  S.hooks.live = live;

  const say = (text) => { $("live-status").textContent = text; };
  function role(r) {
    live.lecturer = r.lecturer;
    $("live-controls").hidden = !r.lecturer;
    $("live-login").hidden = r.lecturer || !/--lecturer/.test(r.how);
    $("live-role").textContent = r.lecturer ? "· you are the lecturer: you start and stop runs" : `· watching (runs are started by ${r.how})`;
  }

  function curves() {
    const box = $("live-curves"), us = live.updates.filter((u) => u.elbo !== undefined);
    if (us.length < 2) { fill(box, us.length ? [] : empty("No run yet.")); return; }
    const cols = box.clientWidth > 480 ? 2 : 1;  // each curve drawn at its shown size
    box.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    const xs = us.map((u) => u.step), f = frame(box, { aspect: 0.1, maxHeight: 200, minLines: 7 }), w = Math.max(150, Math.floor(f.w / cols) - 10);
    const ends = ["step 0", `${(us[us.length - 1].steps || xs[xs.length - 1]).toLocaleString("en")}`];
    fill(box, CURVES.map(([key, title]) => h("figure", { class: "vx-tl-curve", "data-curve": key },
      curve(us.map((u) => u[key]), xs, { w, h: Math.round(Math.max(7 * f.fs, w * 0.5)), fs: f.fs, title, current: us.length - 1, ends,
        range: key === "active" ? [0, 2] : null }))));
  }

  function apply(u) {
    if (u.run !== live.run) { refresh(); return; }  // a new run: its info (the digits' labels) first
    live.updates.push(u);
    if (u.xy && live.info) {
      const xy = halfs(Uint8Array.from(atob(u.xy), (c) => c.charCodeAt(0)));
      if (!live.scatter) live.scatter = createScatter($("live-map"), { colors: COLORS });
      if (!live.mapped) { live.scatter.setData(xy, live.info.labels, ["z₁", "z₂"]); live.mapped = true; }
      else live.scatter.moveTo(xy, 400);
      live.xy = xy;
    }
    curves();
    const what = u.state === "failed" || u.state === "stopped" ? u.message : u.state === "finished" ? "finished" : "training";
    if (u.step !== undefined) say(`${what} · step ${u.step.toLocaleString("en")} of ${u.steps.toLocaleString("en")} · epoch ${fmt(u.epoch)} · ${fmt(u.seconds, 1)} s · test ELBO ${fmt(u.elbo)} = reconstruction ${fmt(u.recon)} − KL ${fmt(u.kl)}`);
    else if (u.message) say(u.message);
    const going = u.state === "running";
    $("live-start").disabled = going; $("live-stop").disabled = !going;
    live.received = (live.received || 0) + 1;
  }

  async function refresh() {
    let snap;
    try { snap = await ctx.api.request("live", { headers: live.auth ? { Authorization: live.auth } : {} }); } catch { say("the live run's server is not answering"); return; }
    role(snap);
    live.run = snap.run ? snap.run.started : null;
    live.info = snap.run ? { ...snap.run, labels: Uint8Array.from(atob(snap.run.labels), (c) => c.charCodeAt(0)) } : null;
    live.updates = []; live.mapped = false;
    for (const u of snap.updates) apply(u);
    live.seen = Math.max(live.seen, snap.version);
    if (!snap.run) { say(live.lecturer ? "Choose the settings and start a run." : "No run yet: the lecturer starts one."); curves(); }
  }

  function listen() {
    if (live.source) return;
    const url = ctx.api.url(`live/stream?since=${live.seen}`);
    live.source = new EventSource(url, { withCredentials: true });
    live.source.onmessage = (e) => {
      const u = JSON.parse(e.data);
      if (u.version <= live.seen) return;  // already shown (from the snapshot a refresh read)
      live.seen = u.version; apply(u);
    };
  }

  async function send(what) {
    const body = what === "start" ? Object.fromEntries(["steps", "lr", "batch", "kl_weight"].map((k) => [k, Number($(`live-${k}`).value)])) : {};
    try {
      await ctx.api.request(`live/${what}`, { method: "POST", body, headers: live.auth ? { Authorization: live.auth } : {}, timeout: 30000 });
    } catch (err) { say(err.message); return; }
    if (what === "start") say("starting: reading MNIST…");
  }

  $("live-start").addEventListener("click", () => send("start"));
  $("live-stop").addEventListener("click", () => send("stop"));
  $("live-login").addEventListener("submit", (e) => {
    e.preventDefault();
    live.auth = `Basic ${btoa(`${$("live-user").value}:${$("live-pass").value}`)}`;  // kept in this tab's memory only
    refresh().then(() => { if (!live.lecturer) say("that is not the lecturer's login"); });
  });
  ctx.on("server", (state) => {
    if (state === "none") { $("livecard").hidden = true; return; }  // a static copy: there is no server to train on
    if (state === "up" && !live.source) { refresh().then(listen); }
  });
  let width = 0;
  new ResizeObserver((es) => { const w = Math.round(es[0].contentRect.width); if (w !== width) { width = w; curves(); } }).observe($("live-curves"));
  return { refresh };
}
