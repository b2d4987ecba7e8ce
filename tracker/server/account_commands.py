"""The commands that start and end a session: REGISTER, SALT, LOGIN, RESUME, LOGOUT.

Why here: these are the requests that await slow work before they can be answered
(argon2 in :class:`~tracker.accounts.hashing.PasswordHashing`'s bounded executor, account
and ticket reads and writes in storage, the group's lock), so each runs as a short task
while its connection stops reading (:meth:`tracker.server.connection.TrackerConnection.run_async`).
The rules stay in :class:`~tracker.accounts.accounts.Accounts` and
:class:`~tracker.state.tracker_state.TrackerState`;
this part awaits them and hands the outcome back to its owner to deliver.

:class:`AccountCommands` is a part the server builds and holds, not a base of it: it
sees the server only through :class:`AccountOwner`, the few things it needs (in the
style of magic-wormhole's ``wire()``), so the server imports it and never the reverse.

Contract: a failure a client can cause is answered with its wire error code, anything
else with ``internal_error`` and a logged traceback (never a password, hash or ticket).
A session is started only if the source may hold one more
(:meth:`~tracker.network.admission.SourceAdmission.may_log_in`), checked again after the
await.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from commons.errors import ErrorCode, P2PChatError
from commons.models import encode_identity_key
from commons.rate_limited_log import RateLimitedLog
from commons.tracker_protocol import Command, Event, Request, error, error_from, ok, push
from tracker.accounts.accounts import Accounts
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.network.admission import SourceAdmission
from tracker.server.connection import TrackerConnection
from tracker.state.tracker_state import Outcome, SessionId, TrackerState

log = logging.getLogger("tracker.server")


class AccountOwner(Protocol):
    """What the account commands need from the tracker that holds them."""

    @property
    def accounts(self) -> Accounts: ...
    @property
    def state(self) -> TrackerState: ...
    @property
    def admission(self) -> SourceAdmission: ...
    @property
    def connections(self) -> Mapping[SessionId, TrackerConnection]: ...
    @property
    def counters(self) -> Counter[str]: ...
    @property
    def problems(self) -> RateLimitedLog: ...

    async def change(self, op: Callable[[TrackerState], Outcome]) -> Outcome:
        """Change live state: here, or under the group's lock."""
        ...

    def deliver(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """Send an outcome's reply, pushes and closes; never raises."""
        ...

    async def handle_then_deliver(
        self, conn: TrackerConnection, request: Request, failure: str, answer: str
    ) -> None:
        """Decide ``request`` through :meth:`change` and deliver, answering a failure."""
        ...

    async def mailbox_summary(self, username: str) -> dict[str, Any]:
        """The ``mailbox`` of a LOGIN or RESUME reply: deposits waiting, limits."""
        ...

    def session_started(self, conn: TrackerConnection) -> None:
        """``conn`` logged in: it no longer counts as a connection still logging in."""
        ...


class AccountCommands:
    """REGISTER, SALT, LOGIN, RESUME and LOGOUT, and the start and end of sessions."""

    def __init__(self, owner: AccountOwner) -> None:
        self._owner = owner
        #: SALT requests per source (each is a database read a stranger can ask for).
        self._salts = KeyedTokenBuckets(KeyedRecords("salt_source"), 50, 10.0)

    async def register(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        try:
            await self._owner.accounts.register(
                request.username,
                request.password,
                request.identity_key,
                conn.host,
                request.invite,
            )
        except Exception as exc:
            self._answer_failure(conn, request, exc, "register failed")
            return
        conn.send(ok(request.id, username=request.username))

    def _answer_failure(
        self, conn: TrackerConnection, request: Request, exc: Exception, failure: str
    ) -> None:
        """Answer a request whose account work raised ``exc`` (call it in the ``except``).

        A :class:`~commons.errors.P2PChatError` is the client's to hear, with its code;
        anything else is ours: logged as ``failure`` with its traceback, answered
        ``internal_error``.
        """
        if isinstance(exc, P2PChatError):
            conn.send(error_from(request.id, exc))
            return
        log.exception(failure)
        conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))

    def _refused(self, conn: TrackerConnection, username: str, request: Request) -> bool:
        """Refuse (and answer) a session more than the source may hold: ``True`` if so.

        Logging in again from the same source replaces the old session, so it is let in.
        """
        owner = self._owner
        previous = owner.state.online.get(username)
        replacing = previous is not None and (
            (old := owner.connections.get(previous.session)) is not None
            and old.admitted.source == conn.admitted.source
        )
        if owner.admission.may_log_in(conn.admitted, replacing_same_source=replacing):
            return False
        owner.counters["sessions_per_source"] += 1
        conn.send(
            error(
                request.id,
                ErrorCode.TOO_MANY_CONNECTIONS,
                "too many sessions from your address",
            )
        )
        return True

    async def salt(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username is not None
        if not conn.admitted.trusted:
            wait = self._salts.take(conn.admitted.source, time.time())
            if wait > 0:
                conn.send(error(request.id, ErrorCode.RATE_LIMITED, "too many SALT requests", wait))
                return
        conn.upgrade_challenge = None  # one challenge per connection: the last SALT's
        try:
            reply = await self._owner.accounts.salt(request.username)
        except Exception:
            log.exception("salt lookup failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        answer = ok(
            request.id,
            salt=reply.salt.hex(),
            kdf=reply.kdf.to_wire(),
            realm=reply.realm,
            legacy=reply.legacy,
        )
        if reply.challenge is not None:
            conn.upgrade_challenge = reply.challenge
            answer["upgrade_key"] = encode_identity_key(reply.challenge.public_bytes)
        conn.send(answer)

    async def login(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        if self._refused(conn, request.username, request):
            return
        accounts = self._owner.accounts
        challenge, conn.upgrade_challenge = conn.upgrade_challenge, None  # single use
        try:
            result = await accounts.login(
                request.username,
                request.password,
                request.identity_key,
                request.replace_key,
                conn.host,
                request.legacy_password,
                request.upgrade_proof,
                challenge,
            )
            issued = await accounts.issue_ticket(request.username, request.identity_key)
        except Exception as exc:
            self._answer_failure(conn, request, exc, "login failed")
            return
        await self._start_session(
            conn, request, issued, key_changed=result.key_changed, account_created=result.created
        )

    async def resume(self, conn: TrackerConnection, request: Request) -> None:
        """RESUME: a session back with its resumption ticket, without argon2.

        The ticket ``presented`` is spent and the one ``issued`` in its place goes in the
        reply; neither is the connection's admission verdict (``conn.admitted``).
        """
        presented = request.ticket
        assert request.username and presented and request.identity_key
        if self._refused(conn, request.username, request):
            return
        try:
            issued = await self._owner.accounts.resume(
                request.username,
                presented,
                request.identity_key,
                conn.host,
                conn.admitted.trusted,
            )
            created = await self._owner.accounts.account_created(request.username)
        except Exception as exc:
            if isinstance(exc, P2PChatError) and exc.code is ErrorCode.TICKET_REUSED:
                try:
                    await self.end_sessions_of(request.username, "ticket_reused")
                except Exception as failure:  # the group's database, say: still answer
                    self._owner.problems.warning(
                        "end_sessions",
                        "could not end the sessions of a reused ticket: %s",
                        type(failure).__name__,
                    )
            self._answer_failure(conn, request, exc, "resume failed")
            return
        self._owner.counters["resumed"] += 1
        await self._start_session(conn, request, issued, key_changed=False, account_created=created)

    async def _start_session(
        self,
        conn: TrackerConnection,
        request: Request,
        issued: str,
        *,
        key_changed: bool,
        account_created: float | None,
    ) -> None:
        """Log ``conn`` in and answer with the resumption ticket ``issued`` for it
        (``account_created``: the account's age, for the rooms' newcomer share)."""
        if conn.closed:
            return
        assert request.username is not None
        if self._refused(conn, request.username, request):
            return
        host = request.host or conn.host
        now = time.time()

        def login(state: TrackerState) -> Outcome:
            if conn.closed:
                return Outcome()
            return state.login(
                conn.session,
                request,
                host,
                now,
                key_changed=key_changed,
                source=conn.admitted.source,
                trusted=conn.admitted.trusted,
                account_created=account_created,
            )

        owner = self._owner
        try:
            mailbox = await owner.mailbox_summary(request.username)
            outcome = await owner.change(login)
        except Exception:
            log.exception("could not start a session")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        if conn.closed or not owner.state.is_authenticated(conn.session):
            owner.deliver(None, Outcome(pushes=outcome.pushes, close=outcome.close))
            return
        owner.session_started(conn)
        if outcome.reply is not None:
            outcome.reply["ticket"] = issued
            outcome.reply["mailbox"] = mailbox
        owner.deliver(conn, outcome)

    async def end_sessions_of(self, username: str, reason: str) -> None:
        """A spent ticket came back: whoever holds the user's session is cut off."""

        def end(state: TrackerState) -> Outcome:
            user = state.online.get(username)
            if user is None:
                return Outcome()
            outcome = Outcome(close=[user.session])
            outcome.push_to((user.session,), push(Event.SESSION_ENDED, reason=reason))
            return outcome

        self._owner.deliver(None, await self._owner.change(end))

    async def logout(self, conn: TrackerConnection, request: Request) -> None:
        """LOGOUT revokes the user's tickets before it is answered."""
        owner = self._owner
        username = owner.state.username_of(conn.session)
        if username is not None:
            try:
                await owner.accounts.revoke_tickets(username)
            except Exception:
                log.exception("could not revoke the tickets of a logout")
                conn.send(error(request.id, ErrorCode.INTERNAL, "could not revoke tickets"))
                return
        await owner.handle_then_deliver(conn, request, "logout failed", "internal error")


#: The account commands a connection that has not logged in may send, by command.
ACCOUNT_COMMANDS = {
    Command.REGISTER: AccountCommands.register,
    Command.LOGIN: AccountCommands.login,
    Command.RESUME: AccountCommands.resume,
}
