"""Peer settings: where the tracker is, where the user's files live, where to listen.

One frozen dataclass built by the CLI (or by a test) and handed to
:class:`peer.client.chat_client.ChatClient`. ``parse_endpoint`` turns the ``HOST:PORT`` strings of
the command line into a validated pair; port 0 means "any free port" for the listener.

Where to listen, by default: on loopback when the tracker is on loopback (nothing else
could reach us anyway), on every interface otherwise, so that two machines of a LAN
chat with no flags; the tracker then publishes the address it sees us at, and only to
our room-mates.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from commons.data_dirs import user_data_dir
from commons.errors import ValidationError
from commons.models import validate_host
from crypto.login_secret import MIN_LOGIN_KDF, LoginKdf
from peer.core.endpoint_policy import DirectPrivate
from peer.core.settings import CoreSettings

DEFAULT_TRACKER: tuple[str, int] = ("127.0.0.1", 6060)
DEFAULT_LISTEN: tuple[str, int] = ("127.0.0.1", 0)
#: Every IPv4 interface: the listener when the tracker is not on loopback.
ALL_INTERFACES: tuple[str, int] = ("0.0.0.0", 0)  # noqa: S104 (the point: a LAN can dial)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_listen(tracker: tuple[str, int]) -> tuple[str, int]:
    """Loopback next to a loopback tracker, every interface otherwise."""
    return DEFAULT_LISTEN if is_loopback(tracker[0]) else ALL_INTERFACES


def parse_endpoint(text: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6 literals) -> ``(host, port)``, or ValidationError."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValidationError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65535:
        raise ValidationError(f"port must be from {low} to 65535, got {port}")
    return validate_host(host), port


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Everything a :class:`peer.client.ChatClient` needs before it connects.

    ``cafile`` and ``tracker_fingerprint`` are alternative ways to authenticate the
    tracker; with neither, the first certificate seen is pinned in ``home`` (TOFU).
    ``advertise_host``/``advertise_port`` are what the tracker tells other peers to dial
    (e.g. behind a port forward); ``None`` means the address the tracker observed and
    the port actually bound.

    ``listen`` ``None`` means :func:`default_listen`. ``no_listen``: no listener, no
    address published; we still dial room-mates directly (they see our address then).
    ``relay_only``: no listener and no direct dial either: every channel goes through the
    relay and only the tracker ever sees our address. ``direct_private``: to whom we
    offer our address over a relayed channel (:mod:`peer.core.endpoint_policy`).
    """

    tracker: tuple[str, int] = DEFAULT_TRACKER
    home: Path = field(default_factory=lambda: user_data_dir("peer"))
    listen: tuple[str, int] | None = None
    no_listen: bool = False
    relay_only: bool = False
    direct_private: DirectPrivate = DirectPrivate.VERIFIED
    cafile: Path | None = None
    tracker_fingerprint: str | None = None
    advertise_host: str | None = None
    advertise_port: int | None = None
    connect_timeout: float = 10.0
    #: A direct dial that cannot connect in this time goes through the relay instead.
    direct_timeout: float = 1.5
    request_timeout: float = 15.0
    handshake_timeout: float = 10.0
    #: A channel whose send buffer does not drain this long is dropped; a sender waits
    #: at most this long for full buffers (:mod:`peer.channels.write_watch`).
    write_timeout: float = 10.0
    #: Bytes of events one channel, and all channels, may have waiting for the
    #: application before reading stops (:mod:`peer.client.event_queue`).
    events_per_channel: int = 1024 * 1024
    events_total: int = 16 * 1024 * 1024
    reconnect_initial_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    core: CoreSettings = field(default_factory=CoreSettings)
    #: The least login-secret cost accepted from a tracker (tests lower it).
    min_login_kdf: LoginKdf = MIN_LOGIN_KDF
    #: Send the old, unsalted login digest when a tracker holds the account in the old
    #: scheme, to upgrade it (never for an account :mod:`peer.session.login_memory` knows).
    allow_legacy_login: bool = False

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """Where to listen (``None``: no listener)."""
        if self.no_listen or self.relay_only:
            return None
        return self.listen if self.listen is not None else default_listen(self.tracker)

    @property
    def direct_dials(self) -> bool:
        return not self.relay_only
