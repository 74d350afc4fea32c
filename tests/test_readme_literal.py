"""The README, followed literally on a fresh clone (issue #20, "What must be shown", first bullet).

The shell commands are read from README.md's ```bash blocks (so the test follows the README when it
changes) and run, in the README's order, in a fresh copy of the repository's tracked files, with
``../shared/data`` beside the clone as in CI. Instead of the network, the offline exchange
(``liq-indicator exchange``, the README's "Offline" paragraph) serves the shared Binance history,
and every Freqtrade command gets its overlay as the last ``--config``. A README command that cannot
run offline, or would run for hours, is mapped explicitly below (:data:`MAPPINGS`), each mapping
with its reason; every other command runs exactly as the README prints it. Each command is one test
case: it expects rc 0 (the dry run: a computed candle, then a clean stop on SIGTERM).

A failing case is a README problem to report, not to hide here: its message holds the README's
command, the command run, the exit code and the end of the output.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, SHARED_DATA, needs_shared_data

README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
#: the shared Binance history the offline exchange serves as Binance (the brief's "network")
SHARED_BINANCE = SHARED_DATA / "history" / "binance"
#: the CoinGlass Binance BTC daily liquidations (real), the "my_liquidations.csv" of the README
SHARED_DAILY_TRUTH = SHARED_DATA / "truth" / "coinglass_binance_btc_liquidations_1d.csv"
#: the overlay files the offline exchanges write into the clone (the README's offline.json)
OVERLAY = "offline.json"
REPLAY_OVERLAY = "offline-replay.json"
#: the strategy's own INFO line for each computed candle (docs/OFFLINE.md, "What the bot's log says")
CANDLE_LINE = "liquidation map at"
#: hyperopt epochs instead of the README's 200
EPOCHS = "3"
#: the download covers the README's timeranges plus this much before them (2,000 start-up candles of
#: 5m are 6.9 days; the heatmap warms its map up on the days before its range as well)
LEAD = pd.Timedelta(days=14)


# ------------------------------------------------------------------------------------------------
# the README's commands


@dataclass(frozen=True)
class ReadmeCommand:
    """One shell command of a ```bash block: its tokens and its text without the comment."""

    index: int
    argv: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.argv)

    @property
    def id(self) -> str:
        return f"{self.index:02d}-" + "-".join(
            re.sub(r"[^\w.]+", "", a) for a in self.argv[:2] if re.sub(r"[^\w.]+", "", a)
        )


def readme_commands(text: str) -> list[ReadmeCommand]:
    """The shell commands of ``text``'s ```bash blocks, in order.

    Args:
        text: a Markdown document.

    Returns:
        One :class:`ReadmeCommand` per command line: backslash continuations joined, ``#``
        comments and blank lines dropped.
    """
    commands: list[ReadmeCommand] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(ReadmeCommand(len(commands), tuple(argv)))
    return commands


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def readme_timeranges(commands: list[ReadmeCommand]) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """The earliest start and the latest end of the README's ``--timerange`` values (end: None
    when every range is open-ended)."""
    starts, ends = [], []
    for cmd in commands:
        for option, value in zip(cmd.argv, cmd.argv[1:], strict=False):
            if option == "--timerange":
                start, _, end = value.partition("-")
                starts.append(pd.Timestamp(start, tz="UTC"))
                if end:
                    ends.append(pd.Timestamp(end, tz="UTC"))
    assert starts, "the README's commands give no --timerange; the download span needs one"
    return min(starts), max(ends) if ends else None


# ------------------------------------------------------------------------------------------------
# the explicit mappings


class Stale(AssertionError):
    """A mapping no longer fits the README's command: update the mapping with the README."""


@dataclass
class Context:
    """What the run knows when a command is rewritten."""

    clone: Path
    download_span: tuple[pd.Timestamp, pd.Timestamp]


def _swap_option(argv: list[str], option: str, old: str | None, new: list[str]) -> list[str]:
    """``argv`` with ``option <value>`` replaced by ``new`` (the value must be ``old`` if given)."""
    if option not in argv or argv.index(option) + 1 >= len(argv):
        raise Stale(f"expected {option} in {' '.join(argv)}")
    at = argv.index(option)
    if old is not None and argv[at + 1] != old:
        raise Stale(f"expected {option} {old} in {' '.join(argv)}, found {argv[at + 1]}")
    return [*argv[:at], *new, *argv[at + 2 :]]


def _download_span(argv: list[str], ctx: Context) -> list[str]:
    start, end = ctx.download_span
    return _swap_option(argv, "--days", None, ["--timerange", f"{start:%Y%m%d}-{end:%Y%m%d}"])


def _few_epochs(argv: list[str], ctx: Context) -> list[str]:
    return _swap_option(argv, "-e", None, ["-e", EPOCHS])


def _own_liquidations(argv: list[str], ctx: Context) -> list[str]:
    truth = argv[argv.index("--truth") + 1]
    frame = pd.read_csv(SHARED_DAILY_TRUTH, parse_dates=["date"])
    start, end = (t.tz_localize(None) for t in ctx.download_span)
    frame = frame[(frame["date"] >= start) & (frame["date"] < end)]
    frame = frame.rename(
        columns={"liquidation_long_usd": "long_usd", "liquidation_short_usd": "short_usd"}
    )[["date", "long_usd", "short_usd"]]
    frame.to_csv(ctx.clone / truth, index=False, date_format="%Y-%m-%d")
    return argv


@dataclass(frozen=True)
class Mapping:
    """How one README command is run here instead of as printed, and why.

    ``kind``: ``"skip"`` (not run), ``"make"`` (the Makefile recipe of the target, in the
    background), ``"bounded"`` (a bot: run until it computes a candle, then SIGTERM) or ``"run"``
    (run, after ``rewrite``).
    """

    prefix: tuple[str, ...]
    kind: str
    reason: str
    rewrite: Callable[[list[str], Context], list[str]] | None = None

    def matches(self, cmd: ReadmeCommand) -> bool:
        """The README command starts with :attr:`prefix` (its last token: as a prefix)."""
        head, last = self.prefix[:-1], self.prefix[-1]
        n = len(self.prefix)
        return (
            len(cmd.argv) >= n
            and cmd.argv[: n - 1] == head
            and cmd.argv[n - 1].startswith(last)
            and (cmd.argv[n - 1] == last or last.endswith("/"))
        )


MAPPINGS = [
    Mapping(
        ("make", "demo"),
        "make",
        "runs the Makefile's demo recipe (scripts/demo.py) with this venv's Python: make's venv "
        "set-up is not repeated. It starts in the background and is waited for before hyperopt, "
        "which writes a parameter file beside the strategy that the demo backtests.",
    ),
    Mapping(
        ("make", "test"),
        "skip",
        "the whole suite (ruff, mypy, import-linter, pytest), of which this test is part; CI runs "
        "it (.ci/run)",
    ),
    Mapping(
        ("freqtrade", "download-data"),
        "run",
        "the offline exchange serves the recorded history (2023-01 -> 2025-09), not the last days "
        "of the wall clock: --days N becomes a --timerange of at least N days that covers the "
        "README's own timeranges, from two weeks before them (start-up candles, warm-up)",
        _download_span,
    ),
    Mapping(
        ("liq-indicator", "import-oi"),
        "skip",
        "its metrics archives come from data.binance.vision (network) and the shared data holds "
        "none; the README marks the step optional",
    ),
    Mapping(
        ("freqtrade", "trade"),
        "bounded",
        "a bot runs until stopped: it runs against the exchange in --replay mode over the "
        "downloaded datadir (the README's Offline paragraph) and gets SIGTERM once it has logged a "
        "computed candle",
    ),
    Mapping(
        ("freqtrade", "hyperopt"),
        "run",
        f"{EPOCHS} epochs instead of the README's: each epoch is a full backtest",
        _few_epochs,
    ),
    Mapping(
        ("liq-indicator", "tiers"),
        "skip",
        "asks Bybit's API (network); the offline exchange serves Binance only, and Binance serves "
        "its tiers only to an API key",
    ),
    Mapping(
        ("liq-indicator", "record"),
        "skip",
        "records the venues' websocket streams (network) until stopped; its offline form "
        "(`liq-indicator exchange --liquidations FILE` + `record --offline URL`, which the README "
        "names in prose) runs in tests/test_record.py",
    ),
    Mapping(
        ("liq-indicator", "calibrate", "--truth", "user_data/data/binance/futures/"),
        "skip",
        "its truth file is what the skipped `liq-indicator record` writes",
    ),
    Mapping(
        ("liq-indicator", "calibrate", "--truth", "my_liquidations.csv"),
        "run",
        "my_liquidations.csv is the user's own file: here the real CoinGlass Binance BTC daily "
        "series over the downloaded span, written in the README's date,long_usd,short_usd form",
        _own_liquidations,
    ),
]

#: rules applied to every command, after its mapping
GENERIC_RULES = {
    "offline overlay": "every freqtrade command but list-data gets the offline exchange's overlay "
    "as its last --config (the README's Offline paragraph); the README's own --config files stay",
    "optional arguments": "a token in square brackets ([--open-interest]) is the README's notation "
    "for an optional argument, left out (the downloaded datadir holds no open interest)",
}


def mapping_of(cmd: ReadmeCommand) -> Mapping | None:
    """The mapping of ``cmd`` (None: it runs as printed)."""
    found = [m for m in MAPPINGS if m.matches(cmd)]
    assert len(found) <= 1, f"{cmd.text}: several mappings {found}"
    return found[0] if found else None


def command_to_run(cmd: ReadmeCommand, ctx: Context, overlay: str = OVERLAY) -> list[str]:
    """The argv run for ``cmd``: its mapping's rewrite, then the generic rules."""
    mapping = mapping_of(cmd)
    argv = list(cmd.argv)
    if mapping is not None and mapping.rewrite is not None:
        argv = mapping.rewrite(argv, ctx)
    argv = [a for a in argv if not (a.startswith("[") and a.endswith("]"))]
    if argv[0] == "freqtrade" and argv[1:2] != ["list-data"]:
        argv += ["--config", overlay]
    return argv


# ------------------------------------------------------------------------------------------------
# running them


@dataclass
class Outcome:
    """What happened to one README command."""

    cmd: ReadmeCommand
    ran: list[str] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0
    skipped: str = ""
    problem: str = ""

    def report(self) -> str:
        return (
            f"README: {self.cmd.text}\nran:    {shlex.join(self.ran)}\nrc {self.returncode} "
            f"after {self.seconds:.0f} s; {self.problem}\n--- output (end) ---\n"
            f"{self.output[-6000:]}"
        )


def _env(clone: Path) -> dict[str, str]:
    return {
        **os.environ,
        # the venv's freqtrade and liq-indicator, running the clone's package (not the checkout's)
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(clone),
        "COLUMNS": "200",  # Freqtrade logs through rich, which wraps at 80 columns otherwise
    }


def _run(argv: list[str], clone: Path, timeout: float) -> tuple[int | None, str, float]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=clone,
            env=_env(clone),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return None, f"{out}\n[timed out after {timeout:g} s]", time.monotonic() - started
    except FileNotFoundError as exc:
        return None, f"[cannot start: {exc}]", time.monotonic() - started
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@dataclass
class Exchange:
    """A ``liq-indicator exchange`` process serving a datadir, with its overlay in the clone."""

    proc: subprocess.Popen[str]
    log: Path

    @classmethod
    def start(cls, clone: Path, datadir: str, overlay: str, *extra: str) -> Exchange:
        log = clone.parent / f"exchange-{overlay}.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                ["liq-indicator", "exchange", "--datadir", datadir, "--overlay", overlay, *extra],
                cwd=clone,
                env=_env(clone),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        deadline = time.monotonic() + 90
        while not (clone / overlay).exists() and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return cls(proc, log)

    @property
    def ready(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _make_recipe(clone: Path, target: str) -> list[list[str]]:
    """The recipe lines of ``target`` in the clone's Makefile, ``$(BIN)/`` as this venv's bin."""
    lines = (clone / "Makefile").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:", line))
    recipe = []
    for line in lines[at + 1 :]:
        if not line.startswith("\t"):
            break
        text = line.strip().replace("$(BIN)/", f"{VENV_BIN}/")
        if "$(" in text:
            raise Stale(f"make {target}: cannot expand {text!r}")
        recipe.append(shlex.split(text))
    return recipe


def _run_make(outcome: Outcome, clone: Path, target: str) -> None:
    started = time.monotonic()
    outputs = []
    for argv in _make_recipe(clone, target):
        outcome.ran += argv
        rc, out, _ = _run(argv, clone, timeout=420)
        outcome.returncode = rc
        outputs.append(out)
        if rc != 0:
            outcome.problem = f"make {target}'s recipe failed"
            break
    outcome.output = "\n".join(outputs)
    outcome.seconds = time.monotonic() - started


def _run_bot(outcome: Outcome, clone: Path) -> None:
    """A bounded ``freqtrade trade --dry-run`` on the replaying exchange: until a computed candle
    (or 150 s), then SIGTERM; a clean stop is Freqtrade's rc 130 (SIGTERM -> KeyboardInterrupt,
    see tests/test_offline_exchange.py) or 0, with its modules cleaned up."""
    started = time.monotonic()
    exchange = Exchange.start(
        clone, "user_data/data/binance", REPLAY_OVERLAY, "--replay", "--max-seconds", "600"
    )
    log = clone.parent / "dry-run.log"
    try:
        if not exchange.ready:
            outcome.problem = "the replaying exchange did not start"
            outcome.output = exchange.log.read_text()
            return
        with log.open("w") as sink:
            proc = subprocess.Popen(
                outcome.ran,
                cwd=clone,
                env=_env(clone),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 150
                while proc.poll() is None and time.monotonic() < deadline:
                    if CANDLE_LINE in log.read_text():
                        break
                    time.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                outcome.returncode = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        outcome.output = log.read_text()
        if CANDLE_LINE not in outcome.output:
            outcome.problem = f"no computed candle ({CANDLE_LINE!r}) within 150 s"
        elif outcome.returncode not in (0, 130) or "Cleaning up modules" not in outcome.output:
            outcome.problem = "no clean stop on SIGTERM"
        elif "Traceback" in outcome.output:
            outcome.problem = "a traceback in the log"
    finally:
        exchange.stop()
        outcome.seconds = time.monotonic() - started


@dataclass
class ReadmeRun:
    """The outcomes of every README command, by :attr:`ReadmeCommand.index`."""

    clone: Path
    outcomes: dict[int, Outcome]
    seconds: float


def _clone(root: Path) -> Path:
    """A fresh copy of the repository's tracked files (what ``git clone`` gives, but of the
    working tree, so that the README read at collection is the README of the copy)."""
    clone = root / "clone"
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    # ../shared/data beside the clone, as in CI (.ci/run)
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(SHARED_DATA.resolve(), target_is_directory=True)
    return clone


def download_span(commands: list[ReadmeCommand]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The span the README's download is mapped to: from :data:`LEAD` before the earliest
    ``--timerange`` to a day after the latest end, and at least the README's ``--days``."""
    first, last = readme_timeranges(commands)
    days = next(
        (
            int(c.argv[c.argv.index("--days") + 1])
            for c in commands
            if c.argv[:2] == ("freqtrade", "download-data") and "--days" in c.argv
        ),
        60,
    )
    start = first - LEAD
    return start, max(start + pd.Timedelta(days=days), (last or first) + pd.Timedelta(days=1))


def _run_command(cmd: ReadmeCommand, ctx: Context, background: list[threading.Thread]) -> Outcome:
    """Run one README command as its mapping says; ``make`` targets go to ``background``."""
    outcome = Outcome(cmd)
    mapping = mapping_of(cmd)
    kind = mapping.kind if mapping else "run"
    if mapping is not None and kind == "skip":
        outcome.skipped = mapping.reason
        return outcome
    if kind == "make":
        thread = threading.Thread(target=_run_make, args=(outcome, ctx.clone, cmd.argv[1]))
        thread.start()
        background.append(thread)
        return outcome
    if cmd.argv[:2] == ("freqtrade", "hyperopt"):
        for thread in background:  # see the make demo mapping
            thread.join()
    try:
        outcome.ran = command_to_run(cmd, ctx, REPLAY_OVERLAY if kind == "bounded" else OVERLAY)
    except Stale as exc:
        outcome.problem = f"the mapping is stale: {exc}"
        return outcome
    if kind == "bounded":
        _run_bot(outcome, ctx.clone)
        return outcome
    timeout = 300 if cmd.argv[:2] == ("freqtrade", "hyperopt") else 240
    outcome.returncode, outcome.output, outcome.seconds = _run(outcome.ran, ctx.clone, timeout)
    if outcome.returncode != 0:
        outcome.problem = "non-zero exit"
    elif "Traceback" in outcome.output:
        outcome.problem = "a traceback in the output"
    return outcome


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeRun]:
    if shutil.which("freqtrade", path=str(VENV_BIN)) is None:
        pytest.skip(f"freqtrade is not installed beside {sys.executable}")
    if shutil.which("liq-indicator", path=str(VENV_BIN)) is None:
        pytest.skip(f"the liq-indicator command is not installed beside {sys.executable}")
    began = time.monotonic()
    clone = _clone(tmp_path_factory.mktemp("readme"))
    rc, out, _ = _run(
        [sys.executable, "-c", "import liq_indicator; print(liq_indicator.__file__)"], clone, 60
    )
    assert rc == 0 and Path(out.strip()).is_relative_to(clone), f"not the clone's package: {out}"
    ctx = Context(clone, download_span(COMMANDS))
    exchange = Exchange.start(
        clone, str(Path("..") / "shared" / "data" / "history" / "binance"), OVERLAY,
        "--max-seconds", "900",
    )  # fmt: skip
    assert exchange.ready, f"the offline exchange did not start:\n{exchange.log.read_text()}"
    outcomes: dict[int, Outcome] = {}
    background: list[threading.Thread] = []
    try:
        for cmd in COMMANDS:
            outcomes[cmd.index] = _run_command(cmd, ctx, background)
        for thread in background:
            thread.join()
    finally:
        exchange.stop()
    run = ReadmeRun(clone, outcomes, time.monotonic() - began)
    print(f"\nthe README on a fresh clone: {run.seconds:.0f} s")
    for o in outcomes.values():
        state = f"skipped: {o.skipped}" if o.skipped else f"rc {o.returncode}, {o.seconds:.0f} s"
        print(f"  {o.cmd.text[:90]:90s} {state}")
    yield run


# ------------------------------------------------------------------------------------------------
# the tests


def test_the_readme_commands_are_read_and_every_mapping_fits_one() -> None:
    assert COMMANDS, "no ```bash block with a command in README.md"
    texts = [c.text for c in COMMANDS]
    assert "cp config.json.example config.json" in texts
    for mapping in MAPPINGS:
        fits = [c.text for c in COMMANDS if mapping.matches(c)]
        assert len(fits) == 1, (
            f"mapping {' '.join(mapping.prefix)!r} fits {len(fits)} README commands ({fits}); "
            "update MAPPINGS with the README"
        )
        assert mapping.kind in ("skip", "make", "bounded", "run") and mapping.reason
    # a continuation line is joined into its command, a comment never becomes one
    parsed = readme_commands("```bash\na --x 1 \\\n    --y 2   # note\n# only a comment\n```\n")
    assert [c.argv for c in parsed] == [("a", "--x", "1", "--y", "2")]


@pytest.mark.slow
@needs_shared_data
@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command_succeeds_on_a_fresh_clone(
    readme_run: ReadmeRun, cmd: ReadmeCommand
) -> None:
    outcome = readme_run.outcomes[cmd.index]
    if outcome.skipped:
        pytest.skip(f"{cmd.text}: not run offline: {outcome.skipped}")
    assert not outcome.problem, outcome.report()


@pytest.mark.slow
@needs_shared_data
def test_the_readme_commands_leave_what_they_promise(readme_run: ReadmeRun) -> None:
    """The backtest exported its trades, and the heatmap drew every whitelisted pair (what
    failed in #20: the README downloaded one pair of the three the example config trades)."""
    import json

    clone = readme_run.clone
    ran = {c.argv[:2] for c in COMMANDS if not readme_run.outcomes[c.index].skipped}
    if ("freqtrade", "backtesting") in ran:
        assert list((clone / "user_data" / "backtest_results").glob("backtest-result-*.zip"))
    if ("liq-indicator", "heatmap") in ran:
        config = json.loads((clone / "config.json.example").read_text(encoding="utf-8"))
        pictures = {p.name for p in (clone / "user_data" / "plot").glob("liq-heatmap-*.png")}
        for pair in config["exchange"]["pair_whitelist"]:
            stem = pair.replace("/", "_").replace(":", "_")
            assert any(name.startswith(f"liq-heatmap-{stem}-") for name in pictures), (
                pair,
                sorted(pictures),
            )


def test_the_rules_add_the_overlay_drop_optional_arguments_and_catch_stale_mappings(
    tmp_path: Path,
) -> None:
    ctx = Context(
        tmp_path, (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC"))
    )
    parsed = readme_commands(
        "```bash\nfreqtrade backtesting --config config.json\nfreqtrade list-data\n"
        "liq-indicator features --pair X [--open-interest]\n"
        "freqtrade download-data --pairs X --days 60\nfreqtrade hyperopt --epochs 200\n```\n"
    )
    backtest, list_data, features, download, hyperopt = parsed
    assert command_to_run(backtest, ctx)[-4:] == ["--config", "config.json", "--config", OVERLAY]
    assert command_to_run(list_data, ctx) == ["freqtrade", "list-data"]
    assert command_to_run(features, ctx) == ["liq-indicator", "features", "--pair", "X"]
    ran = command_to_run(download, ctx)
    assert "--days" not in ran and ran[ran.index("--timerange") + 1] == "20240101-20240301"
    with pytest.raises(Stale, match="-e"):  # the README changed the option: so must the mapping
        command_to_run(hyperopt, ctx)


def test_a_failing_command_is_reported_with_its_output(tmp_path: Path) -> None:
    ctx = Context(
        tmp_path, (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC"))
    )
    script = "import sys; print('the README is wrong'); sys.exit(3)"
    (cmd,) = readme_commands(f'```bash\n{sys.executable} -c "{script}"\n```\n')
    outcome = _run_command(cmd, ctx, [])
    assert outcome.returncode == 3 and outcome.problem == "non-zero exit"
    assert cmd.text in outcome.report() and "the README is wrong" in outcome.report()
