"""Where scenarios live: bundled package data and the user data directory.

Bundled scenarios ship inside the wheel (``smm_bench_plugin.scenarios``); scenarios a user
imports or builds go to ``<data dir>/scenarios/<name>/``. The data dir is
``platformdirs.user_data_dir("smm-bench")`` unless the ``SMM_BENCH_DATA_DIR`` environment
variable names another folder (tests and CI use that to stay out of the user's home).
A user scenario shadows a bundled one of the same name: importing is an explicit act.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_SCENARIO", "DATA_DIR_ENV", "data_dir", "user_scenarios_dir", "bundled_scenarios_dir",
           "ScenarioEntry", "scenario_entries", "list_scenarios", "resolve_scenario", "install_hint"]

DATA_DIR_ENV = "SMM_BENCH_DATA_DIR"
#: the scenario ``compare`` and the CLI use when none is named
DEFAULT_SCENARIO = "smm_ps_mini"
META_FILE = "meta.json"


def install_hint(extra: str) -> str:
    """The pip command that adds an extra to this installation.

    Why two forms: in a source checkout (the package folder beside ``setup.cfg``) the extra is
    installed from that checkout, and naming the PyPI distribution there would install a second
    copy; an installed wheel gets the distribution's name."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.cfg").is_file():
        return f"pip install -e '{root}[{extra}]'"
    return f"pip install 'smm-bench-plugin[{extra}]'"


def data_dir() -> Path:
    """The user data directory (not created here)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("smm-bench", appauthor=False))


def user_scenarios_dir() -> Path:
    return data_dir() / "scenarios"


def bundled_scenarios_dir() -> Path:
    return Path(str(resources.files("smm_bench_plugin.scenarios")))


@dataclass(frozen=True)
class ScenarioEntry:
    name: str
    path: Path
    source: str  # "user" or "bundled"


def _scan(root: Path, source: str) -> dict[str, ScenarioEntry]:
    if not root.is_dir():
        return {}
    return {
        p.name: ScenarioEntry(p.name, p, source)
        for p in sorted(root.iterdir())
        if not p.name.startswith((".", "_")) and (p / META_FILE).is_file()
    }


def scenario_entries() -> list[ScenarioEntry]:
    """All visible scenarios, user ones shadowing bundled ones of the same name."""
    found = _scan(bundled_scenarios_dir(), "bundled")
    found.update(_scan(user_scenarios_dir(), "user"))
    return [found[k] for k in sorted(found)]


def list_scenarios() -> list[str]:
    """Names accepted by :func:`smm_bench_plugin.load` (bundled + user data dir)."""
    return [e.name for e in scenario_entries()]


def resolve_scenario(name_or_path: str | os.PathLike) -> Path:
    """A scenario folder from a name or a path; FileNotFoundError lists what exists."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.fspath(name_or_path):
        raise TypeError(f"name_or_path must be a scenario name or folder (a non-empty str or os.PathLike), "
                        f"got {name_or_path!r}")
    p = Path(name_or_path).expanduser()
    if (p / META_FILE).is_file():
        return p
    name = str(name_or_path)
    for entry in scenario_entries():
        if entry.name == name:
            return entry.path
    known = ", ".join(list_scenarios()) or "none installed"
    raise FileNotFoundError(
        f"no scenario {name!r} (neither a folder with {META_FILE} nor a known name); "
        f"available: {known}; user scenarios live in {user_scenarios_dir()} "
        f"(set {DATA_DIR_ENV} to use another folder)"
    )
