"""Subcommand tables of the wave-2 areas (inquiries, knowledge, calendar, accounts…).

Each area's module holds its handlers and two lists of ``bot.commands.Sub``: ``CUSTOMER``
for ``/support`` and ``STAFF`` for ``/support-admin`` (handlers take
``(source, who, args, context)``; staff ones run after ``core.staff.admit``). The two
listeners route over ``bot.listeners.support.SUBS + CUSTOMER`` and
``bot.listeners.admin.SUBS + STAFF``, so an area adds commands without editing them.
Modules here import ``bot.commands``, ``bot.views``, ``bot.blocks``, ``bot.who`` and core,
never a listener.
"""

from __future__ import annotations

from bot.commands import Sub
from bot.subcommands import accounts, calendar, inquiries, inquiry_desk, knowledge, privacy

CUSTOMER: list[Sub] = []
STAFF: list[Sub] = []
CUSTOMER += calendar.CUSTOMER
CUSTOMER += inquiries.CUSTOMER
STAFF += inquiries.STAFF
STAFF += privacy.STAFF
CUSTOMER += accounts.CUSTOMER
STAFF += accounts.STAFF
CUSTOMER += knowledge.CUSTOMER
STAFF += knowledge.STAFF
STAFF += inquiry_desk.STAFF
