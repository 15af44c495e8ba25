"""ISO-2022-JP as Japanese mail really writes it (Microsoft's CP50220 family), decoded.

Windows mail clients put NEC row 13 (①, ㈱, Ⅰ, ㍉) and the NEC-selected IBM extensions
(髙, 﨑, ⅰ) into ``ESC $ B`` text, though JIS X 0208 leaves those rows empty; Python's
``iso2022_jp`` codecs reject the whole text then. Their JIS code is the CP932 character's
Shift_JIS code moved back to JIS, so this decoder maps every JIS pair to Shift_JIS and reads
it through CP932 (an earlier fallback got that arithmetic wrong for every even row and
turned 商 into 哨). Where Microsoft's table departs from JIS X 0208 (〜 as U+FF5E, not
U+301C, and six more), the JIS mapping wins, so a text reads the same whether or not it
also carries a ①.

What is decoded: ``ESC $ B`` / ``ESC $ @`` (JIS X 0208 and the extensions above),
``ESC ( B`` / ``ESC ( J`` (ASCII; JIS-Roman's ¥ and ‾ are read as \\ and ~, as mailers
meant them), ``ESC ( I`` and SO/SI (JIS X 0201 katakana, half-width), ``ESC $ ( D``
(JIS X 0212) and ``ESC $ ( O/P/Q`` (JIS X 0213) through Python's codecs. Controls and
spaces inside a two-byte run are kept as they are (mailers leave JIS mode open across
line ends). A pair no table defines becomes U+FFFD. An 8-bit byte or another escape
sequence means the bytes are something else, and ``UnicodeDecodeError`` lets the caller
try the next charset.

Fast: each run of pairs goes through Python's C codec first; only a run that holds an
extension character is read pair by pair through a table built once.
"""

from __future__ import annotations

import re
from functools import cache

_DESIGNATION = re.compile(rb"(\x1b\$[@B]|\x1b\$\([DOPQ]|\x1b\([BJI]|\x1b&@|[\x0e\x0f])")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
_RUNS = re.compile(rb"[\x21-\x7e]+|[^\x21-\x7e]+")
_KANA = {b: chr(b + 0xFF40) for b in range(0x21, 0x60)} | {b: "\ufffd" for b in range(0x60, 0x7F)}
# JIS X 0208 code points where CP932 reads another character than JIS X 0208 (and
# Python's iso2022_jp) does: Microsoft's WAVE DASH problem and its relatives.
_JIS_NOT_CP932 = {
    0x2141: "\u301c",  # WAVE DASH (CP932: FULLWIDTH TILDE)
    0x2142: "\u2016",  # DOUBLE VERTICAL LINE (CP932: PARALLEL TO)
    0x215D: "\u2212",  # MINUS SIGN (CP932: FULLWIDTH HYPHEN-MINUS)
    0x2171: "\u00a2",  # CENT SIGN (CP932: FULLWIDTH CENT SIGN)
    0x2172: "\u00a3",  # POUND SIGN (CP932: FULLWIDTH POUND SIGN)
    0x224C: "\u00ac",  # NOT SIGN (CP932: FULLWIDTH NOT SIGN)
}
# Sets decoded by Python's codecs, with the designation they need in front.
_OTHER_SETS = {
    b"\x1b$(D": "iso2022_jp_1",  # JIS X 0212
    b"\x1b$(O": "iso2022_jp_2004",  # JIS X 0213 plane 1 (2000)
    b"\x1b$(Q": "iso2022_jp_2004",  # JIS X 0213 plane 1 (2004)
    b"\x1b$(P": "iso2022_jp_2004",  # JIS X 0213 plane 2
}


def jis_to_sjis(j1: int, j2: int) -> tuple[int, int]:
    """The Shift_JIS bytes of the JIS X 0208 pair (``j1``, ``j2``), both 0x21–0x7E.

    Two JIS rows share one Shift_JIS lead byte: the odd row takes trail bytes 0x40–0x9E
    (skipping 0x7F), the even row 0x9F–0xFC.
    """
    s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
    if j1 % 2 == 0:
        return s1, j2 + 0x7E
    return s1, j2 + 0x1F + (1 if j2 >= 0x60 else 0)


@cache
def _table() -> tuple[str, ...]:
    """All 94 × 94 pairs, built once per process (~10 ms)."""
    chars = []
    for j1 in range(0x21, 0x7F):
        for j2 in range(0x21, 0x7F):
            fixed = _JIS_NOT_CP932.get(j1 << 8 | j2)
            if fixed is not None:
                chars.append(fixed)
                continue
            try:
                chars.append(bytes(jis_to_sjis(j1, j2)).decode("cp932"))
            except UnicodeDecodeError:
                chars.append("\ufffd")
    return tuple(chars)


def _pairs(run: bytes) -> str:
    """A run of JIS X 0208 (+ CP932 extension) pairs."""
    try:
        return (b"\x1b$B" + run).decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    table = _table()
    chars = [table[(run[i] - 0x21) * 94 + run[i + 1] - 0x21] for i in range(0, len(run) - 1, 2)]
    if len(run) % 2:
        chars.append("\ufffd")  # half a character: cut off by the sender
    return "".join(chars)


def _double_byte(part: bytes, designation: bytes) -> str:
    codec = _OTHER_SETS.get(designation)
    out = []
    for match in _RUNS.finditer(part):
        run = match.group()
        if run[0] < 0x21 or run[0] > 0x7E:
            out.append(run.decode("ascii"))  # line ends, spaces left inside JIS mode
        elif codec is None:
            out.append(_pairs(run))
        else:
            out.append((designation + run).decode(codec, "replace"))
    return "".join(out)


def decode(data: bytes) -> str:
    """ISO-2022-JP (CP50220/50221/50222 family) bytes to text; see the module docstring."""
    stray = _EIGHT_BIT.search(data)
    if stray is not None:
        raise UnicodeDecodeError("iso-2022-jp", data, stray.start(), stray.start() + 1, "8-bit byte")
    pieces = _DESIGNATION.split(data)
    out: list[str] = []
    g0 = b"\x1b(B"
    shifted = False
    offset = 0
    for n, piece in enumerate(pieces):
        offset += len(piece)
        if n % 2:
            if piece == b"\x0e":
                shifted = True
            elif piece == b"\x0f":
                shifted = False
            elif piece != b"\x1b&@":  # "JIS X 0208-1990 follows": announces, changes nothing
                g0 = piece
            continue
        if not piece:
            continue
        if b"\x1b" in piece:
            at = offset - len(piece) + piece.find(b"\x1b")
            raise UnicodeDecodeError("iso-2022-jp", data, at, at + 1, "unknown escape sequence")
        if shifted or g0 == b"\x1b(I":
            out.append(piece.decode("ascii").translate(_KANA))
        elif g0 in (b"\x1b(B", b"\x1b(J"):
            out.append(piece.decode("ascii"))
        else:
            out.append(_double_byte(piece, g0))
    return "".join(out)
