"""How the HTML-to-text conversion of HTML-only mail grows with its input (mail/html_text.py).

    .venv/bin/python -m bench.html_text

For each input shape that made the old regex (and CPython 3.11.7's HTMLParser) quadratic,
and for ordinary markup, it converts 256 KB and 2 MB and prints the time ratio: a linear
conversion takes about 8 ×, a quadratic one 64 ×. A benchmark, not a test: timings on a
shared machine do not belong in assertions (the over-SMTP test that a 2 MB hostile HTML
mail becomes a readable request is tests/integration/mail/test_parse_limit.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mail.html_text import html_to_text

# Inputs that made the regex (and CPython 3.11.7's HTMLParser) quadratic, and ordinary markup.
PATTERNS = {
    "stray <": "1 < 2 ",
    "unclosed tags": "<a ",
    "unclosed end tags": "</a b=",
    "unclosed comments": "<!--",
    "declarations": "<!x",
    "processing instructions": "<?x",
    "scripts": "<script>",
    "quotes": "<a title='",
    "angle runs": "<<<<",
    "ordinary markup": '<div class="x"><p>本文です。<b>重要</b></p></div>\n',
    "entities": "&amp;&#12354;&nbsp;&unknown;",
}


def _seconds(convert: Callable[[str], str], markup: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        convert(markup)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    print("| input | 256 KB | 2 MB | ratio (linear ≈ 8, quadratic ≈ 64) |")
    print("|---|---|---|---|")
    for name, unit in PATTERNS.items():
        small = "<p>前</p>" + unit * (256 * 1024 // len(unit))
        large = "<p>前</p>" + unit * (8 * 256 * 1024 // len(unit))
        s, big = _seconds(html_to_text, small), _seconds(html_to_text, large)
        print(f"| {name} | {s * 1000:.1f} ms | {big * 1000:.1f} ms | {big / max(s, 1e-6):.1f} × |")


if __name__ == "__main__":
    main()
