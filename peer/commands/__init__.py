"""The slash-command language both front ends share: values, table, parsers, runner, results."""

from peer.commands.runner import execute
from peer.commands.table import COMMANDS, parse_line

__all__ = ["COMMANDS", "execute", "parse_line"]
