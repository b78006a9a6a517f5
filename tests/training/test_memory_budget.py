"""No single override takes the machine down (issue 22, item 6): a run whose estimated memory
exceeds the machine's (or `runtime.max_memory_gb`) is refused with one line giving the
estimate, before anything is allocated; more threads than cores are capped with a log line.
The attacks run as a user types them, under an address-space limit so that the unguarded code
of before fails with a MemoryError traceback instead of taking the machine's memory."""

from __future__ import annotations

import logging
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from diffexp import runtime
from diffexp.config import compose_checked
from diffexp.errors import ConfigError
from diffexp.training import memory_budget
from diffexp.training.memory_budget import GB, check_memory, estimate_memory
from tests.conftest import REPO, subprocess_env

ADDRESS_SPACE_LIMIT = 6 * GB  # a smoke run needs less; each attack asks for far more


def _run_limited(args: list[str], env: dict[str, str], folder) -> tuple[str, int, int]:
    """`python -m diffexp.train args` under ADDRESS_SPACE_LIMIT: (stderr, exit status, peak
    resident memory in bytes of that process alone)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))

    err_path = folder / "stderr.txt"
    with open(folder / "stdout.txt", "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "diffexp.train", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            preexec_fn=limit,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return err_path.read_text(), process.returncode, usage.ru_maxrss * 1024


@pytest.mark.parametrize(
    "attack", ["diffusion.n_steps=1e9", "trainer.batch_size=1e9", "model.hidden_dim=1e8"]
)
def test_one_override_asking_for_too_much_memory_is_one_line(attack, tmp_path):
    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path / "root")}
    stderr, status, _ = _run_limited(
        ["profile=smoke", attack, "runtime.max_memory_gb=16"], env, tmp_path
    )
    assert status == 2, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert "estimated" in lines[0] and "runtime.max_memory_gb=16" in lines[0]
    assert not (tmp_path / "root" / "outputs").exists()  # refused before Hydra wrote a run folder


@pytest.mark.parametrize(
    "attack", ["diffusion.n_steps=1e9", "trainer.batch_size=1e9", "model.hidden_dim=1e8"]
)
def test_the_estimate_refuses_each_attack_on_the_machine_of_the_report(attack, monkeypatch):
    """The issue's machine: 23 GB, where diffusion.n_steps=1e9 woke the OOM killer."""
    monkeypatch.setattr(memory_budget, "machine_memory_bytes", lambda: 23 * GB)
    with pytest.raises(ConfigError, match=r"needs an estimated .* GB of memory .* this machine"):
        check_memory(compose_checked(["profile=smoke", attack]))


@pytest.mark.parametrize("profile", ["smoke", "default", "cluster"])
def test_the_shipped_profiles_fit(profile):
    estimate = check_memory(compose_checked([f"profile={profile}"]))
    assert 0.5 * GB < estimate.total < 4 * GB


def test_a_memory_limit_below_the_estimate_refuses_a_normal_run():
    with pytest.raises(ConfigError, match="runtime.max_memory_gb=0.1"):
        check_memory(compose_checked(["profile=smoke", "runtime.max_memory_gb=0.1"]))


@pytest.mark.slow
def test_the_estimate_is_within_a_small_factor_of_a_measured_run(tmp_path):
    """A smoke run with a large batch (activations and validation dominate beyond the
    runtime): its peak resident memory against the estimate."""
    overrides = ["profile=smoke", "trainer.batch_size=1024", "trainer.epochs=1"]
    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path / "root")}
    stderr, status, peak = _run_limited(overrides, env, tmp_path)
    assert status == 0, stderr[-2000:]
    estimated = estimate_memory(compose_checked(overrides)).total
    print(f"estimated {estimated / GB:.3f} GB, measured peak {peak / GB:.3f} GB")
    assert 0.5 < estimated / peak < 2.0, (estimated / GB, peak / GB)


def test_more_threads_than_cores_are_capped_with_a_log_line(caplog):
    cores = runtime.available_cores()
    with caplog.at_level(logging.WARNING, logger="diffexp.runtime"):
        assert runtime.thread_count(100000) == cores
    assert [r.getMessage() for r in caplog.records] == [
        f"runtime.threads=100000 capped to the {cores} cores this process may run on"
    ]
    caplog.clear()
    assert runtime.thread_count(1) == 1 and caplog.records == []


def test_an_npz_data_file_is_sized_from_its_header(tmp_path):
    path = tmp_path / "events.npz"
    np.savez(path, charges=np.zeros((300, 17), np.float32), conditions=np.zeros((300, 4)))
    cfg = compose_checked(["profile=smoke", "data=npz", f"data.path={path}"])
    assert memory_budget._data_shape(cfg.data) == (300.0, 17, False)
    path.write_bytes(b"not a zip")
    assert memory_budget._data_shape(cfg.data) == (0.0, memory_budget.DEFAULT_N_PMT, False)


def test_a_plugin_denoiser_is_estimated_without_counting_its_own_architecture():
    """A user's denoiser (an entry point, its own keys) has no `hidden_dim` diffexp could count:
    the estimate holds what diffexp allocates around it, and an absurd diffusion table is still
    refused."""
    from omegaconf import OmegaConf

    cfg = compose_checked(["profile=smoke"], "config")
    OmegaConf.set_struct(cfg, False)
    cfg.model = {"name": "ring_conv", "channels": 8, "kernel_size": 3}
    estimate = estimate_memory(cfg)
    assert "model and optimizer" not in estimate.parts and "training batch" not in estimate.parts
    assert estimate.parts["diffusion tables"] > 0 and estimate.parts["data"] > 0
    check_memory(cfg)  # fits
    cfg.diffusion.n_steps = int(1e9)
    with pytest.raises(ConfigError, match="estimated"):
        check_memory(cfg)
