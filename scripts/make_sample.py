"""Rebuild data/sample.txt from ../shared/data/sotu.txt.gz (State of the Union addresses).

Takes the last 16 addresses (2006-2021) (one per line), lowercases ASCII letters and maps every run of
characters other than a-z to one space (text8's character mapping, digits dropped), so the
quick start learns something in a minute without tokenisation questions.

Usage: python scripts/make_sample.py [../shared/data/sotu.txt.gz] [data/sample.txt]
"""

import gzip
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sotu.txt.gz"
dst = sys.argv[2] if len(sys.argv) > 2 else "data/sample.txt"
with gzip.open(src, "rt", encoding="utf-8") as fh:
    lines = fh.read().split("\n")
lines = [line for line in lines if line.strip()][-16:]
with open(dst, "w", encoding="ascii") as out:
    for line in lines:
        out.write(re.sub(r"[^a-z]+", " ", line.lower()).strip() + "\n")
