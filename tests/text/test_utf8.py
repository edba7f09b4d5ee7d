"""The GIL-free UTF-8 check accepts exactly what Python's strict decode accepts."""

from __future__ import annotations

import numpy as np

from w2v_nce.text.utf8 import is_utf8


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_every_one_and_two_byte_string():
    for a in range(256):
        assert is_utf8(bytes([a])) == _decodes(bytes([a]))
        for b in range(256):
            assert is_utf8(bytes([a, b])) == _decodes(bytes([a, b])), (a, b)


def test_three_and_four_byte_boundaries():
    """Lead bytes against the edges of each continuation range (overlong, surrogate, > U+10FFFF)."""
    edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]
    for a in range(0xC0, 0x100):
        for b in edges:
            for c in edges:
                for tail in (b"", bytes([0x80]), bytes([0xBF]), bytes([0xC0]), b"z"):
                    s = bytes([a, b, c]) + tail
                    assert is_utf8(s) == _decodes(s), s
                    assert is_utf8(b"ab" + s + b"cd") == _decodes(b"ab" + s + b"cd"), s


def test_long_text_with_a_fault_anywhere():
    """ASCII runs skipped 8 bytes at a time: a bad byte at any offset or alignment is still seen."""
    text = ("word " * 13 + "caf\u00e9 \U0001f600 ").encode() * 3
    assert is_utf8(text) and is_utf8(b"")
    for at in range(len(text)):
        for bad in (b"\xff", b"\xe9", b"\xed\xa0\x80"):
            s = text[:at] + bad + text[at:]
            assert is_utf8(s) == _decodes(s), (at, bad)
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = bytes(rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8))
        assert is_utf8(s) == _decodes(s), s
