"""Nothing secret ships, nothing listens beyond 127.0.0.1, nothing read is executed, and every
command-line path is checked with a message that names it.

* ``config.json.example`` parsed: API server off and bound to 127.0.0.1, every key/secret/password/
  token empty or a ``CHANGE_ME`` placeholder, Telegram and every other outbound channel off.
* The offline exchange refuses to bind or point Freqtrade at anything but loopback.
* No module of the package, the strategies or the benchmarks unpickles or executes what it reads
  (``pickle``, ``eval``/``exec``, ``read_pickle``, ``np.load(allow_pickle=True)``, unsafe YAML,
  ``shell=True``): an AST scan that fails as soon as one appears.
* Every ``liq-indicator`` subcommand (``cli.COMMANDS``) given a missing path, or a file where a
  folder is expected (and the reverse), exits with code 2 and a message naming the path.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, make_candles

from liq_indicator.cli import COMMANDS, main
from liq_indicator.errors import ConfigError
from liq_indicator.offline.overlay import exchange_overlay
from liq_indicator.offline.server import check_loopback_host

EXAMPLE_CONFIG = REPO / "config.json.example"
#: words of a config key that make its value a credential (Freqtrade's exchange section has key,
#: secret, password, uid, walletAddress, privateKey; the API server jwt_secret_key, ws_token, ...)
SECRET_WORDS = {"key", "secret", "password", "passphrase", "token", "uid", "private"}
PLACEHOLDER = "CHANGE_ME"
LOOPBACK = ("127.0.0.1", "localhost")


# ------------------------------------------------------------------------------------------------
# the example config


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, value) pair of a parsed JSON document."""
    if isinstance(node, dict):
        return [
            item for k, v in node.items() for item in [(f"{path}{k}", v), *_walk(v, f"{path}{k}.")]
        ]
    if isinstance(node, list):
        return [item for i, v in enumerate(node) for item in _walk(v, f"{path}{i}.")]
    return []


def _is_credential(name: str) -> bool:
    words = re.split(r"_|-|(?<=[a-z])(?=[A-Z])", name)
    return name == "walletAddress" or any(word.lower() in SECRET_WORDS for word in words)


def _config_files() -> list[Path]:
    return [EXAMPLE_CONFIG, *sorted((REPO / "tests" / "fixtures").rglob("*.json"))]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return json.loads(EXAMPLE_CONFIG.read_text())


def test_credential_names_are_recognised():
    for name in (
        "key",
        "secret",
        "password",
        "uid",
        "walletAddress",
        "privateKey",
        "jwt_secret_key",
        "ws_token",
        "token",
        "apiKey",
    ):
        assert _is_credential(name), name
    for name in (
        "dry_run_wallet",
        "liquidation_buffer",
        "pair_blacklist",
        "chat_id",
        "listen_port",
        "listen_ip_address",
    ):
        assert not _is_credential(name), name


@pytest.mark.parametrize("path", _config_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_hold_no_secret(path: Path):
    found = [
        (where, value)
        for where, value in _walk(json.loads(path.read_text()))
        if _is_credential(where.rsplit(".", 1)[-1])
        and not isinstance(value, dict | bool)
        and value not in ("", [], None)
        and not (isinstance(value, str) and value.startswith(PLACEHOLDER))
    ]
    assert not found, f"{path.name}: credentials that are neither empty nor {PLACEHOLDER}: {found}"


def test_example_config_exposes_nothing_beyond_loopback(example):
    api = example.get("api_server", {})
    assert api.get("enabled") is False, "the API server must be off in the example"
    assert api.get("listen_ip_address") in LOOPBACK, "and bound to 127.0.0.1 if someone enables it"
    assert not api.get("CORS_origins"), "no cross-origin access"
    for credential in ("jwt_secret_key", "ws_token", "username", "password"):
        assert str(api.get(credential, PLACEHOLDER)).startswith(PLACEHOLDER), credential
    for channel in ("telegram", "discord", "webhook", "external_message_consumer"):
        assert example.get(channel, {}).get("enabled", False) is False, f"{channel} must be off"
    assert example.get("dry_run") is True
    assert example.get("force_entry_enable", False) is False
    exchange = example["exchange"]
    assert exchange["key"] == "" and exchange["secret"] == ""
    assert not exchange.get("ccxt_config") and not exchange.get("ccxt_async_config"), (
        "no proxies, URLs or credentials hidden in the ccxt options"
    )


# ------------------------------------------------------------------------------------------------
# the offline exchange: loopback only


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "::",
        "",
        "192.168.1.10",
        "10.0.0.1",
        "127.0.0.2",
        "::1",
        "localhost.example.com",
        "127.0.0.1 ",
        "example.com",
    ],
)
def test_offline_exchange_refuses_other_hosts(host: str):
    with pytest.raises(ConfigError, match="refusing to listen"):
        check_loopback_host(host)


@pytest.mark.parametrize(
    "url",
    [
        "http://0.0.0.0:8000",
        "http://192.168.1.10:8000",
        "https://127.0.0.1:8000",
        "http://127.0.0.1",
        "http://example.com:80",
        "http://127.0.0.1.example.com:8000",
    ],
)
def test_overlay_refuses_non_loopback_urls(url: str):
    with pytest.raises(ConfigError, match="loopback"):
        exchange_overlay(url)


def test_an_offline_run_calls_nothing_outside(example):
    merged = {**example, **exchange_overlay("http://127.0.0.1:8123")}
    assert not merged.get("fiat_display_currency")


def test_overlay_sends_every_api_to_loopback():
    urls = exchange_overlay("http://127.0.0.1:8123")["exchange"]["ccxt_config"]["urls"]["api"]
    assert urls and all(u.startswith("http://127.0.0.1:8123/") for u in urls.values())


# ------------------------------------------------------------------------------------------------
# nothing read is unpickled or executed

SCANNED = [REPO / "liq_indicator", REPO / "user_data" / "strategies", REPO / "benchmarks"]
BANNED_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "cloudpickle",
    "dill",
    "marshal",
    "shelve",
    "runpy",
}
#: names that unpickle, from modules that are otherwise fine (joblib's Parallel pickles only the
#: package's own tasks between its own processes; joblib.load unpickles a file)
BANNED_FROM = {"joblib": {"load"}}
BANNED_BUILTINS = {"eval", "exec", "compile", "execfile", "__import__"}
BANNED_ATTRIBUTES = {"read_pickle", "unsafe_load", "full_load", "load_pickle", "eval", "exec"}


def _offences(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [
                (node.lineno, f"import {n}") for n in names if n.split(".")[0] in BANNED_MODULES
            ]
            if isinstance(node, ast.ImportFrom):
                found += [
                    (node.lineno, f"from {node.module} import {a.name}")
                    for a in node.names
                    if a.name in BANNED_FROM.get(node.module or "", ())
                ]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in BANNED_BUILTINS:
                found.append((node.lineno, f"{func.id}()"))
            if isinstance(func, ast.Attribute) and func.attr in BANNED_ATTRIBUTES:
                found.append((node.lineno, f".{func.attr}()"))
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "load"
                and isinstance(func.value, ast.Name)
                and func.value.id in {"yaml", "torch", "joblib"}
            ):
                found.append((node.lineno, f"{func.value.id}.load()"))
            for kw in node.keywords:
                if kw.arg in {"allow_pickle", "shell"} and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append((node.lineno, f"{kw.arg}={ast.unparse(kw.value)}"))
        elif isinstance(node, ast.Name) and node.id in {"pickle", "marshal"}:
            found.append((node.lineno, node.id))
    return found


def _python_files() -> list[Path]:
    return sorted(p for root in SCANNED if root.exists() for p in root.rglob("*.py"))


def test_the_scan_catches_what_it_bans():
    bad = (
        "import pickle\nfrom dill import loads\nx = eval(s)\nexec(code)\npd.read_pickle(p)\n"
        "np.load(p, allow_pickle=True)\nyaml.load(f)\nsubprocess.run(c, shell=True)\ndf.eval('a+b')\n"
        "from joblib import load\njoblib.load(p)\n"
    )
    assert len(_offences(ast.parse(bad))) == 11
    fine = (
        "np.load(p)\nnp.load(p, allow_pickle=False)\nre.compile('x')\npd.read_feather(p)\n"
        "from joblib import Parallel, delayed\n"
    )
    assert _offences(ast.parse(fine)) == []


def test_nothing_read_is_unpickled_or_executed():
    files = _python_files()
    assert len(files) > 20, "the scan must see the package"
    found = {
        str(p.relative_to(REPO)): hits
        for p in files
        if (hits := _offences(ast.parse(p.read_text(encoding="utf-8"), str(p))))
    }
    assert not found, f"unpickling or code execution in the tools: {found}"


# ------------------------------------------------------------------------------------------------
# every path argument of every subcommand is checked


#: (command, arguments, the path the message must name). Placeholders: {file} an existing file,
#: {missing} a path that does not exist, {folder} an empty folder, {datadir} a datadir with 5m BTC
#: candles, {userdir} an existing user dir; {data} the data options of heatmap/map.
PATH_CASES: list[tuple[str, str, str]] = [
    ("calibrate", "--truth {missing}.csv --datadir {datadir}", "missing"),
    ("calibrate", "--truth {folder} --datadir {datadir}", "folder"),
    ("calibrate", "--truth binance_4h --datadir {missing}", "missing"),
    ("calibrate", "--truth binance_4h --datadir {file}", "file"),
    ("calibrate", "--truth binance_4h --datadir {datadir} --out {folder}", "folder"),
    ("features", "--datadir {missing}", "missing"),
    ("features", "--datadir {file}", "file"),
    ("features", "--datadir {datadir} --output {file}/out.feather", "file"),
    ("features", "--datadir {datadir} --pairs-file {missing}", "missing"),
    ("features", "--datadir {datadir} --pairs-file {folder}", "folder"),
    ("features", "--datadir {datadir} --all --output-dir {file}", "file"),
    ("features", "--datadir {datadir} --all --output-dir {file}/sub", "file"),
    ("features", "--datadir {datadir} --all --cache-dir {file}", "file"),
    ("features", "--datadir {datadir} --all --cache-dir {file}/sub", "file"),
    ("simulate", "--days 1 --quiet --datadir {file}", "file"),
    ("simulate", "--days 1 --quiet --datadir {file}/sub", "file"),
    ("validate", "--data {missing}", "missing"),
    ("validate", "--data {file}", "file"),
    ("validate", "--data {datadir} --img-dir {file}", "file"),
    ("validate", "--data {datadir} --out {file}/VALIDATION.md", "file"),
    ("validate", "--data {datadir} --out {folder}", "folder"),
    ("exchange", "--datadir {missing} --max-seconds 1", "missing"),
    ("exchange", "--datadir {file} --max-seconds 1", "file"),
    ("exchange", "--datadir {datadir} --overlay {folder} --max-seconds 1", "folder"),
    ("exchange", "--datadir {datadir} --overlay {file}/offline.json --max-seconds 1", "file"),
    *[
        (command, args, named)
        for command in ("heatmap", "map")
        for args, named in [
            ("--userdir {userdir} --datadir {missing}", "missing"),
            ("--userdir {userdir} --datadir {file}", "file"),
            ("--userdir {missing} --datadir {datadir}", "missing"),
            ("--config {missing} --userdir {userdir}", "missing"),
            ("--config {folder} --userdir {userdir}", "folder"),
            ("{data} --plot-dir {file}", "file"),
            ("{data} --plot-dir {missing}/sub", "missing"),
        ]
    ],
    ("heatmap", "{data} --backtest-filename {missing}", "missing"),
    ("heatmap", "{data} --backtest-filename {folder}", "folder"),
    ("import-oi", "{missing} --datadir {datadir}", "missing"),
    ("import-oi", "{folder} --datadir {datadir}", "folder"),
    ("import-oi", "{file} --datadir {missing}", "missing"),
    ("import-oi", "{file} --datadir {file}", "file"),
    ("exchange", "--datadir {datadir} --liquidations {missing}.csv", "missing"),
    ("record", "--datadir {file} --max-seconds 1", "file"),
    ("record", "--datadir {file}/sub --max-seconds 1", "file"),
    ("tiers", "--exchange bybit --pairs ETH/USDT:USDT --datadir {file}", "file"),
    ("tiers", "--exchange okx --pairs ETH/USDT:USDT --datadir {file}/sub", "file"),
]


def test_every_command_has_path_cases():
    assert {name for _, name, _ in COMMANDS} == {command for command, _, _ in PATH_CASES}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The placeholders of PATH_CASES, in a scratch folder that is also the working directory
    (nothing may be written into the repo by a failing command)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file.txt").write_text("not a folder")
    datadir = tmp_path / "data" / "binance"
    (datadir / "futures").mkdir(parents=True)
    make_candles(300).to_feather(datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    (tmp_path / "user_data").mkdir()
    (tmp_path / "a_folder").mkdir()
    names = {
        "file": "a_file.txt",
        "missing": "no_such_thing",
        "folder": "a_folder",
        "datadir": "data/binance",
        "userdir": "user_data",
    }
    places = {key: str(tmp_path / name) for key, name in names.items()}
    places["data"] = (
        f"--userdir {places['userdir']} --datadir {places['datadir']} --pairs BTC/USDT:USDT -i 5m"
    )
    return places


@pytest.mark.parametrize(
    ("command", "args", "named"), PATH_CASES, ids=[f"{c} {a} ({n})" for c, a, n in PATH_CASES]
)
def test_every_path_argument_is_checked(
    command: str, args: str, named: str, scratch: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    argv = args.format(**scratch).split()
    assert main([command, *argv]) == 2  # a traceback fails this test with the traceback
    err = capsys.readouterr().err
    assert Path(scratch[named]).name in err, err
    assert err.startswith(f"liq-indicator {command}: error: "), err
