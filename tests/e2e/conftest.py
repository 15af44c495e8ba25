"""Helpers for end-to-end tests: free ports and a running ``madoguchi serve``."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free right now (the OS picks it); a tiny race we accept in tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
