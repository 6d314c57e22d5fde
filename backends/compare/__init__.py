"""Side-by-side comparison: seed grids, parameter X/Y plots and backend A/B, below any UI.

    x, y = parse_axes("guidance", "4.5, 6, 7.5", "seed", "2")          # axes.py: the value syntax
    plan = plan_grid(playground, backend_id="dieyuyun", values=form, x=x, y=y)
    plan.summary                  # "6 cells (3 × 2) · cost ¥0.06 · about 40 s", before running
    result = await run_grid(playground, plan, visitor=vid, progress=show, cancel=token)
    png = export_grid_png(result, playground.history)                # one PNG, axes in its metadata

Every cell runs through :meth:`Playground.generate`, so each is a history entry of its own.
"""

from .axes import (
    AXIS_KINDS,
    MAX_AXIS_VALUES,
    Axis,
    AxisKind,
    AxisKindInfo,
    AxisSyntaxError,
    axis_choices,
    parse_axes,
    parse_axis,
    parse_axis_kind,
    suggested_values,
)
from .estimate import Latency, recent_latencies
from .export import (
    GRID_JSON_KEY,
    export_grid_png,
    find_font,
    grid_metadata,
    grid_parameters_text,
)
from .plan import (
    DEFAULT_CONFIRM_ABOVE,
    MAX_GRID_CELLS,
    GridCell,
    GridPlan,
    plan_compare,
    plan_grid,
)
from .run import CellResult, GridProgress, GridResult, run_grid

__all__ = [
    "AXIS_KINDS",
    "DEFAULT_CONFIRM_ABOVE",
    "GRID_JSON_KEY",
    "MAX_AXIS_VALUES",
    "MAX_GRID_CELLS",
    "Axis",
    "AxisKind",
    "AxisKindInfo",
    "AxisSyntaxError",
    "CellResult",
    "GridCell",
    "GridPlan",
    "GridProgress",
    "GridResult",
    "Latency",
    "axis_choices",
    "export_grid_png",
    "find_font",
    "grid_metadata",
    "grid_parameters_text",
    "parse_axes",
    "parse_axis",
    "parse_axis_kind",
    "plan_compare",
    "plan_grid",
    "recent_latencies",
    "run_grid",
    "suggested_values",
]
