"""Files only their owner may read: credentials written for the operator."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte.

    Opening with the mode (rather than writing, then ``chmod``) leaves no moment in which
    another local user could read the secret; an existing file is narrowed first.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing; a directory created here is owner-only.

    The data directory holds the database (device credentials, password hashes), logs and
    spools. An existing directory keeps the mode its owner chose.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
