"""Checks of a study storage against where the trials run, said before a sweep starts.

SQLite keeps a study in one file and relies on POSIX (fcntl) file locks. Trials on several
SLURM nodes open that file over a network filesystem, whose locks are broken or missing on
many NFS setups: writes get lost or the database corrupts, with no error at the time. So a
SLURM launcher with a SQLite storage gets a warning naming the alternatives (docs/scaling.md);
it is not refused, because a cluster of one node, or a node-local run, is safe with it.
"""

from __future__ import annotations

from diffexp.tuning.storage import shown_url, storage_kind

CLUSTER_LAUNCHER = "cluster"  # diffexp.tuning.sweeper.resources.launcher_kind for SLURM


def warn_if_unsafe_storage(launcher_kind: str, storage_url: str) -> str | None:
    """The warning for a SLURM launcher (`launcher_kind` 'cluster') on a SQLite storage; None
    for every other pairing. The sweeper logs it once before its first trial."""
    if launcher_kind != CLUSTER_LAUNCHER or storage_kind(storage_url) != "sqlite":
        return None
    return (
        f"the study storage {shown_url(storage_url)} is SQLite, but trials run as SLURM jobs: "
        "SQLite on a filesystem shared by several nodes (NFS) can lose writes or corrupt the "
        "study, since its file locks do not work there. Use a PostgreSQL URL "
        "(paths.study_storage=postgresql://user@host/db, password in PGPASSWORD or ~/.pgpass) "
        "or an Optuna journal file on the shared filesystem (paths.study_storage=/shared/"
        "study.log); see docs/scaling.md. A single-node cluster is safe as it is."
    )
