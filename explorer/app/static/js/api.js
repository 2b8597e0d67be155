// The server, for what needs Pyro: step 6's SVI step, "check with Pyro", log p(x) with many samples.
// Everything else the page computes itself. One fetch helper: JSON, a timeout, errors that say "down",
// "busy", "none" (a static copy: there is no server) or the route's own detail; and the server's state,
// watched while the page is open, so that what needs it says so in one line and comes back with it.

export class ApiError extends Error {
  constructor(message, status, kind) {
    super(message);
    this.status = status;  // HTTP status, 0 when no answer came
    this.kind = kind;      // "down" (no answer), "busy" (429/503), "refused" (other 4xx/5xx), "timeout", "none"
  }
}

const DEFAULT_TIMEOUT_MS = 30000;
const tabId = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, "");

/** base: the server's /api/ URL, or null for a static copy. */
export function createApi(base, S) {
  async function request(path, { method = "GET", body, signal, timeout = DEFAULT_TIMEOUT_MS, headers = {} } = {}) {
    if (!base) throw new ApiError("this is a static copy of the explorer: that needs the server (python -m explorer)", 0, "none");
    const ctl = new AbortController(), timer = setTimeout(() => ctl.abort(), timeout);
    const onAbort = () => ctl.abort();
    if (signal) { if (signal.aborted) onAbort(); else signal.addEventListener("abort", onAbort, { once: true }); }
    let r;
    try {
      r = await fetch(new URL(path, base), {
        method, signal: ctl.signal, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { ...headers, "X-VX-Tab": tabId, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      });
    } catch (err) {
      if (signal && signal.aborted) throw err;
      if (ctl.signal.aborted) throw new ApiError("the server did not answer in time", 0, "timeout");
      throw new ApiError("the server is not answering", 0, "down");
    } finally {
      clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", onAbort);
    }
    if (!r.ok) {
      const detail = await r.json().then((j) => j.detail).catch(() => null);
      throw new ApiError(typeof detail === "string" ? detail : `HTTP ${r.status}`, r.status, r.status === 429 || r.status === 503 ? "busy" : "refused");
    }
    return r.json();
  }

  /** A call that retries while the server is busy (429/503), saying so. */
  async function call(ctx, path, opts, tries = 5) {
    for (let i = 1; ; i++) {
      try { return await request(path, opts); } catch (err) {
        if (!(err instanceof ApiError) || err.kind !== "busy" || i >= tries) throw err;
        ctx.status("busy", {}, "warn");
        await new Promise((res) => setTimeout(res, 500 * i));
      }
    }
  }

  /** Watch the server: a health check every 15 s (every 3 s while it is away), "server" events on each change.
   *  A hall of 200 open tabs asks 13 times a second: about 1 % of one core. */
  function watch(ctx) {
    if (!base) { ctx.emit("server", "none"); return; }
    const set = (state) => {
      if (S.server === state) return;
      const was = S.server;
      S.server = state;
      ctx.emit("server", state);
      if (state === "down") ctx.status("offline", {}, "warn");
      else if (was === "down") ctx.status("back", {}, "");
    };
    const check = async () => {
      try { await request("health", { timeout: 4000 }); set("up"); } catch (err) {
        if (err.status === 401) { ctx.status("logout", {}, "error"); return; }
        set("down");
      }
    };
    const loop = async () => { if (!document.hidden) await check(); setTimeout(loop, S.server === "down" ? 3000 : 15000); };
    loop();
    window.addEventListener("online", check);
    window.addEventListener("offline", () => set("down"));
  }

  return { request, call, watch, available: () => !!base && S.server !== "down", tab: tabId, url: (path) => (base ? new URL(path, base) : null) };
}

/** A drawing as the server's routes take it: width, height and the ink as base64. */
export function drawingBody(d) {
  let s = "";
  for (let i = 0; i < d.pixels.length; i += 0x8000) s += String.fromCharCode.apply(null, d.pixels.subarray(i, i + 0x8000));
  return { width: d.width, height: d.height, pixels: btoa(s) };
}
