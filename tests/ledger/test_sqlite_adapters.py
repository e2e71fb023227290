"""The sqlite3 adapters the SQLite store registers (to skip sqlite3's slow adapter lookups for
NULLs and bools) bind exactly what sqlite3 binds without them, and never replace an adapter the
embedding application registered itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


PROBE = """
    import sqlite3
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b, c)")
    conn.execute("INSERT INTO t VALUES (?, ?, ?)", (None, True, False))
    print(conn.execute("SELECT a, b, c, typeof(a), typeof(b) FROM t").fetchall())
"""


def test_registered_adapters_bind_what_sqlite3_binds_without_them() -> None:
    plain = _run(PROBE)
    with_store = _run("import hybridllm.ledger.sqlite\n" + textwrap.dedent(PROBE))
    assert plain == with_store == "[(None, 1, 0, 'null', 'integer')]"


def test_an_application_adapter_registered_first_is_kept() -> None:
    got = _run(
        """
        import sqlite3
        sqlite3.register_adapter(bool, str)
        import hybridllm.ledger.sqlite
        print(sqlite3.adapters[(bool, sqlite3.PrepareProtocol)] is str)
        """
    )
    assert got == "True"
