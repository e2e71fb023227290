"""Dependencies come from a lock file with hashes; no stray ``.pth`` file runs code at start-up."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.reliability.figures import record

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
CHECK = ROOT / "scripts" / "check_pth.py"
AREA = "security"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^;\s]+)")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def lock_entries() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every requirement of the lock file."""
    entries: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for raw in LOCK.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match and not raw.startswith(" "):
            current = _name(match.group(1))
            entries[current] = (match.group(2), 0)
        if current is not None:
            version, hashes = entries[current]
            entries[current] = (version, hashes + line.count("--hash=sha256:"))
    return entries


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in ("dev", "local"):
        specs += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for spec in specs:
        match = _PIN.match(spec)
        assert match, f"pyproject pins every dependency exactly: {spec}"
        pins[_name(match.group(1))] = match.group(2)
    return pins


def test_the_lock_file_pins_every_dependency_with_hashes() -> None:
    entries = lock_entries()
    unhashed = sorted(name for name, (_, hashes) in entries.items() if hashes == 0)
    pins = pyproject_pins()
    mismatched = sorted(
        f"{name}: pyproject {version}, lock {entries.get(name, ('missing', 0))[0]}"
        for name, version in pins.items()
        if entries.get(name, ("", 0))[0] != version
    )
    record(AREA, "lock: requirements", len(entries), "info", True)
    record(AREA, "lock: requirements without a hash", len(unhashed), "== 0")
    record(AREA, "lock: pyproject pins missing or different", len(mismatched), "== 0")
    assert unhashed == []
    assert mismatched == [], "regenerate requirements.lock (see docs/hardening.md)"


def test_ci_installs_from_the_lock_with_hashes_and_checks_pth_files() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--require-hashes -r requirements.lock" in ci
    assert "install --quiet --no-deps -e ." in ci or "install --no-deps -e ." in ci
    assert "scripts/check_pth.py" in ci


def test_the_running_environment_has_only_allowed_pth_files() -> None:
    done = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, timeout=60, check=False
    )
    record(AREA, "pth check on this venv (exit code)", done.returncode, "== 0")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evil.pth", "import os; os.system('true')\n"),
        ("harmless-looking.pth", "/opt/somewhere\n"),
        ("_editable_impl_hybridllm.pth", "/work/src\nimport sys; sys.exit(0)\n"),
        ("distutils-precedence.pth", "import os; os.system('curl evil')\n"),
    ],
)
def test_the_pth_check_fails_on_a_file_outside_the_allow_list(
    tmp_path: Path, name: str, content: str
) -> None:
    (tmp_path / name).write_text(content)
    done = subprocess.run(
        [sys.executable, str(CHECK), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert name in done.stderr
