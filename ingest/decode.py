"""Turn the bytes of a text-like file into `str`, or refuse when the encoding is a guess.

Order of trust: a byte-order mark, then strict UTF-8 (most files today), then
charset_normalizer's statistical guess. cp1252 (a superset of Latin-1's printable range) wins
whenever it reads at least as cleanly as the detector's pick, because Western-European text is
the most common legacy file and the detector otherwise picks a sibling (cp1250 turns "crème"
into "crčme") or, on short text, something exotic. Newlines come out as "\\n".

This module does not detect formats, strip markup or clean whitespace beyond newlines.
"""

from __future__ import annotations

import codecs
import logging

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from ingest.errors import DecodeError

logger = logging.getLogger(__name__)

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHAOS_PROBE_CHARS = 64 * 1024
_MAX_CHAOS = 0.2  # charset_normalizer's own default threshold for "this is noise"
_TIE = 0.01


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    """Return (codec, BOM length) when `data` starts with a Unicode byte-order mark."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def decode_text(data: bytes, *, declared: str | None = None) -> str:
    """Decode `data`, raising DecodeError with a short reason when no encoding is credible.

    `declared` is an encoding the content names itself (an HTML `<meta charset>`); it is
    tried after UTF-8, since pages that declare Latin-1 but are really UTF-8 are common.

    >>> decode_text("caf\\u00e9\\r\\n".encode("cp1252"))
    'café\\n'
    """
    return _normalise_newlines(_decode(data, declared))


def _decode(data: bytes, declared: str | None) -> str:
    bom = bom_encoding(data)
    if bom is not None:
        encoding, skip = bom
        try:
            return data[skip:].decode(encoding)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid {encoding} after its byte-order mark") from exc
    text = _try_decode(data, "utf-8")
    codec = _browser_codec(declared) if declared else None
    if text is None and codec is not None:
        text = _try_decode(data, codec)
    return text if text is not None else _guess(data)


def _browser_codec(label: str) -> str | None:
    """Read labels as browsers do: "latin-1"/"ascii" mean cp1252, a UTF-16 label without a
    BOM is ignored (it cannot be true of bytes that reached us as ASCII-compatible markup)."""
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None
    return "cp1252" if name in ("iso8859-1", "latin-1", "ascii") else name


def _guess(data: bytes) -> str:
    """Prefer cp1252 when it reads as clean as the detector's best; else trust the detector.

    The detector is unreliable on short Western text (it reads "größ" as Shift-JIS), while a
    cp1252 decoding of Cyrillic or Central-European bytes is full of symbols that its own
    mess measure flags, so comparing mess ratios picks the right side in both cases.
    """
    western = _try_decode(data, "cp1252")
    western_chaos = mess_ratio(western[:_CHAOS_PROBE_CHARS], 1.0) if western else 1.0
    matches = list(from_bytes(data))
    best = min(matches, key=lambda m: m.chaos) if matches else None
    if western is not None and western_chaos <= min(
        _MAX_CHAOS, (best.chaos if best else 1.0) + _TIE
    ):
        logger.debug("decoded as cp1252 (detector said %s)", best and best.encoding)
        return western
    if best is None:
        raise DecodeError("no credible text encoding (binary or mixed encodings?)")
    if best.chaos > _MAX_CHAOS:
        raise DecodeError(f"no credible text encoding (best guess {best.encoding} is noisy)")
    logger.debug("decoded as %s", best.encoding)
    return str(best)


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
