"""Where Kafkaban keeps files on a machine."""

from __future__ import annotations

import os
from pathlib import Path

from engine.config import Settings


def cache_dir(settings: Settings) -> Path:
    """KAFKABAN_CACHE_DIR, else ``kafkaban`` in the XDG cache directory: broker jars, workers' project archives."""
    if settings.cache_dir:
        return Path(settings.cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kafkaban"
