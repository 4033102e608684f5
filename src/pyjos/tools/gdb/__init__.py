"""The gdb remote serial protocol server: packet.py (framing), target.py (the
interface a machine implements), tdesc.py (target.xml), session.py (one
connection), server.py (TCP)."""

from .server import DEFAULT_HOST, DEFAULT_PORT, GdbServer, parse_address
from .target import StopEvent, Target, TargetError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "GdbServer", "StopEvent", "Target",
           "TargetError", "parse_address"]
