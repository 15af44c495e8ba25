"""Knowledge articles (SPEC §3 ``articles``, §4.9): what customers read before asking.

Nothing is imported here: ``core.models`` imports ``tables`` at its end, and the
modules below import ``core.models``; callers import the module they need.

- ``tables``: the ``articles`` table.
- ``grams``: text as the search sees it (folded bigrams) and the query of both databases.
- ``matching``: the index match as one SQL construct; who may see what, in the query.
- ``search``: search, newest, show by code, suggestions (all read-only).
- ``editing``: staff writes (new, edit, withdraw), each audited.
- ``fields``: what an article's values must be (import and staff alike).
- ``text``: Markdown as plain text, snippets.

The vendor file's ``articles`` part is read, staged and merged by ``core.importing``.
"""
