"""Content-Disposition for downloads (RFC 6266): an ASCII `filename` fallback for old clients
and a `filename*` (RFC 8187, UTF-8, percent-encoded) that carries the exact Unicode name."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# RFC 8187 attr-char beyond ALPHA / DIGIT: ! # $ & + - . ^ _ ` | ~  (quote() keeps _.-~ itself)
_ATTR_SAFE = "!#$&+^`|"
# also '/' and '\\': a client that saves under the plain `filename` gets no directory from it
_UNSAFE_ASCII = re.compile(r'[^\x20-\x7e]|["\\%;/]')


def ascii_fallback(name: str, default: str = "download") -> str:
    """A readable ASCII stand-in: accents dropped (é -> e), other characters become '_'."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_name = re.sub(r"_+", "_", _UNSAFE_ASCII.sub("_", stripped)).strip()
    return ascii_name if ascii_name.strip("_ .") else default


def content_disposition(name: str, disposition: str = "attachment") -> str:
    fallback = ascii_fallback(name)
    encoded = quote(name, safe=_ATTR_SAFE, encoding="utf-8")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
