#!/usr/bin/env python3
"""Helpers for scripts/bench (standard library only).

  report.py pgbench OUT LOG...      parse pgbench's summary OUT and its per-transaction logs (-l):
                                    prints "tps p50_ms p99_ms failed"
  report.py check-pages FIRST DEEP  both JSON pages hold items, the deep one only older events
  report.py decode-cursor CURSOR    prints "<occurred_at RFC 3339> <id>" of a page cursor
  report.py table RUN SOAK_CSV      the Markdown results block, from the files scripts/bench
                                    wrote into RUN (results.txt, meta.txt, explain.txt) and
                                    the soak's RSS samples
  report.py write-doc DOC BLOCK     replace the results block of DOC with the file BLOCK
  report.py read-ratios RESULTS     Haven's document read against the bare server's (the rows
                                    of the table, judged), from RESULTS (results.txt)

results.txt, one fact a line:
  run NAME ROUND RATE P50_MS P99_MS HAVEN_CPU_US PG_CPU_US   (a wrk or pgbench run; "-" = n/a)
  coldstart READY_MS STOP_MS
  rss_idle NAME KIB
  rss_load WHEN VMRSS_KIB VMHWM_KIB
  leaked NAME ROUND SESSIONS   (database sessions idle in a transaction after a Haven run)
  bytes NAME ROUND BYTES       (an export's size on the wire)
  flood ROUND WHAT STATUS CODE COUNT   (the noisy neighbour's answers: verify or export)
  kms ROUND AT_START MEASURED SECONDS MISSES   (KMS requests of the PHI server at its start and
                               warm-up, during the measured runs and how long; its key cache misses)
meta.txt: KEY=VALUE lines (see scripts/bench). soak.csv: elapsed_s,vmrss_kib,vmhwm_kib.
"""

import base64
import datetime
import json
import re
import statistics
import sys
import uuid

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"

# Targets (issue 8, docs/PERFORMANCE.md). Idle RSS: issue 8 asked for 30 MiB at most; issue 13's
# "no worse" than the 18.5 MiB it recorded is the stricter one.
COLD_START_MS = 200
IDLE_RSS_MIB = 18.5
LOAD_RSS_MIB = 100
LIVE_VS_REFERENCE = 0.80
# Issuing a download URL is local signing: within 10 % of reading the document (issue 15).
CONTENT_VS_GET = 0.9
UPLOAD_VS_POST = 0.9
API_VS_PGBENCH = 0.70
# GET /documents/{id} against the bare axum + sqlx + jsonwebtoken server doing the same audited
# read (issue 13): CPU per read, the server's and PostgreSQL's, at most 1.3x; throughput at least
# 0.8x.
READ_CPU_VS_BARE = 1.3
READ_PG_VS_BARE = 1.3
READ_VS_BARE = 0.80
# Another tenant's reads while one tenant floods verify and the export: p99 within 3x alone
# (issue 16).
NEIGHBOUR_P99 = 3.0
# PHI encryption on (warm key cache) within 10 % of off (issue 14).
PHI_ON_VS_OFF = 0.9
DEEP_VS_FIRST = 1.5
# The soak is "flat" when the last minute's mean RSS is at most this much above the first
# minute's after the warm-up: 10 %, or 4 MiB, whichever is larger.
FLAT_FRACTION = 0.10
FLAT_MIB = 4.0


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


# --- the table ---------------------------------------------------------------------------------

def read_meta(path):
    meta = {}
    for line in open(path):
        line = line.rstrip("\n")
        if "=" in line:
            key, value = line.split("=", 1)
            meta[key] = value
    return meta


def num(text):
    return None if text == "-" else float(text)


def mib(kib):
    return kib / 1024.0


def soak_summary(path, soak_s):
    """(warm-up end, window, first-window mean, last-window mean, max, samples) in MiB."""
    samples = []
    try:
        for line in open(path):
            t, rss, _hwm = line.strip().split(",")
            samples.append((float(t), mib(int(rss))))
    except FileNotFoundError:
        return None
    if not samples:
        return None
    # One minute, or a quarter of a short soak: the first window is the warm-up, the second the
    # baseline, the last the end.
    window = min(60.0, soak_s / 4.0)
    first = [r for t, r in samples if window < t <= 2 * window]
    last = [r for t, r in samples if t > soak_s - window]
    if not first or not last:
        return None
    # Least-squares slope after the warm-up, in MiB per hour: shows a slow climb the two means
    # may hide.
    after = [(t, r) for t, r in samples if t > window]
    mt = statistics.mean(t for t, _ in after)
    mr = statistics.mean(r for _, r in after)
    var = sum((t - mt) ** 2 for t, _ in after)
    slope = sum((t - mt) * (r - mr) for t, r in after) / var * 3600 if var else 0.0
    return (window, statistics.mean(first), statistics.mean(last), max(r for _, r in samples),
            len(samples), slope)


def read_runs(path):
    """The `run` facts of results.txt: name -> round -> (rate, p50, p99, cpu, pg)."""
    runs = {}
    for line in open(path):
        f = line.split()
        if f and f[0] == "run":
            runs.setdefault(f[1], {})[int(f[2])] = tuple(num(x) for x in f[3:8])
    return runs


def per_round_ratio(runs, a, b, i=0):
    """Median over the rounds both have of a's figure i over b's, or None."""
    rounds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    values = [runs[a][r][i] / runs[b][r][i] for r in rounds
              if runs[a][r][i] is not None and runs[b][r][i]]
    return statistics.median(values) if values else None


def read_vs_bare(runs, verdict):
    """(label, target, judged) of the three ratios of Haven's read to the bare server's: Haven as
    deployed (accepted tokens remembered), then Haven verifying every token as the bare server
    does (JWT_ACCEPTED_TOKEN_CACHE_SIZE=0; only when measured)."""
    out = []
    havens = [("get", "Haven ÷ bare")]
    if "get_verified" in runs:
        havens.append(("get_verified", "Haven verifying every token ÷ bare"))
    for run, who in havens:
        for i, label, limit, most in ((3, "server process CPU per read", READ_CPU_VS_BARE, True),
                                      (4, "PostgreSQL CPU per read", READ_PG_VS_BARE, True),
                                      (0, "throughput", READ_VS_BARE, False)):
            r = per_round_ratio(runs, run, "get_reference", i)
            target = f"{'≤' if most else '≥'} {limit:g}× the bare server's"
            if r is None:
                out.append((f"{who}, {label}", target, "**MISSED**: not measured"))
            else:
                ok = r <= limit if most else r >= limit
                out.append((f"{who}, {label}", target, verdict(ok, f"{r:.2f}×")))
    return out


def read_ratios(results):
    def verdict(ok, text):
        return ("met: " if ok else "MISSED: ") + text

    for label, target, judged in read_vs_bare(read_runs(results), verdict):
        print(f"{label}: {judged} (target {target})")


def share(r, target):
    """r as a percentage, with a decimal when rounding would show the target itself."""
    return f"{r:.1%}" if round(r, 2) == target and r != target else f"{r:.0%}"


def table(state, soak_csv):
    meta = read_meta(f"{state}/meta.txt")
    quick = meta.get("quick") == "1"
    runs, starts, idle, load, leaked, sizes = {}, [], {}, [], {}, {}
    flood, kms = {}, []
    for line in open(f"{state}/results.txt"):
        f = line.split()
        if not f:
            continue
        if f[0] == "run":
            runs.setdefault(f[1], {})[int(f[2])] = tuple(num(x) for x in f[3:8])
        elif f[0] == "coldstart":
            starts.append((float(f[1]), float(f[2])))
        elif f[0] == "rss_idle":
            idle[f[1]] = mib(int(f[2]))
        elif f[0] == "rss_load":
            load.append((f[1], mib(int(f[2])), mib(int(f[3]))))
        elif f[0] == "leaked":
            leaked[f"{f[1]} {f[2]}"] = int(f[3])
        elif f[0] == "bytes":
            sizes.setdefault(f[1], []).append(int(f[3]))
        elif f[0] == "flood":
            key = (f[2], f[3], f[4])
            flood[key] = flood.get(key, 0) + int(f[5])
        elif f[0] == "kms":
            kms.append((int(f[2]), int(f[3]), float(f[4]), float(f[5])))

    def verdict(ok, text):
        if quick:
            return f"not judged (--quick): {text}"
        return ("met: " if ok else "**MISSED**: ") + text

    def med(name, i):
        values = [r[i] for r in runs[name].values() if r[i] is not None]
        return statistics.median(values) if values else None

    def ratio(a, b, i=0, invert=False):
        """Median over rounds of a/b (or b/a) for rounds both have."""
        rounds = sorted(set(runs[a]) & set(runs[b]))
        values = [(runs[b][r][i] / runs[a][r][i]) if invert else (runs[a][r][i] / runs[b][r][i])
                  for r in rounds]
        return statistics.median(values)

    def rate(name, unit="req/s"):
        rs = [runs[name][r][0] for r in sorted(runs[name])]
        each = ", ".join(f"{v:,.0f}" for v in rs)
        return f"{statistics.median(rs):,.0f} {unit}" + (f" ({each})" if len(rs) > 1 else "")

    def lat(name):
        p50, p99 = med(name, 1), med(name, 2)
        return "—" if p50 is None else f"{p50:.2f} / {p99:.2f}"

    def cpu(name):
        h, p = med(name, 3), med(name, 4)
        return f"{'—' if h is None else f'{h:.0f}'} / {'—' if p is None else f'{p:.0f}'}"

    def load_row(label, name, target="—", judged="—", unit="req/s"):
        return f"| {label} | {rate(name, unit)} | {lat(name)} | {cpu(name)} | {target} | {judged} |"

    n_rounds = max(len(r) for r in runs.values())
    rows = [
        "| Measure | Result (load: median of rounds, each round) | p50 / p99 ms (median of rounds) "
        "| CPU µs per request: haven process / PostgreSQL | Target | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    ready = [s[0] for s in starts]
    stop = [s[1] for s in starts]
    rows.append(
        f"| Cold start, exec → first ready 200 (ms), min / median / max of {len(ready)} "
        f"| {min(ready):.0f} / {statistics.median(ready):.0f} / {max(ready):.0f} | — | — "
        f"| ≤ {COLD_START_MS} ms | " + verdict(max(ready) <= COLD_START_MS, f"slowest {max(ready):.0f} ms") + " |")
    rows.append(f"| Stop after SIGTERM, idle (ms), median | {statistics.median(stop):.0f} | — | — | — | — |")

    r_live = ratio("live", "live_reference")
    rows.append(load_row("`GET /api/v1/health/live`", "live", f"≥ {LIVE_VS_REFERENCE * 100:.0f} % of the reference",
                         verdict(r_live >= LIVE_VS_REFERENCE, f"{share(r_live, LIVE_VS_REFERENCE)} of the reference")))
    rows.append(load_row("Same, bare axum reference server (CPU column: its process)", "live_reference"))
    rows.append(load_row("`GET /api/v1/health/ready`", "ready"))
    rows.append(load_row("`GET /api/v1/auth/validate`", "validate"))
    # The documents targets are judged on the runs with PostgreSQL on a CPU of its own when the
    # machine could make them (the *_apart runs, as in production: the database on its own host);
    # the shared-CPU figures are shown beside them, not judged.
    apart = all(n in runs for n in ("get_apart", "pgbench_read_apart", "post_apart", "pgbench_write_apart"))
    api_target = f"≥ {API_VS_PGBENCH * 100:.0f} % of pgbench"

    def documents_row(label, api, bench, judged):
        r = ratio(api, bench)
        text = f"{share(r, API_VS_PGBENCH)} of pgbench"
        if judged:
            return load_row(label, api, api_target, verdict(r >= API_VS_PGBENCH, text))
        return load_row(label, api, "shown, not judged", f"{text} (shared CPUs)")

    rows.append(documents_row("`GET /api/v1/documents/{id}`, all on shared CPUs", "get", "pgbench_read", not apart))
    rows.append(load_row("pgbench, the same read transaction (3 round trips), shared CPUs", "pgbench_read", unit="tps"))
    if "get_reference" in runs:
        rows.append(load_row("Same read, bare axum + sqlx + jsonwebtoken server (the same transaction; CPU "
                             "column: its process)", "get_reference"))
        if "get_verified" in runs:
            rows.append(load_row("Same read, Haven verifying every token in full as the bare server does "
                                 "(`JWT_ACCEPTED_TOKEN_CACHE_SIZE=0`)", "get_verified"))
        for label, target, judged in read_vs_bare(runs, verdict):
            rows.append(f"| {label} (median of the per-round ratios) | — | — | — | {target} | {judged} |")
    if "content" in runs:
        r = ratio("content", "get")
        rows.append(load_row("`GET /api/v1/documents/{id}/content?redirect=false` (presigned, no store call)",
                             "content", f"≥ {CONTENT_VS_GET * 100:.0f} % of `GET /documents/{{id}}`",
                             verdict(r >= CONTENT_VS_GET, f"{share(r, CONTENT_VS_GET)} of GET")))
    rows.append(load_row("`GET /api/v1/documents` (first page, 20)", "list"))
    if "list_compressed" in runs:
        r = ratio("list_compressed", "list")
        rows.append(load_row("Same list, `Accept-Encoding: gzip, deflate, br` (answered in br)", "list_compressed",
                             "shown", f"{r:.0%} of the uncompressed list"))
    if "export_plain" in runs and "export_compressed" in runs:
        plain, packed = statistics.median(sizes["export_plain"]), statistics.median(sizes["export_compressed"])
        rows.append(load_row(f"Audit NDJSON export, uncompressed ({plain / 1048576:.1f} MiB on the wire)",
                             "export_plain", unit="events/s"))
        r = ratio("export_compressed", "export_plain")
        rows.append(load_row(f"Same export, `Accept-Encoding: gzip, deflate, br` ({packed / 1048576:.1f} MiB, "
                             f"{packed / plain:.0%} of the bytes)", "export_compressed", "shown",
                             f"{r:.0%} of the uncompressed export's rate", unit="events/s"))
    rows.append(load_row("`GET /api/v1/patients/{id}`", "patient_get"))
    rows.append(load_row("`GET /api/v1/patients` (first page, 20)", "patient_list"))
    if "neighbour_alone" in runs and "neighbour_flood" in runs:
        rows.append(load_row("`GET /api/v1/documents/{id}` of the document tenants, alone (the noisy-neighbour "
                             "baseline, run just before the flood)", "neighbour_alone"))
        p99x = ratio("neighbour_flood", "neighbour_alone", 2)
        p50x = ratio("neighbour_flood", "neighbour_alone", 1)
        tput = ratio("neighbour_flood", "neighbour_alone")
        rows.append(load_row(
            f"Same, while the audit tenant's auditor floods `GET /audit-events/verify?full=true` and the "
            f"NDJSON export ({meta.get('flood_clients', '?')} clients; CPU columns include the flood's)",
            "neighbour_flood", f"p99 ≤ {NEIGHBOUR_P99:g}× alone; never 429/503 (any fails the run)",
            verdict(p99x <= NEIGHBOUR_P99, f"p99 {p99x:.2f}× alone, p50 {p50x:.2f}×, {tput:.0%} of the "
                    "throughput; no refusal")))
        answers = "; ".join(f"{what} {status}{'' if code == '-' else ' ' + code} × {n:,}"
                            for (what, status, code), n in sorted(flood.items()))
        waited = all(status == "200" or (status == "429" and code in ("RATE_001", "RATE_002"))
                     for (_, status, code) in flood)
        rows.append(f"| The flood's answers (all rounds) | {answers} | — | — | extra requests 429 "
                    f"`RATE_001`/`RATE_002` (it waits on itself) | "
                    + verdict(waited, "only 200 and 429 RATE_001/RATE_002" if waited else "other answers") + " |")
    rows.append(documents_row("`POST /api/v1/documents` (fresh Idempotency-Key each), all on shared CPUs", "post",
                              "pgbench_write", not apart))
    rows.append(load_row("pgbench, the same create transaction (5 round trips), shared CPUs", "pgbench_write",
                         unit="tps"))
    if "upload" in runs:
        r = ratio("upload", "post")
        rows.append(load_row("`POST /api/v1/documents` with `sha256` (presigned PUT, no store call)", "upload",
                             f"≥ {UPLOAD_VS_POST * 100:.0f} % of `POST /documents`",
                             verdict(r >= UPLOAD_VS_POST, f"{share(r, UPLOAD_VS_POST)} of POST")))
    phi_labels = (("patient_get", "`GET /api/v1/patients/{id}`"), ("get", "`GET /api/v1/documents/{id}`"),
                  ("post", "`POST /api/v1/documents`"))
    for what, label in phi_labels:
        if f"phi_on_{what}" not in runs:
            continue
        rows.append(load_row(f"{label}, PHI_ENCRYPTION off (the pair's baseline)", f"phi_off_{what}"))
        r = ratio(f"phi_on_{what}", f"phi_off_{what}")
        rows.append(load_row(f"Same, PHI_ENCRYPTION=kms (KMS in moto), warm key cache, the data encrypted",
                             f"phi_on_{what}", f"≥ {PHI_ON_VS_OFF * 100:.0f} % of off",
                             verdict(r >= PHI_ON_VS_OFF, f"{share(r, PHI_ON_VS_OFF)} of off")))
    if kms:
        start = "/".join(f"{k[0]}" for k in kms)
        measured = "/".join(f"{k[1]} in {k[2]:.0f} s" for k in kms)
        misses = "/".join(f"{k[3]:.0f}" for k in kms)
        per_min = max(k[1] / k[2] * 60 for k in kms)
        n_tenants = int(meta["tenants"])
        rows.append(
            f"| KMS requests of the PHI server (moto's count), each round: at its start and cache warm-up; "
            f"during the measured runs; `phi_key_cache_total{{result=\"miss\"}}` over its life "
            f"| {start}; {measured}; misses {misses} | — | — | ≤ {n_tenants} a minute under load (the tenants) | "
            + verdict(per_min <= n_tenants, f"{per_min:.1f} a minute under load") + " |")
    if apart:
        rows.append(documents_row("`GET /api/v1/documents/{id}`, PostgreSQL on a CPU of its own", "get_apart",
                                  "pgbench_read_apart", True))
        rows.append(load_row("pgbench, the same read transaction, PostgreSQL on a CPU of its own",
                             "pgbench_read_apart", unit="tps"))
        rows.append(documents_row("`POST /api/v1/documents`, PostgreSQL on a CPU of its own", "post_apart",
                                  "pgbench_write_apart", True))
        rows.append(load_row("pgbench, the same create transaction, PostgreSQL on a CPU of its own",
                             "pgbench_write_apart", unit="tps"))
    rows.append(load_row("`GET /api/v1/audit-events`, first page (20)", "audit_first"))
    d50 = ratio("audit_deep", "audit_first", 1)
    d99 = ratio("audit_deep", "audit_first", 2)
    dtp = ratio("audit_deep", "audit_first", 0, invert=True)
    deep_label = f"Same, a page {int(meta['deep_offset']):,} events deep (cursor)"
    rows.append(load_row(deep_label, "audit_deep", f"≤ {DEEP_VS_FIRST}× the first page",
                         verdict(max(d50, d99, dtp) <= DEEP_VS_FIRST,
                                 f"{d50:.2f}× at p50, {d99:.2f}× at p99, {dtp:.2f}× in time per request "
                                 "(first ÷ deep throughput)")))

    rows.append(
        f"| Idle RSS after start + 20 requests (MiB) | {idle['haven']:.1f} (reference {idle['reference']:.1f}) "
        f"| — | — | ≤ {IDLE_RSS_MIB} MiB | " + verdict(idle["haven"] <= IDLE_RSS_MIB, f"{idle['haven']:.1f} MiB") + " |")
    soak_s = float(meta["soak_s"])
    soak = soak_summary(soak_csv, soak_s)
    peak_rss = max(r for _, r, _ in load)
    peak_hwm = max(h for _, _, h in load)
    worst = max(peak_hwm, soak[3] if soak else 0)
    rows.append(
        f"| RSS under load (MiB): largest VmRSS after a run; peak VmHWM of any server (rounds, soak) "
        f"| {peak_rss:.1f}; {peak_hwm:.1f} | — | — | ≤ {LOAD_RSS_MIB} MiB | "
        + verdict(worst <= LOAD_RSS_MIB, f"peak {worst:.1f} MiB (rounds and soak)") + " |")
    soak_min = soak_s / 60.0
    soak_len = f"{soak_min:g} min" if soak_s >= 60 else f"{soak_s:g} s"
    if "soak" in runs:
        rows.append(load_row(f"Soak: {soak_len} of mixed load (8 get : 1 list : 1 post), one server", "soak"))
    if soak:
        window, first, last, top, count, slope = soak
        w = f"{window:g} s"
        grew = last - first
        flat = grew <= max(FLAT_FRACTION * first, FLAT_MIB)
        rows.append(
            f"| Soak RSS (MiB): mean of the {w} after a {w} warm-up → mean of the last {w}; max; "
            f"trend after the warm-up ({count} samples, target/bench/soak.csv) "
            f"| {first:.1f} → {last:.1f}; max {top:.1f}; {slope:+.1f} MiB/h | — | — "
            f"| flat (≤ +10 % or +{FLAT_MIB:g} MiB) | "
            + verdict(flat, f"{'flat' if flat else 'grew'}, {grew:+.1f} MiB ({grew / first:+.1%})") + " |")
    else:
        rows.append("| Soak RSS | too few samples | — | — | flat | **MISSED**: not measured |")

    if "backlog_after" in meta:
        rows.append(f"| Sealer backlog when the soak's load ended (events not sealed yet); time to seal them all "
                    f"| {meta['backlog_after']} | — | — | recorded | recorded |")

    # Not a target of the issue: a correctness check the runs make on the side (scripts/bench,
    # check_leaks). It is judged even in a quick run.
    leaks = {k: v for k, v in leaked.items() if v}
    where = ", ".join(f"{v} after {k}" for k, v in leaks.items())
    rows.append(
        f"| Database sessions idle in a transaction after a Haven run, most at once "
        f"({len(leaked)} checks; a request cancelled during `BEGIN` used to leave its pooled connection in one, "
        f"fixed in crates/db/src/begin.rs) "
        f"| {max(leaks.values(), default=0)} | — | — | 0 | "
        + (f"**MISSED**: {where} (target/bench/run/leaked.txt)" if leaks else "met: none") + " |")

    size = int(meta["binary_size"])
    ref_size = int(meta["reference_size"])
    rows.append(f"| Release binary size (MiB) | {size / 2**20:.1f} (reference {ref_size / 2**20:.1f}) "
                f"| — | — | recorded | recorded |")
    rows.append(f"| Clean release build, `cargo build --release -p haven-api --bin haven` | "
                f"{meta.get('clean_build', 'not measured this run (use --clean-build)')} | — | — | recorded | recorded |")
    rows.append(f"| Build this run (incremental, same command) | {meta.get('build', 'not built (--no-build)')} "
                f"| — | — | — | — |")

    out = []
    if quick:
        out.append("**`--quick` run: a tiny dataset and short rounds, to check the script works. "
                   "Nothing here is judged against the targets.**")
        out.append("")
    out.extend(rows)
    out.append("")
    out.append(f"Measured {meta['date']} on {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['mem']} RAM; "
               f"{meta['rustc']}; PostgreSQL {meta['pg_version']}; {meta['wrk_version']}; "
               f"{meta['pgbench_version']}; commit {meta['commit']}.")
    out.append(f"Haven binary built {meta['binary_built']}. Load average before measuring: "
               f"{meta['load_before']}; 1-minute load after each round: {meta['load_rounds']}. "
               f"Pinning: {meta['pinning']}.")
    out.append(
        f"Data: {meta['tenants']} document tenants × {int(meta['docs']):,} seeded documents "
        f"({int(meta['docs_after']):,} documents in all after the run); "
        f"{int(meta['events']):,} audit events seeded in the audit tenant in {meta['seed_audit_s']} s "
        f"and sealed by the service in {meta['seal_s']} s ({int(meta['audit_rows_after']):,} there after the run; "
        f"{int(meta['events_after']):,} events in all). Deep page: the cursor of the event at offset "
        f"{int(meta['deep_offset']):,}, newest first."
        + (f" The PHI set: {meta['tenants']} more tenants seeded alike, then encrypted with `haven phi "
           "encrypt-existing` under a KMS key in moto." if meta.get("phi_set") == "1" else ""))
    out.append(f"{n_rounds} round(s) of {meta['duration']} s at {meta['connections']} connections; "
               f"{len(ready)} cold starts; soak {soak_len}. Per-request CPU from /proc "
               "(user + system; a Haven run: the measured process and any other Haven process up, whose sealers share the sealing; the whole PostgreSQL cluster).")
    out.append("")
    out.append("Commands (`$URL` the server, `$DATABASE_URL` the benchmark database, files under the "
               "repository root):")
    out.append("")
    out.append("```")
    for key in sorted(k for k in meta if k.startswith("cmd_")):
        out.append(meta[key])
    out.append("```")
    out.append("")
    out.append(f"Command: `{meta['command']}`")
    try:
        plan = [line.rstrip() for line in open(f"{state}/explain.txt") if line.strip()]
    except FileNotFoundError:
        plan = []
    if plan:
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
    if len(argv) < 2:
        sys.exit(__doc__)
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
    elif command == "read-ratios":
        read_ratios(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
