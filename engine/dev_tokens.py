"""Where a running `kafkaban dev` leaves its URL and admin token for the CLI of the same user: one file per user
(mode 0600) in the user's runtime directory, whatever data directory the stack uses, so commands in a second
shell work without KAFKABAN_TOKEN, as Jupyter's server list does."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


def runtime_file() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    directory = Path(base) / "kafkaban" if base else Path.home() / ".config" / "kafkaban"
    return directory / "dev-stacks.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write(path: Path, stacks: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(stacks, handle)
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def remember(url: str, token: str) -> None:
    path = runtime_file()
    _write(path, {**_read(path), url.rstrip("/"): token})


def forget(url: str) -> None:
    path = runtime_file()
    stacks = _read(path)
    if stacks.pop(url.rstrip("/"), None) is not None:
        with contextlib.suppress(OSError):
            _write(path, stacks)


def token_for(url: str) -> str | None:
    return _read(runtime_file()).get(url.rstrip("/"))
