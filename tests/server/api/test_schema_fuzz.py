"""Schemathesis over the server's own OpenAPI schema: whatever a client sends, no 5xx.

Every operation gets generated requests — bodies and parameters that fit the schema and
ones that do not — as the admin, so they reach the handlers instead of stopping at
authentication. ``POST /api/scan`` is left out: it opens connections to the addresses it
is given. (Schemathesis's own pytest plugin does not run on this pytest, so the operations
are driven through its Hypothesis strategies.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support.live_server import LiveServer

SKIPPED_PATHS = ["/api/scan"]
EXAMPLES = int(os.environ.get("HASHFLEET_FUZZ_EXAMPLES", "25"))
# The same cases on every run, so CI is repeatable; HASHFLEET_FUZZ_RANDOM=1 explores more.
DERANDOMIZE = not os.environ.get("HASHFLEET_FUZZ_RANDOM")


def test_no_operation_answers_5xx(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "server", throttle_s=0.2).start()
    try:
        schema = schemathesis.openapi.from_url(
            f"{server.url}/openapi.json", headers=server.headers
        ).exclude(path=SKIPPED_PATHS)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 20  # the schema really was read
        failures: list[str] = []
        statuses: list[int] = []
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(mode))
                @settings(
                    max_examples=EXAMPLES,
                    derandomize=DERANDOMIZE,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: schemathesis.Case) -> None:
                    response = case.call(base_url=server.url, headers=server.headers, timeout=10)
                    statuses.append(response.status_code)
                    assert response.status_code < 500, response.text[:300]

                try:
                    run()
                except Unsatisfiable:
                    continue  # nothing of this operation can be made invalid (no inputs)
                except AssertionError as exc:
                    failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        assert failures == [], "\n".join(failures)
        # Requests really went out, and both accepted and refused ones among them.
        assert len(statuses) >= 5 * len(operations)
        assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
    finally:
        server.stop()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
