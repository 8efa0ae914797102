"""One way to show a size: binary units, labelled as such (KiB, MiB, GiB).

Every size the console measures is counted in powers of 1024 (file sizes, node memory,
the flavor's memory limit), so the label says so; Django's ``filesizeformat`` computes the
same numbers but calls them KB/MB/GB.
"""

from __future__ import annotations

from django.utils.formats import number_format
from django.utils.translation import ngettext

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def binary_size(value) -> str:
    """``2048`` → "2.0 KiB"; bytes below 1 KiB as "512 bytes"; anything unreadable as 0 bytes."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = 0.0
    if abs(size) < 1024:
        count = int(size)
        # A non-breaking space keeps the number with its unit, as for KiB … below.
        unit = ngettext("byte", "bytes", count)  # outside the f-string, so makemessages finds it
        return f"{count}\xa0{unit}"
    for unit in UNITS:
        size /= 1024
        if abs(size) < 1024 or unit == UNITS[-1]:
            break
    return f"{number_format(round(size, 1), 1)}\xa0{unit}"


def gib(value_bytes) -> str:
    """Bytes as GiB with one decimal, for memory and disk beside a flavor's GiB."""
    return f"{(value_bytes or 0) / 1024**3:.1f}"
