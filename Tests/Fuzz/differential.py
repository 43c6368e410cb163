#!/usr/bin/python3
"""Seeded differential gRPC fuzzer: the same structured requests to swetcd and to a real etcd
3.5.16, side by side; every divergence and every swetcd crash is reported.

    /usr/bin/python3 Tests/Fuzz/differential.py --seed 1 --requests 3000 [--report out.json]
        [--swetcd BIN] [--etcd BIN] [--stop-on-crash] [--from INDEX] [--minimize-budget S]

Several seeds: --seed 1,2,3 (or 1-5). The same seed always gives the same request sequence;
`--from R --requests N` replays requests R..N-1 of it on fresh servers (a reproducer range from
a report). The modules: values.py (edge values, Sym), generator.py (requests), protos.py (stubs,
building and printing messages), servers.py (processes, streams), responses.py (normalization,
comparison), runner.py (the loop, crashes, reproducers), known_differences.py (allowlist).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "cpp")  # the C++ codec: faster

from runner import DEFAULT_ETCD, DEFAULT_SWETCD, Runner  # noqa: E402
import known_differences  # noqa: E402


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            seeds.extend(range(int(a), int(b) + 1))
        else:
            seeds.append(int(part))
    return seeds


def merge(reports):
    """One summary over several seeds: classes merged by name (counts added, the smallest
    example and a reproducer kept)."""
    classes = {}
    for rep in reports:
        for c in rep["classes"]:
            m = classes.get(c["class"])
            if m is None:
                classes[c["class"]] = dict(c, seeds=[rep["seed"]])
                continue
            m["count"] += c["count"]
            m["seeds"].append(rep["seed"])
            if c["example"]["size"] < m["example"]["size"]:
                m["example"] = c["example"]
            if (m.get("reproducer") or {}).get("reproduces") is not True and c.get("reproducer"):
                m["reproducer"] = c["reproducer"]
    unimpl = {}
    for rep in reports:
        for k, v in rep["unimplemented"].items():
            unimpl[k] = unimpl.get(k, 0) + v
    ops = sum(r["stats"]["ops"] for r in reports)
    elapsed = sum(r["elapsed_s"] for r in reports)
    return {
        "seeds": [r["seed"] for r in reports], "ops": ops, "elapsed_s": round(elapsed, 1),
        "req_per_s": round(ops / max(elapsed, 1e-6), 1),
        "crashes": sum(r["stats"]["crashes"] for r in reports),
        "divergences": sum(r["stats"]["divergences"] for r in reports),
        "resets": sum(r["stats"]["resets"] for r in reports),
        "unimplemented": unimpl,
        "newly_implemented": {k: v for r in reports for k, v in r["newly_implemented"].items()},
        "notes": [n for r in reports for n in r["notes"]],
        "classes": sorted(classes.values(), key=lambda c: (c["kind"] != "crash", -c["count"])),
        "per_seed": [{k: r[k] for k in ("seed", "requests", "elapsed_s", "req_per_s", "stats")} for r in reports],
    }


def text_summary(s):
    out = [f"seeds {s['seeds']}: {s['ops']} requests in {s['elapsed_s']} s ({s['req_per_s']} req/s), "
           f"{s['crashes']} crashes, {s['divergences']} divergences in "
           f"{sum(1 for c in s['classes'] if c['kind'] != 'crash')} classes, {s['resets']} fresh restarts"]
    if s["unimplemented"]:
        out.append("known UNIMPLEMENTED in swetcd (not compared): " +
                   ", ".join(f"{k} x{v}" for k, v in sorted(s["unimplemented"].items())))
    for k, v in s["newly_implemented"].items():
        out.append(f"newly implemented in swetcd (remove from known_differences.UNIMPLEMENTED?): {k}: {v['swetcd'][:200]}")
    for n in s["notes"]:
        out.append(f"note: {n}")
    for c in s["classes"]:
        ex = c["example"]
        known = f"  [known: {c['known_reason']}]" if c.get("known_reason") else ""
        out.append("")
        out.append(f"== {c['class']}  ({c['count']}x, seeds {sorted(set(c['seeds']))}){known}")
        out.append(f"   example: seed {ex['seed']} #{ex['index']} (servers fresh since #{ex['reset_at']})")
        out.append(f"   request: {ex['request'][:1500]}")
        if ex.get("request_swetcd"):
            out.append(f"   (to swetcd: {ex['request_swetcd'][:500]})")
        if c["kind"] in ("crash", "etcd-crash"):
            out.append(f"   swetcd: {ex['exit']}; restart on the same data dir: {ex['restart_on_same_data_dir']}")
            for line in ex["crash_lines"][:6]:
                out.append(f"      | {line[:300]}")
            for line in ex.get("restart_log", [])[:4]:
                out.append(f"      restart| {line[:300]}")
        else:
            out.append(f"   etcd:   {ex['etcd'][:1500]}")
            out.append(f"   swetcd: {ex['swetcd'][:1500]}")
            for p, a, b in ex.get("diff", [])[:5]:
                out.append(f"      {p}: etcd {a} / swetcd {b}")
            if ex.get("stream_history"):
                out.append("   requests on that watch stream before it:")
                for t in ex["stream_history"][-6:]:
                    out.append(f"      {t[:300]}")
        rep = c.get("reproducer")
        if rep and rep.get("reproduces"):
            how = "alone, on fresh servers" if rep["standalone"] else f"on fresh servers after {len(rep['requests']) - 1} requests"
            if not rep["standalone"] and not rep.get("minimal", True):
                how += " (not fully minimized: time ran out)"
            out.append(f"   reproduces {how}:")
            for t in rep["requests"][-12:]:
                out.append(f"      {t[:600]}")
            if "etcd" in rep:
                out.append(f"      -> etcd:   {rep['etcd'][:600]}")
                out.append(f"      -> swetcd: {rep['swetcd'][:600]}")
        elif rep:
            out.append(f"   {rep.get('note', 'not reproduced')}")
        elif ex.get("recent"):
            out.append("   preceding requests:")
            for t in ex["recent"][-6:]:
                out.append(f"      {t[:300]}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", default="1", help="seed, or seeds: 1,2,7 or 1-5")
    ap.add_argument("--requests", type=int, default=2000, help="requests per seed")
    ap.add_argument("--swetcd", default=os.environ.get("SWETCD_BIN", DEFAULT_SWETCD))
    ap.add_argument("--etcd", default=DEFAULT_ETCD)
    ap.add_argument("--report", help="write the summary here (.json: JSON, else text)")
    ap.add_argument("--stop-on-crash", action="store_true")
    ap.add_argument("--from", dest="from_index", type=int, default=0,
                    help="skip the first requests of the sequence (start fresh servers there)")
    ap.add_argument("--progress", type=int, default=500, help="progress line every N requests")
    ap.add_argument("--state-check-every", type=int, default=100)
    ap.add_argument("--minimize-budget", type=float, default=120.0,
                    help="seconds per seed to search reproducers at the end (0: none)")
    args = ap.parse_args()

    reports = []
    for seed in parse_seeds(args.seed):
        r = Runner(seed, args.requests, swetcd=args.swetcd, etcd=args.etcd, stop_on_crash=args.stop_on_crash,
                   progress_every=args.progress, state_check_every=args.state_check_every,
                   from_index=args.from_index, minimize_budget=args.minimize_budget)
        reports.append(r.run())
        if args.stop_on_crash and reports[-1]["stats"]["crashes"]:
            break
    summary = merge(reports)
    text = text_summary(summary)
    print()
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            if args.report.endswith(".json"):
                json.dump(summary, f, indent=1, default=repr)
            else:
                f.write(text + "\n")
        if args.report.endswith(".json"):
            with open(args.report[:-5] + ".txt", "w") as f:
                f.write(text + "\n")
    unexpected = [c for c in summary["classes"] if not known_differences.known_reason(c["class"])]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
