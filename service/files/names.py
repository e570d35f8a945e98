"""File names and content types as users give them: kept as given for display, checked for
what would break headers or terminals. Object keys never derive from names."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from service.errors import Invalid

MAX_NAME_CHARS = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# type "/" subtype, then optional parameters; tokens per RFC 9110, printable ASCII only
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?")
MAX_CONTENT_TYPE_CHARS = 255


def validate_name(name: str | None, *, field: str = "name") -> str:
    """Return the name unchanged, or raise Invalid naming `field`.

    Any Unicode is fine up to 255 characters; control characters (C0 incl. NUL/CR/LF, DEL, C1)
    are refused. '/' and '..' are plain text here."""
    if name is None or name == "":
        raise Invalid("a file name is required", code="invalid_name", field=field)
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"file name is {len(name)} characters; the limit is {MAX_NAME_CHARS}",
                      code="invalid_name", field=field)
    for ch in name:
        if unicodedata.category(ch) == "Cc" or 0xD800 <= ord(ch) <= 0xDFFF:
            raise Invalid(f"file name must not contain control characters (found U+{ord(ch):04X})",
                          code="invalid_name", field=field)
    return name


def content_type_for(declared: str | None, name: str, *, field: str = "contentType") -> str:
    """The declared content type when given (checked), else a guess from the name, else
    application/octet-stream."""
    if declared is not None and declared.strip():
        value = declared.strip()
        if len(value) > MAX_CONTENT_TYPE_CHARS or not _CONTENT_TYPE_RE.fullmatch(value):
            raise Invalid("content type must look like 'type/subtype' (printable ASCII, at most "
                          f"{MAX_CONTENT_TYPE_CHARS} characters)", code="invalid_content_type", field=field)
        return value
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE
