"""A bounded burst of the seeded differential fuzzer (Tests/Fuzz/differential.py): the same
structured requests to swetcd and to a real etcd 3.5.16, every answer compared.

Fails if swetcd crashed, or if any divergence class is not in Tests/Fuzz/known_differences.py
(KNOWN, each with its reason; methods swetcd answers UNIMPLEMENTED are listed there apart and
never compared). The failure message is the fuzzer's summary: each class with a request that
shows it, both servers' answers and, where one was found in the time given, a short reproducer
on fresh servers. Reproduce a seed with

    /usr/bin/python3 Tests/Fuzz/differential.py --seed 101 --requests 400
"""
import os
import sys

import pytest

from conftest import REF, SWETCD

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fuzz"))

ETCD_3516 = os.path.join(REF, "etcd-3.5.16", "etcd")
# (seed, requests): a few thousand requests in all, about a minute on 2 cores, plus up to
# MINIMIZE_S per seed to find short reproducers for what was found.
BURST = [(101, 500), (102, 500), (103, 500)]
MINIMIZE_S = 15


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed (etcd-reference)")
def test_differential_fuzz_burst():
    import differential
    import known_differences
    from runner import Runner

    reports = []
    for seed, n in BURST:
        reports.append(Runner(seed, n, swetcd=SWETCD, etcd=ETCD_3516, progress_every=0,
                              minimize_budget=MINIMIZE_S, log=lambda s: None).run())
    summary = differential.merge(reports)
    text = differential.text_summary(summary)
    print(text)
    crashes = [c for c in summary["classes"] if c["kind"] == "crash"]
    unexpected = [c for c in summary["classes"] if c["kind"] in ("divergence", "state")
                  and not known_differences.known_reason(c["class"])]
    assert summary["ops"] == sum(n for _, n in BURST)
    assert not crashes and not unexpected, (
        f"{len(crashes)} swetcd crash classes, {len(unexpected)} divergence classes not in "
        f"Tests/Fuzz/known_differences.py:\n\n{text}")
