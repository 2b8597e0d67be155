// The page's state: one declared object per tab. Published for the tests and benchmarks as `window.vx`
// (the one debug name); nothing else of the page is global.

export function createState() {
  return {
    models: {},          // name -> parsed bundle, fetched once
    model: null,         // the bundle shown
    name: null,          // its name
    handle: null,        // the ring's map position {x, y}
    dragImage: new Uint8Array(784),  // the decoder's image at the ring
    dragZ: null,         // the ring's latent z (Float64Array)
    label: 0,            // conditional model: the digit the ring decodes as
    observedLabel: null, // conditional model: the label y the ELBO observes (null: the most probable under p(y|x))
    seed: 1,             // seed of the samples z ~ q(z|x); "New ε" adds one
    estimator: "trace",  // the lens's ELBO: "trace" (Trace_ELBO) or "meanfield" (TraceMeanField_ELBO)
    drawn: false,        // the pad holds ink
    seq: 0,              // this tab's request counter ("newest wins")
    inflight: null,      // AbortController of the encode on its way
    session: (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, ""),
    lastBody: null,      // the newest drawing sent (JSON text)
    lastEncodeBody: null,  // the drawing the shown result is of
    lastEncode: null,    // the shown encode result
    lastLogPx: null, lastPrior: null, lastInterp: null, lastTraverse: null, lastCompare: null, lastCompareMine: null,
    cloud: null,         // {samples: [[x, y]...], mean: [x, y]} on the map
    priorPts: null,      // prior samples on the map
    paths: null,         // interpolation paths on the map
    digitCache: new Map(),
    stats: { drag: [], draw: [], mapDrawn: null, readyAt: undefined,
             lens: { request: [], render: [], logpx: [], interpolate: [], traverse: [] } },
    hooks: {},           // test hooks, filled by main.js
  };
}
