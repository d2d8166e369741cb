"""Shared pieces of the protocol fuzzers run by stratus/tests/fuzz.rs.

Every fuzzer is seeded and deterministic: the inputs are a pure function of --seed and --count (the
daemon's answers and their timing are not fed back into the generator). On a failure the fuzzer prints
the seed, the case number, its kind and the bytes it sent, then exits 1; rerun with the same --seed and
--count (and --only CASE to replay just that case) to reproduce.

Common checks, after every case and after every batch:
  * no request takes longer than LIMIT seconds (a daemon's documented timeouts are longer than any wait
    a case relies on: cases that leave a request unfinished half-close the socket or hang up instead);
  * the daemon process is still running (not exited, not a zombie) and its RSS stays bounded;
  * a health check (well-formed requests with known answers, on fresh connections) passes quickly.
"""
import argparse
import os
import random
import socket
import sys
import time

# Longest any single exchange may take (seconds), garbage or not.
LIMIT = float(os.environ.get("FUZZ_LIMIT", "5"))
# Largest resident set the daemon may reach while being fuzzed.
RSS_LIMIT = 3 << 30


class Failure(Exception):
    pass


def args(description, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--count", type=int, required=True, help="number of fuzz cases")
    p.add_argument("--batch", type=int, default=100, help="cases between health checks")
    p.add_argument("--pid", type=int, required=True, help="the daemon's pid")
    p.add_argument("--only", type=int, default=None, help="run only this case number (a repro)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--known-failures", action="store_true", help="run only the known failures (bugs not yet fixed)")
    if extra:
        extra(p)
    return p.parse_args()


def show(data, limit=400):
    """A short printable form of the bytes a case sent."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    r = repr(bytes(data[:limit]))
    if len(data) > limit:
        r += f"... ({len(data)} bytes in all)"
    return r


class Fuzzer:
    """Runs `count` cases drawn from weighted generators, with checks between batches."""

    def __init__(self, name, opts, health):
        self.name = name
        self.opts = opts
        self.health = health
        self.case_no = -1
        self.kind = None
        self.sent = b""
        self.slowest = (0.0, None)
        self.counts = {}
        self.answers = {}
        self.started = time.monotonic()

    # -- recording what a case sends, for the failure report -------------------------------------
    def note(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(self.sent) < 4096:
            self.sent += data[: 4096 - len(self.sent)]

    def answer(self, label):
        """Counts an answer (a status, an error code) for the summary: shows what the cases reached."""
        self.answers[label] = self.answers.get(label, 0) + 1

    def fail(self, msg):
        raise Failure(msg)

    def timed(self, what, started, limit=LIMIT):
        took = time.monotonic() - started
        if took > self.slowest[0]:
            self.slowest = (took, f"case {self.case_no} {self.kind}: {what}")
        if took > limit:
            self.fail(f"{what} took {took:.2f} s (limit {limit} s)")
        return took

    # -- the daemon process ----------------------------------------------------------------------
    def alive(self):
        pid = self.opts.pid
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            self.fail(f"the daemon (pid {pid}) is gone")
        if state in ("Z", "X"):
            self.fail(f"the daemon (pid {pid}) exited")
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        if rss > RSS_LIMIT:
            self.fail(f"the daemon's RSS is {rss >> 20} MiB (limit {RSS_LIMIT >> 20} MiB)")

    def cpu_seconds(self):
        with open(f"/proc/{self.opts.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def idle(self):
        """Once the clients are gone the daemon must go quiet: a request still spinning on a core (an
        exponential match, a livelock) shows as CPU time with nothing to do. Background work (compaction,
        trash removal) is allowed a few seconds to finish."""
        for attempt in range(4):
            before = self.cpu_seconds()
            time.sleep(0.5)
            busy = (self.cpu_seconds() - before) / 0.5
            if busy < 0.7:
                return
            time.sleep(1)
        self.fail(f"the daemon keeps {busy:.0%} of a core busy with no client connected")

    def check(self, where):
        self.alive()
        started = time.monotonic()
        try:
            self.health(self)
        except Failure:
            raise
        except Exception as e:  # noqa: BLE001 - any client error is a failed health check
            self.fail(f"health check {where} failed: {type(e).__name__}: {e}")
        self.timed(f"health check {where}", started)
        self.alive()

    # -- the main loop ---------------------------------------------------------------------------
    def run(self, cases):
        """`cases`: list of (weight, name, fn(rng, fuzzer)). Each case gets its own Random, seeded from
        (seed, case number), so --only N replays case N exactly."""
        names = [c[1] for c in cases]
        weights = [c[0] for c in cases]
        fns = {c[1]: c[2] for c in cases}
        print(f"{self.name}: seed {self.opts.seed}, {self.opts.count} cases", flush=True)
        try:
            self.check("before fuzzing")
            numbers = range(self.opts.count) if self.opts.only is None else [self.opts.only]
            for n in numbers:
                rng = random.Random(f"{self.opts.seed}:{n}")
                self.case_no, self.kind, self.sent = n, rng.choices(names, weights)[0], b""
                self.counts[self.kind] = self.counts.get(self.kind, 0) + 1
                started = time.monotonic()
                try:
                    fns[self.kind](rng, self)
                except Failure:
                    raise
                except (OSError, socket.timeout) as e:
                    self.fail(f"client-side error {type(e).__name__}: {e}")
                self.timed("the case", started, limit=3 * LIMIT)
                if self.opts.verbose:
                    print(f"case {n} {self.kind} ok", flush=True)
                if (n + 1) % self.opts.batch == 0:
                    self.check(f"after case {n}")
            self.case_no, self.kind = None, None
            self.check("after fuzzing")
            self.idle()
        except Failure as e:
            print(f"FAIL {self.name}: {e}", flush=True)
            print(f"  seed {self.opts.seed}, case {self.case_no} ({self.kind}); replay with "
                  f"--seed {self.opts.seed} --count {self.opts.count} --only {self.case_no}", flush=True)
            print(f"  sent: {show(self.sent, 1500)}", flush=True)
            sys.exit(1)
        took = time.monotonic() - self.started
        print(f"{self.name}: {self.opts.count} cases in {took:.1f} s; slowest {self.slowest[0]:.2f} s "
              f"({self.slowest[1]})", flush=True)
        print(f"  cases: {dict(sorted(self.counts.items()))}", flush=True)
        top = sorted(self.answers.items(), key=lambda kv: -kv[1])[:40]
        print(f"  answers: {dict(top)}", flush=True)
        print(f"ok {self.name}", flush=True)


# -- sockets --------------------------------------------------------------------------------------

def connect(addr, timeout=LIMIT):
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_all(s, data):
    """Sends, tolerating a server that already closed (it may answer garbage by closing)."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def read_until(fz, s, done, what, limit=LIMIT):
    """Reads until done(buf) is true or EOF; fails if neither happens within `limit` seconds.
    Returns (buf, eof)."""
    buf = bytearray()  # not bytes: appending to bytes copies, quadratic for a 32 MB reply
    deadline = time.monotonic() + limit
    while not done(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            fz.fail(f"{what}: no complete answer within {limit} s (hang); got {show(buf)}")
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return bytes(buf), True
        if not chunk:
            return bytes(buf), True
        buf += chunk
    return bytes(buf), False


def read_to_eof(fz, s, what, limit=LIMIT):
    buf, _ = read_until(fz, s, lambda b: False, what, limit)
    return buf


def half_close(s):
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# -- generators shared by every protocol ----------------------------------------------------------

HUGE_NUMBERS = [
    "0", "-0", "1", "-1", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "1" + "0" * 40, "9" * 400, "-" + "9" * 400,
    "1e308", "1e309", "-1e309", "1e-400", "nan", "NaN", "inf", "-inf", "Infinity", "0x7fffffff",
    "0b1", "1_000", "+5", " 5", "5 ", "1.5", "1e5", "", "٣", "0" * 300 + "1", "1" * 10000,
]


def junk_bytes(rng, n=None):
    n = rng.choice([0, 1, 2, 7, 64, 500, 4096]) if n is None else n
    return bytes(rng.getrandbits(8) for _ in range(n))


def junk_text(rng, n=None):
    n = rng.choice([0, 1, 3, 16, 100, 1000]) if n is None else n
    alphabet = "abcAZ09 _-./:*?\\\"'{}[]()<>=!&|#$%^~`,;@+\t\r\n\x00\x7f\u00e9\u2028\ud7ff\U0001f600"
    return "".join(rng.choice(alphabet) for _ in range(n))


def mutate(rng, data):
    """Byte-level mutations of a valid message: flips, truncation, duplication, insertion."""
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        op = rng.randrange(6)
        if not data:
            data += junk_bytes(rng, 4)
            continue
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i] = rng.choice(b"\x00\xff\r\n \"'\\{}[]<>:,%&=0123456789")
        elif op == 2:
            del data[i: i + rng.choice([1, 4, 64])]
        elif op == 3:
            data[i:i] = junk_bytes(rng, rng.choice([1, 8, 100]))
        elif op == 4:
            j = rng.randrange(len(data))
            data[i:i] = data[min(i, j): max(i, j)][:2000]
        else:
            data = data[:i]
    return bytes(data)


# -- HTTP/1.1 -------------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"HTTP {self.status} {self.headers} {self.body[:300]!r}"


def parse_response(buf, head_request=False):
    """One complete HTTP/1.x response from the front of buf: (Response, rest), or None if incomplete.
    Raises ValueError if it is not HTTP."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 8 and not buf.startswith(b"HTTP/1."):
            raise ValueError("not an HTTP response")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers[k.strip().lower()] = v.strip()
    pos = end + 4
    if head_request or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b""), buf[pos:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                return None
            size = int(buf[pos:nl].split(b";")[0], 16)
            pos = nl + 2
            if size == 0:
                tail = buf.find(b"\r\n\r\n", pos - 2)
                if tail < 0:
                    return None
                return Response(status, headers, body), buf[tail + 4:]
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos: pos + size]
            pos += size + 2
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(buf) < pos + n:
            return None
        return Response(status, headers, buf[pos: pos + n]), buf[pos + n:]
    # Neither: the body runs to EOF.
    return Response(status, headers, buf[pos:]), None


def http_exchange(fz, addr, raw, expect=1, shut=False, what="request", head=None, pace=None):
    """Sends raw bytes; reads up to `expect` responses, or to EOF. Any reply must be valid HTTP/1.1
    and come within LIMIT. `shut`: half-close after sending (the request is unfinished on purpose).
    `pace`: (chunk size, delay) to dribble the bytes (slow client). Returns the list of responses."""
    fz.note(raw)
    # Which responses answer a HEAD (no body): one flag per request, the last one repeated.
    heads = head if isinstance(head, list) else [raw.startswith(b"HEAD ") if head is None else head]

    def is_head(i):
        return heads[min(i, len(heads) - 1)]

    s = connect(addr)
    try:
        if pace:
            size, delay = pace
            for i in range(0, len(raw), size):
                if not send_all(s, raw[i: i + size]):
                    break
                time.sleep(delay)
        else:
            send_all(s, raw)
        if shut:
            half_close(s)
        responses = []
        buf = b""
        started = time.monotonic()

        def done(b):
            nonlocal buf
            buf = b
            return count(b) >= expect

        def count(b):
            n = 0
            rest = b
            while rest:
                r = parse_response(rest, is_head(n))
                if r is None:
                    break
                n += 1
                rest = r[1]
                if rest is None:
                    break
            return n

        try:
            buf, eof = read_until(fz, s, done, what)
        except ValueError as e:
            fz.fail(f"{what}: reply is not HTTP ({e}): {show(buf)}")
        fz.timed(what, started)
        rest = buf
        while rest:
            try:
                r = parse_response(rest, is_head(len(responses)))
            except ValueError as e:
                fz.fail(f"{what}: reply is not HTTP ({e}): {show(buf)}")
            if r is None:
                if eof:
                    fz.fail(f"{what}: truncated reply before close: {show(rest)}")
                break
            responses.append(r[0])
            rest = r[1]
            if rest is None:
                break
        return responses
    finally:
        s.close()


def check_status(fz, resp, what, allow_500=False):
    """An answer to garbage: any 1xx-4xx, 501 or 503; a 500 is an internal error (a bug)."""
    if resp.status >= 500 and resp.status not in (501, 503) and not allow_500:
        fz.fail(f"{what}: server error {resp!r}")


def http_garbage_cases(addr, host, signed_template):
    """See _http_garbage_cases."""
    return _http_garbage_cases(addr, host, signed_template, check_status)


def build_request(method, target, headers, body=b"", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"]
    for k, v in headers:
        lines.append(f"{k}: {v}")
    head = "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n\r\n"
    return head + body


def sign(service, region, key, secret, method, url, headers, body):
    """botocore's SigV4 for a request we then send raw. Returns the header list to send."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    auth(Credentials(key, secret), service, region).add_auth(req)
    return list(req.headers.items())


def _http_garbage_cases(addr, host, signed_template, check_shut):
    """Framing-level HTTP cases every HTTP daemon gets. `signed_template(rng)` -> (method, target,
    headers, body): a signed, valid request of that daemon, which cases then break."""

    def request_line(rng, fz):
        method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
                             "PRI", "G\x00T", "get", "X" * 5000, ""])
        target = rng.choice(["/", "*", "//", "/%", "/%zz", "/%00", "/?" + "a=" * 3000, "/" + "a/" * 3000,
                             "http://x/", "../../etc/passwd", "/\x01\x7f", "/" + "%2F" * 500, ""])
        version = rng.choice(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTP/1.1x", "HTTX/1.1", ""])
        raw = f"{method} {target} {version}\r\nHost: {host}\r\n\r\n".encode("latin-1", "replace")
        for r in http_exchange(fz, addr, raw, shut=True, what="bad request line"):
            check_shut(fz, r, "bad request line")

    def random_bytes(rng, fz):
        raw = junk_bytes(rng, rng.choice([1, 16, 300, 5000]))
        if rng.random() < 0.5:
            raw += b"\r\n\r\n"
        for r in http_exchange(fz, addr, raw, shut=True, what="random bytes"):
            check_shut(fz, r, "random bytes")

    def mutated(rng, fz):
        method, target, headers, body = signed_template(rng)
        raw = mutate(rng, build_request(method, target, headers, body))
        for r in http_exchange(fz, addr, raw, shut=True, what="mutated request"):
            check_shut(fz, r, "mutated request")

    def weird_headers(rng, fz):
        method, target, headers, body = signed_template(rng)
        headers = list(headers)
        extra = rng.choice([
            [("X-Big", "a" * rng.choice([8000, 70000]))],
            [(f"X-H{i}", "v") for i in range(rng.choice([100, 1000]))],
            [("Content-Length", rng.choice(HUGE_NUMBERS[:20]))],
            [("Content-Length", "5"), ("Content-Length", "6")],
            [("Transfer-Encoding", "chunked"), ("Content-Length", "3")],
            [("Transfer-Encoding", rng.choice(["gzip", "chunked, chunked", "identity", "x"]))],
            [("Host", "")], [("Host", "a" * 5000)], [("Host", "x"), ("Host", "y")],
            [("Authorization", rng.choice(["", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=",
                                           "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=",
                                           "AWS4-HMAC-SHA256 " + "x=y," * 2000, "Basic Zm9vOmJhcg==",
                                           "AWS ak:sig", "AWS4-HMAC-SHA256 Credential=" + "/" * 500]))],
            [("X-Amz-Date", rng.choice(["", "garbage", "99999999T999999Z", "20000101T000000Z", "1" * 200]))],
            [("X-Amz-Content-Sha256", rng.choice(["", "UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                                  "0" * 64, "z" * 64, "x" * 1000]))],
            [("Expect", rng.choice(["100-continue", "100-CONTINUE", "200-ok", ""]))],
            [("Content-Type", junk_text(rng, 50))],
            [("X\x00Y", "z")], [("Bad Header", "x")], [(":", "x")], [("X-Amz-Meta-\u00e9", "\u00e9")],
            [("Content-Encoding", rng.choice(["aws-chunked", "gzip", "br", "x" * 100]))],
        ])
        if rng.random() < 0.5:
            headers = [(k, v) for k, v in headers if k.lower() not in {e[0].lower() for e in extra}]
        headers += extra
        raw = build_request(method, target, headers, body)
        for r in http_exchange(fz, addr, raw, shut=True, what="weird headers"):
            check_shut(fz, r, "weird headers")

    def bad_chunked(rng, fz):
        method, target, headers, body = signed_template(rng)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Transfer-Encoding", "chunked"))
        chunk = rng.choice([
            b"5\r\nhello\r\n0\r\n\r\n", b"ffffffffffffffffffff\r\nab\r\n", b"-1\r\nx\r\n", b"zz\r\n",
            b"3\r\nabcdef\r\n0\r\n\r\n", b"0\r\nX-Trailer: " + b"a" * 20000 + b"\r\n\r\n", b"1;" + b"e" * 10000 + b"\r\na\r\n0\r\n\r\n",
            b"2\r\nab", b"10000000\r\n" + b"a" * 100, b"0\r\n", b"\r\n" * 100,
        ])
        raw = build_request(method, target, headers, chunk)
        for r in http_exchange(fz, addr, raw, shut=True, what="bad chunked body"):
            check_shut(fz, r, "bad chunked body")

    def short_body(rng, fz):
        # Content-Length promises more than arrives, then the client hangs up or half-closes.
        method, target, headers, body = signed_template(rng)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body) + rng.choice([1, 100, 1 << 30]))))
        if rng.random() < 0.5:
            headers.append(("Expect", "100-continue"))
        raw = build_request(method, target, headers, body)
        for r in http_exchange(fz, addr, raw, shut=True, what="short body"):
            check_shut(fz, r, "short body")

    def pipelined(rng, fz):
        # Several requests, valid and not, back to back on one connection.
        reqs, heads = [], []
        for _ in range(rng.choice([2, 5, 20])):
            method, target, headers, body = signed_template(rng)
            if method == "HEAD":
                # A HEAD's answer has no body: once mutations merge or split requests, the client
                # could no longer tell which answers are to HEADs.
                continue
            raw = build_request(method, target, headers, body)
            if rng.random() < 0.3:
                raw = mutate(rng, raw)
            reqs.append(raw)
            heads.append(raw.startswith(b"HEAD "))
        raw = b"".join(reqs)
        if not reqs:
            return
        for r in http_exchange(fz, addr, raw, expect=len(reqs), shut=True, what="pipelined requests", head=heads):
            check_shut(fz, r, "pipelined requests")

    def expect_continue(rng, fz):
        # Expect: 100-continue with the body sent at once, late, or never.
        method, target, headers, body = signed_template(rng)
        headers = list(headers) + [("Expect", "100-continue")]
        head = build_request(method, target, headers)
        fz.note(head)
        s = connect(addr)
        try:
            send_all(s, head)
            mode = rng.choice(["now", "wait", "never"])
            if mode == "now":
                send_all(s, body)
            elif mode == "wait":
                got, _ = read_until(fz, s, lambda b: b"\r\n\r\n" in b, "100-continue interim reply")
                if got and not got.startswith(b"HTTP/1.1 "):
                    fz.fail(f"not HTTP: {show(got)}")
                send_all(s, body)
            else:
                half_close(s)
            started = time.monotonic()
            buf = read_to_eof(fz, s, "Expect: 100-continue request") if mode == "never" else \
                read_until(fz, s, lambda b: any(parse_ok(b, method == "HEAD")), "Expect: 100-continue request")[0]
            fz.timed("Expect: 100-continue request", started)
        finally:
            s.close()

    def parse_ok(b, head=False):
        # True once a final (non-1xx) response has fully arrived.
        rest = b
        while rest:
            try:
                r = parse_response(rest, head)
            except ValueError:
                return [True]
            if r is None:
                return [False]
            if r[0].status >= 200:
                return [True]
            rest = r[1] or b""
        return [False]

    def slowloris(rng, fz):
        # Connections that dribble an unfinished request; others must be served meanwhile.
        method, target, headers, body = signed_template(rng)
        raw = build_request(method, target, headers, body)
        socks = []
        try:
            for _ in range(rng.choice([5, 20, 50])):
                s = connect(addr)
                send_all(s, raw[: rng.randrange(1, max(2, len(raw) - 1))])
                socks.append(s)
            time.sleep(0.05)
            for s in socks[: len(socks) // 2]:
                send_all(s, b"X")
            fz.check("while slow clients hold connections")
        finally:
            for s in socks:
                s.close()

    def dribble(rng, fz):
        # A whole valid request sent a few bytes at a time (within any timeout): still answered.
        method, target, headers, body = signed_template(rng)
        raw = build_request(method, target, headers, body)
        pace = (max(1, len(raw) // rng.choice([5, 20])), 0.01)
        for r in http_exchange(fz, addr, raw, what="dribbled request", pace=pace):
            check_status(fz, r, "dribbled request")

    def reuse(rng, fz):
        # Keep-alive: a first request (Expect: 100-continue with an empty or small body, or an odd one),
        # its answer, then a second request on the same connection must be answered at once, or the
        # connection closed (botocore stalled 60 s on such a pooled connection).
        method, target, headers, body = signed_template(rng)
        headers = list(headers)
        kind = rng.randrange(3)
        if kind == 0:
            headers.append(("Expect", "100-continue"))
        elif kind == 1:
            headers.append(("Expect", "100-continue"))
            headers = [(k, "0") if k.lower() == "content-length" else (k, v) for k, v in headers]
            if not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", "0"))
            body = b""
        if kind == 2:  # a complete request to a garbage target (refused, but well framed)
            target = "/" + "".join("%%%02X" % b for b in junk_bytes(rng, rng.choice([1, 10, 100])))
        first = build_request(method, target, headers, body)
        m2, t2, h2, b2 = signed_template(rng)
        second = build_request(m2, t2, h2, b2)
        fz.note(first + second)
        s = connect(addr)
        try:
            send_all(s, first)
            started = time.monotonic()
            buf, eof = read_until(fz, s, lambda b: any(parse_ok(b, method == "HEAD")),
                                  "first request on a kept-alive connection")
            fz.timed("first request on a kept-alive connection", started)
            if eof:
                return
            started = time.monotonic()
            send_all(s, second)
            read_until(fz, s, lambda b: any(parse_ok(b, m2 == "HEAD")), "second request on a kept-alive connection")
            fz.timed("second request on a kept-alive connection", started)
        finally:
            s.close()

    return [
        (3, "http_reuse", reuse),
        (3, "http_request_line", request_line),
        (3, "http_random_bytes", random_bytes),
        (8, "http_mutated", mutated),
        (8, "http_weird_headers", weird_headers),
        (3, "http_bad_chunked", bad_chunked),
        (2, "http_short_body", short_body),
        (3, "http_pipelined", pipelined),
        (2, "http_expect_continue", expect_continue),
        (0.3, "http_slowloris", slowloris),
        (0.5, "http_dribble", dribble),
    ]


def http_target(opts):
    """An HTTP daemon under test: its `host:port`, (host, port) and the root user's key pair."""
    host, port = opts.addr.rsplit(":", 1)
    return opts.addr, (host, int(port)), *read_credentials(opts.data_dir)


def aws_client(service, host, key, secret, **config):
    """A boto3 client for `service` at `host` that neither retries nor waits past LIMIT."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=f"http://{host}", region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=LIMIT, read_timeout=LIMIT, **config))


def read_credentials(data_dir):
    import tomllib

    with open(os.path.join(data_dir, "users.toml"), "rb") as f:
        users = tomllib.load(f)
    for u in users.get("user", []):
        if u.get("name") == "root":
            return u["access_key"], u["secret_key"]
    u = users["user"][0]
    return u["access_key"], u["secret_key"]
