"""Benchmark of the crypto channel: handshakes per second and transport throughput.

Measures, in one run so the figures are comparable on a noisy shared machine:

* full Noise XX handshakes (both sides, three messages, authorize included) per second;
* encrypt + decrypt throughput through ``SecureChannel`` for 200-byte and 16 KiB
  messages, next to the raw ``AESGCM`` primitive doing the same encrypt + decrypt, and
  the ratio between the two (the channel's overhead);
* unlocking the identity key file (Argon2id with the default cost), for reference.

Each figure is the median of ``--repeats`` timed runs. Run from the repository root:
``python3 bench/crypto_channel.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.channel import SecureChannel
from crypto.identity import IdentityKey
from crypto.keystore import DEFAULT_KDF_PARAMS, open_identity, seal_identity

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate()


def _accept(_username: str, _key: bytes) -> None:
    return None


def _pair() -> tuple[SecureChannel, SecureChannel]:
    alice = SecureChannel(initiator=True, identity=ALICE, username="alice", authorize=_accept)
    bob = SecureChannel(initiator=False, identity=BOB, username="bob", authorize=_accept)
    out3 = alice.receive(bob.receive(alice.start()).send[0])
    bob.receive(out3.send[0])
    return alice, bob


def _median_rate(run: Callable[[], int], repeats: int) -> float:
    """Median of ``units / seconds`` over ``repeats`` runs of ``run`` (returns units)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        units = run()
        rates.append(units / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_handshakes(count: int, repeats: int) -> float:
    def run() -> int:
        for _ in range(count):
            _pair()
        return count

    return _median_rate(run, repeats)


def bench_channel(size: int, count: int, repeats: int) -> float:
    """MiB/s of plaintext through encrypt + decrypt on an established channel."""
    payload = os.urandom(size)
    pairs = [_pair() for _ in range(repeats)]

    def run() -> int:
        alice, bob = pairs.pop()
        for _ in range(count):
            bob.receive(alice.encrypt(payload))
        return size * count

    return _median_rate(run, repeats) / 2**20


def bench_raw_aesgcm(size: int, count: int, repeats: int) -> float:
    """MiB/s of plaintext through AESGCM encrypt + decrypt with counter nonces."""
    payload = os.urandom(size)
    aead = AESGCM(os.urandom(32))
    prefix = bytes(4)

    def run() -> int:
        for n in range(count):
            nonce = prefix + n.to_bytes(8, "big")
            aead.decrypt(nonce, aead.encrypt(nonce, payload, b""), b"")
        return size * count

    return _median_rate(run, repeats) / 2**20


def bench_key_unlock(repeats: int) -> float:
    """Median seconds to open an identity key file with the default Argon2id cost."""
    sealed = seal_identity(ALICE, "alice", "benchmark password", DEFAULT_KDF_PARAMS)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        open_identity(sealed, "alice", "benchmark password")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--small-messages", type=int, default=50000)
    parser.add_argument("--large-messages", type=int, default=5000)
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; median of {args.repeats} runs"
    )
    rate = bench_handshakes(args.handshakes, args.repeats)
    print(f"XX handshakes (both sides):        {rate:8.0f} /s  ({1000 / rate:.2f} ms each)")
    for label, size, count in (
        ("200 B", 200, args.small_messages),
        ("16 KiB", 16 * 1024, args.large_messages),
    ):
        channel = bench_channel(size, count, args.repeats)
        raw = bench_raw_aesgcm(size, count, args.repeats)
        msgs = channel * 2**20 / size
        print(
            f"{label:>6} encrypt+decrypt: channel {channel:8.1f} MiB/s ({msgs:8.0f} msg/s), "
            f"raw AESGCM {raw:8.1f} MiB/s, channel/raw = {channel / raw:.2f}"
        )
    unlock = bench_key_unlock(args.repeats)
    print(f"identity key unlock (Argon2id {DEFAULT_KDF_PARAMS}): {unlock * 1000:.0f} ms")


if __name__ == "__main__":
    main()
