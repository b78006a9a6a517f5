"""Prepared data kept in a worker: reused only when everything it depends on matches, and
only while switched on (as the pool worker does)."""

from __future__ import annotations

import pytest

from diffexp.config import compose_checked
from diffexp.training import worker_cache


@pytest.fixture
def cache(tmp_path):
    worker_cache.enable(False)  # whatever an earlier test in this process left
    worker_cache.clear()
    yield worker_cache
    worker_cache.enable(False)
    worker_cache.clear()


def _cfg(tmp_path, *overrides):
    return compose_checked(["profile=smoke", f"paths.cache_dir={tmp_path}", *overrides])


def test_kept_data_is_reused_only_when_switched_on_and_keys_match(cache, tmp_path):
    cfg = _cfg(tmp_path)
    assert cache.prepared_data(cfg) is not cache.prepared_data(cfg)  # off: fresh each time
    cache.enable()
    first = cache.prepared_data(cfg)
    assert cache.prepared_data(_cfg(tmp_path, "model.hidden_dim=32")) is first  # model width
    assert cache.prepared_data(_cfg(tmp_path, "optimizer.lr=1e-4")) is first
    other = cache.prepared_data(_cfg(tmp_path, "data.seed=7"))
    assert other is not first and other.n_train == first.n_train
    cache.enable(False)
    assert cache.prepared_data(cfg) is not first


def test_the_key_covers_data_and_the_encoding_keys_of_the_model(tmp_path):
    base = worker_cache.data_key(_cfg(tmp_path))
    assert worker_cache.data_key(_cfg(tmp_path, "optimizer.lr=1e-4")) == base
    assert worker_cache.data_key(_cfg(tmp_path, "data.seed=7")) != base
    assert worker_cache.data_key(_cfg(tmp_path, "model=mlp")) != base


def test_switching_the_cache_on_in_a_worker_imports_no_tensorflow():
    """The pool worker enables the cache before its first job; TensorFlow must first be
    imported by the job, after it sized the thread pools (a worker that imported it early
    also ran past the pool tests' 3 s job time limits)."""
    import subprocess
    import sys

    code = (
        "import sys, hydra_plugins.diffexp_pool_launcher.job_runner as runner; "
        "runner._keep_data_across_jobs(); "
        "from diffexp.training import worker_cache; assert worker_cache.enabled(); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
