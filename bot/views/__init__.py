"""Block Kit that several listeners show: support-ID tables, the terms notice and
declaration, the App Home, the registration modal, a domain error's sentence.

Listeners import from here and from core, never from each other. Every sentence comes
from the catalog (``core.messages``); ``bot.blocks`` has the builders.
"""
