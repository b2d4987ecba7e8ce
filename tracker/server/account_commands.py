"""The commands that start and end a session: REGISTER, SALT, LOGIN, RESUME, LOGOUT.

Why here: these are the requests that await slow work before they can be answered
(argon2 in :class:`~tracker.accounts.hashing.PasswordHashing`'s bounded executor, account
and ticket reads and writes in storage, the group's lock), so each runs as a short task
while its connection stops reading (:meth:`tracker.server.connection.TrackerConnection._run_async`).
The rules stay in :class:`~tracker.accounts.accounts.Accounts` and
:class:`~tracker.state.tracker_state.TrackerState`;
this part awaits them and hands the outcome to :mod:`tracker.server.delivery`.

Contract: a failure a client can cause is answered with its wire error code, anything
else with ``internal_error`` and a logged traceback (never a password, hash or ticket).
A session is started only if the source may hold one more
(:meth:`~tracker.network.admission.Admission.may_log_in`), checked again after the await.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from commons.errors import ErrorCode, P2PChatError
from commons.tracker_protocol import Command, Event, Request, error, error_from, ok, push
from tracker.server.delivery import OutcomeDelivery
from tracker.server.server_base import log
from tracker.state.tracker_state import Outcome, TrackerState

if TYPE_CHECKING:
    from tracker.server.connection import TrackerConnection


class AccountCommands(OutcomeDelivery):
    """REGISTER, SALT, LOGIN, RESUME and LOGOUT, and the start and end of sessions."""

    async def register(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        try:
            await self.accounts.register(
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
        previous = self.state.online.get(username)
        replacing = previous is not None and (
            (old := self.connections.get(previous.session)) is not None
            and old.ticket.source == conn.ticket.source
        )
        if self.admission.may_log_in(conn.ticket, replacing_same_source=replacing):
            return False
        self.counters["sessions_per_source"] += 1
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
        if not conn.ticket.trusted:
            wait = self._salts.take(conn.ticket.source, time.time())
            if wait > 0:
                conn.send(error(request.id, ErrorCode.RATE_LIMITED, "too many SALT requests", wait))
                return
        try:
            reply = await self.accounts.salt(request.username)
        except Exception:
            log.exception("salt lookup failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        conn.send(
            ok(
                request.id,
                salt=reply.salt.hex(),
                kdf=reply.kdf.to_wire(),
                realm=reply.realm,
                legacy=reply.legacy,
            )
        )

    async def login(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        if self._refused(conn, request.username, request):
            return
        try:
            result = await self.accounts.login(
                request.username,
                request.password,
                request.identity_key,
                request.replace_key,
                conn.host,
                request.legacy_password,
            )
            ticket = await self.accounts.issue_ticket(request.username, request.identity_key)
        except Exception as exc:
            self._answer_failure(conn, request, exc, "login failed")
            return
        await self._start_session(conn, request, ticket, key_changed=result.key_changed)

    async def resume(self, conn: TrackerConnection, request: Request) -> None:
        """RESUME: a session back with its ticket, without argon2."""
        assert request.username and request.ticket and request.identity_key
        if self._refused(conn, request.username, request):
            return
        try:
            ticket = await self.accounts.resume(
                request.username,
                request.ticket,
                request.identity_key,
                conn.host,
                conn.ticket.trusted,
            )
        except Exception as exc:
            if isinstance(exc, P2PChatError) and exc.code is ErrorCode.TICKET_REUSED:
                try:
                    await self.end_sessions_of(request.username, "ticket_reused")
                except Exception as failure:  # the group's database, say: still answer
                    self.problems.warning(
                        "end_sessions",
                        "could not end the sessions of a reused ticket: %s",
                        type(failure).__name__,
                    )
            self._answer_failure(conn, request, exc, "resume failed")
            return
        self.counters["resumed"] += 1
        await self._start_session(conn, request, ticket, key_changed=False)

    async def _start_session(
        self, conn: TrackerConnection, request: Request, ticket: str, *, key_changed: bool
    ) -> None:
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
                source=conn.ticket.source,
                trusted=conn.ticket.trusted,
            )

        try:
            outcome = await self._change(login)
        except Exception:
            log.exception("could not start a session")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        if conn.closed or not self.state.is_authenticated(conn.session):
            self.deliver(None, Outcome(pushes=outcome.pushes, close=outcome.close))
            return
        self._awaiting_login.pop(conn.session, None)
        self.admission.logged_in(conn.ticket)
        if outcome.reply is not None:
            outcome.reply["ticket"] = ticket
        self.deliver(conn, outcome)

    async def end_sessions_of(self, username: str, reason: str) -> None:
        """A spent ticket came back: whoever holds the user's session is cut off."""

        def end(state: TrackerState) -> Outcome:
            user = state.online.get(username)
            if user is None:
                return Outcome()
            outcome = Outcome(close=[user.session])
            outcome.push_to((user.session,), push(Event.SESSION_ENDED, reason=reason))
            return outcome

        self.deliver(None, await self._change(end))

    async def logout(self, conn: TrackerConnection, request: Request) -> None:
        """LOGOUT revokes the user's tickets before it is answered."""
        username = self.state.username_of(conn.session)
        if username is not None:
            try:
                await self.accounts.revoke_tickets(username)
            except Exception:
                log.exception("could not revoke the tickets of a logout")
                conn.send(error(request.id, ErrorCode.INTERNAL, "could not revoke tickets"))
                return
        await self.handle_then_deliver(conn, request, "logout failed", "internal error")


#: The account commands a connection that has not logged in may send, by command.
ACCOUNT_COMMANDS = {
    Command.REGISTER: AccountCommands.register,
    Command.LOGIN: AccountCommands.login,
    Command.RESUME: AccountCommands.resume,
}
