"""The command line: teaching --help, and one clear line per user error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from advtrojan.cli.main import main


def test_help_teaches(capsys):
    for argv in (["--help"], ["train", "--help"], ["evaluate", "--help"], ["data", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
    out = capsys.readouterr().out
    for needle in ("Eq. 9", "--resume", "--init", "advtrojan_fgsm", "transferred_advtrojan", "Table 1"):
        assert needle in out


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "/nonexistent/run"], "not a run folder"),
    (["train", "--dataset", "fmnist", "--objective", "vanilla", "--trigger-size", "40", "--out", "x"],
     "does not fit a 28x28 image"),
    (["train", "--dataset", "fmnist", "--objective", "madry", "--eps", "1", "--steps", "-3", "--out", "x"],
     "non-negative"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("advtrojan: error:") and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_unknown_option_is_rejected():
    proc = subprocess.run([sys.executable, "-m", "advtrojan.cli.main", "train", "--dataset", "fmnist",
                           "--objective", "vanilla", "--out", "x", "--epoch", "3", "--bogus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr
    assert "Traceback" not in proc.stderr
