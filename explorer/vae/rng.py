"""The one seeded generator of the explorer's random numbers, written twice: here (NumPy) and in the page
(``explorer/app/static/js/rng.js``), bit for bit the same.

It is counter-based, so draw ``j`` of a stream is a function of (seed, stream, j) alone, computed the same
way on both sides with no state to carry:

* **Philox4x32-10** (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11;
  the generator behind JAX, TensorFlow and cuRAND) turns the counter ``(block, stream)`` and the key
  ``seed`` into four 32-bit words, with 32-bit integer products only;
* two words make a uniform ``u = (m + 1/2) / 2^52`` in (0, 1), ``m`` their 52 top bits (26 of each);
* a normal is ``Phi^-1(u)`` by Wichura's algorithm AS 241 (``PPND16``, relative error ~1e-16), with the
  logarithm in its tails computed by :func:`log` below from additions, products, divisions and square
  roots alone: IEEE 754 rounds those exactly in every language, while ``log`` of two maths libraries may
  differ in the last bit.

Draw ``j`` of a stream uses words ``2 (j mod 2)`` and ``2 (j mod 2) + 1`` of block ``floor(j / 2)``.
The streams the explorer uses are named in :data:`explorer.constants.RNG_STREAMS`.
"""

from __future__ import annotations

import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox's multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # its key increments (the golden ratio, sqrt(3) - 1)
_LO = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
MAX_SEED = 2**53 - 1  # seeds are integers the page holds exactly (a JavaScript number)


def philox4x32(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray, c3: np.ndarray, k0: int, k1: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Philox4x32-10 of counters ``(c0, c1, c2, c3)`` (uint32 values in uint64 arrays of one shape) under
    the key ``(k0, k1)``: the four output words, each as such an array."""
    c0, c1, c2, c3 = (np.asarray(c, np.uint64) for c in (c0, c1, c2, c3))
    for r in range(10):
        key0, key1 = np.uint64((k0 + r * _W0) & 0xFFFFFFFF), np.uint64((k1 + r * _W1) & 0xFFFFFFFF)
        p0, p1 = _M0 * c0, _M1 * c2  # exact: 32 x 32 bits fit 64
        c0, c1, c2, c3 = ((p1 >> _32) ^ c1 ^ key0, p1 & _LO, (p0 >> _32) ^ c3 ^ key1, p0 & _LO)
    return c0, c1, c2, c3


def _key(seed: int) -> tuple[int, int]:
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {seed}")
    return seed & 0xFFFFFFFF, seed >> 32


def uniforms(seed: int, stream: int, n: int, start: int = 0) -> np.ndarray:
    """Draws ``start .. start + n - 1`` of ``stream`` as uniforms in (0, 1): float64 ``(n,)``, multiples of
    2^-53 (never 0 or 1)."""
    j = np.arange(start, start + n, dtype=np.uint64)
    block = j >> np.uint64(1)
    zero = np.zeros_like(block)
    words = philox4x32(block & _LO, block >> _32, zero + np.uint64(stream), zero, *_key(seed))
    odd = (j & np.uint64(1)).astype(bool)
    hi, lo = np.where(odd, words[2], words[0]), np.where(odd, words[3], words[1])
    m = (hi >> np.uint64(6)) * np.uint64(1 << 26) + (lo >> np.uint64(6))
    return (m.astype(np.float64) + 0.5) * 2.0**-52


def integers(seed: int, stream: int, n: int, high: int, start: int = 0) -> np.ndarray:
    """Draws of ``stream`` as integers in ``0 .. high - 1`` (``floor(u * high)``): int64 ``(n,)``."""
    return np.floor(uniforms(seed, stream, n, start) * float(high)).astype(np.int64)


def normals(seed: int, stream: int, n: int, start: int = 0) -> np.ndarray:
    """Draws ``start .. start + n - 1`` of ``stream`` as standard normals (float64 ``(n,)``)."""
    return ndtri(uniforms(seed, stream, n, start))


# ---- the inverse normal CDF (AS 241, PPND16) and a logarithm of exactly specified operations ----

_A = (3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125,
      45921.953931549871457, 67265.770927008700853, 33430.575583588128105, 2509.0809287301226727)
_B = (1.0, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077, 21213.794301586595867,
      39307.89580009271061, 28729.085735721942674, 5226.495278852545925)
_C = (1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504,
      1.27045825245236838258, 0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4)
_D = (1.0, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455, 0.14810397642748007459,
      0.0151986665636164571966, 5.475938084995344946e-4, 1.05075007164441684324e-9)
_E = (6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123,
      0.026532189526576123093, 0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525,
      7.868691311456132591e-4, 1.8463183175100546818e-5, 1.4215117583164458887e-7, 2.04426310338993978564e-15)


def _poly(c: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """c[0] + c[1] x + ... + c[7] x^7 by Horner's rule (the page evaluates it in the same order)."""
    acc = np.full_like(x, c[7])
    for k in range(6, -1, -1):
        acc = acc * x + c[k]
    return acc


_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = HI + LO, HI has 20 zero bits
_SQRT_HALF = 0.70710678118654752440
_LOG_SERIES = (2 / 3, 2 / 5, 2 / 7, 2 / 9, 2 / 11, 2 / 13, 2 / 15, 2 / 17, 2 / 19, 2 / 21)


def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of positive normal floats (float64), to about one unit in the last place, from
    exactly rounded operations only: ``x = m 2^e`` with ``m`` in [sqrt(1/2), sqrt(2)), then
    ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, by its series."""
    x = np.asarray(x, np.float64)
    m, e = np.frexp(x)  # exact: x = m 2^e, m in [1/2, 1)
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    s2 = s * s
    acc = np.full_like(s, _LOG_SERIES[-1])
    for c in _LOG_SERIES[-2::-1]:
        acc = acc * s2 + c
    log_m = 2.0 * s + s * (s2 * acc)  # 2 s + 2 s^3 / 3 + 2 s^5 / 5 + ...
    return e * _LN2_HI + (log_m + e * _LN2_LO)


def ndtri(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of ``p`` in (0, 1) (AS 241, PPND16), float64."""
    p = np.asarray(p, np.float64)
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] * q[central]
    out[central] = q[central] * _poly(_A, r) / _poly(_B, r)
    tail = ~central
    qt = q[tail]
    r = np.sqrt(-log(np.where(qt < 0.0, p[tail], 1.0 - p[tail])))
    near = r <= 5.0
    val = np.where(near, _poly(_C, r - 1.6) / _poly(_D, r - 1.6), _poly(_E, r - 5.0) / _poly(_F, r - 5.0))
    out[tail] = np.where(qt < 0.0, -val, val)
    return out
