"""pyjos: a JOS-compatible exokernel written in Python on an emulated i386."""

import os

# The kernel's numpy work is elementwise (no BLAS), but OpenBLAS starts a worker
# thread per core at import, and that thread polls beside the emulator: measured,
# 16% of a core during `pyjos run spin` and 4% of all instructions of a page-fault
# loop.  One thread unless the user says otherwise (before numpy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
