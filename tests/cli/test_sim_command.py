"""``hashfleet sim --antminer N --xmrig M --ip-base A.B.C.D`` prints one line per device."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx


def test_sim_prints_family_and_address_and_answers() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hashfleet",
            "sim",
            "--antminer",
            "2",
            "--xmrig",
            "1",
            "--ip-base",
            "127.67.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines == [
            "antminer 127.67.0.1:4028",
            "antminer 127.67.0.2:4028",
            "xmrig 127.67.0.3:8080",
        ]
        summary = httpx.get("http://127.67.0.3:8080/1/summary", timeout=5).json()
        assert summary["hashrate"]["total"][0] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


def test_sim_needs_at_least_one_device() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hashfleet", "sim"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "at least one device" in result.stderr


def test_device_mix_is_parsed_and_checked() -> None:
    import pytest
    import typer

    from hashfleet.cli.sim_cmd import parse_mix

    assert parse_mix(["antminer=2", "xmrig=1", "antminer=3"]) == {"antminer": 5, "xmrig": 1}
    for bad in (["antminer"], ["antminer=x"], ["nosuchfamily=2"], ["xmrig=-1"]):
        with pytest.raises(typer.BadParameter):
            parse_mix(bad)
