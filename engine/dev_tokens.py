"""Where a running `kafkaban dev` leaves its URL, admin token and engine key for the CLI of the same user: one file
per user (mode 0600) in the user's runtime directory, whatever data directory the stack uses, so commands in a
second shell work without KAFKABAN_TOKEN (as Jupyter's server list does), and the log-reading ones check the
engine's signatures with the stack's own key. Nothing of it goes over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def runtime_file() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    directory = Path(base) / "kafkaban" if base else Path.home() / ".config" / "kafkaban"
    return directory / "dev-stacks.json"


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(url): {str(k): str(v) for k, v in stack.items()} for url, stack in data.items()
            if isinstance(stack, dict)}


def _write(path: Path, stacks: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(stacks, handle)
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def remember(url: str, token: str, engine_key: str) -> None:
    path = runtime_file()
    _write(path, {**_read(path), url.rstrip("/"): {"token": token, "engine_key": engine_key}})


def forget(url: str) -> None:
    path = runtime_file()
    stacks = _read(path)
    if stacks.pop(url.rstrip("/"), None) is not None:
        with contextlib.suppress(OSError):
            _write(path, stacks)


def stack_for(url: str) -> dict[str, str]:
    """What a dev stack of this user at ``url`` left: token and engine_key (empty when there is none)."""
    return _read(runtime_file()).get(url.rstrip("/"), {})


def token_for(url: str) -> str | None:
    return stack_for(url).get("token")
