"""The ISO-2022-JP (CP50220 family) decoder against Python's own codecs, code point by code
point, plus the escapes and shifts real mail uses."""

from __future__ import annotations

import base64

import pytest

from mail import iso2022jp
from mail.decoding import decode_bytes, decode_header

ESC_KANJI, ESC_ASCII = b"\x1b$B", b"\x1b(B"
NEC_ONE = b"\x2d\x21"  # ① in NEC row 13: Python's iso2022_jp rejects any run holding it


def sjis_to_jis(s1: int, s2: int) -> tuple[int, int]:
    """Shift_JIS → JIS the other way round from the decoder's arithmetic, as the oracle."""
    odd_row = (s1 - (0x70 if s1 < 0xA0 else 0xB0)) * 2 - 1
    if s2 >= 0x9F:
        return odd_row + 1, s2 - 0x7E
    return odd_row, s2 - (0x20 if s2 >= 0x80 else 0x1F)


def _nec_twins() -> dict[str, bytes]:
    """CP932's IBM extensions (0xFA–0xFC) have no JIS code; CP50220 sends their twins in
    NEC row 13 or the NEC-selected IBM rows (0xED/0xEE)."""
    twins: dict[str, bytes] = {}
    for s1 in (0x87, 0xED, 0xEE):
        for s2 in range(0x40, 0xFD):
            try:
                twins.setdefault(bytes((s1, s2)).decode("cp932"), bytes((s1, s2)))
            except UnicodeDecodeError:
                continue
    return twins


_TWINS = _nec_twins()


def cp50220(text: str) -> bytes:
    """What a Windows mail client sends: JIS X 0208 pairs and CP932's extensions moved to
    JIS, ASCII between them."""
    out, kanji = bytearray(), False
    for char in text:
        if char.isascii():
            if kanji:
                out += ESC_ASCII
                kanji = False
            out += char.encode("ascii")
            continue
        if not kanji:
            out += ESC_KANJI
            kanji = True
        sjis = char.encode("cp932")
        s1, s2 = _TWINS.get(char, sjis) if sjis[0] >= 0xFA else sjis
        out += bytes(sjis_to_jis(s1, s2))
    return bytes(out + (ESC_ASCII if kanji else b""))


def jis_x_0208() -> list[tuple[bytes, str]]:
    """Every pair Python's iso2022_jp decodes, with its character."""
    points = []
    for j1 in range(0x21, 0x7F):
        for j2 in range(0x21, 0x7F):
            pair = bytes((j1, j2))
            try:
                points.append((pair, (ESC_KANJI + pair + ESC_ASCII).decode("iso2022_jp")))
            except UnicodeDecodeError:
                continue
    return points


def test_every_jis_x_0208_code_point_reads_as_pythons_iso2022_jp_reads_it() -> None:
    points = jis_x_0208()
    assert len(points) >= 6879  # all of JIS X 0208
    wrong = [
        (pair.hex(), want, got)
        for pair, want in points
        if (got := iso2022jp.decode(ESC_KANJI + pair + ESC_ASCII)) != want
    ]
    assert wrong == []


def test_every_jis_x_0208_code_point_reads_the_same_beside_a_nec_special() -> None:
    """A run holding ① goes pair by pair through the JIS → Shift_JIS → CP932 table: the
    arithmetic (wrong for every even row before) meets every code point here."""
    points = jis_x_0208()
    wrong = [
        (pair.hex(), want, got)
        for pair, want in points
        if (got := iso2022jp.decode(ESC_KANJI + NEC_ONE + pair + ESC_ASCII)) != "①" + want
    ]
    assert wrong == []


def test_jis_to_shift_jis_matches_pythons_codecs_for_every_jis_x_0208_character() -> None:
    for pair, char in jis_x_0208():
        if char.encode("shift_jis", "ignore"):
            assert bytes(iso2022jp.jis_to_sjis(*pair)) == char.encode("shift_jis"), (pair.hex(), char)


def _cp932_extensions() -> list[tuple[int, int, str]]:
    """NEC row 13 (0x87xx) and the NEC-selected IBM extensions (0xED/0xEE), as CP932 maps them."""
    found = []
    for s1 in (0x87, 0xED, 0xEE):
        for s2 in range(0x40, 0xFD):
            try:
                found.append((s1, s2, bytes((s1, s2)).decode("cp932")))
            except UnicodeDecodeError:
                continue
    return found


def test_every_nec_and_ibm_extension_reads_as_cp932_maps_it() -> None:
    extensions = _cp932_extensions()
    assert len(extensions) > 83 + 370  # NEC row 13 and NEC-selected IBM
    wrong = []
    for s1, s2, char in extensions:
        jis = bytes(sjis_to_jis(s1, s2))
        if (got := iso2022jp.decode(ESC_KANJI + jis + ESC_ASCII)) != char:
            wrong.append((jis.hex(), char, got))
    assert wrong == []


def test_every_character_cp932_holds_in_two_bytes_can_arrive_in_iso_2022_jp() -> None:
    """The IBM extensions (0xFA–0xFC) travel as their NEC-selected twins (CP50220 does
    that); Microsoft's WAVE DASH family reads as JIS X 0208 says; the user-defined area
    (PUA) has no JIS code at all."""
    readable = {
        iso2022jp.decode(ESC_KANJI + bytes((j1, j2))) for j1 in range(0x21, 0x7F) for j2 in range(0x21, 0x7F)
    }
    microsoft_only = {"\uff5e", "\u2225", "\uff0d", "\uffe0", "\uffe1", "\uffe2"}
    missing = []
    for s1 in [*range(0x81, 0xA0), *range(0xE0, 0xFD)]:
        for s2 in range(0x40, 0xFD):
            try:
                char = bytes((s1, s2)).decode("cp932")
            except UnicodeDecodeError:
                continue
            if char not in readable and char not in microsoft_only and not 0xE000 <= ord(char) <= 0xF8FF:
                missing.append((hex(s1 << 8 | s2), char))
    assert missing == []


def test_the_issue_subject_reads_exactly() -> None:
    text = "㈱サンプル商事 ログイン不可①"
    assert iso2022jp.decode(cp50220(text)) == text
    assert decode_bytes(cp50220(text), "iso-2022-jp") == text


def test_ibm_extension_kanji_in_a_name_read_as_sent() -> None:
    text = "髙橋様、﨑村様（ⅰ）"  # 髙, 﨑 and ⅰ exist only among CP932's extensions
    assert iso2022jp.decode(cp50220(text)) == text


def test_half_width_katakana_by_escape_and_by_shift() -> None:
    assert iso2022jp.decode(b"\x1b(I\x31\x32\x1b(B!") == "ｱｲ!"
    assert iso2022jp.decode(b"a\x0e\x31\x32\x0fb") == "aｱｲb"


def test_jis_roman_and_the_1990_announcer_read_as_ascii_and_nothing() -> None:
    assert iso2022jp.decode(b"\x1b(Jhttp://example.jp/~user\\x\x1b(B") == "http://example.jp/~user\\x"
    assert iso2022jp.decode(b"\x1b&@\x1b$B0!\x1b(B") == "亜"


def test_jis_x_0212_and_0213_go_through_pythons_codecs() -> None:
    assert iso2022jp.decode(b"\x1b$(D\x22\x2f\x1b(B") == b"\x1b$(D\x22\x2f\x1b(B".decode("iso2022_jp_1")
    assert iso2022jp.decode(b"\x1b$(Q\x2e\x22\x1b(B") == b"\x1b$(Q\x2e\x22\x1b(B".decode("iso2022_jp_2004")


def test_a_line_end_left_inside_jis_mode_and_a_cut_pair() -> None:
    assert iso2022jp.decode(b"\x1b$B0!\r\n0!\x1b(B") == "亜\r\n亜"
    assert iso2022jp.decode(b"\x1b$B0!0") == "亜\ufffd"
    assert iso2022jp.decode(b"\x1b$B\x2d\x21\x7f\x7e\x1b(B") == "①\x7f\ufffd"


@pytest.mark.parametrize("data", [b"\x1b$B0!\x1b(B\xe3\x81\x82", b"\x1b$B0!\x1b[31m\x1b(B"])
def test_eight_bit_bytes_or_foreign_escapes_are_not_iso_2022_jp(data: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        iso2022jp.decode(data)


def test_utf8_text_with_a_terminal_escape_is_read_as_utf8() -> None:
    # `tput sgr0` pastes ESC ( B into text: that does not make UTF-8 ISO-2022-JP.
    data = "ログ: \x1b(B\x1b[m完了".encode()
    assert decode_bytes(data, "utf-8") == "ログ: \x1b(B\x1b[m完了"


def test_an_rfc_2047_subject_with_nec_specials_and_ordinary_kanji() -> None:
    encoded = base64.b64encode(cp50220("㈱サンプル商事 ログイン不可①")).decode()
    assert decode_header(f"=?ISO-2022-JP?B?{encoded}?=") == "㈱サンプル商事 ログイン不可①"
