"""Generated request ids: unique within a process and across forked workers."""

from __future__ import annotations

import os
import re

from hybridllm.server.gateway import new_request_id


def test_request_ids_are_32_hex_characters_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_worker_draws_a_new_prefix() -> None:
    parent = new_request_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's teardown
        try:
            os.write(write, new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child)
    assert child[:16] != parent[:16]  # 64 random bits: a clash is a 2**-64 event
    assert new_request_id()[:16] == parent[:16]  # the parent keeps its own
