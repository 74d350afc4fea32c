"""Documentation that is generated from code stays in step with it."""

from __future__ import annotations

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
