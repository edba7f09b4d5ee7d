"""float32 <-> decimal text in Numba: the numbers of the word2vec text format.

``format_rows`` writes rows of float32 as shortest-exact 9-significant-digit decimals (they
parse back to the identical float32); ``parse_text_rows`` reads whole ``word v1 ... vD``
lines on its exact fast path and leaves any other line to the caller. Split from
``formats`` so that importing the file formats does not import Numba.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..text.corpus import SPACE_BYTES

# Exact float64 powers of ten for k ≤ 22; beyond that correctly rounded (float(10**k)).
POW10 = np.array([float(10**k) for k in range(64)], dtype=np.float64)


def _decimal_exponent_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per float32 biased exponent b (normal numbers, 1..254): ``lo[b] = floor(log10(2**(b-127)))``
    and ``thr[b]`` = the smallest float32 >= 10**(lo[b]+1), so that for a float32 f in that binade
    ``floor(log10 f) = lo[b] + (f >= thr[b])`` exactly (computed with exact rationals)."""
    from fractions import Fraction

    lo = np.zeros(256, dtype=np.int64)
    thr = np.full(256, np.inf)
    for b in range(1, 255):
        low = Fraction(2) ** (b - 127)
        e = 0
        while Fraction(10) ** (e + 1) <= low:
            e += 1
        while Fraction(10) ** e > low:
            e -= 1
        lo[b] = e
        target = Fraction(10) ** (e + 1)
        if target < 2 * low:  # 10**(e+1) lies in this binade: find the float32 at or above it
            ulp = low / 2**23
            steps = -((low - target) // ulp)  # ceil((target - low) / ulp)
            thr[b] = float(low + steps * ulp)
    return lo, thr


_E10_LO, _E10_THR = _decimal_exponent_tables()
_U10 = np.uint64(10)


@njit(cache=True, inline="always")
def _scale(f, e, pow10):
    """``f * 10**(8 - e)`` in float64 (exact for 0 <= 8 - e <= 12 and a float32 ``f``)."""
    k = 8 - e
    return f * pow10[k] if k >= 0 else f / pow10[-k]


@njit(cache=True, inline="always")
def _put_digit(out, pos, t, point_after, digit):
    out[pos + t + (1 if t > point_after else 0)] = digit + np.uint64(48)


@njit(cache=True, inline="always")
def _write_float32(x, bits, out, pos, pow10, e10_lo, e10_thr):
    """Write float32 ``x`` (with ``bits`` its IEEE-754 bits, uint32) as text at ``out[pos:]``
    (at most 15 bytes); return the new position.

    Format: 9 significant digits, trailing zeros dropped, the layout of C's ``%.9g``
    (positional for 1e-4 <= |x| < 1e9, else ``d.ddde±XX``), ``nan``/``inf``/``-inf``.
    9 digits always identify a float32 (FLT_DECIMAL_DIG), so any correctly rounding reader
    (strtof, Python float, NumPy) gets back the identical float32.
    Digits: ``N = round_half_even(|x| * 10**(8 - e))``, ``e = floor(log10|x|)`` (exact, from
    the exponent tables). For 1e-4 <= |x| < 1e9 the product is exact in float64 (24-bit
    mantissa times 5**k, k <= 12, fits 53 bits), so the digits equal ``%.9g``'s; outside that
    range the product may be off by an ulp, which could move the 9th digit of a near-tie by one
    and still round-trips.
    """
    biased = (bits >> np.uint32(23)) & np.uint32(0xFF)
    if biased == 255 and bits & np.uint32(0x7FFFFF):
        out[pos] = 110
        out[pos + 1] = 97
        out[pos + 2] = 110  # nan (unsigned, as Python prints it)
        return pos + 3
    if bits >> np.uint32(31):
        out[pos] = 45  # '-' (also for -0.0, as printf does)
        pos += 1
    if biased == 255:
        out[pos] = 105
        out[pos + 1] = 110
        out[pos + 2] = 102  # inf
        return pos + 3
    f = abs(np.float64(x))
    if f == 0.0:
        out[pos] = 48
        return pos + 1
    n, e = _nine_digits(f, biased, pow10, e10_lo, e10_thr)
    return _write_digits(n, e, out, pos)


@njit(cache=True, nogil=True, inline="always")
def _nine_digits(f, biased, pow10, e10_lo, e10_thr):
    """(N, e) for float64 f > 0 (a float32's value, biased its exponent field): the 9 digits
    N = round_half_even(f * 10**(8 - e)), 10**8 <= N < 10**9, and e = floor(log10 f)."""
    if biased > 0:
        e = e10_lo[biased] + (1 if f >= e10_thr[biased] else 0)
    else:  # subnormal: rare, use log10 and fix it below
        e = int(math.floor(math.log10(f)))
    scaled = _scale(f, e, pow10)
    if scaled >= 1e9:
        e += 1
        scaled = _scale(f, e, pow10)
    elif scaled < 1e8:
        e -= 1
        scaled = _scale(f, e, pow10)
    if scaled < 1e8:  # an inexact product just below 1e8 (f >= 10**e): keep 9 digits
        scaled = 1e8
    n = np.uint64(scaled)  # truncation = floor: scaled > 0
    frac = scaled - np.float64(n)
    # round half to even, branch-free (the comparison is a coin flip for the predictor)
    n += np.uint64((frac > 0.5) | ((frac == 0.5) & (n & np.uint64(1) == np.uint64(1))))
    if n >= np.uint64(1000000000):  # rounded up to 10 digits: 999999999.5 -> 1.00000000e(e+1)
        n = np.uint64(100000000)
        e += 1
    return n, e


@njit(cache=True, nogil=True, inline="always")
def _write_digits(n, e, out, pos):
    """Write digits N (9 of them) and exponent e in ``%.9g``'s layout at out[pos:], trailing zeros
    dropped; return the new position."""
    positional = -4 <= e < 9
    if positional and e < 0:
        out[pos] = 48
        out[pos + 1] = 46  # "0."
        pos += 2
        for _ in range(-e - 1):
            out[pos] = 48
            pos += 1
        point_after = 9
    else:
        point_after = e if positional else 0
    # All 9 digits at fixed places, as two independent division chains (5 + 4 digits).
    hi = n // np.uint64(10000)
    lo = n - hi * np.uint64(10000)
    for t in range(8, 4, -1):
        q = lo // _U10
        _put_digit(out, pos, t, point_after, lo - q * _U10)
        lo = q
    for t in range(4, -1, -1):
        q = hi // _U10
        _put_digit(out, pos, t, point_after, hi - q * _U10)
        hi = q
    if point_after < 8:
        out[pos + point_after + 1] = 46  # '.'
    nd = 9
    while nd > 1 and out[pos + nd - 1 + (1 if nd - 1 > point_after else 0)] == 48:
        nd -= 1
    if point_after >= 8:  # no decimal point in the digits (e == 8, or 0.000ddd)
        return pos + (nd if point_after == 9 else 9)
    if nd <= point_after + 1:  # only zeros after the point: drop it
        end = pos + point_after + 1
    else:
        end = pos + nd + 1
    if positional:
        return end
    out[end] = 101  # 'e'
    out[end + 1] = 45 if e < 0 else 43
    end += 2
    ae = -e if e < 0 else e
    if ae >= 100:
        out[end] = 48 + ae // 100
        end += 1
    out[end] = 48 + (ae // 10) % 10
    out[end + 1] = 48 + ae % 10
    return end + 2


# Serial on purpose: Numba's parallel runtime costs ~60 MB of RSS on first use, more than a
# training job's peak can spare (issue: RSS <= 1.5x gensim); the writer runs blocks on threads.
@njit(cache=True, nogil=True)
def _format_rows(values, bits, word_bytes, word_starts, sep, pow10, e10_lo, e10_thr, out):
    """Format the rows as text lines, one after another, into ``out``; return the bytes written.

    values float32 [n, D] and bits (the same memory viewed as uint32); word_bytes uint8 [*]
    (the words' UTF-8 concatenated); word_starts int64 [n+1] (row i's word is
    ``word_bytes[word_starts[i]:word_starts[i+1]]``, may be empty); sep uint8 (field separator);
    pow10 float64 [64]; e10_lo int64 [256], e10_thr float64 [256] (``_decimal_exponent_tables``);
    out uint8 [>= n * (16 * D + 1) + len(word_bytes)] (a value takes at most 15 bytes and its
    separator, a word its bytes and one). Line = ``word sep v1 sep ... sep vD '\n'`` (``word
    sep`` left out for an empty word).
    """
    n, d = values.shape
    pos = 0
    for i in range(n):
        w0 = word_starts[i]
        w1 = word_starts[i + 1]
        if w1 > w0:
            for k in range(w0, w1):
                out[pos] = word_bytes[k]
                pos += 1
            out[pos] = sep
            pos += 1
        for j in range(d):
            if j > 0:
                out[pos] = sep
                pos += 1
            pos = _write_float32(values[i, j], bits[i, j], out, pos, pow10, e10_lo, e10_thr)
        out[pos] = 10
        pos += 1
    return pos


def format_rows_array(values: np.ndarray, words_utf8: list[bytes] | None = None, sep: str = " ") -> np.ndarray:
    """``format_rows`` as a uint8 array (no copy into bytes: a file's ``write`` takes it as it is)."""
    n = np.shape(values)[0]
    starts = np.zeros(n + 1, dtype=np.int64)
    if words_utf8 is None:
        word_bytes = np.zeros(0, dtype=np.uint8)
    else:
        # bytearray: a writable buffer, so the kernel sees one array type (no second compile)
        word_bytes = np.frombuffer(bytearray(b"".join(words_utf8)), dtype=np.uint8)
        np.cumsum(np.fromiter((len(w) for w in words_utf8), dtype=np.int64, count=n), out=starts[1:])
    return format_packed_rows(values, word_bytes, starts, sep)


def format_packed_rows(values: np.ndarray, word_bytes: np.ndarray, starts: np.ndarray, sep: str = " ") -> np.ndarray:
    """``format_rows_array`` with the words packed: row i's word is word_bytes[starts[i]:starts[i+1]]
    (uint8, int64[n+1]; empty words: no word)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    n, d = values.shape
    word_bytes = np.require(word_bytes, np.uint8, ["C", "W"])  # writable C arrays: one compiled signature
    starts = np.require(starts, np.int64, ["C", "W"])
    out = np.empty(n * (16 * d + 1) + word_bytes.size + n, dtype=np.uint8)
    end = _format_rows(values, values.view(np.uint32), word_bytes, starts, ord(sep), POW10, _E10_LO, _E10_THR, out)
    return out[:end]


def format_rows(values: np.ndarray, words_utf8: list[bytes] | None = None, sep: str = " ") -> bytes:
    """Format ``values`` (float32 [n, D]) as text lines, optionally prefixed by words.

    Each value is written with 9 significant digits (see ``_write_float32``): it parses back to
    the identical float32. Returns the lines as bytes, each ending in ``\n``.
    """
    return format_rows_array(values, words_utf8, sep).tobytes()


@njit(cache=True, inline="always")
def _is_blank(c):
    """ASCII whitespace other than newline (what ``bytes.split()`` splits on, less '\n')."""
    return SPACE_BYTES[c] and c != 10


@njit(cache=True, inline="always")
def _parse_number(buf, pos, end, pow10):
    """Parse a decimal number at ``buf[pos:end]`` exactly as Python's ``float`` then float32.

    Returns ``(ok, value, new_pos)``. Only the exact fast path (Clinger 1990) is taken: at most
    15 significant digits m and a decimal exponent |e| <= 22, so m and 10**|e| are exact
    float64 and ``m * 10**e`` (or ``m / 10**-e``) is the one correctly rounded float64, i.e.
    ``float(text)``. Anything else (more digits, huge exponents, nan/inf, junk) returns
    ``ok = False`` and is left to Python.
    """
    neg = False
    c = buf[pos]
    if c == 45 or c == 43:  # '-' '+'
        neg = c == 45
        pos += 1
    m = 0
    sig = 0
    e10 = 0
    digits = 0
    exact = True
    while pos < end and 48 <= buf[pos] <= 57:
        d = buf[pos] - 48
        if sig > 0 or d != 0:
            if sig < 18:
                m = m * 10 + d
                sig += 1
            else:
                e10 += 1
                exact = exact and d == 0
        digits += 1
        pos += 1
    if pos < end and buf[pos] == 46:  # '.'
        pos += 1
        while pos < end and 48 <= buf[pos] <= 57:
            d = buf[pos] - 48
            if sig > 0 or d != 0:
                if sig < 18:
                    m = m * 10 + d
                    sig += 1
                    e10 -= 1
                else:
                    exact = exact and d == 0
            else:
                e10 -= 1
            digits += 1
            pos += 1
    if digits == 0:
        return False, 0.0, pos
    if pos < end and (buf[pos] == 101 or buf[pos] == 69):  # 'e' 'E'
        pos += 1
        eneg = False
        if pos < end and (buf[pos] == 45 or buf[pos] == 43):
            eneg = buf[pos] == 45
            pos += 1
        edigits = 0
        ev = 0
        while pos < end and 48 <= buf[pos] <= 57:
            if ev < 100000:
                ev = ev * 10 + (buf[pos] - 48)
            edigits += 1
            pos += 1
        if edigits == 0:
            return False, 0.0, pos
        e10 += -ev if eneg else ev
    if pos < end and not (_is_blank(buf[pos]) or buf[pos] == 10):
        return False, 0.0, pos
    if m == 0:
        return True, (-0.0 if neg else 0.0), pos
    if not exact or sig > 15 or e10 > 22 or e10 < -22:
        return False, 0.0, pos
    value = m * pow10[e10] if e10 >= 0 else m / pow10[-e10]
    return True, (-value if neg else value), pos


@njit(cache=True)
def parse_text_rows(buf, pos, dim, row, rows, pow10, vectors, word_spans):
    """Parse whole lines ``word v1 ... vD`` of ``buf`` (uint8, every line ends in '\n') from
    ``pos`` into ``vectors[row:]`` (float32 [rows, D]) and ``word_spans[row:]`` (int64 [rows, 2]:
    the word's byte range in ``buf``), until ``rows`` rows, the end of ``buf``, or a line it
    leaves to Python (bad layout, or a number off the exact fast path of ``_parse_number``).
    Returns ``(row, pos)``: the next row and the start of the first line not parsed.
    """
    end = buf.size
    while row < rows and pos < end:
        line = pos
        while pos < end and not (_is_blank(buf[pos]) or buf[pos] == 10):
            pos += 1
        if pos == line:  # blank line or leading whitespace: Python gives the verdict
            return row, line
        word_spans[row, 0] = line
        word_spans[row, 1] = pos
        for j in range(dim):
            while pos < end and _is_blank(buf[pos]):
                pos += 1
            if pos >= end or buf[pos] == 10:
                return row, line
            ok, value, pos = _parse_number(buf, pos, end, pow10)
            if not ok:
                return row, line
            vectors[row, j] = value
        while pos < end and _is_blank(buf[pos]):
            pos += 1
        if pos >= end or buf[pos] != 10:
            return row, line
        pos += 1
        row += 1
    return row, pos
