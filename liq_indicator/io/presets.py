"""Writing preset files: a named, versioned :class:`~liq_indicator.config.HeatmapConfig` with the
record of what it was calibrated to and how it scored out of sample.

Reading is :meth:`HeatmapConfig.preset` / :func:`liq_indicator.config.read_preset` (the config
room reads its own files, as the bracket tables are read).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from liq_indicator.config import PRESET_FORMAT, HeatmapConfig
from liq_indicator.io.paths import output_file, writing

__all__ = ["preset_document", "write_preset"]


def _plain(value: Any) -> Any:
    """JSON-able: NaN/inf become None, numpy scalars Python numbers, timestamps ISO strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _package_version() -> str:
    try:
        return version("liq-indicator")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def preset_document(
    config: HeatmapConfig,
    *,
    name: str,
    version: int = 1,
    description: str = "",
    calibrated_to: dict[str, Any] | None = None,
    out_of_sample: dict[str, Any] | None = None,
    fitted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The preset as a JSON-able dict (what :func:`write_preset` writes)."""
    return _plain(
        {
            "format": PRESET_FORMAT,
            "name": name,
            "version": version,
            "description": description,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "liq_indicator": _package_version(),
            "calibrated_to": calibrated_to or {},
            "fitted": fitted or {},
            "out_of_sample": out_of_sample or {},
            "config": config.to_dict(),
        }
    )


def write_preset(path: str | Path, document: dict[str, Any]) -> Path:
    """Write a :func:`preset_document` to ``path`` (folders created); returns the path."""
    target = output_file(path, "preset file", suffixes=(".json",), parents=True)
    with writing(target, "preset file"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return target
