"""What the Compare tab says, as plain values: axis and cell titles, the plan line with its cost and time,
the axis syntax help and the progress bar, in the visitor's language. No gradio here."""

from __future__ import annotations

from typing import Any

from backends.compare import AXIS_KINDS, GridPlan, parse_axis_kind
from backends.errors import PlaygroundError
from backends.messages import render

from .i18n import tr


def axis_title(kind: str | None, lang: str) -> str:
    return render(f"axis_title_{kind}", lang) if kind else ""


def cell_title(cell: dict[str, Any], x_kind: str, y_kind: str | None, lang: str) -> str:
    """"Seed 501 · Guidance 9": a cell named by its axis values, in the visitor's language."""
    parts = [f"{axis_title(x_kind, lang)} {cell['x_label']}"]
    if y_kind and cell.get("y_label"):
        parts.append(f"{axis_title(y_kind, lang)} {cell['y_label']}")
    return " · ".join(parts)


def plan_line(plan: GridPlan, learned_runs: int, lang: str) -> str:
    """What the grid will be before it runs: cells, shape, cost, and a time with what it rests on."""
    cost = " + ".join(str(price) for price in plan.cost)
    if plan.unpriced_cells:
        unknown = tr("compare_unknown_cost", lang, cells=plan.unpriced_cells)
        cost = f"{cost} + {unknown}" if cost else unknown
    cost = cost or tr("compare_free", lang)
    basis = tr("compare_learned", lang, runs=learned_runs) if learned_runs else tr("compare_guess", lang)
    return "📐 " + tr(
        "compare_plan", lang, cells=len(plan.cells), cols=plan.cols, rows=plan.rows, cost=cost,
        time=_duration(plan.estimated_s, lang), basis=basis,
    )


def _duration(seconds: float, lang: str) -> str:
    if seconds < 90:
        return tr("seconds", lang, n=max(1, round(seconds)))
    return tr("minutes", lang, n=round(seconds / 60))



def axis_help(x_kind: str | None, y_kind: str | None, lang: str) -> str:
    lines = []
    for label, kind in (("X", x_kind), ("Y", y_kind)):
        try:
            parsed = parse_axis_kind(kind, optional=True)
        except PlaygroundError:
            continue
        if parsed is not None:
            info = AXIS_KINDS[parsed]
            lines.append(f"**{label} · {axis_title(parsed.value, lang)}**: {render(f'axis_syntax_{parsed.value}', lang)} "
                         f"{tr('example_short', lang)} `{info.example}`")
    return "\n\n".join(lines)


def grid_progress(done: int, total: int, lang: str) -> str:
    return "⏳ " + "▰" * done + "▱" * max(total - done, 0) + " " + tr("compare_progress", lang, done=done, total=total)


def outcome_of(status: str) -> str:
    return {"ok": "ok", "failed": "failed", "stopped": "stopped", "not_started": "stopped"}.get(status, "failed")
