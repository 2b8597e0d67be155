// The explorer's service worker (explorer/app/site.py fills in the version and the files): the page, its
// modules and the default model are cached when it installs; so the loaded page keeps working, and opens
// again, without the server or the network. Files whose names carry their hash are served from the cache
// first; the page and vx/models.json from the network first, the cache when the network is gone. The
// server's computations (/api/) are never cached: the page says they need the server.

const VERSION = __VERSION__;
const PRECACHE = __PRECACHE__;
const CACHE = `vx-${VERSION}`;
const base = new URL("./", self.location).href;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE.map((p) => new URL(p, base).href))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k.startsWith("vx-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

const hashed = (path) => /\/vx\/(app\/[0-9a-f]{12}\/|data\/.+\.[0-9a-f]{16}\.bin$)/.test(path);

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  if (request.cache !== "reload") {  // "reload": the page refetches a file it found corrupted
    const hit = await cache.match(request);
    if (hit) return hit;
  }
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request, { ignoreSearch: true }) || (request.mode === "navigate" ? await cache.match(base) : null);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request, url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.href.startsWith(base)) return;
  const path = url.pathname;
  if (path.includes("/api/") || path.includes("/gradio_api/") || path.endsWith("/sw.js")) return;  // live only
  event.respondWith(hashed(path) ? cacheFirst(request) : networkFirst(request));
});
