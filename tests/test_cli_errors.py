"""Bad files, bad folders and bad option values end every ``liq-indicator`` command with exit
code 2 and one line naming the path or value: never a traceback, never a hang.

``tests/test_security.py`` covers paths that are missing or of the wrong kind (a file for a
folder and the reverse); this file covers what is wrong *inside* or *about* an existing path:

* content: truncated or garbage feather files, non-UTF-8 config / CSV / backtest JSON, encrypted
  zips, a zip that inflates far beyond a metrics file (refused before it is inflated);
* kind: a folder or a named pipe where a file is expected (the pipe is refused before it is
  opened, so these run under a timeout), an output path that is a folder;
* permission: unreadable files and folders, read-only output and plot folders. Tests run as
  root, where ``chmod`` stops nothing, so those commands run with the effective user ``nobody``;
* option values: every numeric and timeframe option of every subcommand refuses NaN, infinities,
  negatives and words at argparse level (exit 2, ``argument --x: 'value' ...``).
"""

from __future__ import annotations

# the permission cases run commands as `nobody`, who may be unable to import what is imported
# lazily (the interpreter's folder may be private to root) or to write the numba and matplotlib
# caches a first import creates: import all of it here, as the test's own user
import email.parser  # noqa: F401
import encodings.cp437  # noqa: F401  (zip member names)
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import make_candles

import liq_indicator.estimator  # noqa: F401
import liq_indicator.plot.figures  # noqa: F401
import liq_indicator.research.validation  # noqa: F401
import liq_indicator.sim.market  # noqa: F401
from liq_indicator.cli import build_parser, main
from liq_indicator.errors import InputError
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.oi_import import MEMBER_LIMIT, METRICS_COLUMNS, read_metrics
from liq_indicator.io.paths import input_file, output_dir, read_zip_member

PAIR = "BTC/USDT:USDT"
CLI = Path(sys.executable).with_name("liq-indicator")
NOBODY = 65534


# ------------------------------------------------------------------------------------------------
# building bad inputs


def _metrics_text(n: int = 12) -> str:
    rows = [
        f"2024-01-01 00:{5 * i:02d}:00,BTCUSDT,{80_000 + i},{(80_000 + i) * 40_000},1.1,1.2,1.3,0.9"
        for i in range(n)
    ]
    return "\n".join([",".join(METRICS_COLUMNS), *rows]) + "\n"


def _write_zip(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return path


def _set_zip_header(
    path: Path, *, encrypted: bool = False, declared_size: int | None = None
) -> Path:
    """Rewrite the headers of every member of the zip at ``path``: the 'encrypted' flag bit (what
    `zip -e` sets) and/or a false uncompressed size, in both the local and the central headers."""
    raw = bytearray(path.read_bytes())
    for signature, flag_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        start = raw.find(signature)
        assert start >= 0, f"{path} has no {signature!r} header"
        while start >= 0:
            if encrypted:
                raw[start + flag_at] |= 0x01
            if declared_size is not None:
                raw[start + size_at : start + size_at + 4] = declared_size.to_bytes(4, "little")
            start = raw.find(signature, start + 4)
    path.write_bytes(bytes(raw))
    return path


def _datadir(root: Path, name: str, candle_writer=None) -> Path:
    """``root/name/binance`` with 5m BTC candles, written by ``candle_writer(path)`` if given."""
    datadir = root / name / "binance"
    path = pair_file(datadir, PAIR, "5m")
    path.parent.mkdir(parents=True)
    if candle_writer is None:
        make_candles(300).to_feather(path)
    else:
        candle_writer(path)
    return datadir


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder that every user can enter and write (tmp_path's parents are private to root, which
    would make every path fail for `nobody` for the wrong reason); also the working directory,
    so a failing command writes nothing into the repository."""
    root = Path(tempfile.mkdtemp(prefix="liq-cli-errors-"))
    root.chmod(0o777)
    monkeypatch.chdir(root)
    yield root
    for p in (root, *root.rglob("*")):  # give back what the cases locked, then remove it
        if not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(root)


@pytest.fixture
def places(scratch: Path) -> dict[str, str]:
    """The placeholders of the case tables below."""
    good = _datadir(scratch, "good")
    user = scratch / "user_data"
    (user / "plot").mkdir(parents=True)
    good_bytes = pair_file(good, PAIR, "5m").read_bytes()

    # a good datadir whose 1h funding file is truncated (a side series is read like the candles)
    bad_side = _datadir(scratch, "bad_side")
    pair_file(bad_side, PAIR, "1h", "funding_rate").write_bytes(good_bytes[: len(good_bytes) // 2])
    # an existing open-interest file that import-oi must merge with, truncated
    bad_oi = _datadir(scratch, "bad_oi")
    pair_file(bad_oi, PAIR, "5m", "open_interest").write_bytes(good_bytes[:600])

    metrics = scratch / "BTCUSDT-metrics-2024-01-01.zip"
    _write_zip(metrics, "BTCUSDT-metrics-2024-01-01.csv", _metrics_text().encode())
    latin1_csv = scratch / "latin1.csv"
    latin1_csv.write_bytes(_metrics_text().replace("BTCUSDT", "BTC\xe9USDT").encode("latin-1"))
    latin1_zip = _write_zip(scratch / "latin1.zip", "latin1.csv", latin1_csv.read_bytes())
    encrypted = _set_zip_header(
        _write_zip(
            scratch / "encrypted.zip", "BTCUSDT-metrics-2024-01-01.csv", _metrics_text().encode()
        ),
        encrypted=True,
    )
    # headers that claim 2 KB for a 600 KB member: zipfile stops at the claim, the CRC disagrees
    lying = _set_zip_header(
        _write_zip(
            scratch / "lying.zip", "BTCUSDT-metrics-2024-01-01.csv", _metrics_text(6000).encode()
        ),
        declared_size=2048,
    )

    cfg_latin1 = scratch / "config-latin1.json"
    cfg_latin1.write_bytes('{"timeframe": "5m", "bot_name": "caf\xe9"}'.encode("latin-1"))
    cfg_bad_tf = scratch / "config-bad-timeframe.json"
    cfg_bad_tf.write_text('{"timeframe": "abc"}')
    bt_latin1 = scratch / "backtest-result-latin1.json"
    bt_latin1.write_bytes('{"strategy": {"S\xe9": {"trades": []}}}'.encode("latin-1"))
    bt_latin1_zip = _write_zip(
        scratch / "backtest-result-2024-01-01_00-00-00.zip",
        "backtest-result-2024-01-01_00-00-00.json",
        bt_latin1.read_bytes(),
    )
    bt_encrypted = _set_zip_header(
        _write_zip(
            scratch / "backtest-result-2024-01-02_00-00-00.zip",
            "backtest-result-2024-01-02_00-00-00.json",
            b'{"strategy": {}}',
        ),
        encrypted=True,
    )
    truth_latin1 = scratch / "shared_latin1"
    (truth_latin1 / "truth").mkdir(parents=True)
    (truth_latin1 / "truth" / "btc_liquidations_oi_1h_all_exchanges.csv").write_bytes(
        "date,liquidation_long_usd\n2024-01-01 00:00:00,1\xe9\n".encode("latin-1")
    )
    (scratch / "out.feather").mkdir()  # a folder with a file's name

    fifo = scratch / "fifo"
    fifo.mkdir()
    for name in ("metrics.csv", "config.json", "backtest-result.json", "out.feather"):
        os.mkfifo(fifo / name)

    places = {
        "good": good,
        "user": user,
        "scratch": scratch,
        "metrics": metrics,
        "truncated": _datadir(scratch, "truncated", lambda p: p.write_bytes(good_bytes[:500])),
        "garbage": _datadir(
            scratch, "garbage", lambda p: p.write_text("date,open\n2024-01-01,1\n")
        ),
        "empty": _datadir(scratch, "empty", lambda p: p.write_bytes(b"")),
        "dir_as_file": _datadir(scratch, "dir_as_file", lambda p: p.mkdir()),
        "fifo_dd": _datadir(scratch, "fifo_dd", os.mkfifo),
        "bad_side": bad_side,
        "bad_oi": bad_oi,
        "latin1_csv": latin1_csv,
        "latin1_zip": latin1_zip,
        "encrypted": encrypted,
        "lying": lying,
        "cfg_latin1": cfg_latin1,
        "cfg_bad_tf": cfg_bad_tf,
        "bt_latin1": bt_latin1,
        "bt_latin1_zip": bt_latin1_zip,
        "bt_encrypted": bt_encrypted,
        "truth_latin1": truth_latin1,
        "fifo": fifo,
    }
    for p in scratch.rglob("*"):  # open to all (the permission cases lock one path each)
        if not stat.S_ISFIFO(p.lstat().st_mode):
            p.chmod(0o777 if p.is_dir() else 0o666)
    places = {key: str(value) for key, value in places.items()}
    places["data"] = f"--userdir {user} --datadir {good} --pairs {PAIR} -i 5m"
    return places


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _assert_clean_error(code: int, err: str, command: str, named: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith(f"liq-indicator {command}: error: ") and err.count("\n") == 1, err
    assert named in err, err


# ------------------------------------------------------------------------------------------------
# content and kind: (command, arguments, what the message must name, a word it must hold)

CONTENT_CASES: list[tuple[str, str, str, str]] = [
    # truncated, garbage, empty feather files; a folder where the candle file should be
    *[
        (command, f"{{data_of_{name}}}", "BTC_USDT_USDT-5m-futures.feather", word)
        for command in ("features", "heatmap", "map")
        for name, word in (
            ("truncated", "truncated or corrupt"),
            ("garbage", "truncated or corrupt"),
            ("empty", "truncated or corrupt"),
            ("dir_as_file", "is a folder"),
        )
    ],
    (
        "features",
        "--datadir {bad_side}",
        "BTC_USDT_USDT-1h-funding_rate.feather",
        "truncated or corrupt",
    ),
    (
        "import-oi",
        "{metrics} --datadir {bad_oi}",
        "BTC_USDT_USDT-5m-open_interest.feather",
        "truncated or corrupt",
    ),
    # not UTF-8
    ("heatmap", "--config {cfg_latin1} {data}", "config-latin1.json", "not UTF-8"),
    ("map", "--config {cfg_latin1} {data}", "config-latin1.json", "not UTF-8"),
    ("import-oi", "{latin1_csv} --datadir {good}", "latin1.csv", "not UTF-8"),
    ("import-oi", "{latin1_zip} --datadir {good}", "latin1.zip", "not UTF-8"),
    (
        "heatmap",
        "{data} --backtest-filename {bt_latin1}",
        "backtest-result-latin1.json",
        "not UTF-8",
    ),
    (
        "heatmap",
        "{data} --backtest-filename {bt_latin1_zip}",
        "backtest-result-2024-01-01_00-00-00",
        "not UTF-8",
    ),
    (
        "validate",
        "--data {truth_latin1} --out {scratch}/V.md --img-dir {scratch}/img --sim-days 0",
        "btc_liquidations_oi_1h_all_exchanges.csv",
        "not UTF-8",
    ),
    # zips: encrypted, or headers that lie about the size
    ("import-oi", "{encrypted} --datadir {good}", "encrypted.zip", "encrypted"),
    (
        "heatmap",
        "{data} --backtest-filename {bt_encrypted}",
        "backtest-result-2024-01-02_00-00-00",
        "encrypted",
    ),
    ("import-oi", "{lying} --datadir {good}", "lying.zip", "corrupt"),
    # an output path that is a folder, a config value that is not a timeframe
    ("features", "--datadir {good} --output {scratch}/out.feather", "out.feather", "is a folder"),
    ("heatmap", "--config {cfg_bad_tf} --userdir {user} --datadir {good}", "'abc'", "timeframe"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "args", "named", "word"),
    CONTENT_CASES,
    ids=[f"{c} {a} ({n})" for c, a, n, _ in CONTENT_CASES],
)
def test_bad_content_is_named(
    command: str,
    args: str,
    named: str,
    word: str,
    places: dict[str, str],
    capsys: pytest.CaptureFixture[str],
):
    fill = {
        **places,
        **{
            f"data_of_{k}": f"--datadir {places[k]}"
            + (f" --userdir {places['user']}" if command != "features" else "")
            for k in ("truncated", "garbage", "empty", "dir_as_file")
        },
    }
    code, err = _run([command, *args.format(**fill).split()], capsys)
    _assert_clean_error(code, err, command, named)
    assert word in err, err


# a named pipe is refused before it is opened: opening one for reading (or writing) blocks until a
# writer (a reader) appears, i.e. forever
FIFO_CASES: list[tuple[str, str, str]] = [
    ("features", "--datadir {fifo_dd}", "BTC_USDT_USDT-5m-futures.feather"),
    ("heatmap", "--datadir {fifo_dd} --userdir {user}", "BTC_USDT_USDT-5m-futures.feather"),
    ("map", "--datadir {fifo_dd} --userdir {user}", "BTC_USDT_USDT-5m-futures.feather"),
    ("features", "--datadir {good} --output {fifo}/out.feather", "out.feather"),
    ("import-oi", "{fifo}/metrics.csv --datadir {good}", "metrics.csv"),
    ("heatmap", "--config {fifo}/config.json {data}", "config.json"),
    ("heatmap", "{data} --backtest-filename {fifo}/backtest-result.json", "backtest-result.json"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("command", "args", "named"), FIFO_CASES, ids=[f"{c} {a}" for c, a, _ in FIFO_CASES]
)
def test_a_named_pipe_is_refused_without_blocking(
    command: str, args: str, named: str, places: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    code, err = _run([command, *args.format(**places).split()], capsys)
    _assert_clean_error(code, err, command, named)
    assert "named pipe" in err or "not a regular file" in err, err


@pytest.mark.timeout(30)
def test_the_installed_command_refuses_a_named_pipe(places: dict[str, str]):
    """Through the console script, as a user runs it: exit 2, one line, no traceback, no hang."""
    proc = subprocess.run(
        [str(CLI), "features", "--datadir", places["fifo_dd"]],
        capture_output=True,
        text=True,
        timeout=25,
        cwd=places["scratch"],
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "BTC_USDT_USDT-5m-futures.feather" in proc.stderr and "named pipe" in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.timeout(30)
def test_the_installed_command_reports_a_truncated_feather(places: dict[str, str]):
    proc = subprocess.run(
        [str(CLI), "heatmap", "--datadir", places["truncated"], "--userdir", places["user"]],
        capture_output=True,
        text=True,
        timeout=25,
        cwd=places["scratch"],
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{places['truncated']}/futures/BTC_USDT_USDT-5m-futures.feather" in proc.stderr


# ------------------------------------------------------------------------------------------------
# zip members: encrypted, or inflating far beyond a metrics file


def test_a_zip_bomb_is_refused_before_it_is_inflated(
    scratch: Path, capsys: pytest.CaptureFixture[str]
):
    """A few hundred KB of zip holding more than MEMBER_LIMIT of CSV: refused from its header,
    with (almost) nothing allocated; the same member under the limit is read."""
    bomb = _write_zip(
        scratch / "BTCUSDT-metrics-2024-01-01.zip",
        "BTCUSDT-metrics-2024-01-01.csv",
        _metrics_text().encode() + b"\n" * MEMBER_LIMIT,
    )
    assert bomb.stat().st_size < MEMBER_LIMIT // 100
    tracemalloc.start()
    with pytest.raises(
        InputError, match=r"BTCUSDT-metrics-2024-01-01.csv' inflates to more than 64 MiB"
    ):
        read_metrics([bomb])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse the archive"
    (scratch / "binance").mkdir()
    code, err = _run(["import-oi", str(bomb), "--datadir", str(scratch / "binance")], capsys)
    _assert_clean_error(code, err, "import-oi", "BTCUSDT-metrics-2024-01-01.zip")


def test_a_member_header_that_lies_about_its_size(scratch: Path):
    """A header that understates the size cannot smuggle more bytes in (zipfile stops at the
    claim and the CRC check fails: an InputError, not a traceback); one over the cap is refused."""
    path = _write_zip(scratch / "m.zip", "m.csv", b"x" * 5000)
    with zipfile.ZipFile(path) as zf:
        assert read_zip_member(zf, "m.csv", path, limit=5000) == b"x" * 5000
        zf.getinfo("m.csv").file_size = 100  # a header that understates what follows
        with pytest.raises(InputError, match="m.zip:m.csv' is corrupt"):
            read_zip_member(zf, "m.csv", path, limit=4000)
    with (
        zipfile.ZipFile(path) as zf,
        pytest.raises(InputError, match="m.csv' inflates to more than"),
    ):
        read_zip_member(zf, "m.csv", path, limit=4000)


def test_an_oversized_csv_is_refused(scratch: Path):
    big = scratch / "big.csv"
    with big.open("wb") as fh:
        fh.write(_metrics_text().encode())
        fh.truncate(MEMBER_LIMIT + 10)
    with pytest.raises(InputError, match="big.csv' is larger than 64 MiB"):
        read_metrics([big])


def test_good_archives_still_read(places: dict[str, str]):
    """The checks refuse only what is wrong: a plain archive and CSV of the same day are read."""
    csv = Path(places["scratch"]) / "plain.csv"
    csv.write_text(_metrics_text())
    assert len(read_metrics([places["metrics"]])) == len(read_metrics([csv])) == 12


# ------------------------------------------------------------------------------------------------
# permissions: unreadable inputs, read-only outputs


@contextmanager
def _unprivileged() -> Iterator[None]:
    """Run the block as `nobody` when the tests run as root (for whom permissions stop nothing)."""
    if os.geteuid() != 0:
        yield
        return
    groups, gid = os.getgroups(), os.getegid()
    os.setgroups([])
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(gid)
        os.setgroups(groups)


#: (command, arguments, path to lock: (placeholder, relative path, mode), what the message names,
#: a word it must hold)
PERMISSION_CASES: list[tuple[str, str, tuple[str, str, int], str, str]] = [
    (
        "features",
        "--datadir {good}",
        ("good", "futures/BTC_USDT_USDT-5m-futures.feather", 0o000),
        "BTC_USDT_USDT-5m-futures.feather",
        "permission denied",
    ),
    ("features", "--datadir {good}", ("good", "", 0o000), "good/binance", "permission denied"),
    (
        "heatmap",
        "{data}",
        ("good", "futures/BTC_USDT_USDT-5m-futures.feather", 0o000),
        "BTC_USDT_USDT-5m-futures.feather",
        "permission denied",
    ),
    ("map", "{data}", ("good", "", 0o000), "good/binance", "permission denied"),
    (
        "heatmap",
        "--config {scratch}/cfg.json {data}",
        ("scratch", "cfg.json", 0o000),
        "cfg.json",
        "permission denied",
    ),
    (
        "import-oi",
        "{metrics} --datadir {good}",
        ("metrics", "", 0o000),
        "BTCUSDT-metrics-2024-01-01.zip",
        "permission denied",
    ),
    (
        "heatmap",
        "{data} --backtest-filename {scratch}/bt.json",
        ("scratch", "bt.json", 0o000),
        "bt.json",
        "permission denied",
    ),
    # read-only outputs
    ("heatmap", "{data} --plot-dir {scratch}/ro", ("scratch", "ro", 0o555), "ro", "not writable"),
    ("map", "{data}", ("user", "plot", 0o555), "plot", "not writable"),
    (
        "heatmap",
        "--userdir {scratch}/ro --datadir {good}",
        ("scratch", "ro", 0o555),
        "ro/plot",
        "not writable",
    ),  # plot/ cannot be made
    (
        "features",
        "--datadir {good} --output {scratch}/ro/out.feather",
        ("scratch", "ro", 0o555),
        "out.feather",
        "not writable",
    ),
    (
        "features",
        "--datadir {good} --output {scratch}/old.csv",
        ("scratch", "old.csv", 0o444),
        "old.csv",
        "cannot be overwritten",
    ),
    (
        "simulate",
        "--days 1 --quiet --datadir {scratch}/ro/sim",
        ("scratch", "ro", 0o555),
        "ro",
        "not writable",
    ),
    (
        "validate",
        "--data {good} --out {scratch}/ro/V.md --img-dir {scratch}/img",
        ("scratch", "ro", 0o555),
        "V.md",
        "not writable",
    ),
    (
        "validate",
        "--data {good} --out {scratch}/V.md --img-dir {scratch}/ro/img",
        ("scratch", "ro", 0o555),
        "img",
        "not writable",
    ),
    (
        "import-oi",
        "{metrics} --datadir {good}",
        ("good", "futures", 0o555),
        "binance/futures",
        "not writable",
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "args", "lock", "named", "word"),
    PERMISSION_CASES,
    ids=[f"{c} {a} ({lk[0]}/{lk[1]} {lk[2]:o})" for c, a, lk, _, _ in PERMISSION_CASES],
)
def test_permissions_are_named(
    command: str,
    args: str,
    lock: tuple[str, str, int],
    named: str,
    word: str,
    places: dict[str, str],
    capsys: pytest.CaptureFixture[str],
):
    scratch = Path(places["scratch"])
    (scratch / "cfg.json").write_text('{"timeframe": "5m"}')
    (scratch / "bt.json").write_text('{"strategy": {"S": {"trades": []}}}')
    (scratch / "ro").mkdir()
    (scratch / "old.csv").write_text("a\n1\n")
    base, rel, mode = lock
    target = Path(places[base]) / rel
    target.chmod(mode)
    argv = [command, *args.format(**places).split()]
    (scratch / "control.txt").write_text("readable")
    with _unprivileged():
        # the control: this user reads and writes beside the locked path, so the error below
        # comes from the lock, not from a folder above it
        input_file(scratch / "control.txt")
        output_dir(scratch / "control")
        code, err = _run(argv, capsys)
    _assert_clean_error(code, err, command, named)
    assert word in err, err


# ------------------------------------------------------------------------------------------------
# option values: refused by argparse, naming the option and the value

BAD_VALUES: list[tuple[str, str, str]] = [
    *[("calibrate", "--folds", v) for v in ("0", "1.5", "x")],
    *[("calibrate", "--warmup-days", v) for v in ("nan", "-1")],
    ("calibrate", "--timeframe", "abc"),
    ("calibrate", "--start", "abc"),
    *[("features", "--timeframe", v) for v in ("abc", "5x", "0m", "-5m", "5")],
    *[("features", "--jobs", v) for v in ("0", "-2", "1.5", "x", "nan")],
    ("features", "--backend", "spark"),
    *[
        (command, option, v)
        for command in ("heatmap", "map")
        for option, values in (
            ("--timeframe", ("abc", "1hour")),
            ("--warmup-days", ("nan", "inf", "-1", "abc")),
        )
        for v in values
    ],
    *[
        ("heatmap", option, v)
        for option in ("--max-times", "--max-price-bins", "--max-candles")
        for v in ("0", "-3", "1.5", "nan")
    ],
    *[("heatmap", "--decades", v) for v in ("-1", "0", "nan", "inf", "-inf")],
    *[("map", "--range-pct", v) for v in ("0", "-5", "101", "nan", "inf")],
    *[("simulate", "--days", v) for v in ("nan", "0", "-1", "inf", "x")],
    *[("simulate", "--timeframe", v) for v in ("abc", "1M", "30s")],
    *[("simulate", "--seed", v) for v in ("-1", "1.5", "x")],
    ("simulate", "--start", "abc"),
    *[("validate", "--sim-days", v) for v in ("nan", "-1", "inf")],
    *[("validate", "--seed", v) for v in ("-1", "x")],
    ("validate", "--sim-scenarios", "calm,bogus"),
    *[("import-oi", "--timeframe", v) for v in ("abc", "3m", "1M", "1")],
    *[("features", "--timeframe", v) for v in ("5min", "1H")],
    *[("exchange", "--replay-lead", v) for v in ("7 days", "0", "-1h", "inf", "nan")],
    *[("exchange", "--max-seconds", v) for v in ("nan", "-1", "0", "x")],
    *[("exchange", "--speed", v) for v in ("0", "nan", "inf")],
    *[("tiers", "--exchange", v) for v in ("kraken", "")],
    *[("record", "--exchanges", v) for v in ("kraken", "hyperliquid")],
    *[("record", "--max-seconds", v) for v in ("0", "-1", "nan", "x")],
    *[("record", "--flush-seconds", v) for v in ("0", "nan", "inf")],
    *[("record", "--min-free-mb", v) for v in ("-1", "nan")],
]


@pytest.mark.parametrize(
    ("command", "option", "value"), BAD_VALUES, ids=[f"{c} {o} {v}" for c, o, v in BAD_VALUES]
)
def test_bad_option_values_stop_argparse(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
):
    code, err = _run([command, f"{option}={value}"], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert f"argument {option}" in err or f"/{option}:" in err, err
    assert repr(value) in err, err


def _subparser(command: str):
    actions = build_parser()._subparsers._group_actions[0]  # the sub-command action
    return actions.choices[command]


def test_every_numeric_option_is_checked():
    """No option of these subcommands is parsed with a bare int/float (which accepts nan, inf, -1).
    (``exchange`` checks its numbers in the server, liq_indicator/offline.)"""
    bare = [
        (command, action.option_strings)
        for command in (
            "features",
            "heatmap",
            "map",
            "simulate",
            "validate",
            "import-oi",
            "calibrate",
            "record",
            "tiers",
        )
        for action in _subparser(command)._actions
        if action.type in (int, float)
    ]
    assert not bare, f"options parsed without a range check: {bare}"


def test_good_option_values_parse():
    p = build_parser()
    args = p.parse_args(
        ["heatmap", "-i", "1h", "--warmup-days", "0", "--decades", "2.5", "--max-times", "1"]
    )
    assert (args.timeframe, args.warmup_days, args.decades, args.max_times) == ("1h", 0.0, 2.5, 1)
    assert p.parse_args(["map", "--range-pct", "100"]).range_pct == 100.0
    args = p.parse_args(
        ["simulate", "--datadir", "d", "--days", "0.5", "--timeframe", "1m", "--seed", "0"]
    )
    assert (args.days, args.timeframe, args.seed) == (0.5, "1m", 0)
    assert p.parse_args(
        ["validate", "--sim-scenarios", "calm, cascade", "--sim-days", "0"]
    ).sim_scenarios == ["calm", "cascade"]
    assert (
        p.parse_args(["import-oi", "f.zip", "--datadir", "d", "--timeframe", "1h"]).timeframe
        == "1h"
    )


def test_the_help_still_exits_zero(capsys: pytest.CaptureFixture[str]):
    assert main(["heatmap", "--help"]) == 0
    assert "--warmup-days" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# data the user meant: the pair's Freqtrade spelling, a timeframe's, a coarser timeframe, --at


@pytest.mark.parametrize(("value", "meant"), [("5min", "5m"), ("1H", "1h"), ("4 hours", "4h")])
def test_a_misspelled_timeframe_gets_freqtrades_spelling(
    value: str, meant: str, capsys: pytest.CaptureFixture[str]
):
    code, err = _run(["map", "--timeframe", value], capsys)
    assert code == 2 and f"did you mean {meant!r}?" in err, err


@pytest.mark.parametrize("pair", ["BTC/USDT", "BTCUSDT", "btc/usdt:usdt"])
def test_a_pair_in_another_spelling_gets_did_you_mean(
    pair: str, scratch: Path, capsys: pytest.CaptureFixture[str]
):
    datadir = _datadir(scratch, "good")
    code, err = _run(
        ["map", "--datadir", str(datadir), "--plot-dir", str(scratch), "--pairs", pair], capsys
    )
    _assert_clean_error(code, err, "map", f"no candles for {pair}")
    assert "did you mean BTC/USDT:USDT?" in err and "5m candles there" in err, err


@pytest.mark.parametrize("pair", ["LTC/USDT", "LTCUSDT", "LTC/USDT:USDT"])
def test_the_download_command_uses_freqtrades_pair(
    pair: str, scratch: Path, capsys: pytest.CaptureFixture[str]
):
    datadir = _datadir(scratch, "good")
    code, err = _run(
        ["map", "--datadir", str(datadir), "--plot-dir", str(scratch), "--pairs", pair], capsys
    )
    _assert_clean_error(code, err, "map", "freqtrade download-data")
    assert "--pairs LTC/USDT:USDT --timeframes 5m" in err and "did you mean" not in err, err
    assert "it holds BTC/USDT:USDT" in err, err


def test_a_timeframe_no_finer_file_divides_lists_the_timeframes_there(
    scratch: Path, capsys: pytest.CaptureFixture[str]
):
    datadir = _datadir(scratch, "good")
    code, err = _run(
        ["map", "--datadir", str(datadir), "--plot-dir", str(scratch), "-i", "3m"], capsys
    )
    _assert_clean_error(code, err, "map", "no 3m candles for BTC/USDT:USDT")
    assert "the datadir holds 5m" in err and "--timeframes 3m" in err, err


def test_a_coarser_timeframe_is_built_from_finer_candles(
    scratch: Path, capsys: pytest.CaptureFixture[str]
):
    from liq_indicator.io.datadir import load_pair
    from liq_indicator.io.ohlcv import resample_ohlcv

    datadir = _datadir(scratch, "good")
    data = load_pair(datadir, PAIR, "15m")
    five = load_pair(datadir, PAIR, "5m").candles
    expected = resample_ohlcv(five, "15min", origin="epoch")
    # 300 candles of 5m from midnight: 100 whole quarter hours, none left partial
    assert len(data.candles) == len(expected) == 100
    columns = ["date", "open", "high", "low", "close", "volume"]
    assert data.candles[columns].equals(expected[columns])
    assert any("15m candles built from BTC_USDT_USDT-5m-futures.feather" in n for n in data.notes)
    # 300 5m candles = 25 h: the 26th hour has not closed, so it is left out as an exchange would
    assert len(load_pair(datadir, PAIR, "1h").candles) == 25
    assert len(load_pair(datadir, PAIR, "2h").candles) == 12
    with pytest.raises(InputError, match="none finer"):
        load_pair(datadir, PAIR, "15m", resample=False)

    (scratch / "user_data" / "plot").mkdir(parents=True)
    argv = ["map", "--datadir", str(datadir), "-i", "15m", "--format", "png"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: BTC/USDT:USDT: no 15m candle file; 15m candles built from" in out, out
    assert "liq-map-BTC_USDT_USDT-15m-" in out, out


def test_the_cli_says_which_inflow_mode_runs(scratch: Path, capsys: pytest.CaptureFixture[str]):
    from liq_indicator.io.datadir import load_pair

    datadir = _datadir(scratch, "good")
    assert load_pair(datadir, PAIR, "5m").inflow_mode == "volume"
    (scratch / "user_data" / "plot").mkdir(parents=True)
    assert main(["map", "--datadir", str(datadir), "--format", "png"]) == 0
    out = capsys.readouterr().out
    assert "note: BTC/USDT:USDT: inflow from volume (no open-interest file" in out, out

    candles = make_candles(300)
    oi = candles[["date"]].assign(
        open_interest_amount=1e4, open_interest_value=1e4 * candles["close"]
    )
    oi_path = pair_file(datadir, PAIR, "5m", "open_interest")
    oi.to_feather(oi_path)
    assert load_pair(datadir, PAIR, "5m").inflow_mode == "open interest"
    assert main(["map", "--datadir", str(datadir), "--format", "png"]) == 0
    out = capsys.readouterr().out
    assert "note: BTC/USDT:USDT: inflow from open interest (BTC_USDT_USDT-5m-open_interest" in out
    oi.assign(open_interest_amount=0.0, open_interest_value=0.0).to_feather(oi_path)
    data = load_pair(datadir, PAIR, "5m")
    assert data.inflow_mode == "volume"
    assert any("its open interest holds no positive value" in n for n in data.notes)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (
            ["--at", "2023-06-01"],
            "is before the first 5m candle of BTC/USDT:USDT (2024-01-01 00:00",
        ),
        (
            ["--at", "20240101T0500", "--timerange", "20240101T1000-"],
            "is before the start of --timerange",
        ),
    ],
)
def test_map_at_before_the_data_is_named(
    extra: list[str], named: str, scratch: Path, capsys: pytest.CaptureFixture[str]
):
    datadir = _datadir(scratch, "good")
    (scratch / "user_data" / "plot").mkdir(parents=True)
    code, err = _run(["map", "--datadir", str(datadir), *extra], capsys)
    _assert_clean_error(code, err, "map", named)
    assert "(all)" not in err, err


def test_datadir_may_be_the_folder_above_or_the_user_data_dir(scratch: Path):
    from liq_indicator.io.datadir import resolve_datadir

    binance = _datadir(scratch, "user_data/data")
    data = binance.parent
    for given in (binance, data, data.parent):
        assert resolve_datadir(given) == binance
        assert resolve_datadir(given, "binance") == binance
    bybit = data / "bybit"
    pair_file(bybit, PAIR, "5m").parent.mkdir(parents=True)
    make_candles(10).to_feather(pair_file(bybit, PAIR, "5m"))
    assert resolve_datadir(data, "bybit") == bybit
    assert resolve_datadir(data) == binance  # several, binance among them: Freqtrade's default
    shutil.rmtree(binance)
    okx = data / "okx"
    pair_file(okx, PAIR, "5m").parent.mkdir(parents=True)
    make_candles(10).to_feather(pair_file(okx, PAIR, "5m"))
    with pytest.raises(InputError, match=r"several exchanges \(bybit, okx\)"):
        resolve_datadir(data)


def test_features_takes_the_folder_above_and_prints_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from conftest import make_candles

    from liq_indicator.io.datadir import pair_file

    datadir = tmp_path / "user_data" / "data" / "binance"
    (datadir / "futures").mkdir(parents=True)
    candles = make_candles(60, seed=2, start="2024-01-01")
    candles.to_feather(pair_file(datadir, "BTC/USDT:USDT", "5m"))
    for given in (datadir, datadir.parent, datadir.parent.parent):
        code = main(["features", "--datadir", str(given), "--pair", "BTC/USDT:USDT"])
        out = capsys.readouterr().out
        assert code == 0, given
        assert str(candles["date"].iloc[-1])[:16] in out  # the columns are candle dates


def test_features_says_which_inflow_mode_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    import numpy as np
    from conftest import make_candles

    from liq_indicator.io.datadir import pair_file

    datadir = tmp_path / "binance"
    (datadir / "futures").mkdir(parents=True)
    candles = make_candles(60, seed=3, start="2024-01-01")
    candles.to_feather(pair_file(datadir, "BTC/USDT:USDT", "5m"))
    assert main(["features", "--datadir", str(datadir), "--pair", "BTC/USDT:USDT"]) == 0
    assert "inflow from volume (no open interest)" in capsys.readouterr().err
    oi = candles[["date"]].assign(open_interest_value=np.linspace(1e9, 2e9, len(candles)))
    oi.to_feather(pair_file(datadir, "BTC/USDT:USDT", "5m", "open_interest"))
    assert main(["features", "--datadir", str(datadir), "--pair", "BTC/USDT:USDT"]) == 0
    assert "inflow from open interest on 98% of candles" in capsys.readouterr().err
