"""The commands the terminal chat runs itself, on its buffers, history and settings,
without the chat client: ``/help``, ``/switch``, ``/close``, ``/expand``, ``/receipts``,
``/set`` and ``/clear-history``.

Each writes its outcome into the :class:`~peer.tui.model.chat_model.ChatModel` as lines
(errors as error lines, never exceptions); :class:`peer.tui.model.controller.ChatController`
dispatches to them.
"""

from __future__ import annotations

from dataclasses import replace

from peer.commands import table as cmd
from peer.history.archive import HistoryArchive
from peer.tui.model.buffers import STATUS, BufferKind
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.keys import KEY_HELP
from peer.tui.model.rendering import is_clipped, plural
from peer.tui.model.screen_requests import SettingChanged
from peer.user_settings import SettingError, Settings, format_value

RECEIPTS_SHOWN = 5


def show_help(model: ChatModel, topic: str | None = None) -> None:
    """Every command and key, or one command in detail."""
    if topic:
        spec = cmd.spec_for(topic, cmd.Frontend.TUI)
        if spec is None:
            model.error(f"no command {topic!r}: /help lists them")
            return
        model.notice(f"{spec.usage}  {spec.summary}")
        if spec.details:
            model.notice(f"  {spec.details}")
        return
    specs = cmd.commands_for(cmd.Frontend.TUI)
    width = max(len(spec.usage) for spec in specs)
    model.notice("commands (a line without / goes to the buffer shown):")
    for spec in specs:
        model.notice(f"  {spec.usage.ljust(width)}  {spec.summary}")
    keys = max(len(key) for key, _ in KEY_HELP)
    model.notice("keys:")
    for key, summary in KEY_HELP:
        model.notice(f"  {key.ljust(keys)}  {summary}")


def switch(model: ChatModel, reference: str) -> None:
    buffer_id = model.buffers.resolve(reference)
    if buffer_id is None:
        model.error(f"no buffer {reference!r}; /query USER opens a private one")
        return
    model.buffers.switch_to(buffer_id)


def close_buffer(model: ChatModel) -> None:
    """Close the buffer shown, unless it is the status buffer or the room we are in."""
    current = model.buffers.current.id
    if current == STATUS:
        model.error("the status buffer cannot be closed")
    elif current.kind is BufferKind.ROOM and current.name in model.joined:
        model.error(f"you are in #{current.name}: /leave it first")
    else:
        model.buffers.close(current)


def expand(model: ChatModel) -> None:
    """Draw the newest message of the shown buffer that was clipped, in full."""
    buffer = model.buffers.current
    for line in reversed(buffer.lines):
        if is_clipped(line):
            what = f"message from {line.sender}" if line.sender else "line"
            lines = line.text.count("\n") + 1
            model.notice(f"the whole {what} ({lines:,} lines):")
            model.buffers.append(buffer.id, replace(line, full=True))
            return
    model.error("no clipped message in this buffer")


def show_receipts(model: ChatModel) -> None:
    """Who has the last few own messages of the buffer shown."""
    current = model.buffers.current.id
    receipts = model.receipts.latest(current, RECEIPTS_SHOWN)
    if not receipts:
        model.notice("none of your messages here yet")
        return
    for receipt in receipts:
        text = receipt.text if len(receipt.text) <= 40 else receipt.text[:39] + "\u2026"
        model.notice(f"{text!r}: {receipt.describe()}")


async def clear_history(model: ChatModel, archive: HistoryArchive | None) -> None:
    """Delete the history file (a new one, with new keys, starts); what is on screen
    from earlier sessions goes too."""
    if archive is None or not archive.enabled:
        model.notice("no history is being kept (history.days is 0): nothing to delete")
        return
    await archive.clear()
    for buffer in model.buffers:
        kept = [line for line in buffer.lines if not line.history]
        if len(kept) != len(buffer.lines):
            buffer.lines.clear()
            buffer.lines.extend(kept)
            model.rebuilt.add(buffer.id)
    model.notice(
        "your message history was deleted from disk (new file, new keys);"
        " this session's messages stay on screen until you quit"
    )


async def set_setting(
    model: ChatModel,
    settings: Settings,
    archive: HistoryArchive | None,
    name: str | None,
    value: str | None,
) -> SettingChanged | None:
    """``/set``: list the settings, show one, or change one for this session (the
    screen applies a change it is told about; the history applies ``history.days``)."""
    if name is None:
        where = f" (config file {settings.path})" if settings.path is not None else ""
        model.notice(f"settings{where}; /set NAME VALUE changes one for this session:")
        width = max(len(spec.key) for spec, _, _ in settings.items())
        for spec, current, source in settings.items():
            shown = format_value(current)
            model.notice(f"  {spec.key.ljust(width)} = {shown}  [{source}]")
        return None
    try:
        spec = settings.resolve(name)
    except SettingError as exc:
        model.error(exc.message)
        return None
    if value is None:
        shown = format_value(settings.get(spec.key))
        model.notice(f"{spec.key} = {shown}  [{settings.source(spec.key)}]")
        model.notice(f"  {spec.help}")
        return None
    if not spec.live:
        model.error(
            f"{spec.key} cannot change while the chat runs: set it in the config file"
            f" ({settings.path or 'see /set'}) or with a command-line flag"
        )
        return None
    try:
        settings.set(spec.key, value, "session")
    except SettingError as exc:
        model.error(exc.message)
        return None
    model.notice(f"{spec.key} = {format_value(settings.get(spec.key))} for this session")
    if spec.key == "history.days" and archive is not None:
        days = settings.history_days
        removed = await archive.set_days(days)
        if days == 0:
            model.notice(
                f"history off: {plural(removed, 'kept message')} deleted, nothing more is kept"
            )
        elif removed:
            model.notice(f"{plural(removed, 'message')} older than {days} days deleted")
    return SettingChanged(spec.key)
