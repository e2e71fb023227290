from __future__ import annotations

import io
from pathlib import Path

import orjson

from hybridllm.ledger import COLUMNS, LedgerRow, SqliteStore, export_jsonl

from .helpers import build_row


def test_export_writes_one_json_line_per_row_that_reads_back_as_the_row(tmp_path: Path) -> None:
    rows = [build_row(i) for i in range(5)] + [build_row(9, cost_usd=None, streamed=True)]
    store = SqliteStore(":memory:")
    try:
        store.migrate()
        store.write_many(rows)
        out = io.BytesIO()
        assert export_jsonl(store, out) == len(rows)
        path = tmp_path / "out" / "ledger.jsonl"
        path.parent.mkdir()
        assert export_jsonl(store, path, since=rows[3].ts) == 3
    finally:
        store.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(rows)
    back = [LedgerRow(**orjson.loads(line)) for line in lines]
    assert back == rows
    assert list(orjson.loads(lines[0])) == list(COLUMNS)
    assert orjson.loads(lines[-1])["cost_usd"] is None
    from_file = [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()]
    assert from_file == [r.request_id for r in rows[3:]]
