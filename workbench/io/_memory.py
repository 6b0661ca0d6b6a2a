"""Fresh memory for big runs: no transparent huge pages in this process.

A 7M-line run passes through 1.5-2 GB of arrays (DuckDB's parse, Arrow's columns, NumPy's scoring arrays), most of
them allocated and freed once. NumPy (and Arrow's join) ask the kernel for 2 MB pages on such arrays
(madvise(MADV_HUGEPAGE)). On a VM whose host reclaims free guest memory in 2 MB blocks (free page reporting:
Firecracker, most cloud VMs) every fresh huge page is faulted in from the host while it is zeroed: measured on this
project's machine, a 7M-line `ingest --measures` spent 1.5-2 s more in the kernel with huge pages than without,
and scoring alone 1.39 against 0.15 s (docs/performance.md). Nothing in the workbench gains from huge pages (its big
arrays are read once, in order), so a process that reads a big run turns them off for itself.
"""

from __future__ import annotations

import sys

_PR_SET_THP_DISABLE = 41
_done = False


def no_huge_pages() -> None:
    """Turn transparent huge pages off for this process (Linux prctl PR_SET_THP_DISABLE; elsewhere nothing).

    Process-wide and inherited by children; memory already mapped keeps its pages, later faults take 4 KiB ones.
    """
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        import ctypes  # guarded: no prctl (or no ctypes) leaves huge pages as they are

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: keep the kernel's default
        pass
