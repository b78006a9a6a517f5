"""`python -m diffexp.select_pmts [overrides]`: rank the detector's PMTs by the vertex and
energy information they add (greedy log-det of the Poisson Fisher information), and write
the ranking with its Cramér–Rao curves against random and evenly spaced subsets.

Writes <output_dir>/pmt_selection.json ({"ranking": [...], "cramer_rao": {...}, ...}), the
file `data.pmt_selection` reads, and <output_dir>/cramer_rao.png.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from diffexp.data import simulator_from_config
from diffexp.errors import ConfigError, exit_on_user_error
from diffexp.io_utils import atomic_write_json
from diffexp.precheck import run_checked
from diffexp.security import EXECUTION_WHITELIST
from diffexp.verification import plots
from diffexp.verification.selection import RESOLUTION_NAMES, SelectionResult, select_pmts

log = logging.getLogger("diffexp.select_pmts")

RANKING_FILE = "pmt_selection.json"
PLOT_FILE = "cramer_rao.png"


def check_selection_request(cfg: DictConfig) -> None:
    """The counts `run` needs, refused before Hydra writes anything (one line)."""
    for key in ("n_events", "n_random"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value} must be a positive integer")


def write_selection(result: SelectionResult, output_dir: Path) -> tuple[Path, Path]:
    """Write the ranking JSON and the resolution plot; return both paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / RANKING_FILE
    atomic_write_json(json_path, result.to_dict())
    curves = result.curves
    plot_path = plots.resolution_curves(
        curves.k_values,
        {
            "greedy (Fisher)": curves.greedy,
            "evenly spaced": curves.even,
            "random (mean)": curves.random_mean,
        },
        (curves.random_min, curves.random_max),
        ["x [m]", "y [m]", "z [m]", "sigma_E / E"],
        output_dir / PLOT_FILE,
    )
    return json_path, plot_path


def run(cfg: DictConfig) -> SelectionResult:
    """Rank the PMTs of `cfg.data` and write the results to `cfg.output_dir`."""
    check_selection_request(cfg)
    simulator = simulator_from_config(cfg.data)
    k_values = None if cfg.k_values is None else list(OmegaConf.to_container(cfg.k_values))
    result = select_pmts(
        simulator,
        int(cfg.n_events),
        k_values,
        int(cfg.n_random),
        int(cfg.seed),
        float(cfg.position_step_m),
        float(cfg.relative_energy_step),
    )
    json_path, plot_path = write_selection(result, Path(cfg.output_dir))
    k_last = result.curves.k_values
    summary = ", ".join(
        f"{name}={value:.3g}"
        for name, value in zip(
            RESOLUTION_NAMES, result.curves.greedy[len(k_last) // 2], strict=True
        )
    )
    log.info(
        "ranked %d PMTs; with %d kept: %s", len(result.ranking), k_last[len(k_last) // 2], summary
    )
    print(f"PMT ranking: {json_path}\nCramér–Rao curves: {plot_path}")
    print(f"use it: data.pmt_selection={json_path} data.n_pmts_kept=<K>")
    return result


@hydra.main(
    config_path="../conf", config_name="select_pmts", execution_whitelist=EXECUTION_WHITELIST
)
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        run(cfg)


def cli() -> None:
    """Compose and check the command line (every config of a `-m` sweep too) first: a config
    that cannot be composed is one line, never left for Hydra to find."""
    run_checked(main, "select_pmts", check_selection_request)


if __name__ == "__main__":
    cli()
