"""The sweeper's warning when trials run as SLURM jobs against a SQLite study."""

from __future__ import annotations

import pytest

from diffexp.tuning.storage_checks import warn_if_unsafe_storage


def test_slurm_with_sqlite_warns_and_names_the_safe_storages():
    text = warn_if_unsafe_storage("cluster", "sqlite:////shared/outputs/optuna_study.db")
    assert text is not None
    assert "sqlite:////shared/outputs/optuna_study.db" in text
    assert "SLURM" in text and "postgresql://" in text and "journal" in text
    assert "docs/scaling.md" in text


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("cluster", "postgresql://me@db.lab:5432/studies"),
        ("cluster", "/shared/outputs/study.log"),  # a journal file: safe on NFS
        ("local", "sqlite:///outputs/optuna_study.db"),
        ("inprocess", "sqlite:///outputs/optuna_study.db"),
    ],
)
def test_other_pairings_are_quiet(kind, url):
    assert warn_if_unsafe_storage(kind, url) is None
