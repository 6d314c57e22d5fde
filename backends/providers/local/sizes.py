"""Memory and download sizes as people read them.

"GB" here is 2**30 bytes: the unit in which nvidia-smi, Activity Monitor and the task manager show memory,
so "24 GB" matches what a person sees for their card.
"""

from __future__ import annotations

__all__ = ["GIB", "MIB", "human_size", "rate"]

GIB = 2**30
MIB = 2**20


def human_size(size_bytes: float, *, whole: bool = False) -> str:
    """``16.6 GB``; ``24 GB`` with ``whole``; below a tenth of a GB in MB (``1.7 MB``)."""
    value = size_bytes / GIB
    if whole and value >= 1:
        return f"{value:.0f} GB"
    if value < 0.1:
        return f"{size_bytes / MIB:.1f} MB"
    return f"{value:.1f} GB"


def rate(bytes_per_second: float) -> str:
    """``45 MB/s`` (MB = 2**20 bytes)."""
    value = bytes_per_second / MIB
    return f"{value:.1f} MB/s" if value < 10 else f"{value:.0f} MB/s"
