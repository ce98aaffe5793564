"""Helpers of the fault suite: the check every case makes (one error line naming the fault, no
traceback, the expected exit status, no file added to the case's folder) and the argv pieces."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from advtrojan.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAIN = ["train", "--plugin", "user_dataset", "--dataset", "stripes", "--objective", "vanilla", "--epochs", "1",
         "--limit", "200", "--no-progress", "--precision", "fp32"]
EVALUATE = ["--plugin", "user_dataset", "--no-progress", "--no-certified", "--steps", "1"]


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch):
    """The example plug-ins (examples/) importable by name. (Fixtures live here, not in a second
    conftest.py, which would shadow tests/conftest.py's helpers.) Import them into each file."""
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """A finished 1-epoch vanilla run on ``stripes`` (never modified by a case: copy it first)."""
    sys.path.insert(0, str(EXAMPLES))
    out = tmp_path_factory.mktemp("faults") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def one_line_error(argv, capsys, code=2, folder: Path | None = None) -> str:
    """Run the CLI; assert it fails with ``code`` and one ``error:`` line (argparse's usage line
    may precede it), no traceback, and (with ``folder``) no file added there. Returns the line."""
    before = files_under(folder) if folder else set()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage error
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert "Traceback" not in err and err, err
    lines = err.splitlines()
    assert "error:" in lines[-1] and all(line.startswith("usage:") or line.startswith(" ") for line in lines[:-1]), err
    if folder is not None:
        assert files_under(folder) - before == set(), f"left behind: {files_under(folder) - before}"
    return lines[-1]
