"""A small TLS client for tests: speaks the tracker protocol, or sends arbitrary bytes.

Used through the fixtures in ``tests/conftest.py``. A reader task routes frames: replies
go to one queue, pushes (``event`` and no ``id``) to another, so a test can wait for a
reply without losing pushes and can assert that no push arrived.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import os
import ssl
from pathlib import Path
from typing import Any

from commons.codec import JsonObject, decode_object, encode_message
from commons.framing import FrameDecoder
from commons.tracker_protocol import is_push
from crypto.identity import IdentityKey
from crypto.legacy_upgrade import upgrade_proof
from crypto.login_secret import LoginKdf, legacy_digest, login_secret

DEFAULT_TIMEOUT = 10.0


def password_digest(password: str) -> str:
    """The legacy scheme's ``password``: SHA-256 hex of the password."""
    return legacy_digest(password)


def random_identity_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@functools.lru_cache(maxsize=64)
def _cached_context(cert_path: Path, cert_bytes: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=cert_bytes.decode("ascii"))
    context.check_hostname = False
    return context


def client_ssl_context(cert_path: Path) -> ssl.SSLContext:
    """Trust exactly the tracker's certificate (the tests pin it like a peer would).

    One context per certificate, reused: building one costs more than a handshake, and
    the abuse tests open a thousand connections.
    """
    return _cached_context(cert_path, cert_path.read_bytes())


class TrackerTestClient:
    """One TLS connection to a tracker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.replies: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        self.pushes: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        self.eof = asyncio.Event()
        self._ids = itertools.count(1)
        self._task = asyncio.create_task(self._read())
        self.username: str | None = None
        #: The key pair this client holds; ``identity_key`` is what it presents (a test
        #: may set another, whose private half it then does not hold).
        self.identity = IdentityKey.generate()
        self.identity_key = self.identity.public_b64
        #: The last ``SALT`` reply (its ``upgrade_key`` is what an upgrade proves against).
        self.last_salt: JsonObject | None = None
        #: The resumption ticket of the last successful LOGIN or RESUME.
        self.ticket: str | None = None

    @classmethod
    async def connect(
        cls, host: str, port: int, cert_path: Path, source: str | None = None
    ) -> TrackerTestClient:
        """Connect over TLS; ``source`` binds the client socket to that local address.

        Any address in 127.0.0.0/8 works on Linux loopback, so tests can play several
        sources (127.0.0.2, 127.0.0.3, ...) against one tracker.
        """
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host,
                port,
                ssl=client_ssl_context(cert_path),
                local_addr=None if source is None else (source, 0),
            ),
            DEFAULT_TIMEOUT,
        )
        return cls(reader, writer)

    async def _read(self) -> None:
        decoder = FrameDecoder(16 * 1024 * 1024)
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for body in decoder.feed(data):
                    obj = decode_object(body)
                    (self.pushes if is_push(obj) else self.replies).put_nowait(obj)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            self.eof.set()
            self.replies.put_nowait(None)
            self.pushes.put_nowait(None)

    # ------------------------------------------------------------ raw access

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, obj: JsonObject) -> None:
        await self.send_raw(encode_message(obj, 16 * 1024 * 1024))

    async def reply(self, timeout: float = DEFAULT_TIMEOUT) -> JsonObject:
        """The next reply frame; fails if the connection closes first."""
        obj = await asyncio.wait_for(self.replies.get(), timeout)
        if obj is None:
            self.replies.put_nowait(None)
            raise ConnectionError("tracker closed the connection")
        return obj

    async def push(self, event: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> JsonObject:
        """The next push (of type ``event`` if given; other pushes are skipped)."""

        async def wait() -> JsonObject:
            while True:
                obj = await self.pushes.get()
                if obj is None:
                    self.pushes.put_nowait(None)
                    raise ConnectionError("tracker closed the connection")
                if event is None or obj.get("event") == event:
                    return obj

        return await asyncio.wait_for(wait(), timeout)

    def pending_pushes(self) -> list[JsonObject]:
        """Pushes received and not yet consumed (does not wait)."""
        found: list[JsonObject] = []
        while not self.pushes.empty():
            obj = self.pushes.get_nowait()
            if obj is None:
                self.pushes.put_nowait(None)
                break
            found.append(obj)
        return found

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        await asyncio.wait_for(self.eof.wait(), timeout)

    # ------------------------------------------------------------ protocol

    async def request(self, cmd: str, **fields: Any) -> JsonObject:
        """Send a request with a fresh ``id`` and return its reply."""
        request_id = next(self._ids)
        await self.send({"cmd": cmd, "id": request_id, **fields})
        reply = await self.reply()
        assert reply.get("id") == request_id, reply
        return reply

    async def secrets(self, username: str, password: str) -> tuple[str, str | None]:
        """SALT, then the login secret (and the legacy digest if the account needs it)."""
        salt = await self.request("SALT", username=username)
        assert salt["status"] == "OK", salt
        self.last_salt = salt
        kdf = LoginKdf.from_wire(salt["kdf"])
        secret = login_secret(password, salt["realm"], bytes.fromhex(salt["salt"]), kdf)
        return secret, legacy_digest(password) if salt["legacy"] else None

    async def register(self, username: str, password: str = "correct horse") -> JsonObject:
        secret, _ = await self.secrets(username, password)
        return await self.request(
            "REGISTER", username=username, password=secret, identity_key=self.identity_key
        )

    async def login(
        self, username: str, password: str = "correct horse", port: int = 40000, **extra: Any
    ) -> JsonObject:
        secret, legacy = await self.secrets(username, password)
        if legacy is not None:
            extra.setdefault("legacy_password", legacy)
            extra.setdefault("upgrade_proof", self.upgrade_proof(username, secret))
        reply = await self.request(
            "LOGIN",
            username=username,
            password=secret,
            identity_key=self.identity_key,
            port=port,
            **extra,
        )
        return self._logged_in(username, reply)

    def upgrade_proof(self, username: str, new_secret: str) -> str | None:
        """The proof of :attr:`identity` for the last ``SALT``'s ``upgrade_key``, as the
        real client computes it (``None`` if that reply carried no key)."""
        salt = self.last_salt
        if salt is None or salt.get("upgrade_key") is None:
            return None
        key = base64.b64decode(salt["upgrade_key"])
        return upgrade_proof(self.identity, key, username, salt["realm"], new_secret)

    async def resume(
        self, username: str, ticket: str | None = None, port: int = 40000, **extra: Any
    ) -> JsonObject:
        """RESUME with ``ticket`` (default: the last one this client got)."""
        reply = await self.request(
            "RESUME",
            username=username,
            ticket=ticket or self.ticket,
            identity_key=self.identity_key,
            port=port,
            **extra,
        )
        return self._logged_in(username, reply)

    def _logged_in(self, username: str, reply: JsonObject) -> JsonObject:
        if reply["status"] == "OK":
            self.username = username
            self.ticket = reply.get("ticket")
        return reply

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)
