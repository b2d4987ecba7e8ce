"""The mailbox's commands (issue 22): MAILBOX_TOKENS, DEPOSIT, MAILBOX_FETCH, MAILBOX_ACK.

Why here: each awaits storage (a durable write, or a read of up to a frame of bodies),
so each runs as a short task while its connection stops reading
(:meth:`tracker.server.connection.TrackerConnection.run_async`), like the account
commands. The rules are :mod:`tracker.state.mailbox`'s and run inside the storage's
transaction; this part checks the rates first, awaits the store, answers, and pushes
``MAILBOX`` to the recipient's session.

:class:`MailboxCommands` sees the server only through :class:`MailboxOwner`, so the
server imports it and never the reverse.

Contract:

* ``DEPOSIT`` works on any connection, logged in or not, and its reply is sent only
  after the row is committed (SQLite with ``synchronous=FULL``, or PostgreSQL). The
  depositor's name, if it has one, is never looked at or stored.
* A deposit is rate-limited per source, per token hash and in all before any storage
  work; ``rate_limited`` carries ``retry_after`` and nothing is written.
* Nothing here logs a token, a token hash, a body or the name of a recipient; a storage
  failure is logged by kind and answered ``internal_error``.
* The ``MAILBOX`` push goes to the recipient's session if it is online: on this tracker
  directly, on another tracker of a group through the group's relay table
  (:meth:`MailboxOwner.deliver_relay`), best effort. A client also learns its count at
  LOGIN and RESUME, so a lost push delays a fetch until the next login at worst.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from typing import Any, Protocol

from commons.codec import JsonObject
from commons.errors import ErrorCode
from commons.mailbox_fields import MAX_DEPOSIT_BODY, encode_b64
from commons.rate_limited_log import RateLimitedLog
from commons.tracker_protocol import Command, Event, Request, error, ok, push
from tracker.config import TrackerConfig
from tracker.server.connection import TrackerConnection
from tracker.state.mailbox import (
    MAX_TOKENS_PER_USER,
    REFUSED,
    MailboxLimits,
    MailboxRates,
)
from tracker.state.tracker_state import Outcome, TrackerState
from tracker.storage.base import Storage

log = logging.getLogger("tracker.server")

#: Deposits one ``MAILBOX_FETCH`` returns when it names no ``limit``.
DEFAULT_FETCH_LIMIT = 100
#: Room kept in a ``MAILBOX_FETCH`` reply's frame for its envelope and ``next``.
_REPLY_MARGIN = 256


def body_limit(max_frame_size: int) -> int:
    """The largest body a ``DEPOSIT`` may carry on a tracker with this frame size:
    :data:`~commons.mailbox_fields.MAX_DEPOSIT_BODY` at the default 64 KiB frame, less
    with a smaller frame, so that the deposit always fits a ``MAILBOX_FETCH`` reply."""
    return max(1, min(MAX_DEPOSIT_BODY, (max_frame_size - 1024) * 3 // 4))


class MailboxOwner(Protocol):
    """What the mailbox commands need from the tracker that holds them."""

    @property
    def config(self) -> TrackerConfig: ...
    @property
    def storage(self) -> Storage: ...
    @property
    def state(self) -> TrackerState: ...
    @property
    def counters(self) -> Counter[str]: ...
    @property
    def problems(self) -> RateLimitedLog: ...

    def deliver_relay(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """Send an outcome's pushes, to sessions of other trackers of a group too."""
        ...


class MailboxCommands:
    """The four mailbox commands, the ``MAILBOX`` push and the LOGIN summary."""

    def __init__(self, owner: MailboxOwner) -> None:
        self._owner = owner
        config = owner.config
        self.limits: MailboxLimits = config.mailbox_limits()
        self.rates = MailboxRates(config.mailbox_rates, time.time())
        self.max_body = body_limit(config.max_frame_size)

    # ------------------------------------------------------------ DEPOSIT

    def admit_deposit(self, conn: TrackerConnection, request: Request) -> bool:
        """The synchronous half of ``DEPOSIT``: rates and size. ``False``: answered."""
        assert request.token is not None and request.body is not None
        if len(request.body) > self.max_body:
            conn.send(
                error(
                    request.id,
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"a deposit's body is at most {self.max_body} bytes here",
                )
            )
            return False
        token_key = hashlib.sha256(request.token).hexdigest()
        source = None if conn.admitted.trusted else conn.admitted.source
        wait = self.rates.take(source, token_key, time.time())
        if wait > 0:
            self._owner.counters["mailbox_rate_limited"] += 1
            conn.send(
                error(
                    request.id,
                    ErrorCode.RATE_LIMITED,
                    "too many deposits",
                    retry_after=max(wait, 0.001),  # never a "retry in 0 s" after rounding
                )
            )
            return False
        return True

    async def deposit(self, conn: TrackerConnection, request: Request) -> None:
        assert request.target and request.token is not None and request.body is not None
        owner = self._owner
        token_hash = hashlib.sha256(request.token).digest()
        try:
            result = await owner.storage.mailbox_deposit(
                request.target, token_hash, request.body, time.time(), self.limits
            )
        except Exception as exc:
            self._failed(conn, request, "deposit", exc)
            return
        if result.refused:
            owner.counters["mailbox_refused"] += 1
            conn.send(error(request.id, ErrorCode.MAILBOX_REFUSED, REFUSED))
            return
        if result.full is not None:
            owner.counters["mailbox_full"] += 1
            reply = error(request.id, ErrorCode.MAILBOX_FULL, f"mailbox full ({result.full})")
            reply["limit"] = str(result.full)
            conn.send(reply)
            return
        conn.send(ok(request.id, deposit=result.deposit_id))
        self._notify(request.target, result.count)

    def _notify(self, recipient: str, count: int) -> None:
        """``MAILBOX {count}`` to the recipient's session, if it is online anywhere."""
        user = self._owner.state.online.get(recipient)
        if user is None:
            return
        outcome = Outcome()
        outcome.push_to((user.session,), push(Event.MAILBOX, count=count))
        self._owner.deliver_relay(None, outcome)

    # ------------------------------------------------------------ a user's own mailbox

    def _own(self, conn: TrackerConnection) -> str | None:
        return self._owner.state.username_of(conn.session)

    async def tokens(self, conn: TrackerConnection, request: Request) -> None:
        username = self._own(conn)
        if username is None:
            conn.send(error(request.id, ErrorCode.NOT_AUTHENTICATED, "log in first"))
            return
        try:
            verdict = await self._owner.storage.mailbox_tokens(
                username, request.token_add, request.token_remove, time.time()
            )
        except Exception as exc:
            self._failed(conn, request, "mailbox tokens", exc)
            return
        if verdict.taken:
            conn.send(error(request.id, ErrorCode.MAILBOX_REFUSED, "a token hash is taken"))
        elif verdict.over_quota:
            conn.send(
                error(
                    request.id,
                    ErrorCode.QUOTA_EXCEEDED,
                    f"at most {MAX_TOKENS_PER_USER} delivery tokens per user",
                )
            )
        else:
            conn.send(ok(request.id, tokens=verdict.total))

    async def fetch(self, conn: TrackerConnection, request: Request) -> None:
        username = self._own(conn)
        if username is None:
            conn.send(error(request.id, ErrorCode.NOT_AUTHENTICATED, "log in first"))
            return
        budget = self._owner.config.max_frame_size - _REPLY_MARGIN
        try:
            page = await self._owner.storage.mailbox_fetch(
                username, request.after or 0, request.limit or DEFAULT_FETCH_LIMIT, budget
            )
        except Exception as exc:
            self._failed(conn, request, "mailbox fetch", exc)
            return
        deposits: list[Any] = [
            {
                "id": row.deposit_id,
                "token_hash": encode_b64(row.token_hash),
                "body": encode_b64(row.body),
                "stored_at": row.stored_at,
            }
            for row in page.rows
        ]
        following = page.rows[-1].deposit_id if page.more and page.rows else None
        conn.send(ok(request.id, deposits=deposits, next=following))

    async def ack(self, conn: TrackerConnection, request: Request) -> None:
        username = self._own(conn)
        if username is None:
            conn.send(error(request.id, ErrorCode.NOT_AUTHENTICATED, "log in first"))
            return
        assert request.up_to is not None
        try:
            deleted = await self._owner.storage.mailbox_ack(username, request.up_to)
        except Exception as exc:
            self._failed(conn, request, "mailbox ack", exc)
            return
        conn.send(ok(request.id, deleted=deleted))

    async def summary(self, username: str) -> JsonObject:
        """LOGIN's and RESUME's ``mailbox``: deposits waiting, and the limits."""
        count = await self._owner.storage.mailbox_count(username)
        return {"count": count, "limits": self.limits.wire()}

    async def expire(self, now: float) -> int:
        """The upkeep: delete deposits older than ``--mailbox-days``."""
        return await self._owner.storage.mailbox_expire(now - self.limits.seconds)

    def _failed(self, conn: TrackerConnection, request: Request, what: str, exc: Exception) -> None:
        """A storage failure: logged by kind only (no names, tokens or bodies)."""
        self._owner.problems.warning("mailbox", "%s failed: %s", what, type(exc).__name__)
        conn.send(error(request.id, ErrorCode.INTERNAL, f"could not carry out the {what}"))


#: The mailbox commands, by command; ``DEPOSIT`` needs no session, the others do.
MAILBOX_COMMANDS = {
    Command.MAILBOX_TOKENS: MailboxCommands.tokens,
    Command.DEPOSIT: MailboxCommands.deposit,
    Command.MAILBOX_FETCH: MailboxCommands.fetch,
    Command.MAILBOX_ACK: MailboxCommands.ack,
}
