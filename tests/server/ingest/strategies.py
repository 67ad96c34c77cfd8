"""Random snapshots as agents ship them (wire JSON, fields left out or ``None``), for
properties that compare what the server reads from a snapshot's view with its dict."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_NUM = st.one_of(
    st.none(),
    st.integers(-5, 200),
    st.floats(-1e3, 1e15, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, 60.0, 75.0, 80.0, 85.0, 95.0, 96.5, 3000.0, 3500.0]),
)
_TEXT = st.one_of(st.none(), st.sampled_from(["", "BTC", "sha256d", "normal", "XMR"]))
_URL = st.sampled_from(
    ["stratum+tcp://main:3333", "stratum+tcp://MAIN:3333/ ", "stratum+tcp://backup:3333", " "]
)


def _some(fields: dict[str, Any]) -> Any:
    """A dict of any subset of ``fields`` (strategies)."""
    return st.fixed_dictionaries({}, optional=fields)


_BOARD = st.builds(
    lambda index, rest: {"index": index, **rest},
    st.integers(0, 3),
    _some({"temp_chip": _NUM, "temp_board": _NUM, "ok": st.booleans(), "hashrate": _NUM}),
)
_FAN = st.builds(
    lambda index, rest: {"index": index, **rest},
    st.integers(0, 5),
    _some({"rpm": st.one_of(st.none(), st.sampled_from([0, 1200, 5880]))}),
)
_POOL = st.builds(lambda url, rest: {"url": url, **rest}, _URL, _some({"active": st.booleans()}))
_STREAM = st.builds(
    lambda software, rest: {"software": software, **rest},
    st.sampled_from(["xmrig", "lolminer"]),
    _some({"coin": _TEXT, "algorithm": _TEXT, "hashrate": _NUM}),
)

STATS = _some(
    {
        "status": st.sampled_from(["online", "offline", "error", "sleeping", ""]),
        "hashrate": _NUM,
        "hashrate_nominal": _NUM,
        "algorithm": _TEXT,
        "coin": _TEXT,
        "power_w": _NUM,
        "power_limit_w": _NUM,
        "temp_max": _NUM,
        "uptime_s": st.one_of(st.none(), st.integers(0, 10**7)),
        "work_mode": _TEXT,
        "led": st.one_of(st.none(), st.booleans()),
        "hashboards": st.lists(_BOARD, max_size=4),
        "fans": st.lists(_FAN, max_size=4),
        "pools": st.lists(_POOL, max_size=3),
        "errors": st.lists(st.sampled_from(["E1", "E2", ""]), max_size=3),
        "streams": st.lists(_STREAM, max_size=2),
        "meter": st.one_of(st.none(), _some({"power_w": _NUM, "energy_kwh": _NUM})),
        "environment": st.one_of(st.none(), _some({"temperature_c": _NUM, "humidity_pct": _NUM})),
        "cooling": st.one_of(
            st.none(),
            _some(
                {
                    "supply_temp_c": _NUM,
                    "return_temp_c": _NUM,
                    "flow_lpm": _NUM,
                    "pressure_bar": st.one_of(_NUM, st.sampled_from([0.1, 0.3, 2.5, 4.5])),
                    "alarms": st.lists(st.sampled_from(["A1", "", "A2"]), max_size=2),
                }
            ),
        ),
        "pool_account": st.one_of(
            st.none(),
            _some({"hashrate": _NUM, "workers_online": st.integers(0, 9), "balance": _NUM}),
        ),
        "chia": st.one_of(
            st.none(), _some({"plots": st.integers(0, 9), "proofs_found": st.integers(0, 9)})
        ),
        "host": st.one_of(st.none(), st.just({})),
    }
)

SNAPSHOTS = st.builds(
    lambda stats, config: {"stats": stats, **config},
    STATS,
    _some({"config": _some({"model": _TEXT, "make": _TEXT, "firmware": _TEXT})}),
)
