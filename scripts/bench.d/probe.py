#!/usr/bin/env python3
"""Measuring helpers for scripts/bench (standard library only; loopback only).

  probe.py coldstart BIN PORT PIDFILE OUT LOG
      exec `BIN serve` with PORT set, poll GET /api/v1/health/ready every millisecond until it
      answers 200 (30 s at most), then, 100 ms later, SIGTERM it and wait for the exit (30 s at
      most). Writes "<ms to first ready 200> <ms from SIGTERM to exit>" to OUT. The server's pid
      is kept in PIDFILE while it runs, so the caller's cleanup can stop it if this helper is
      killed.
  probe.py wait URL SECONDS         poll URL until it answers 200, or fail after SECONDS
  probe.py get URL                  print the status and the body of one GET
  probe.py wrk FILE                 parse `wrk --latency` output: "rps p50_ms p99_ms errors"
                                    (errors: its "Non-2xx or 3xx responses" plus socket errors)
  probe.py sample PID INTERVAL SECONDS OUT
      every INTERVAL seconds for SECONDS (or until PID exits), append
      "<elapsed s>,<VmRSS KiB>,<VmHWM KiB>" of PID to the CSV file OUT
  probe.py flood URL TOKEN CLIENTS SECONDS OUT
      the noisy neighbour: CLIENTS threads for SECONDS, half of them sending GET
      /api/v1/audit-events/verify?full=true (the whole chain re-hashed), half the NDJSON export
      of the trail (read to its end), each its next request as soon as the last is answered
      (50 ms after a refusal). Writes "<what> <status> <code or -> <count>" lines to OUT.
  probe.py pg-snapshot POSTMASTER_PID PG_PORT OUT MEASURED_PID [OTHER_HAVEN_PID...]
      write to OUT (JSON) each child of the PostgreSQL postmaster: its user+system ticks and whose
      it is: "measured" or "other Havens" (a client backend belongs to the process holding its
      connection's other end, found through /proc/net/tcp and the process's socket inodes),
      "other clients", "autovacuum" or "background" (pg_stat_activity through psql, $DATABASE_URL)
  probe.py pg-split BEFORE AFTER HZ REQUESTS TOTAL
      where the PostgreSQL CPU of one run went, in microseconds per request, from two snapshots;
      TOTAL is the cluster's ticks over the run (the postmaster's and its reaped children's
      included). Prints "measured N, other Havens N, autovacuum N, background N, other clients N,
      ended N (K backends: whose ...)", ended being what TOTAL leaves over: the backends that
      ended during the run (whose they were is counted), those that began and ended within it
      (an autovacuum worker, often: not counted by owner), the postmaster itself.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

REQUEST = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def http_get(port, path, timeout=1.0):
    """One GET over a fresh connection; returns (status, body) or raises OSError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(REQUEST % path.encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def split_url(url):
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
    if not match:
        sys.exit(f"probe.py: only http://127.0.0.1:PORT/... URLs, got {url}")
    return int(match.group(1)), match.group(2)


def coldstart(binary, port, pidfile, out, log):
    env = dict(os.environ, PORT=str(port))
    proc = None

    def stop(*_):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stop)
    try:
        with open(log, "ab") as sink:
            started = time.perf_counter()
            proc = subprocess.Popen([binary, "serve"], stdout=sink, stderr=sink, env=env)
        with open(pidfile, "w") as f:
            f.write(f"{proc.pid}\n")
        deadline = started + 30
        while True:
            if proc.poll() is not None:
                sys.exit(f"probe.py: the server exited with {proc.returncode} (log: {log})")
            try:
                status, _ = http_get(port, "/api/v1/health/ready")
                if status == 200:
                    ready_ms = (time.perf_counter() - started) * 1000
                    break
            except (OSError, IndexError, ValueError):
                pass
            if time.perf_counter() > deadline:
                sys.exit(f"probe.py: no ready 200 within 30 s (log: {log})")
            time.sleep(0.001)
        # Stop it idle, a moment after its first answer (SIGTERM in the same instant as that
        # answer can arrive before the server has installed its signal handler).
        time.sleep(0.1)
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stop_ms = (time.perf_counter() - stopping) * 1000
        if code != 0:
            sys.exit(f"probe.py: the server exited with {code} after SIGTERM (log: {log})")
        with open(out, "w") as f:
            f.write(f"{ready_ms:.1f} {stop_ms:.1f}\n")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.exists(pidfile):
            os.remove(pidfile)


def wait(url, seconds):
    port, path = split_url(url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if http_get(port, path)[0] == 200:
                return
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.01)
    sys.exit(f"probe.py: {url} did not answer 200 within {seconds} s")


def get(url):
    port, path = split_url(url)
    status, body = http_get(port, path)
    print(status, body.decode(errors="replace"))


def to_ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", text))
    socket_errors = re.search(r"Socket errors: (.*)", text)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors}")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/{pid}/status")


def sample(pid, interval, seconds, out):
    started = time.monotonic()
    with open(out, "a") as f:
        i = 1
        while i * interval <= seconds + 1e-9:
            time.sleep(max(0.0, started + i * interval - time.monotonic()))
            try:
                rss, hwm = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
            except OSError:
                return
            f.write(f"{time.monotonic() - started:.1f},{rss},{hwm}\n")
            f.flush()
            i += 1


def flood(url, token, clients, seconds, out):
    port, _ = split_url(url + "/")
    deadline = time.monotonic() + seconds
    counts = {}
    lock = threading.Lock()

    def client(n):
        what = "verify" if n % 2 == 0 else "export"
        path = "/api/v1/audit-events/verify?full=true" if what == "verify" else "/api/v1/audit-events"
        headers = {"Authorization": f"Bearer {token}"}
        if what == "export":
            headers["Accept"] = "application/x-ndjson"
        conn = None
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = b""
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    if response.status != 200:
                        body += chunk
                code = "-"
                if response.status != 200:
                    try:
                        code = json.loads(body)["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        code = "?"
                key = (what, response.status, code)
            except (OSError, http.client.HTTPException) as error:
                key = (what, "socket", type(error).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                counts[key] = counts.get(key, 0) + 1
            if key[1] != 200:
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        for (what, status, code), count in sorted(counts.items(), key=str):
            f.write(f"{what} {status} {code} {count}\n")


def children_ticks(postmaster):
    """{pid: user + system ticks} of each child of the postmaster."""
    with open(f"/proc/{postmaster}/task/{postmaster}/children", encoding="ascii") as children:
        pids = [int(pid) for pid in children.read().split()]
    ticks = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command's closing parenthesis, utime and stime are fields 11 and 12 (0-based).
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def socket_inodes(pid):
    """The inodes of the sockets process pid holds open."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def client_ports(pg_port, owners):
    """{local port of a connection to pg_port: owner} for the connections the owners' pids hold."""
    inode_owner = {}
    for owner, pid in owners:
        for inode in socket_inodes(pid):
            inode_owner[inode] = owner
    ports = {}
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(remote.split(":")[1], 16) == pg_port and inode in inode_owner:
                ports[int(local.split(":")[1], 16)] = inode_owner[inode]
    return ports


def pg_snapshot(postmaster, pg_port, out, measured, others):
    ticks = children_ticks(postmaster)
    ports = client_ports(pg_port, [("measured", measured)] + [("other Havens", pid) for pid in others])
    rows = subprocess.run(
        ["psql", os.environ["DATABASE_URL"], "-XAtq", "-F", "|", "-c",
         "select pid, backend_type, coalesce(client_port::text, ''), pid = pg_backend_pid()"
         " from pg_stat_activity"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    kind = {}
    for row in rows:
        pid, backend_type, port, own = row.split("|")
        if own == "t":
            continue
        if backend_type == "client backend":
            kind[int(pid)] = ports.get(int(port), "other clients") if port else "other clients"
        elif backend_type.startswith("autovacuum"):
            kind[int(pid)] = "autovacuum"
        else:
            kind[int(pid)] = "background"
    # A child not in pg_stat_activity (the logger, the archiver) is background work too.
    snapshot = {pid: [spent, kind.get(pid, "background")] for pid, spent in ticks.items()}
    with open(out, "w", encoding="ascii") as file:
        json.dump(snapshot, file)


def pg_split(before, after, hz, requests, total):
    with open(before, encoding="ascii") as file:
        start = json.load(file)
    with open(after, encoding="ascii") as file:
        end = json.load(file)
    names = ["measured", "other Havens", "autovacuum", "background", "other clients"]
    spent = dict.fromkeys(names, 0)
    for pid, (ticks, kind) in end.items():
        spent[kind] += ticks - (start[pid][0] if pid in start else 0)
    ended = [kind for pid, (_, kind) in start.items() if pid not in end]
    scale = 1_000_000 / hz / max(requests, 1)
    parts = [f"{name} {round(spent[name] * scale)}" for name in names]
    whose = ", ".join(f"{ended.count(kind)} {kind}" for kind in names if kind in ended)
    parts.append(f"ended {round(max(total - sum(spent.values()), 0) * scale)}"
                 + (f" ({len(ended)} backends: {whose})" if ended else ""))
    print(", ".join(parts))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "coldstart" and len(args) == 5:
        coldstart(args[0], int(args[1]), args[2], args[3], args[4])
    elif command == "wait" and len(args) == 2:
        wait(args[0], float(args[1]))
    elif command == "get" and len(args) == 1:
        get(args[0])
    elif command == "wrk" and len(args) == 1:
        wrk(args[0])
    elif command == "sample" and len(args) == 4:
        sample(int(args[0]), float(args[1]), float(args[2]), args[3])
    elif command == "flood" and len(args) == 5:
        flood(args[0], args[1], int(args[2]), float(args[3]), args[4])
    elif command == "pg-snapshot" and len(args) >= 4:
        pg_snapshot(int(args[0]), int(args[1]), args[2], int(args[3]), [int(pid) for pid in args[4:]])
    elif command == "pg-split" and len(args) == 5:
        pg_split(args[0], args[1], int(args[2]), float(args[3]), int(args[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
