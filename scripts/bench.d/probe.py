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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
