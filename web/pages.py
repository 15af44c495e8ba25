"""The activation and password-reset pages (SPEC §4.3), mounted on serve's HTTP app."""

from __future__ import annotations

from madoguchi.components import Component, RoutesOnly, Runtime


def build(rt: Runtime) -> Component | None:
    return RoutesOnly("web")
