"""A flow-log stream counted block by block: the parse half of detection, without AWS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auto_block.counting import FlowCounts, count_block
from auto_block.detect import judge_window, strongest
from auto_block.flowlogs import parse_format
from auto_block.windows import WindowTotals
from secauto_core.log_stream import iter_blocks

if TYPE_CHECKING:
    from auto_block.flowlogs import FlowFormat
    from auto_block.model import Detection
    from auto_block.settings import AutoBlockSettings
    from secauto_core.log_stream import Readable

__all__ = ["COUNT_CAP", "count_stream", "detect_locally"]

#: Distinct ports and addresses kept per source: enough to see any threshold passed.
COUNT_CAP = 256


def count_stream(source: Readable, *, name: str, fmt: FlowFormat | None = None) -> FlowCounts:
    """Count a flow-log file; without `fmt`, its first line is the header naming the fields."""
    counts = FlowCounts()
    for block in iter_blocks(source, name=name):
        if fmt is None:
            header, _, block = block.partition(b"\n")
            fmt = parse_format(header.decode("utf-8", "replace"))
        counts.merge(count_block(block, fmt, cap=COUNT_CAP), COUNT_CAP)
    return counts


def detect_locally(counts: FlowCounts, settings: AutoBlockSettings) -> list[Detection]:
    """What the detectors find in these counts alone (no window shared with other files)."""
    found: list[Detection] = []
    for source, activity in counts.sources.items():
        totals = WindowTotals(
            source=source.decode("ascii", "replace"),
            window_start=0,
            ports=len(activity.ports),
            hosts=len(activity.hosts),
            rejects=activity.rejects,
            flows=activity.flows,
        )
        found += judge_window(totals, settings)
    return strongest(found)
