"""Trust decisions in the terminal chat, driven by Pilot against real peers.

A key that arrives while a decision is on screen withdraws that screen and asks again
with every key in question; nothing the user did not see is ever pinned. "Keep old key"
(``/reject``) gets the chat with the genuine key back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from crypto.identity import IdentityKey
from crypto.pinning import TrustState
from peer.client.chat_client import ChatClient
from peer.events import MessageReceived
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.widgets import KeyChangedDialog, VerifyDialog
from tests.peer.tui.conftest import PASSWORD, click, make_client, until
from tests.peers import PeerFactory, PeerHandle, lie_about_key
from tracker.server.server import TrackerServer

BOB_PASSWORD = "bob-password-1"


async def _alice_in_lobby(tracker: TrackerServer, home: Path) -> ChatClient:
    client = make_client(tracker, home)
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    await client.join_room("lobby")
    await asyncio.wait_for(client.wait_channels(), 10)
    return client


async def _bob_moves(tracker: TrackerServer, peer_factory: PeerFactory, home: Path) -> PeerHandle:
    moved = await peer_factory(tracker, "bob", login=False, home=home)
    await moved.client.login("bob", BOB_PASSWORD, replace_key=True)
    await moved.client.look_up("alice")  # so it can show its side of the safety number
    return moved


async def test_a_second_key_change_during_an_open_verify_panel_pins_nothing_unseen(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    await bob.client.create_room("lobby")
    client = await _alice_in_lobby(tracker, tmp_path / "home-alice")
    first = client.pinned_key("bob")
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}")

    async with app.run_test(size=(120, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await bob.close()
        bob2 = await _bob_moves(tracker, peer_factory, tmp_path / "home-bob2")
        second = client.pending_keys("bob")
        await until(pilot, lambda: isinstance(app.screen, KeyChangedDialog), "key dialog")
        await click(pilot, "#verify")
        await until(pilot, lambda: isinstance(app.screen, VerifyDialog), "verify panel")
        panel = app.screen
        assert isinstance(panel, VerifyDialog)
        assert panel.candidates == [(bob2.client.fingerprint(), bob2.client.safety_number("alice"))]
        shown = chat.controller.verify_request("bob")  # what this panel was built from

        # -- while the panel is open, another key arrives ----------------------------------
        bob3 = await _bob_moves(tracker, peer_factory, tmp_path / "home-bob3")
        await until(
            pilot,
            lambda: isinstance(app.screen, KeyChangedDialog) and panel.withdrawn,
            "panel withdrawn, asked again",
        )
        again = app.screen
        assert isinstance(again, KeyChangedDialog)
        assert again.fingerprints == (bob2.client.fingerprint(), bob3.client.fingerprint())
        assert not again.query("#trust")  # two keys: no blind "accept"
        assert client.pinned_key("bob") == first
        assert client.pending_keys("bob")[0] == second[0] and len(client.pending_keys("bob")) == 2

        # -- a confirmation of what was shown before the new key pins nothing --------------
        assert not await chat.controller.confirm_verify(shown, second[0])
        assert client.pinned_key("bob") == first
        assert client.trust_state("bob") is TrustState.KEY_CHANGED

        # -- asked again: both keys side by side; the one matching bob's screen is chosen --
        await click(pilot, "#verify")
        await until(
            pilot,
            lambda: isinstance(app.screen, VerifyDialog) and app.screen is not panel,
            "panel with both keys",
        )
        both = app.screen
        assert isinstance(both, VerifyDialog)
        assert [n for _f, n in both.candidates][1] == bob3.client.safety_number("alice")
        await click(pilot, "#confirm-1")
        await until(pilot, lambda: client.trust_state("bob") is TrustState.VERIFIED, "bob verified")
        assert client.pinned_key("bob") == client.key_to_verify("bob")
        assert client.fingerprint("bob") == bob3.client.fingerprint()
        await pilot.press(*"/msg bob it is really you", "enter")
        got = await bob3.wait_for(MessageReceived, lambda m: m.sender == "alice")
        assert got[0].text == "it is really you"
        assert bob2.of(MessageReceived) == []


async def test_keep_old_key_restores_the_chat_with_the_genuine_key(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    await bob.client.create_room("lobby")
    client = await _alice_in_lobby(tracker, tmp_path / "home-alice")
    genuine = client.pinned_key("bob")
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}")

    async with app.run_test(size=(120, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        lie_about_key(tracker, "bob", IdentityKey.generate().public_bytes, audience=["alice"])
        await until(pilot, lambda: isinstance(app.screen, KeyChangedDialog), "key dialog")
        await until(pilot, lambda: "bob" not in client.connected_peers, "channel dropped")
        await click(pilot, "#reject")
        await until(pilot, lambda: "bob" in client.connected_peers, "reconnected to bob")
        assert client.pinned_key("bob") == genuine
        assert not chat.query_one("#banner").has_class("shown")
        await pilot.press(*"back with the real bob", "enter")
        got = await bob.wait_for(MessageReceived, lambda m: m.sender == "alice")
        assert got[0].text == "back with the real bob"
        lines = [line.text for line in chat.model.buffers.current.lines]
        assert any("kept bob's pinned key" in line for line in lines)
