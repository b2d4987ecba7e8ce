"""How the terminal's key sequences are read: Alt+digit is Alt+digit outside macOS.

Terminals send Alt+key as ESC followed by the key. Textual maps ESC followed by a digit
to the character macOS's Option key makes (ESC 3 is "£"), which WezTerm sends on a Mac;
on Linux and the BSDs, and inside tmux and screen everywhere, ESC 3 is Alt+3, so the
chat's Alt+1..9 typed "¡™£¢∞§¶•ª" instead of switching buffers. :func:`read_alt_digits`
removes those ten mappings from Textual's table (a module-level dict), after which its
parser reads ESC+digit as ``alt+<digit>`` the way it reads ESC+letter as ``alt+<letter>``.
"""

from __future__ import annotations

import sys

ALT_DIGITS = tuple(f"\x1b{digit}" for digit in "0123456789")


def read_alt_digits(platform: str = sys.platform) -> bool:
    """Make ESC+digit read as Alt+digit (not on macOS); True if the table was changed."""
    if platform == "darwin":
        return False
    from textual import _ansi_sequences  # the table Textual's parser reads

    table = _ansi_sequences.ANSI_SEQUENCES_KEYS
    if not isinstance(table, dict):  # a future Textual with a frozen table: leave it be
        return False
    changed = False
    for sequence in ALT_DIGITS:
        changed = table.pop(sequence, None) is not None or changed
    return changed
