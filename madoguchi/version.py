"""The installed version, for ``madoguchi --version`` and ``madoguchi_build_info``."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The distribution's version; ``unknown`` when run from a tree that is not installed."""
    try:
        return metadata.version("madoguchi")
    except metadata.PackageNotFoundError:
        return "unknown"
