// The page's state: one declared object per tab, from which the panels render. The settings a lecturer
// shares (the model, the seed, K, the estimator, the observed label, the presenter slide) live in the URL's
// hash, so a link opens "this exact view"; everything else is the session's. The panels talk through the
// declared events below; a status line shows one of the declared statuses.
// Published for the tests and benchmarks as `window.vx` (the one debug name); test-only parts are in `vx.hooks`.

/**
 * @typedef {{width: number, height: number, pixels: Uint8Array}} Drawing  the pad's ink (0..255, row-major)
 * @typedef {"trace" | "meanfield"} Estimator  Trace_ELBO (Monte Carlo KL) or TraceMeanField_ELBO (closed form)
 * @typedef {"unknown" | "up" | "down" | "none"} ServerState  "none": a static copy, there is no server
 */

/** The shareable settings: URL key, default, and the check of a value read from the URL. */
export const SHARED = {
  model: { key: "model", fallback: null },
  seed: { key: "seed", fallback: 1 },
  k: { key: "k", fallback: 16 },
  estimator: { key: "est", fallback: "trace" },
  observed: { key: "y", fallback: null },
  slide: { key: "slide", fallback: null },
};

/** Every event the panels send one another, with what it carries. */
export const EVENTS = {
  catalogue: "the model list (vx/models.json) arrived",
  model: "a model's map is shown (the model object)",
  ready: "a model's networks arrived: drawings can be computed (the model)",
  result: "a forward pass of the drawing was computed ({res, final})",
  logpx: "log p(x) of the drawing ({log_px, log_px_se, ess, k, where})",
  cleared: "the pad was cleared",
  settings: "a shared setting changed (its name)",
  ring: "the ring moved ({x, y, z, region})",
  label: "the digit the ring decodes as changed (conditional model)",
  server: "the server's state changed (ServerState)",
  presenting: "presenter mode turned on or off (boolean)",
  moment: "the timeline's moment shown changed (its index, or null: the trained model)",
};

/** Every status the line under the toolbar can show: key -> text (from the details given). */
export const STATUS = {
  none: () => "",
  loading: (d) => `loading ${d.name}…`,
  ready: (d) => `${d.name} ready: draw a digit`,
  networks: (d) => `${d.name}: the map is shown; the networks are still arriving…`,
  corrupt: (d) => `${d.what} of ${d.name} arrived damaged (${d.why}): fetching it again…`,
  failed: (d) => `${d.what}: ${d.why}`,
  offline: () => "working offline: everything but the server's steps (6, check with Pyro, k = 5,000) runs in this page",
  back: () => "the server is back",
  busy: () => "the server is busy, retrying…",
  blank: (d) => d.message,
  note: (d) => d.text,
  logout: () => "you are logged out: reload the page to log in again",
};

export function createState() {
  return {
    // ---- shared settings (the URL's hash) ----
    model: null,          // the name of the model shown
    seed: 1,              // seed of eps ~ N(0, I) (the shared generator); "New ε" adds one
    k: 16,                // samples z ~ q(z|x) per drawing
    estimator: "trace",   // Estimator
    observed: null,       // conditional model: the observed label y (null: the most probable under p(y|x))
    slide: null,          // presenter mode's slide (null: not presenting)
    // ---- this tab's session ----
    catalogue: null,      // vx/models.json: {server, default, models: [...]}
    models: {},           // name -> the page's model (data.js): map, then networks and atlas
    server: "unknown",    // ServerState
    drawing: null,        // Drawing: the pad's ink, as last computed
    result: null,         // the forward pass of `drawing` (forward.js: the keys of Python's encode_drawing)
    final: false,         // `result` is of a finished stroke (not a live update while drawing)
    pending: 0,           // forward passes asked for and not yet answered
    logpx: null,          // log p(x) of `drawing`
    label: 0,             // conditional model: the digit the ring decodes as
    showPrior: false,     // prior samples shown on the map
    lr: 1e-4,             // step 6's learning rate
    compareWith: "",      // the second model the drawing is computed by ("" : none)
    ring: null,           // {x, y}: the ring's map position
    ringZ: null,          // Float64Array: the latent z at the ring
    ringImage: new Uint8Array(784),
    cloud: null,          // {samples: [[x, y]...], mean: [x, y]} of `result`, on the map
    priorPts: null,       // prior samples on the map
    paths: null,          // interpolation paths on the map
    thumbs: {},           // name -> the test digits' thumbnails (N x 784), once fetched
    timelines: {},        // name -> its timeline (data.js timelineFrom), once opened
    timeline: null,       // the timeline open on the map (of the model shown), or null
    moment: null,         // the moment of training shown (an index into timeline.moments), or null: the trained model
    playing: false,       // the timeline is playing
    ringNode: null,       // [x, y]: in the timeline, the grid point the ring's image is decoded at
    status: { key: "none", kind: "" },
    // test and benchmark hooks (main.js adds its functions), and the page's own timings
    hooks: { stats: { frames: [], drag: [], panel: [], compute: [], where: [], parts: [], waits: [], render: [], logpx: [], interpolate: [], traverse: [], mapDrawn: null, readyAt: undefined } },
  };
}

/** The settings in a URL hash ("#model=mnist-z2&seed=3&k=32&est=meanfield&y=7&slide=4"), checked: each
 *  invalid one falls back to its default, with a note saying so. `valid` = {models, kChoices, maxSeed}. */
export function parseHash(hash, valid) {
  const params = new URLSearchParams((hash || "").replace(/^#/, "")), out = {}, notes = [];
  const take = (name, check) => {
    const raw = params.get(SHARED[name].key);
    if (raw === null) return;
    const v = check(raw);
    if (v === undefined) notes.push(`${SHARED[name].key}=${raw.slice(0, 40)}`);
    else out[name] = v;
  };
  const int = (raw, lo, hi) => (/^\d+$/.test(raw) && Number(raw) >= lo && Number(raw) <= hi ? Number(raw) : undefined);
  take("model", (raw) => (valid.models.includes(raw) ? raw : undefined));
  take("seed", (raw) => int(raw, 0, valid.maxSeed));
  take("k", (raw) => { const v = int(raw, 1, 1e6); return valid.kChoices.includes(v) ? v : undefined; });
  take("estimator", (raw) => (raw === "trace" || raw === "meanfield" ? raw : undefined));
  take("observed", (raw) => (raw === "" ? null : int(raw, 0, 9)));
  take("slide", (raw) => int(raw, 1, 99));
  return { settings: out, notes };
}

/** The shareable settings of `S` as a URL hash (defaults left out). */
export function toHash(S) {
  const p = new URLSearchParams();
  for (const [name, { key, fallback }] of Object.entries(SHARED)) {
    const v = S[name];
    if (v !== null && v !== undefined && v !== fallback) p.set(key, String(v));
  }
  const s = p.toString();
  return s ? `#${s}` : "";
}
