#!/usr/bin/env python3
"""Helpers for scripts/bench.d/documents (standard library only).

  report.py pgbench OUT LOG...      parse pgbench's summary OUT and its per-transaction logs (-l):
                                    prints "tps p50_ms p99_ms failed"
  report.py check-pages FIRST DEEP  both JSON pages hold items, the deep one only older events
  report.py decode-cursor CURSOR    prints "<occurred_at RFC 3339> <id>" of a page cursor
  report.py table RESULTS EXPLAIN   the Markdown results table
  report.py write-doc DOC BLOCK     replace the documents results block of DOC with the file BLOCK
"""

import base64
import datetime
import json
import re
import statistics
import sys
import uuid

BEGIN = "<!-- bench-documents:results:begin -->"
END = "<!-- bench-documents:results:end -->"


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def pgbench(out, logs):
    text = open(out).read()
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", text).group(1))
    failed_match = re.search(r"number of failed transactions: (\d+)", text)
    failed = int(failed_match.group(1)) if failed_match else 0
    lat = []
    for path in logs:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    lat.append(int(fields[2]) / 1000.0)
    lat.sort()
    print(f"{tps:.0f} {percentile(lat, 0.5):.3f} {percentile(lat, 0.99):.3f} {failed}")


def check_pages(first, deep):
    a = json.load(open(first))
    b = json.load(open(deep))
    items_a, items_b = a.get("items") or a.get("data"), b.get("items") or b.get("data")
    if not items_a or not items_b:
        sys.exit(f"report.py: a page has no items: {list(a)} {list(b)}")
    if not items_b[0]["occurred_at"] < items_a[-1]["occurred_at"]:
        sys.exit("report.py: the deep page is not older than the first")
    print(f"first page: {len(items_a)} items from {items_a[0]['occurred_at']}; "
          f"deep page: {len(items_b)} items from {items_b[0]['occurred_at']}", file=sys.stderr)


def decode_cursor(text):
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    micros = int.from_bytes(raw[1:9], "big", signed=True)
    at = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=micros)
    print(at.isoformat(), uuid.UUID(bytes=raw[9:25]))


def table(results, explain, cpu=None):
    rows = {}
    for line in open(results):
        name, _round, rps, p50, p99 = line.split()
        rows.setdefault(name, []).append((float(rps), float(p50), float(p99)))

    def med(name, i):
        return statistics.median(r[i] for r in rows[name])

    def each(name):
        return ", ".join(f"{r[0]:,.0f}" for r in rows[name])

    def verdict(ok, text):
        return ("met: " if ok else "**MISSED**: ") + text

    out = [
        "| Measure | req/s or tps, median of rounds (each round) | p50 / p99 ms (median of rounds) | Target | Verdict |",
        "|---|---|---|---|---|",
    ]
    pg = "pgbench"
    for name, label in (("haven_warn", "API `GET /api/v1/documents/{id}`, LOG_LEVEL=warn"),
                        ("haven_info", "API `GET /api/v1/documents/{id}`, LOG_LEVEL=info (one log line per request)")):
        ratio = statistics.median(a[0] / b[0] for a, b in zip(rows[name], rows[pg]))
        out.append(f"| {label} | {med(name, 0):,.0f} ({each(name)}) | {med(name, 1):.2f} / {med(name, 2):.2f} | "
                   f"≥ 70 % of pgbench | " + verdict(ratio >= 0.7, f"{ratio:.0%} of pgbench (median of per-round ratios)") + " |")
    out.append(f"| pgbench, the same transaction (3 round trips, prepared) | {med(pg, 0):,.0f} ({each(pg)}) | "
               f"{med(pg, 1):.2f} / {med(pg, 2):.2f} | — | — |")
    first, deep = "audit_first", "audit_deep"
    r50 = med(deep, 1) / med(first, 1)
    r99 = med(deep, 2) / med(first, 2)
    out.append(f"| `GET /api/v1/audit-events`, first page (20 events) | {med(first, 0):,.0f} ({each(first)}) | "
               f"{med(first, 1):.2f} / {med(first, 2):.2f} | — | — |")
    out.append(f"| Same, a page ~900 000 events deep (cursor) | {med(deep, 0):,.0f} ({each(deep)}) | "
               f"{med(deep, 1):.2f} / {med(deep, 2):.2f} | ≤ 1.5× the first page | "
               + verdict(max(r50, r99) <= 1.5, f"{r50:.2f}× at p50, {r99:.2f}× at p99") + " |")
    if cpu:
        per = {}
        for line in open(cpu):
            name, _round, us, pg_us = line.split()
            per.setdefault(name, []).append((int(us), int(pg_us)))
        if per:
            def cpu_med(name, i):
                return statistics.median(v[i] for v in per[name])
            out.append("")
            out.append("| CPU time per request / transaction (µs, median of rounds; user + system from /proc) | haven process (its sealer included) | PostgreSQL cluster (all its processes) |")
            out.append("|---|---|---|")
            for name, label in (("haven_warn", "API, LOG_LEVEL=warn"), ("haven_info", "API, LOG_LEVEL=info"),
                                ("pgbench", "pgbench (no sealing during the run)")):
                if name in per:
                    haven = "—" if name == "pgbench" else f"{cpu_med(name, 0):.0f}"
                    out.append(f"| {label} | {haven} | {cpu_med(name, 1):.0f} |")
    plan = [line.rstrip() for line in open(explain) if line.strip()]
    out.append("")
    out.append("Deep page plan (`EXPLAIN (ANALYZE, BUFFERS)` as haven_app, tenant set):")
    out.append("")
    out.append("```")
    out.extend(plan)
    out.append("```")
    print("\n".join(out))


def write_doc(doc, block):
    text = open(doc).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"report.py: {doc} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(doc, "w") as f:
        f.write(head + BEGIN + "\n" + open(block).read().rstrip("\n") + "\n" + END + tail)


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "pgbench":
        pgbench(args[0], args[1:])
    elif command == "check-pages":
        check_pages(*args)
    elif command == "decode-cursor":
        decode_cursor(*args)
    elif command == "table":
        table(*args)
    elif command == "write-doc":
        write_doc(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
