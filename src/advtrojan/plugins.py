"""Plug-ins: modules that register models, datasets, attacks, objectives or defenses.

Two ways in, both only importing a module (whatever it registers at import time is then
available to every command and to the Python API):

- ``--plugin MODULE`` on any command (repeatable), or :func:`load_plugin` in Python;
- an installed package's entry point in the group ``advtrojan.plugins``, loaded by every
  ``advtrojan`` command (:func:`load_entry_points`)::

      [project.entry-points."advtrojan.plugins"]
      mylab = "mylab.advtrojan_plugin"

A plug-in that fails to import, or registers a name already taken, is one clear error.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from pathlib import Path

from .errors import AdvTrojanError, ConfigError

GROUP = "advtrojan.plugins"
_loaded: dict[str, object] = {}


def load_plugin(name: str):
    """Import plug-in ``name``: a module path (``mylab.defenses``) or a ``.py`` file."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"--plugin needs a module name or a .py file, got {name!r}")
    if name in _loaded:
        return _loaded[name]
    try:
        if name.endswith(".py"):
            module = _import_file(Path(name).expanduser())
        else:
            module = importlib.import_module(name)
    except AdvTrojanError as exc:
        raise ConfigError(f"plug-in {name!r}: {exc}") from None
    except Exception as exc:  # the user's code: any failure is reported in one line
        raise ConfigError(f"plug-in {name!r} failed to import ({type(exc).__name__}: {exc})") from None
    _loaded[name] = module
    return module


def _import_file(path: Path):
    if not path.is_file():
        raise ConfigError(f"no such file {path}")
    import importlib.util
    mod_name = f"advtrojan_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def load_entry_points() -> list[str]:
    """Load every installed plug-in of the ``advtrojan.plugins`` entry-point group."""
    names = []
    for ep in metadata.entry_points(group=GROUP):
        if ep.value in _loaded:
            continue
        try:
            _loaded[ep.value] = ep.load()
        except AdvTrojanError as exc:
            raise ConfigError(f"installed plug-in {ep.name!r} ({ep.value}): {exc}") from None
        except Exception as exc:
            raise ConfigError(f"installed plug-in {ep.name!r} ({ep.value}) failed to load "
                              f"({type(exc).__name__}: {exc})") from None
        names.append(ep.name)
    return names


def plugins_from_argv(argv: list[str]) -> list[str]:
    """The ``--plugin`` values of a command line (read before parsing, so that a plug-in's
    datasets, objectives and defenses are valid choices of the parser)."""
    found = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            found.append(arg.split("=", 1)[1])
    return found
