"""`apmip bench --quick` runs every suite and reports the figures the docs quote (the figures
themselves are measured, not asserted: speed targets live in docs/benchmarks.md)."""

from __future__ import annotations

import json

from apmip.cli import main


def test_bench_quick_reports_every_figure(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    results = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    expected = {
        "codec: PBU build+encode+decode": "round trips/s",
        "appraisal (accept), one core": "appraisals/cpu-s",
        "bare ECDSA P-256 verification": "verifications/cpu-s",
        "plain PMIPv6 attach+detach": "per s",
        "attested, within a trust session": "per s",
        "attested, full mutual appraisal every message": "per s",
        "LMA memory per binding": "bytes",
        "MAG memory per binding": "bytes",
    }
    for name, unit in expected.items():
        assert results[name]["unit"] == unit
        assert results[name]["value"] > 0
    assert results["attested, within a trust session"]["note"].endswith(" x plain")
    # a binding is a few hundred bytes of Python objects, not kilobytes
    assert 100 < results["LMA memory per binding"]["value"] < 4096


def test_bench_rejects_an_unknown_suite(capsys):
    assert main(["bench", "nosuch"]) == 2
    assert "unknown suite 'nosuch'" in capsys.readouterr().err
