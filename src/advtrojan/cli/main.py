"""The ``advtrojan`` command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import AdvTrojanError
from ..plugins import load_entry_points, load_plugin, plugins_from_argv
from . import data, evaluate, fl, matrix, reproduce, scan, train, zoo

DESCRIPTION = """\
advtrojan: combined Trojan + adversarial threats to image classifiers.

An AdvTrojan-infected model (ATIM) looks adversarially robust, and a Trojan trigger alone does
nothing to it; only the trigger *plus* an adversarial perturbation opens the backdoor. This tool
trains Vanilla, Madry-Adv, BadNets and AdvTrojan models on MNIST, Fashion-MNIST, CIFAR-10, GTSRB or
your own data (npz:FILE, folder:DIR), evaluates them as the paper does, and scans any model with the
defenses. Models, datasets, attacks, objectives and defenses plug in with --plugin MODULE. Run `advtrojan COMMAND --help` for each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advtrojan", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"advtrojan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (train, evaluate, scan, reproduce, matrix, zoo, fl, data):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:  # plug-ins first: their datasets, objectives and defenses are valid choices of the parser
        load_entry_points()
        for name in plugins_from_argv(argv):
            load_plugin(name)
    except AdvTrojanError as exc:
        print(f"advtrojan: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AdvTrojanError as exc:
        print(f"advtrojan: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # permission denied, disk full, read-only file system...
        if getattr(args, "debug", False):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"advtrojan: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an input we did not foresee: one line, the traceback on --debug
        if getattr(args, "debug", False):
            raise
        log = _log_traceback(args)
        print(f"advtrojan: error: unexpected {type(exc).__name__}: {exc} (run again with --debug for the "
              f"traceback{f', or see {log}' if log else ''}, and please report it)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("advtrojan: interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130


def _log_traceback(args) -> str | None:
    """Keep the traceback of an unexpected error in the run folder (``--out``), when there is one."""
    import traceback
    from pathlib import Path
    out = getattr(args, "out", None)
    if not out or not Path(out).is_dir():
        return None
    log = Path(out) / "error.log"
    try:
        with open(log, "a") as fh:
            fh.write(f"advtrojan {' '.join(sys.argv[1:])}\n{traceback.format_exc()}\n")
    except OSError:
        return None
    return str(log)


if __name__ == "__main__":
    sys.exit(main())
