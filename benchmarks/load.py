"""A bounded HTTP load generator for pages served on this machine (127.0.0.1 only).

Threads of http.client, one new connection per request; a fixed number of requests, a per-request timeout and an
overall deadline, so that a stuck server cannot keep the bench running.
"""

import http.client
import re
import statistics
import threading
import time
import urllib.parse

HOST = "127.0.0.1"


def _request(port, method, path, headers=None, body=None, timeout=30):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheaders(), data
    finally:
        conn.close()


def _session_cookie(headers):
    for name, value in headers:
        if name.lower() == "set-cookie" and value.startswith("session_id="):
            return value.split(";", 1)[0]
    return None


def wait_until_up(port, deadline_seconds=120):
    """Wait for the server to answer /web/login; False when it did not within the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            status, _headers, _body = _request(port, "GET", "/web/login", timeout=5)
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def login(port, db, login_name, password):
    """Log in through /web/login as a browser does; returns the session cookie header value."""
    status, headers, body = _request(port, "GET", f"/web/login?db={urllib.parse.quote(db)}")
    cookie = _session_cookie(headers)
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if status != 200 or not match:
        raise RuntimeError(f"/web/login answered {status} without a CSRF token")
    form = urllib.parse.urlencode(
        {"login": login_name, "password": password, "csrf_token": match.group(1).decode(), "db": db}
    )
    status, headers, _body = _request(
        port,
        "POST",
        "/web/login",
        headers={"Content-Type": "application/x-www-form-urlencoded", **({"Cookie": cookie} if cookie else {})},
        body=form,
    )
    cookie = _session_cookie(headers) or cookie
    if status not in (200, 303) or not cookie:
        raise RuntimeError(f"login as {login_name} failed ({status})")
    return cookie


def run(port, path, requests_total, clients, cookie=None, expect=b"", deadline_seconds=300, warmup=10):
    """Send ``requests_total`` GET requests to ``path`` from ``clients`` threads; latency percentiles in ms.

    A request counts as an error when it fails, times out, answers another status than 200, or when the page
    lacks ``expect`` (a login page served instead of the document, for instance).
    """
    headers = {"Cookie": cookie} if cookie else {}
    for _ in range(warmup):
        _request(port, "GET", path, headers=headers)
    latencies, errors, lock = [], [], threading.Lock()
    counter = iter(range(requests_total))
    deadline = time.monotonic() + deadline_seconds

    def client():
        while time.monotonic() < deadline:
            with lock:
                if next(counter, None) is None:
                    return
            started = time.perf_counter()
            try:
                status, _headers, body = _request(port, "GET", path, headers=headers)
                ok = status == 200 and expect in body
                reason = None if ok else f"status {status}"
            except OSError as error:
                ok, reason = False, repr(error)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                (latencies if ok else errors).append(elapsed if ok else reason)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    return _stats(latencies, errors, time.perf_counter() - started, clients)


def run_alternating(port, pages, rounds, deadline_seconds=300, warmup=10):
    """One client requesting each of ``pages`` ((path, expect) pairs) in turn, ``rounds`` times: the latency of
    each page alone, with whatever else runs on the machine spread evenly over all of them, so that their
    ratio holds on a busy machine. Returns one result per page, as :func:`run`."""
    for path, _expect in pages:
        for _ in range(warmup):
            _request(port, "GET", path)
    samples = [([], []) for _page in pages]
    deadline = time.monotonic() + deadline_seconds
    started = time.perf_counter()
    for _ in range(rounds):
        if time.monotonic() > deadline:
            break
        for (path, expect), (latencies, errors) in zip(pages, samples, strict=True):
            request_started = time.perf_counter()
            try:
                status, _headers, body = _request(port, "GET", path)
                reason = None if status == 200 and expect in body else f"status {status}"
            except OSError as error:
                reason = repr(error)
            elapsed = (time.perf_counter() - request_started) * 1000
            if reason:
                errors.append(reason)
            else:
                latencies.append(elapsed)
    wall = time.perf_counter() - started
    return [_stats(latencies, errors, wall, 1) for latencies, errors in samples]


def _stats(latencies, errors, wall, clients):
    latencies = sorted(latencies)

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, round(p / 100 * len(latencies)) - 1)], 1)

    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_samples": sorted(set(map(str, errors)))[:3],
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "throughput_rps": round(len(latencies) / wall, 1) if wall else None,
        "clients": clients,
    }
