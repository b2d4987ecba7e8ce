"""The tracker's sans-I/O protocol core: the registry, the rules per command family, Outcome."""

from tracker.state.registry import Outcome
from tracker.state.tracker_state import TrackerState

__all__ = ["Outcome", "TrackerState"]
