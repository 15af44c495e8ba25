"""Passwords (SPEC §4.3): the policy, and Argon2id hashing off the event loop.

Argon2id is deliberately slow and memory-hard, so one hash blocks a core for tens of
milliseconds and holds ``MEMORY_KIB`` of RAM. It runs in a small thread pool of its own:
at most ``MAX_PARALLEL`` hashes are computed at once, whatever the burst, so a flood of
password submissions queues instead of exhausting memory or starving the event loop
that must answer Slack within 3 seconds.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128  # a longer one is not a better password, only a slower hash

# RFC 9106's second recommended option scaled to OWASP's minimum for Argon2id
# (19 MiB, t=2, p=1): modest enough for two at once on a small server.
TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
MAX_PARALLEL = 2

_hasher = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def policy_problems(password: str, username: str) -> list[str]:
    """Message ids of every rule the password breaks, in the order a form shows them."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append("password.too_short")
    elif len(password) > MAX_LENGTH:
        problems.append("password.too_long")
    if not any(c.isupper() for c in password):
        problems.append("password.needs_upper")
    if not any(c.islower() for c in password):
        problems.append("password.needs_lower")
    if not any(c.isdigit() for c in password):
        problems.append("password.needs_digit")
    if username and password.casefold() == username.casefold():
        problems.append("password.is_username")
    return problems


def check_policy(password: str, username: str) -> None:
    problems = policy_problems(password, username)
    if problems:
        raise ValidationFailed({"password": problems[0]}, problems=problems)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="argon2")
        return _pool


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_executor(), _hasher.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """False for a wrong password, and for an account that has none yet."""
    if not stored:
        return False
    return await asyncio.get_running_loop().run_in_executor(_executor(), _verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """True when the stored hash used other parameters than today's (raise them later)."""
    return _hasher.check_needs_rehash(stored)
