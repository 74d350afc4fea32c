"""A cache of computed feature frames, one feather file per (pair, timeframe, settings, input data).

An entry's name carries two hashes:

- the *settings* hash: the :class:`~liq_indicator.config.HeatmapConfig` fields (``to_dict()``),
  the exchanges aggregated, the datadir, and the source of the code that computes the features
  (an upgrade or an edit of the model misses);
- the *data* hash: path, size and modification time (ns) of every feather file of the pair in
  the datadirs' ``futures`` folders (candles, mark, funding, open interest of any timeframe) and
  of their tier cache (``leverage_tiers_<stake>.json``), so a new ``freqtrade download-data`` or
  ``liq-indicator tiers`` misses.

A file replaced by one of the same size with its modification time restored would still hit: size
and mtime are what ``make`` and rsync trust too. Writing an entry removes the entries of the same
pair and settings with older data, so a daily refresh does not pile up stale files. Entries are
written to a temporary name and renamed, so parallel workers never read half a file.

The default folder is ``$LIQ_INDICATOR_CACHE``, else ``$XDG_CACHE_HOME/liq-indicator/features``
(``~/.cache/liq-indicator/features``): never inside the datadir, which may be read-only or shared.
Delete the folder at any time to clear it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from liq_indicator.io.datadir import pair_stem
from liq_indicator.io.paths import is_present, output_dir, reading, writing

__all__ = [
    "CacheKey",
    "FeatureCache",
    "code_fingerprint",
    "default_cache_dir",
    "input_fingerprint",
    "settings_hash",
]

#: the package's folders (and top-level modules) whose source decides the features
_CODE_PARTS = ("core", "io", "data")

#: Freqtrade's file name of a pair's series: <stem>-<timeframe>-<candle type>.feather
_SERIES = r"-\d+[a-zA-Z]{1,2}-[a-z_]+\.feather"
#: the tiers a datadir may cache (``liq-indicator tiers``, Freqtrade): they change every pair's map
_TIERS = r"leverage_tiers_[A-Z]+\.json"


def default_cache_dir() -> Path:
    """``$LIQ_INDICATOR_CACHE``, else ``$XDG_CACHE_HOME/liq-indicator/features``, else
    ``~/.cache/liq-indicator/features``.
    """
    explicit = os.environ.get("LIQ_INDICATOR_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "liq-indicator" / "features"


_CODE: str | None = None


def code_fingerprint() -> str:
    """SHA-256 of the package's computing source: its top-level modules and the ``core``, ``io``
    and ``data`` folders (computed once per process).
    """
    global _CODE
    if _CODE is None:
        root = Path(__file__).resolve().parents[1]
        files = sorted(root.glob("*.py")) + sorted(
            p
            for part in _CODE_PARTS
            for p in (root / part).rglob("*")
            if p.suffix in (".py", ".json") and p.is_file()
        )
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
        _CODE = digest.hexdigest()
    return _CODE


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 of ``settings`` (JSON-able: a config's ``to_dict()``, exchanges, datadir) together
    with :func:`code_fingerprint`.
    """
    text = json.dumps(dict(settings), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{code_fingerprint()}\n{text}".encode()).hexdigest()


def input_fingerprint(datadirs: Sequence[str | Path], pair: str) -> str:
    """SHA-256 of (path, size, mtime in ns) of every feather file of ``pair`` in the ``futures``
    folder of each datadir (any timeframe, any candle type) and of the tier cache beside them
    (``leverage_tiers_<stake>.json``). Missing folders count as empty.
    """
    series = re.compile(f"{re.escape(pair_stem(pair))}{_SERIES}|{_TIERS}")
    digest = hashlib.sha256()
    for datadir in datadirs:
        folder = Path(datadir).resolve() / "futures"
        if not is_present(folder, "datadir"):
            continue
        with os.scandir(folder) as entries:
            found = sorted(e.name for e in entries if series.fullmatch(e.name))
        for name in found:
            st = (folder / name).stat()
            digest.update(f"{folder / name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What an entry is: the pair, its timeframe, :func:`settings_hash` and
    :func:`input_fingerprint`.
    """

    pair: str
    timeframe: str
    settings: str
    data: str

    @property
    def prefix(self) -> str:
        """The part of the file name shared by every entry of this pair, timeframe and settings."""
        return f"{pair_stem(self.pair)}-{self.timeframe}-{self.settings[:16]}-"

    @property
    def filename(self) -> str:
        """The entry's file name."""
        return f"{self.prefix}{self.data[:16]}.feather"


@dataclass(frozen=True)
class FeatureCache:
    """Feature frames on disk under ``root`` (see the module docstring)."""

    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None, what: str = "--cache-dir") -> FeatureCache:
        """The cache in ``root`` (default :func:`default_cache_dir`), created if missing.

        Raises:
            InputError: when ``root`` is a file, or cannot be created or written.
        """
        path = output_dir(root if root is not None else default_cache_dir(), what)
        with writing(path, what):
            path.mkdir(parents=True, exist_ok=True)
        return cls(path.resolve())

    def path(self, key: CacheKey) -> Path:
        """Where the entry of ``key`` is (or would be)."""
        return self.root / key.filename

    def get(self, key: CacheKey) -> Path | None:
        """The entry's path when it is there, else None."""
        path = self.path(key)
        return path if path.is_file() else None

    def read(self, key: CacheKey) -> pd.DataFrame | None:
        """The cached frame of ``key``, or None on a miss.

        Raises:
            InputError: when the entry is there but unreadable (delete it, or the cache folder).
        """
        path = self.get(key)
        if path is None:
            return None
        with reading(path, "cache entry"):
            return pd.read_feather(path)

    def put(self, key: CacheKey, frame: pd.DataFrame) -> Path:
        """Store ``frame`` as the entry of ``key`` (atomically) and remove the entries of the same
        pair, timeframe and settings computed from other input data.

        Raises:
            InputError: when the cache folder cannot be written (full disk, permissions).
        """
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with writing(path, "cache entry"):
                frame.reset_index(drop=True).to_feather(tmp)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        for stale in self.root.glob(f"{_glob_escape(key.prefix)}*.feather"):
            if stale.name != path.name:
                stale.unlink(missing_ok=True)
        return path


def _glob_escape(text: str) -> str:
    """``text`` with glob's special characters (``*?[``) matched literally."""
    return re.sub(r"([*?[])", r"[\1]", text)
