"""Trust on first use for tracker certificates, like ssh's ``known_hosts``.

``home/known_trackers.json`` maps ``host:port`` to the SHA-256 fingerprint of the
certificate first seen there. :func:`check_pin` is pure: it says whether to pin, accept
or refuse; :func:`load_pins`/:func:`save_pins` do the (blocking, fsync'ed) file work and
are meant to run in an executor.
"""

from __future__ import annotations

import json
from enum import Enum, auto
from pathlib import Path

from commons.errors import ErrorCode
from commons.private_file import read_private_file, write_private_file
from commons.tls_fingerprint import fingerprints_match, normalize_fingerprint
from peer.errors import TrackerUntrustedError

PINS_FILE = "known_trackers.json"
#: Far more than any user's trackers; a larger file is refused, not read into memory.
MAX_PINS_FILE = 1024 * 1024


class PinDecision(Enum):
    MATCH = auto()
    NEW = auto()


def endpoint_key(host: str, port: int) -> str:
    """``host:port`` as pinned; host names compare without case, as DNS does, so one
    tracker has one pin however its name is spelled."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_pin(
    pins: dict[str, str], endpoint: str, fingerprint: str, pins_path: Path
) -> PinDecision:
    """``NEW`` (caller pins it), ``MATCH``, or raise :class:`TrackerUntrustedError`."""
    pinned = pins.get(endpoint)
    if pinned is None:
        return PinDecision.NEW
    if fingerprints_match(pinned, fingerprint):
        return PinDecision.MATCH
    raise TrackerUntrustedError(
        "@@@ WARNING: THE TRACKER CERTIFICATE HAS CHANGED! @@@\n"
        f"The tracker at {endpoint} presented a certificate with fingerprint\n"
        f"  SHA256:{normalize_fingerprint(fingerprint)}\n"
        f"but SHA256:{normalize_fingerprint(pinned)} was pinned on first use.\n"
        "Someone could be intercepting the connection (man in the middle), or the tracker's\n"
        "certificate was replaced. Connection refused. If the change is legitimate, check the\n"
        f"new fingerprint with the tracker's operator and remove the '{endpoint}' entry from\n"
        f"{pins_path}, or pass --tracker-fingerprint.",
        ErrorCode.TRACKER_UNTRUSTED,
    )


def load_pins(path: Path) -> dict[str, str]:
    """The pin file's entries; a missing file is empty, a corrupt one is refused.

    Read like the key file and the contact pins (:func:`read_private_file`): a symbolic
    link, another user's file or one others can read or write is refused, since whoever
    can rewrite it chooses which tracker certificate this client trusts."""
    try:
        raw = read_private_file(
            path, what="tracker pin file", max_size=MAX_PINS_FILE, refuse=TrackerUntrustedError
        )
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise TrackerUntrustedError(f"{path} is corrupt; refusing to guess") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise TrackerUntrustedError(f"{path} is corrupt; refusing to guess")
    pins: dict[str, str] = {}
    for endpoint, fingerprint in data.items():  # files written before keys were lowered
        key = endpoint.lower()
        if key in pins and not fingerprints_match(pins[key], fingerprint):
            raise TrackerUntrustedError(
                f"{path} pins two different certificates for {key} (its name spelled in"
                " two ways); check the right fingerprint with the operator and remove the"
                " other entry"
            )
        pins[key] = fingerprint
    return pins


def save_pins(path: Path, pins: dict[str, str]) -> None:
    """Write atomically with owner-only permissions (blocking: call from an executor)."""
    write_private_file(path, (json.dumps(pins, indent=2, sort_keys=True) + "\n").encode("utf-8"))
