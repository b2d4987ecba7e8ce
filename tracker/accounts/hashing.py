"""argon2id hashing of the client's password digest, off the event loop, with a bound.

argon2 is deliberately slow and memory hungry (~20 ms and 19 MiB per call at the OWASP
floor), so it runs in a small thread pool (argon2-cffi releases the GIL) and at most
``workers`` hashes run at once. A request that cannot get a slot within
``wait_timeout`` seconds gets :class:`BusyError` instead of queueing without limit: a
login flood degrades to fast ``busy`` replies, never to an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from commons.errors import BusyError

T = TypeVar("T")


class PasswordHashing:
    """Bounded async front of an argon2id :class:`PasswordHasher`."""

    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        workers: int,
        wait_timeout: float,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(workers)
        self._wait_timeout = wait_timeout
        #: Verifications started (tests and the bench count them: a resumed session costs none).
        self.verifications = 0
        # Verified against when the user does not exist, so that an unknown user costs
        # the same time as a wrong password and names cannot be probed by timing.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(32))

    async def _run(self, func: Callable[..., T], *args: str) -> T:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_timeout)
        except TimeoutError:
            raise BusyError("the tracker is busy hashing passwords, retry shortly") from None
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, func, *args)
        finally:
            self._slots.release()

    async def hash(self, secret: str) -> str:
        """An ``$argon2id$`` hash of ``secret`` with a fresh salt."""
        return await self._run(self._hasher.hash, secret)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        """Whether ``secret`` matches ``stored_hash``; ``None`` means no such user."""
        target = self._dummy_hash if stored_hash is None else stored_hash
        self.verifications += 1
        matched = await self._run(self._verify_sync, target, secret)
        return matched and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the stored hash was made with other parameters than the current."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify_sync(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
