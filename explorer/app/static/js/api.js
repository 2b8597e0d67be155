// The one way the page talks to the server: JSON or binary over fetch, with a timeout, and errors
// that say what happened ("the server is not answering", the route's own detail, or the status).

export class ApiError extends Error {
  constructor(message, status, kind) {
    super(message);
    this.status = status;  // HTTP status, 0 when no answer came
    this.kind = kind;      // "down" (no answer), "busy" (429/503), "refused" (other 4xx/5xx), "timeout"
  }
}

const DEFAULT_TIMEOUT_MS = 30000;
let tab = "";  // this tab's id, sent with every request (the server's admission control is per tab)
export const setTab = (id) => { tab = id; };

export const modelPath = (name, rest) => `/api/models/${encodeURIComponent(name)}${rest ? "/" + rest : ""}`;

/**
 * fetch `path`; returns the parsed JSON (or an ArrayBuffer with `binary`). Throws ApiError.
 * Options: method, body (an object: sent as JSON), signal (to abort), timeout (ms), binary.
 * An abort through `signal` rethrows the AbortError so callers can tell it from a failure.
 */
export async function request(path, { method = "GET", body, signal, timeout = DEFAULT_TIMEOUT_MS, binary = false } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException("timeout", "TimeoutError")), timeout);
  const onAbort = () => ctl.abort(signal.reason);
  if (signal) { if (signal.aborted) onAbort(); else signal.addEventListener("abort", onAbort, { once: true }); }
  let r;
  try {
    r = await fetch(path, {
      method, signal: ctl.signal, credentials: "same-origin",
      body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)),
      headers: body === undefined ? { "X-VX-Tab": tab } : { "Content-Type": "application/json", "X-VX-Tab": tab },
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
    const kind = r.status === 429 || r.status === 503 ? "busy" : "refused";
    throw new ApiError(typeof detail === "string" ? detail : `HTTP ${r.status}`, r.status, kind);
  }
  return binary ? r.arrayBuffer() : r.json();
}

export const postJSON = (path, body, opts = {}) => request(path, { ...opts, method: "POST", body });
