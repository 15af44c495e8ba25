"""Support IDs in Block Kit: the user's list (``/support id list``, the App Home) and one
support ID in detail (``/support id show``). Keys appear masked only."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from core.dates import long_date

Blocks = list[bk.Block]


def key_label(key: Any, locale: str) -> bk.Mrkdwn:
    """A masked key with its contract number (``****-****-0001（K-0001）``): three keys
    ending alike stay distinguishable."""
    return bk.say("support_key.masked", locale, masked=key.masked, contract=key.contract_number)


def support_id_table(items: list[Any], locale: str) -> Blocks:
    if not items:
        return [bk.section(bk.say("slack.id.none", locale))]
    head = " | ".join(
        bk.say(f"slack.id.column.{c}", locale)
        for c in ("support_id", "description", "product_family", "end_user", "ends_on")
    )
    lines = [f"*{head}*"]
    for s in items:
        lines.append(
            " | ".join(
                [
                    f"`{bk.esc(s.name)}`",
                    bk.esc(s.description) or "—",
                    bk.esc(", ".join(s.product_families)) or "—",
                    bk.esc(", ".join(s.end_users)) or "—",
                    long_date(s.maintenance_ends_on, locale),
                ]
            )
        )
    out: Blocks = []
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            out.append(bk.section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        out.append(bk.section("\n".join(chunk)))
    return out


def support_id_detail(d: Any, locale: str) -> Blocks:
    t = bk.speaker(locale)
    keys = "\n".join(
        f"• {key_label(k, locale)} {bk.esc(k.product_family)} — {long_date(k.ends_on, locale)}"
        + ("" if k.usable else f" — {t('slack.id.key_unusable')}")
        for k in d.keys
    )
    # "<address>" written out: a bare < > pair would be Slack markup, not text.
    contacts = "\n".join(f"• {bk.esc(c.display_name)} &lt;{bk.esc(c.email)}&gt;" for c in d.contacts)
    if d.pending_contacts:
        contacts += "\n" + "\n".join(
            f"• {bk.esc(e)}{t('slack.id.pending_contact')}" for e in d.pending_contacts
        )
    cc = "\n".join(f"• {bk.esc(e)}" for e in d.cc)
    blocks: Blocks = [
        bk.header(d.name),
        bk.section(
            t("slack.label", label=t("slack.id.column.description"), value=d.description or "—")
            + "\n"
            + t(
                "slack.label",
                label=t("slack.id.column.ends_on"),
                value=long_date(d.maintenance_ends_on, locale),
            )
        ),
        bk.section(f"*{t('slack.id.keys')}*\n{keys or '—'}"),
        bk.section(f"*{t('slack.id.contacts')}*\n{contacts or '—'}"),
        bk.section(f"*{t('slack.id.cc')}*\n{cc or '—'}"),
    ]
    if d.terms_required:
        state = (
            t("slack.id.terms_agreed", at=long_date(d.terms_agreed_at, locale))
            if d.terms_agreed_at
            else t("slack.id.terms_pending")
        )
        blocks.append(bk.context_block(state))
    return blocks
