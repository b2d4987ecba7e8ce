"""The full-screen terminal chat (Textual).

Everything here only *presents* a :class:`peer.client.chat_client.ChatClient`: the sans-I/O models
(buffers, completion, history, nick colours, rendering) hold the UI logic and are tested
without a terminal; :mod:`peer.tui.app`, :mod:`peer.tui.login` and
:mod:`peer.tui.chat_screen` are the thin Textual shells that draw them and forward
keystrokes.
"""
