#!/usr/bin/env python3
"""Fail if site-packages holds a ``.pth`` file outside the allow-list.

A ``.pth`` file runs at every interpreter start: a line beginning with ``import`` is executed, any
other line is added to ``sys.path``. A dependency that drops one in can run code in every
process, including CI's, before any test starts. So only the files this project's own install
makes are allowed, each with the content it should have:

- ``_editable_impl_hybridllm.pth``: hatchling's editable install of hybridllm
  (``pip install -e .``); path lines only, no ``import`` line;
- ``distutils-precedence.pth``: setuptools' shim, with exactly the line setuptools writes.

Usage: ``python scripts/check_pth.py [SITE_PACKAGES_DIR ...]`` (default: the running
interpreter's site-packages). Exit code 0 when clean, 1 with one line per offending file.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

# name -> the import line it may hold (None: path lines only)
ALLOWED: dict[str, str | None] = {
    "_editable_impl_hybridllm.pth": None,
    "distutils-precedence.pth": (
        "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; "
        "enabled = os.environ.get(var, 'local') == 'local'; "
        "enabled and __import__('_distutils_hack').add_shim(); "
    ),
}


def problems(directory: Path) -> list[str]:
    found: list[str] = []
    for pth in sorted(directory.glob("*.pth")):
        if pth.name not in ALLOWED:
            found.append(f"{pth}: not in the allow-list of .pth files")
            continue
        allowed_import = ALLOWED[pth.name]
        text = pth.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith(("import ", "import\t")) and (
                allowed_import is None or line.rstrip("\n") != allowed_import
            ):
                found.append(f"{pth}:{number}: an import line this file should not have")
    return found


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or [Path(p) for p in site.getsitepackages()]
    if not argv and site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        dirs.append(Path(site.getusersitepackages()))
    found = [p for d in dirs if d.is_dir() for p in problems(d)]
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(
            f"{len(found)} unexpected .pth file(s) or line(s): a package may run code at every "
            "interpreter start; see scripts/check_pth.py",
            file=sys.stderr,
        )
        return 1
    checked = ", ".join(str(d) for d in dirs)
    print(f"pth check: ok ({checked})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
