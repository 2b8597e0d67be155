// The WebAssembly kernels (kernels.js, from explorer/app/wasm/kernels.wat) and their memory: the networks'
// weights are placed in it once per model, and each call copies its inputs into a scratch area and its
// answers out. Where the browser cannot run WebAssembly SIMD, `kernels` is null and nn.js and geometry.js
// compute in plain JavaScript (float64 sums; the same numbers within the contract's tolerance).

import { WASM_BASE64 } from "./kernels.js";

function instantiate() {
  try {
    if (typeof WebAssembly !== "object") return null;
    const bytes = Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
  } catch {
    return null;  // no SIMD (an old browser), or WebAssembly refused by the host's policy
  }
}

const exports = instantiate();
let on = exports !== null, top = 16, scratch = 0, scratchBytes = 0;  // offset 0 is never an array

/** The kernels ({matmul, sqdist, memory}), or null where they cannot run (or are switched off). */
export const kernels = () => (on ? exports : null);

/** Switch the kernels off (or back on): the test hook that holds the plain JavaScript path to Python too. */
export function useKernels(yes) { on = Boolean(yes) && exports !== null; return on; }

function reserve(bytes) {
  const at = (top + 15) & ~15, end = at + bytes, mem = exports.memory;
  if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
  top = end;
  return at;
}

/** Copy a float32 (or float64) array into the kernels' memory for good: its byte offset. */
export function place(values, Type = Float32Array) {
  const at = reserve(values.length * Type.BYTES_PER_ELEMENT);
  new Type(exports.memory.buffer, at, values.length).set(values);
  return at;
}

/** A scratch area of `bytes` (reused by the next call): its byte offset. */
export function scratchArea(bytes) {
  if (bytes > scratchBytes) { scratchBytes = Math.max(bytes, 2 * scratchBytes); scratch = reserve(scratchBytes); }
  return scratch;
}

/** A view of `n` values of Type at byte offset `at` (valid until the memory next grows). */
export const view = (Type, at, n) => new Type(exports.memory.buffer, at, n);
