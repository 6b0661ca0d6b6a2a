"""Numbers typed by users (options, manifest values given as text): one strict decimal syntax.

Python's int()/float() also take '1_000', ' 5 ', 'nan' and 'infinity', which no IR user means as a count or
a weight; every typed number goes through these patterns first.
"""

from __future__ import annotations

import re

INT_TEXT = re.compile(r"[+-]?[0-9]+")
"""A decimal integer, optionally signed."""
DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""A decimal number with an optional exponent (no nan, inf, hex or underscores)."""
