"""Shared cache files written by several processes at once (parallel trials, parallel
verifications, parallel test workers) each land whole."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from diffexp.io_utils import atomic_write_npz


def test_concurrent_writers_of_one_npz_each_rename_a_whole_file(tmp_path):
    path = tmp_path / "cache" / "reconstruction_x.npz"
    big = 200_000  # large enough that writes overlap

    def write(writer: int) -> None:
        for _ in range(10):
            atomic_write_npz(path, values=np.full(big, writer, dtype=np.int64), writer=writer)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))  # re-raises a writer's error

    with np.load(path, allow_pickle=False) as stored:
        writer = int(stored["writer"])
        assert stored["values"].shape == (big,) and set(np.unique(stored["values"])) == {writer}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
