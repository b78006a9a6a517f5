"""`python -m diffexp.data.npz_to_npy EVENTS.npz FOLDER`: unpack an `.npz` (compressed or
not) into a folder of `.npy` files that `data=npy` reads in chunks (data.streaming).

Each array of an `.npz` is a complete `.npy` file inside a zip archive; it is copied out
through a fixed-size buffer, decompressed on the way, so a file larger than memory converts
too. Nothing is written outside FOLDER; an existing file there is not overwritten."""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

from diffexp.data.errors import DataError
from diffexp.errors import UserError, report_user_error

COPY_BUFFER_BYTES = 16 * 1024 * 1024


def unpack(npz_path: Path, folder: Path) -> list[Path]:
    """Copy every `<name>.npy` of `npz_path` to `folder/<name>.npy`; the files written."""
    try:
        archive = zipfile.ZipFile(npz_path)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{npz_path}: not a readable .npz file ({error})") from None
    written = []
    with archive:
        members = [m for m in archive.namelist() if m.endswith(".npy") and "/" not in m]
        if not members:
            raise DataError(f"{npz_path}: holds no arrays")
        folder.mkdir(parents=True, exist_ok=True)
        for member in members:
            target = folder / member
            if target.exists():
                raise DataError(f"{target} exists already; choose an empty folder")
            with archive.open(member) as source, target.open("xb") as out:
                shutil.copyfileobj(source, out, COPY_BUFFER_BYTES)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffexp.data.npz_to_npy", description=__doc__)
    parser.add_argument("npz", type=Path, help="the .npz file")
    parser.add_argument("folder", type=Path, help="where the .npy files go (train with data=npy)")
    args = parser.parse_args(argv)
    try:
        written = unpack(args.npz, args.folder)
    except UserError as error:
        return report_user_error(error)
    print(
        f"wrote {', '.join(p.name for p in written)} to {args.folder}; "
        f"train with data=npy data.path={args.folder}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
