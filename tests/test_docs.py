"""Documentation that is generated from code stays in step with it."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import REPO

from liq_indicator.cli import main


def test_features_doc_is_current(capsys):
    assert main(["features", "--doc"]) == 0
    generated = capsys.readouterr().out
    on_disk = (REPO / "docs" / "FEATURES.md").read_text()
    assert on_disk == generated, "docs/FEATURES.md is stale: run `make docs`"


def test_readme_shows_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def _robustness_rows() -> list[tuple[str, list[str]]]:
    """(input or event, [file::test, ...]) for each row of the README's robustness table."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Bad input, faults and live operation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # minus the header
    out = []
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        out.append((cells[0], re.findall(r"`(test_\w+\.py::test_\w+)`", cells[2])))
    return out


def _test_names(file: str) -> set[str]:
    tree = ast.parse((REPO / "tests" / file).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_every_robustness_row_names_tests_that_exist():
    rows = _robustness_rows()
    assert len(rows) >= 30
    for event, tests in rows:
        assert tests, f"README robustness row {event!r} names no test"
        for ref in tests:
            file, name = ref.split("::")
            assert name in _test_names(file), (
                f"README robustness row {event!r} names {ref}, which does not exist"
            )


@pytest.mark.parametrize(
    "file", ["test_bad_input.py", "test_cli_errors.py", "test_offline_robustness.py"]
)
def test_every_robustness_test_has_a_readme_row(file):
    named = {
        ref.split("::")[1]
        for _, tests in _robustness_rows()
        for ref in tests
        if ref.startswith(file + "::")
    }
    missing = _test_names(file) - named
    assert not missing, f"{file}: tests no README robustness row names: {sorted(missing)}"


def test_the_readme_downloads_every_pair_the_example_config_trades():
    import json

    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"freqtrade download-data((?:[^\n]*\\\n)*[^\n]*)", readme)
    assert commands, "the README shows no download-data command"
    downloaded = set()
    for command in commands:
        words = command.replace("\\\n", " ").split()
        if "--pairs" in words:
            for word in words[words.index("--pairs") + 1 :]:
                if word.startswith("--"):
                    break
                downloaded.add(word)
    config = json.loads((REPO / "config.json.example").read_text())
    whitelist = set(config["exchange"]["pair_whitelist"])
    assert whitelist <= downloaded, (
        f"whitelisted but not downloaded: {sorted(whitelist - downloaded)}"
    )
