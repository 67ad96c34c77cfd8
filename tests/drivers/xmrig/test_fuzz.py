"""XMRig documents of any shape give a snapshot or a DeviceError, never a crash."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.drivers.xmrig.parse import cpu_backends_from_summary, parse
from tests.support.fuzz import ANY_JSON, mutated_docs, only_device_errors

FIXTURES = resources.files("hashfleet.drivers.xmrig") / "fixtures"
SUMMARY = json.loads((FIXTURES / "xmrig_6.21.0_summary.json").read_text())
BACKENDS = json.loads((FIXTURES / "xmrig_6.21.0_backends.json").read_text())
FUZZ = settings(max_examples=150, deadline=None)


@FUZZ
@given(mutated_docs(SUMMARY), st.one_of(st.none(), mutated_docs(BACKENDS)))
def test_mutated_summary_and_backends(summary: Any, backends: Any) -> None:
    only_device_errors(lambda: parse(summary, backends))
    only_device_errors(lambda: parse(summary, cpu_backends_from_summary(summary)))


@FUZZ
@given(ANY_JSON, ANY_JSON)
def test_random_documents(summary: Any, backends: Any) -> None:
    only_device_errors(lambda: parse(summary, backends))
