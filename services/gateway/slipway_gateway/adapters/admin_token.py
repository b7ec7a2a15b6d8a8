"""The bootstrap admin token's file (`SLIPWAY_ADMIN_TOKEN_FILE`, by default
`<state_dir>/admin.token`): made once, readable by its owner alone (0600)."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from slipway_gateway.access.identity import mint_secret

log = logging.getLogger(__name__)

# How long to wait for the token another replica is writing (it made the file first).
WRITER_WAIT_S = 5.0


def read_or_create(path: Path) -> str:
    """The admin token kept at `path`, made with a fresh secret when the file is missing.
    O_CREAT|O_EXCL makes one process the maker; any other reads the maker's token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read(path)
    secret = mint_secret()
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    log.info("made the admin token file", extra={"path": str(path)})
    return secret


def read(path: Path) -> str:
    """The token in an existing file (waiting a moment for one still being written)."""
    deadline = time.monotonic() + WRITER_WAIT_S
    while not (secret := path.read_text().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the admin token file {path} is empty")
        time.sleep(0.05)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning(
            "the admin token file is readable by others than its owner; chmod 600 it",
            extra={"path": str(path)},
        )
    return secret
