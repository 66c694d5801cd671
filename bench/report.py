"""``python -m bench.report RESULT.json``: a run's figures as the Markdown
tables of docs/performance.md's results section (to paste after a rerun)."""

from __future__ import annotations

import json
import sys


def _rps(m: dict | None) -> str:
    return "-" if not m else f"{m['rps']:,.0f}"


def _lat(m: dict | None) -> str:
    return "-" if not m or "p50_ms" not in m else f"{m['p50_ms']:.3f} / {m['p99_ms']:.3f}"


def markdown(doc: dict) -> str:
    m = doc["machine"]
    out = [f"- date: {m['date']}",
           f"- command: `python -m bench {' '.join(doc.get('argv') or [])}`",
           f"- machine: nproc {m['nproc']}, {m.get('cpu_model', '')}; load average {m.get('loadavg_start')}"
           f" at start, {m.get('loadavg_end')} at end",
           f"- {m.get('python_version_output') or 'Python ' + m['python']}; {m['redis_server_version']}",
           f"- git commit: {m.get('git_commit') or '(not a git checkout)'}"
           + (" (uncommitted changes)" if m.get("git_dirty") else ""),
           f"- rounds: {doc['config']['rounds']} (default suite: {doc['config']['suite_rounds']}); "
           f"Shardis shards: {doc['config']['shards'] or 'default'}",
           "",
           "| scenario | test | redis rps | Shardis rps | ratio | redis p50 / p99 ms | Shardis p50 / p99 ms |",
           "|---|---|---:|---:|---:|---:|---:|"]
    skipped = []
    memory = []
    for name, sc in doc.get("scenarios", {}).items():
        if sc.get("skipped"):
            skipped.append(f"`{name}` ({sc['skipped']})")
            continue
        if "metric" in sc:
            memory.append((name, sc))
            continue
        for t, v in sc.get("tests", {}).items():
            ratio = "-" if v["ratio"] is None else f"{v['ratio']:.2f}x"
            out.append(f"| {name} | {t} | {_rps(v['redis'])} | {_rps(v['shardis'])} | {ratio} "
                       f"| {_lat(v['redis'])} | {_lat(v['shardis'])} |")
        for t in sc.get("unsupported", []):
            out.append(f"| {name} | {t} | | | not supported yet | | |")
    if doc.get("pipelining"):
        out += ["", "| pipelining efficiency (c1 P30 / c1 P1) | redis | Shardis | Shardis / redis |",
                "|---|---:|---:|---:|"]
        for t, v in doc["pipelining"].items():
            out.append(f"| {t} | {v['redis']:.1f}x | {v['shardis']:.1f}x | {v['shardis_over_redis']:.2f} |")
    if memory:
        out += ["", "| memory | redis | Shardis | difference | ratio |", "|---|---:|---:|---:|---:|"]
        for name, sc in memory:
            k = sc["metric"]
            out.append(f"| {k.replace('_', ' ')} | {sc['redis'][k]:,.0f} | {sc['shardis'][k]:,.0f} "
                       f"| {sc['difference_bytes']:+,.0f} | {sc['ratio']:.2f}x |")
    if skipped:
        out += ["", "Skipped: " + ", ".join(skipped) + "."]
    if doc.get("targets"):
        out += ["", "| target | value | verdict |", "|---|---:|---|"]
        for t in doc["targets"]:
            v = t["value"]
            shown = "-" if v is None else (f"{v:+,.0f} B" if "connection" in t["target"] else f"{v:.2f}")
            out.append(f"| {t['target']} | {shown} | {'met' if t['met'] else 'missed'} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.report RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        print(markdown(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
