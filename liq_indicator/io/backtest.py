"""Reading Freqtrade's own files: backtest results and configuration (JSON only, nothing unpickled).

``freqtrade backtesting --export trades`` writes ``backtest-result-<date>.zip`` (older versions: a
``.json``) under ``user_data/backtest_results/`` plus ``.last_result.json`` naming the latest one. The
zip holds ``backtest-result-<date>.json`` with ``{"strategy": {<name>: {"trades": [...]}}}``; that
trade list is what :func:`load_trades` returns, as ``freqtrade.data.btanalysis.load_backtest_data``
would (tests/test_plot.py checks that they agree). A folder's latest result and the config are read
by Freqtrade's own functions (``get_latest_backtest_filename``, ``load_config_file``); the result
itself is not, because Freqtrade inflates a zip member without a size cap and gives a result
without trades as a frame without columns. The zip's ``.pkl`` members (signal candles) are never
opened.

A folder's latest result may be of another period than the one drawn: given ``period``,
:func:`resolve_backtest_file` takes the newest result whose backtested timerange (from its
``.meta.json``, else the result's own ``backtest_start_ts``/``backtest_end_ts``) overlaps it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from liq_indicator.core.inputs import epoch_unit, utc_timestamp
from liq_indicator.errors import InputError, warn_data
from liq_indicator.io.extras import freqtrade_module
from liq_indicator.io.paths import (
    input_file,
    is_folder,
    is_present,
    read_text,
    read_zip_member,
    reading,
)

__all__ = [
    "TRADE_COLUMNS",
    "load_freqtrade_config",
    "load_trades",
    "resolve_backtest_file",
    "result_period",
]

# the columns load_trades guarantees (NaN / False / "" when a result lacks one)
TRADE_COLUMNS = (
    "pair",
    "is_short",
    "open_date",
    "close_date",
    "open_rate",
    "close_rate",
    "amount",
    "stake_amount",
    "leverage",
    "profit_ratio",
    "profit_abs",
    "exit_reason",
    "enter_tag",
    "stop_loss_abs",
    "initial_stop_loss_abs",
    "trade_duration",
)
_LAST_RESULT = ".last_result.json"
#: cap on the inflated size of the result json in a zip (a 10 000-trade result is ~30 MB)
RESULT_MEMBER_LIMIT = 1024 * 2**20


def _stamp(value: Any) -> pd.Timestamp | None:
    """A Freqtrade timestamp (seconds in ``.meta.json``, milliseconds in the result) as UTC;
    None when it is not a number of a unit that puts it between 1990 and 2100.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    unit = epoch_unit(value)
    return None if unit is None else pd.Timestamp(value, unit=unit, tz="UTC")


def _span(entries: dict) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The union of the strategies' (backtest_start_ts, backtest_end_ts)."""
    spans = []
    for entry in entries.values():
        if isinstance(entry, dict):
            a, b = _stamp(entry.get("backtest_start_ts")), _stamp(entry.get("backtest_end_ts"))
            if a is not None and b is not None:
                spans.append((a, b))
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


def result_period(path: str | Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The timerange a backtest result covers (UTC; the union over its strategies).

    Read from ``<stem>.meta.json`` beside the result when it holds ``backtest_start_ts`` /
    ``backtest_end_ts`` (Freqtrade 2023.x and later), else from the result itself.

    Returns:
        (start, end), or None when the result does not say.
    """
    p = Path(path)
    meta = p.with_name(p.stem + ".meta.json")
    if is_present(meta, "backtest metadata") and not is_folder(meta):
        data = _read_json_text(read_text(meta, "backtest metadata"), meta)
        if isinstance(data, dict) and (span := _span(data)) is not None:
            return span
    data = _read_result(p)
    if isinstance(data, dict) and isinstance(data.get("strategy"), dict):
        return _span(data["strategy"])
    return None


def _overlaps(span: tuple[pd.Timestamp, pd.Timestamp] | None, period: tuple[Any, Any]) -> bool:
    if span is None:
        return False
    start, end = (utc_timestamp(t) for t in period)
    return span[0] <= end and span[1] >= start


def _describe(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> str:
    return "an unknown period" if span is None else f"{span[0]:%Y-%m-%d} .. {span[1]:%Y-%m-%d}"


def _covering(folder: Path, latest: Path, period: tuple[Any, Any]) -> Path:
    """The newest result of ``folder`` overlapping ``period`` (``latest`` when it does)."""
    latest_span = result_period(latest)
    if latest_span is None or _overlaps(latest_span, period):
        return latest  # a result that does not say its period is taken as Freqtrade would
    results = sorted(
        (
            q
            for q in folder.glob("backtest-result-*")
            if q.suffix in (".zip", ".json") and not q.name.endswith((".meta.json", "_config.json"))
        ),
        key=lambda q: q.name,
        reverse=True,
    )
    want = f"{pd.Timestamp(period[0]):%Y-%m-%d} .. {pd.Timestamp(period[1]):%Y-%m-%d}"
    for q in results:
        if q != latest and _overlaps(result_period(q), period):
            warn_data(
                f"the latest backtest in {folder} ({latest.name}) covers "
                f"{_describe(latest_span)}, not the drawn period {want}; drawing {q.name} instead"
            )
            return q
    raise InputError(
        f"no backtest result in {folder} covers the drawn period {want} (the latest, "
        f"{latest.name}, covers {_describe(latest_span)}); backtest that period, draw the "
        "result's own period with --timerange, or pass a result file"
    )


def resolve_backtest_file(path: str | Path, *, period: tuple[Any, Any] | None = None) -> Path:
    """The backtest result file ``path`` names: the file itself, or for a folder the latest result
    its ``.last_result.json`` points to (as Freqtrade's ``--backtest-filename`` does).

    Args:
        path: a result file or a backtest_results folder.
        period: (start, end) of the picture: for a folder whose latest result does not overlap
            it, the newest result that does (with a warning naming both).

    Raises:
        InputError: when the path or the file it points to does not exist, or no result of the
            folder overlaps ``period``.
    """
    p = Path(path).expanduser()
    if not is_present(p, "backtest result"):
        raise InputError(
            f"backtest result {str(path)!r} does not exist; pass the .zip (or .json) that "
            "`freqtrade backtesting --export trades` wrote under user_data/backtest_results/"
        )
    if is_folder(p, "backtest results folder"):
        marker = p / _LAST_RESULT
        if not is_present(marker, "backtest result marker") or is_folder(marker):
            raise InputError(
                f"backtest results folder {str(path)!r} has no {_LAST_RESULT}; pass a result file "
                "(backtest-result-<date>.zip) instead"
            )
        input_file(marker, "backtest result marker")  # a pipe or unreadable file: refused first
        btanalysis = freqtrade_module("freqtrade.data.btanalysis", "a backtest results folder")
        with reading(marker, "backtest result marker"):
            try:
                latest = btanalysis.get_latest_backtest_filename(p)
            except ValueError as exc:  # no or a wrong 'latest_backtest' entry, or not JSON
                raise InputError(
                    f"{marker} has no 'latest_backtest' entry ({exc}); pass a result file instead"
                ) from None
        folder, p = p, p / latest
        if not is_present(p, "backtest result"):
            raise InputError(f"{marker} names {latest!r}, which does not exist in {str(path)!r}")
        if period is not None:
            p = _covering(folder, input_file(p, "backtest result"), period)
    return input_file(p, "backtest result")


def _read_json_text(text: str, source: Path | str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON ({exc})") from None


def _read_result(p: Path) -> Any:
    if p.suffix == ".json":
        if p.name.endswith(".meta.json"):
            raise InputError(
                f"{p} is the metadata file of a backtest; pass the result itself "
                f"({p.name.removesuffix('.meta.json')}.zip or .json)"
            )
        return _read_json_text(read_text(p, "backtest result"), p)
    if p.suffix != ".zip":
        raise InputError(
            f"backtest result {str(p)!r} must be a .zip or .json file written by "
            "`freqtrade backtesting --export trades`"
        )
    with reading(p, "backtest result"), zipfile.ZipFile(p) as zf:
        names = zf.namelist()
        member = p.with_suffix(".json").name  # Freqtrade's naming
        if member not in names:  # a renamed zip: the one stats json inside
            candidates = [
                n
                for n in names
                if n.endswith(".json") and not n.endswith(("_config.json", ".meta.json"))
            ]
            if len(candidates) != 1:
                raise InputError(f"{p} holds no backtest-result json (members: {names})")
            member = candidates[0]
        raw = read_zip_member(zf, member, p, limit=RESULT_MEMBER_LIMIT)
    with reading(f"{p}:{member}", "backtest result"):
        return _read_json_text(raw.decode("utf-8"), f"{p}:{member}")


def load_trades(
    path: str | Path,
    *,
    strategy: str | None = None,
    pair: str | None = None,
    period: tuple[Any, Any] | None = None,
) -> pd.DataFrame:
    """The trades of a Freqtrade backtest result, one row per trade, sorted by ``open_date``.

    Args:
        path: a ``backtest-result-*.zip`` / ``.json`` file, or a backtest_results folder (its
            latest result).
        strategy: which strategy of a multi-strategy result; may be omitted when there is one.
        pair: keep only this pair's trades (e.g. ``BTC/USDT:USDT``).
        period: (start, end) drawn: a folder then gives its newest result overlapping it
            (:func:`resolve_backtest_file`). Trades are not cut to it.

    Returns:
        A frame with at least :data:`TRADE_COLUMNS`: UTC ``open_date``/``close_date``, rates,
        ``is_short``, ``profit_ratio``, and the final (``stop_loss_abs``) and initial
        (``initial_stop_loss_abs``) stop prices. Empty (with those columns) when there are none.

    Raises:
        InputError: when the file is missing, unreadable, not a backtest result, or the strategy
            is ambiguous or absent (the message lists the strategies present).
    """
    p = resolve_backtest_file(path, period=period)
    data = _read_result(p)
    if not isinstance(data, dict) or not isinstance(data.get("strategy"), dict):
        raise InputError(
            f"{p} is not a Freqtrade backtest result (no 'strategy' section); results with only a "
            "trade list come from Freqtrade versions before 2021 and are not supported"
        )
    results = data["strategy"]
    if strategy is None:
        if len(results) != 1:
            raise InputError(
                f"{p} holds {len(results)} strategies ({', '.join(results)}); "
                "choose one with --strategy"
            )
        strategy = next(iter(results))
    if strategy not in results:
        raise InputError(f"strategy {strategy!r} is not in {p}; it holds: {', '.join(results)}")
    trades = results[strategy].get("trades")
    if not isinstance(trades, list):
        raise InputError(f"{p}: strategy {strategy!r} has no 'trades' list")
    df = pd.DataFrame.from_records(trades)
    for col in TRADE_COLUMNS:
        if col not in df.columns:
            df[col] = (
                False
                if col == "is_short"
                else ("" if col in ("exit_reason", "enter_tag", "pair") else float("nan"))
            )
    df["open_date"] = pd.to_datetime(df["open_date"], utc=True)
    df["close_date"] = pd.to_datetime(df["close_date"], utc=True)
    df["is_short"] = df["is_short"].fillna(False).astype(bool)
    if pair is not None:
        df = df[df["pair"] == pair]
    out = df.sort_values("open_date", kind="stable").reset_index(drop=True)
    out.attrs["source"] = str(p)  # the file read (a folder's chosen result)
    return out


def load_freqtrade_config(path: str | Path) -> dict[str, Any]:
    """A Freqtrade JSON config as a dict, read by Freqtrade's own ``load_config_file`` (comments
    and trailing commas allowed).

    Raises:
        InputError: when the file is missing, not a readable regular file, not UTF-8, or not a
            JSON object, or Freqtrade is not installed.
    """
    p = input_file(path, "config")  # a pipe, a folder or an unreadable file: refused first
    load_config = freqtrade_module("freqtrade.configuration.load_config", "--config")
    with reading(p, "config"):
        try:
            data = load_config.load_config_file(str(p))
        except Exception as exc:  # Freqtrade's ConfigurationError / OperationalException
            if isinstance(exc, OSError | UnicodeDecodeError):
                raise
            reason = " ".join(str(exc).split())
            raise InputError(f"config {p} is not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise InputError(f"config {p} must hold a JSON object")
    return data
