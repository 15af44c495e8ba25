"""madoguchi's core: the domain, its rules and its storage.

Nothing here knows about Slack, SMTP or HTTP; the doors (``bot``, ``mail``, ``web``)
translate their protocols into calls of the service functions in this package.
"""
