"""pyjos: a JOS-compatible exokernel written in Python on an emulated i386."""

__version__ = "0.1.0"
