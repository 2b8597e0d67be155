// Fetching a model's files (vx/models.json names them): checked before they are read (data.js); a file
// that arrives truncated or corrupted, from a stale cache or a bad host, is fetched once more past every
// cache, and if it is still bad the page says so in one line and never computes with it.

import { DataError, completeModel, modelFromMap, parseFile, timelineFrom, unpackThumbs } from "./data.js";

const WHAT = { map: "the map", net: "the networks", atlas: "the atlas", thumbs: "the test digits", timeline: "the timeline" };

async function fetchChecked(site, entry, kind, onRetry, early = null) {
  const url = new URL(entry.files[kind], site);
  for (let attempt = 0; ; attempt++) {
    let buf;
    try {
      buf = attempt === 0 && early ? await early : null;  // fetched already, while the page's frame loaded
      if (!buf) {
        const r = await fetch(url, { credentials: "same-origin", cache: attempt ? "reload" : "default" });
        if (!r.ok) throw new DataError(`HTTP ${r.status}`);
        buf = await r.arrayBuffer();
      }
      return [buf, parseFile(buf, WHAT[kind])];
    } catch (err) {
      const why = err instanceof DataError ? err.message : "the network failed";
      if (attempt >= 1) throw new DataError(`${WHAT[kind]} of ${entry.name} could not be read: ${why}`);
      if (onRetry) onRetry(WHAT[kind], why);
    }
  }
}

/** The model's map file: the model object, ready to draw its map (S.models[name] holds it). */
export async function loadMap(site, entry, S, early = null) {
  if (S.models[entry.name]) return S.models[entry.name];
  const [buf, file] = await fetchChecked(site, entry, "map", null, early);
  const m = modelFromMap(file);
  m.files = { map: buf };
  S.models[entry.name] = m;
  return m;
}

/** The networks and the atlas: the model can then compute drawings. */
export async function loadRest(site, entry, m, S, ctx) {
  if (m.ready) return m;
  const retry = (what, why) => ctx.status("corrupt", { what, name: entry.name, why }, "warn");
  const [[nb, net], [ab, atlas]] = await Promise.all([fetchChecked(site, entry, "net", retry), fetchChecked(site, entry, "atlas", retry)]);
  m.files = { ...m.files, net: nb, atlas: ab };
  return completeModel(m, net, atlas);
}

/** The test digits' thumbnails (N x 784), fetched on the first hover. */
export async function loadThumbs(site, entry, S) {
  if (!S.thumbs[entry.name]) S.thumbs[entry.name] = fetchChecked(site, entry, "thumbs").then(([, f]) => unpackThumbs(f));
  return S.thumbs[entry.name];
}

/** The model's timeline (fetched when it is first opened), for the page's model `m`. */
export async function loadTimeline(site, entry, m, S) {
  if (!S.timelines[entry.name]) {
    S.timelines[entry.name] = fetchChecked(site, entry, "timeline").then(([, f]) => timelineFrom(f, m));
    S.timelines[entry.name].catch(() => { delete S.timelines[entry.name]; });  // a later open tries again
  }
  return S.timelines[entry.name];
}
