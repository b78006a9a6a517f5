"""How much memory a training run will need, estimated from its config alone, before anything
is simulated, built or allocated; and the one-line refusal of a run that cannot fit.

One override can ask for more memory than any machine has (`diffusion.n_steps=1e9` builds
three float64 tables of a billion steps, `trainer.batch_size=1e9` pads the validation set to
a billion rows, `model.hidden_dim=1e8` asks for 1e16 weights); on a shared node the kernel's
OOM killer then takes whatever process it picks, or the run dies with a traceback after
allocating. The estimate adds what a run holds at its peak:

- the runtime: the Python process with TensorFlow and Keras loaded (measured, see below);
- the data: the simulated or loaded events, their encoded training/validation copies and the
  simulator's float64 intermediates;
- the model: its parameters, their gradients and the optimizer's moments (Adam: two), and the
  checkpoint's copy of all of them;
- one training step's activations, kept for the backward pass, and one validation batch's;
- the diffusion tables (betas, alpha-bars, their square roots; float64 while computed);
- the validation set's fixed (t, noise) draw, padded to whole batches, in NumPy and as
  TensorFlow constants;
- sampling for a `tuning.objective` that generates events.

The constants come from measured peaks (the peak resident memory of `python -m diffexp.train`
on 2 CPU cores: smoke 0.63 GB, default 0.68 GB, cluster 1.26 GB, smoke with batch 2048
1.51 GB, smoke with 2e7 diffusion steps 1.43 GB; the estimate is 1.00-1.12x each). The point
is to refuse what cannot fit (tens to millions of GB), never a run that would;
tests/training/test_memory_budget.py checks that smoke and default runs pass and that the
estimate stays within a small factor of a measured peak.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from diffexp.data.npz_source import npz_array_shape
from diffexp.errors import ConfigError

GB = 1024**3
FLOAT32 = 4
BUILT_IN_DENOISERS = ("mlp", "pmt")  # counted by parameter_count / activation_values
FLOAT64 = 8
RUNTIME_BYTES = int(0.6 * GB)  # a smoke run peaks at 0.63 GB, almost all of it the loaded runtime
N_CONDITIONS = 4  # vertex x, y, z and energy
DEFAULT_N_PMT = 128  # a data source whose PMT count cannot be read without loading it
SIMULATION_BYTES_PER_VALUE = 2 * FLOAT64  # float64 expectation and draw live at the peak (measured)
DATA_COPIES_BYTES_PER_VALUE = 3 * FLOAT32  # raw charges, encoded train/val, shuffled batch
WEIGHT_COPIES = 6  # parameters, gradients, Adam's two moments, the checkpoint's copy (x2 in flight)
TRAINING_TENSORS_PER_LAYER = 2  # [rows, hidden] tensors a residual block keeps for backprop
TRAINING_TENSORS_OUTSIDE = 4  # input projection, output, their gradients
VALIDATION_LIVE_TENSORS = 3  # a forward pass without a tape frees each block's inputs
DIFFUSION_TABLES = 6  # betas, linspace/cos steps, alpha-bars, 2 sqrt tables, cumprod temp
VALIDATION_COPIES = 2  # the NumPy draw and its TensorFlow constant


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes by part; `total` is what is compared with the limit."""

    parts: dict[str, float]

    @property
    def total(self) -> float:
        return float(sum(self.parts.values()))

    def describe(self) -> str:
        biggest = sorted(self.parts.items(), key=lambda item: -item[1])[:3]
        return ", ".join(f"{name} {_gb(size)}" for name, size in biggest)


def _gb(size: float) -> str:
    return f"{size / GB:.3g} GB"


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup's limit where a container or SLURM job sets a lower one."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def memory_limit_bytes(runtime_cfg: DictConfig | None) -> tuple[int, str]:
    """(limit, where it comes from): `runtime.max_memory_gb` when set, else the machine's."""
    configured = None if runtime_cfg is None else runtime_cfg.get("max_memory_gb")
    if configured is not None:
        return int(float(configured) * GB), f"runtime.max_memory_gb={configured}"
    return machine_memory_bytes(), "this machine's memory"


def _data_shape(data_cfg: DictConfig) -> tuple[float, int, bool]:
    """(events, PMTs, simulated?) without loading anything."""
    if str(data_cfg.get("source", "simulated")) == "simulated":
        geometry = data_cfg.geometry
        n_pmt = int(geometry.n_barrel_rings) * int(geometry.pmts_per_ring) + 2 * sum(
            int(ring) for ring in geometry.cap_rings
        )
        return float(data_cfg.n_events), n_pmt, True
    shape = npz_array_shape(data_cfg.get("path"), data_cfg.get("charges_key"))
    if shape is None or len(shape) != 2:
        return 0.0, DEFAULT_N_PMT, False
    return float(shape[0]), int(shape[1]), False


def _is_built_in(model_cfg: DictConfig) -> bool:
    """diffexp's own denoisers (`mlp`, `pmt`), whose weights and activations are counted here."""
    return str(model_cfg.get("name")) in BUILT_IN_DENOISERS


def parameter_count(model_cfg: DictConfig, n_pmt: int) -> float:
    """The denoiser's weights, counted from its config (diffexp/models/): a float, so an
    absurd width gives a huge number instead of an overflow."""
    hidden = float(model_cfg.hidden_dim)
    layers = float(model_cfg.n_layers)
    dense = hidden * hidden + hidden
    context = (float(model_cfg.t_emb_dim) + N_CONDITIONS) * hidden + hidden + dense
    if str(model_cfg.name) == "pmt":
        identity = float(model_cfg.get("pmt_embedding_dim", 0))
        per_block = (3 + bool(model_cfg.get("pooled", False))) * dense
        inputs = (1 + identity + 8) * hidden + hidden  # x, identity, prior features
        return context + inputs + layers * per_block + hidden + 1 + n_pmt * identity
    per_block = 3 * dense + 2 * hidden  # two dense, context, layer norm
    return context + n_pmt * hidden + hidden + layers * per_block + 2 * hidden + hidden * n_pmt


def activation_values(model_cfg: DictConfig, batch: float, n_pmt: int, training: bool) -> float:
    """Values one forward pass holds at once: a training step keeps each block's tensors for
    the backward pass, a validation or sampling pass only a few. The shared per-PMT network
    runs on batch x PMTs rows, the whole-event MLP on batch rows."""
    rows = batch * n_pmt if str(model_cfg.name) == "pmt" else batch
    tensors = (
        TRAINING_TENSORS_PER_LAYER * float(model_cfg.n_layers) + TRAINING_TENSORS_OUTSIDE
        if training
        else VALIDATION_LIVE_TENSORS
    )
    return rows * float(model_cfg.hidden_dim) * tensors


def estimate_memory(cfg: DictConfig) -> MemoryEstimate:
    """The peak memory a training run of `cfg` needs, by part (see the module docstring)."""
    n_events, n_pmt, simulated = _data_shape(cfg.data)
    batch = float(cfg.trainer.batch_size)
    val_batch = batch * float(cfg.validation.get("batch_size_factor", 1))
    n_val = n_events * float(cfg.data.get("val_fraction", 0.1))
    val_samples = min(n_val, val_batch * float(cfg.validation.get("n_batches", 1)))
    val_rows = math.ceil(val_samples / val_batch) * val_batch if val_samples else 0.0
    per_event = SIMULATION_BYTES_PER_VALUE if simulated else 0
    parts = {
        "runtime": float(RUNTIME_BYTES),
        "data": n_events * n_pmt * (per_event + DATA_COPIES_BYTES_PER_VALUE),
        "diffusion tables": DIFFUSION_TABLES * FLOAT64 * float(cfg.diffusion.n_steps),
        "validation set": VALIDATION_COPIES * FLOAT32 * val_rows * (2 * n_pmt + N_CONDITIONS + 2),
    }
    if not _is_built_in(cfg.model):
        # A plugin's architecture is its own code: its keys say nothing diffexp can count, so
        # the estimate holds only what diffexp allocates around it (docs/security.md).
        return MemoryEstimate(parts)
    parts["model and optimizer"] = WEIGHT_COPIES * FLOAT32 * parameter_count(cfg.model, n_pmt)
    parts["training batch"] = FLOAT32 * activation_values(cfg.model, batch, n_pmt, training=True)
    parts["validation batch"] = FLOAT32 * activation_values(cfg.model, val_batch, n_pmt, False)
    objective = str(cfg.get("tuning", {}).get("objective", "val_loss"))
    if objective != "val_loss":
        n_sampled = float(cfg.tuning.sample_auc_events)
        parts["sampling"] = FLOAT32 * activation_values(cfg.model, n_sampled, n_pmt, False)
    return MemoryEstimate(parts)


def check_memory(cfg: DictConfig) -> MemoryEstimate:
    """Raise ConfigError (one line with the estimate) when the run cannot fit; else return the
    estimate. Called before anything is allocated."""
    estimate = estimate_memory(cfg)
    limit, source = memory_limit_bytes(cfg.get("runtime"))
    if estimate.total > limit:
        raise ConfigError(
            f"this run needs an estimated {_gb(estimate.total)} of memory ({estimate.describe()})"
            f", more than {source} ({_gb(limit)}); lower the value that makes it large, or set "
            "runtime.max_memory_gb on a machine with more memory"
        )
    return estimate
