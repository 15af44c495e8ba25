"""HTML-only mail to text: what a reader sees, in time that grows with the input."""

from __future__ import annotations

from mail.html_text import html_to_text


def test_scripts_styles_titles_and_comments_are_dropped_blocks_break_lines() -> None:
    markup = (
        "<!DOCTYPE html><html><head><title>件名</title><style>p { color: red }</style></head>"
        "<body><!--[if mso]><xml><o:x>hidden</o:x></xml><![endif]-->"
        "<h1>お問い合わせ</h1><p>ログイン<b>できません</b>。</p><div>山田&nbsp;太郎<br>様</div>"
        "<script>alert('x < y')</script><ul><li>一</li><li>二</li></ul></body></html>"
    )
    assert html_to_text(markup) == "お問い合わせ\nログインできません。\n山田 太郎\n様\n一\n二"


def test_table_cells_stay_apart_and_rows_are_lines() -> None:
    markup = "<table><tr><th>氏名</th><td>山田</td></tr><tr><th>会社</th><td>㈱サンプル</td></tr></table>"
    assert html_to_text(markup) == "氏名 山田\n会社 ㈱サンプル"


def test_entities_quotes_and_stray_angle_brackets() -> None:
    markup = '<p title="a > b">1 &lt; 2 &amp;&amp; 3 > 2 &#x2460;&#12354;</p><p>x <y</p><p>a << b</p>'
    assert html_to_text(markup) == "1 < 2 && 3 > 2 ①あ\nx\na << b"


def test_constructs_left_open_at_the_end_end_the_text_as_in_a_browser() -> None:
    assert html_to_text("<p>本文</p><!-- never closed <p>x</p>") == "本文"
    assert html_to_text("<p>本文</p><script>never closed") == "本文"
    assert html_to_text("<p>本文</p><a") == "本文"
    assert html_to_text("本文</") == "本文</"


def test_a_quote_that_never_closes_ends_its_tag_at_the_first_angle_bracket() -> None:
    # A browser would hide the rest; staff see it (and the scan stays linear).
    assert html_to_text('<p>本文</p><a href="never closed>x</a><p>y</p>') == "本文\nx\ny"


def test_a_numeric_reference_too_long_for_any_character_is_a_replacement() -> None:
    assert html_to_text("a&#" + "9" * 100_000 + ";b") == "a\ufffdb"


def test_the_upper_case_and_attribute_rich_markup_of_real_mailers() -> None:
    markup = (
        "<HTML><BODY><DIV style=\"font-family: 'MS Pゴシック'\">お世話になって<BR/>おります。</DIV>"
        "<P class=MsoNormal><SPAN lang=EN-US>Tel: 03-0000-0000<o:p></o:p></SPAN></P></BODY></HTML>"
    )
    assert html_to_text(markup) == "お世話になって\nおります。\nTel: 03-0000-0000"
