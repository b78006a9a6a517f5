"""results.json and results.md: every figure with median, min and max, the device it came
from, the machine and package versions, and the targets with PASS / MISSED stated plainly."""

from __future__ import annotations

import json
from pathlib import Path

from diffexp.io_utils import atomic_write_text

JSON_FILE = "results.json"
MARKDOWN_FILE = "results.md"


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def figures_table(results: dict) -> list[str]:
    lines = [
        "| section | figure | median | min | max | unit | device |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for section, body in results["sections"].items():
        if "error" in body:
            lines.append(f"| {section} | **failed**: {body['error']} | | | | | |")
            continue
        if body.get("available") is False:
            lines.append(f"| {section} | not available: {body.get('reason', '')} | | | | | |")
            continue
        for name, fig in body.get("figures", {}).items():
            if not isinstance(fig, dict):
                fig = {"median": fig, "min": None, "max": None}
            lines.append(
                f"| {section} | {name} | {_number(fig.get('median'))} | {_number(fig.get('min'))}"
                f" | {_number(fig.get('max'))} | {fig.get('unit', '')} | {fig.get('device', '')} |"
            )
    return lines


def targets_table(results: dict) -> list[str]:
    lines = ["| target | required | measured | verdict | note |", "|---|---:|---:|---|---|"]
    for row in results["targets"]:
        verdict = row["verdict"] if row["verdict"] != "MISSED" else "**MISSED**"
        lines.append(
            f"| {row['target']} | {row['required']} | {_number(row['measured'])} | {verdict} "
            f"| {row['note']} |"
        )
    return lines


def _median_range(fig: dict | None, digits: int = 0) -> str:
    if not fig:
        return "—"
    return (
        f"{fig['median']:.{digits}f} ({fig['min']:.{digits}f}–{fig['max']:.{digits}f})"
        if fig["min"] != fig["max"]
        else f"{fig['median']:.{digits}f}"
    )


PEER_SAMPLER_TEXT = {
    "shipped": "each tool's own TPE defaults (10 random start-up trials); diffexp: phase 1's",
    "shared": "phase 1's TPE settings, as diffexp's (only how trials run differs)",
}


def peer_table(results: dict) -> list[str]:
    """One row per tuning peer: time to the quality bar, best value at the common budget,
    trials finished, idle slot share; medians over seeds with their range."""
    tuning = results["sections"].get("tuning", {})
    peers = tuning.get("details", {}).get("peers")
    if not peers or "error" in tuning:
        return []
    figures, seeds = tuning["figures"], len(tuning["details"]["runs"])
    samplers = tuning["details"].get("peer_samplers")
    lines = [
        "## Tuning peers",
        "",
        *(
            [f"The other peers' samplers: {PEER_SAMPLER_TEXT.get(samplers, samplers)}.", ""]
            if samplers
            else []
        ),
        "| peer | time to quality (s) | reached in seeds | best at budget | trials finished "
        "| idle slot share | wall (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for peer in peers:
        reached = figures.get(f"{peer}_reached_quality", {}).get("median", 0)
        lines.append(
            f"| {peer} | {_median_range(figures.get(f'{peer}_time_to_quality_seconds'))} "
            f"| {reached:g} of {seeds} "
            f"| {_median_range(figures.get(f'{peer}_best_at_budget'), 4)} "
            f"| {_median_range(figures.get(f'{peer}_trials_finished'))} "
            f"| {_median_range(figures.get(f'{peer}_idle_slot_fraction'), 2)} "
            f"| {_median_range(figures.get(f'{peer}_wall_seconds'))} |"
        )
    return [*lines, ""]


def markdown(results: dict) -> str:
    machine = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in results["package_versions"].items())
    gpus = ", ".join(machine.get("gpus") or []) or "none"
    lines = [
        f"# diffexp benchmark ({results['size']} size, {results['timestamp']})",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, GPU: {gpus}; "
        f"load average {_number(machine.get('load_average_1m'))} at the start, "
        f"{_number(results.get('load_average_1m_end'))} at the end.  ",
        f"Packages: {versions}; commit {results.get('git_commit')}.  ",
        f"Each figure: median of {results['repeats']} repeats after {results['warmup']} "
        "warm-up, with min and max; ratios are taken per repeat (interleaved runs).",
        "",
        *figures_table(results),
        "",
        *peer_table(results),
        "## Targets",
        "",
        *targets_table(results),
        "",
    ]
    return "\n".join(lines)


def write(results: dict, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / JSON_FILE, folder / MARKDOWN_FILE
    atomic_write_text(json_path, json.dumps(results, indent=2, default=str) + "\n")
    atomic_write_text(md_path, markdown(results))
    return json_path, md_path
