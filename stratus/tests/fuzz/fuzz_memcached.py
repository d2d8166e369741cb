"""Seeded fuzzer for the cache daemon's memcached text port (raw sockets): storage commands with bad,
huge and negative lengths, flags, exptimes and CAS values, data blocks shorter or longer than announced,
overlong lines and keys, incr/decr with odd deltas, meta commands (mg/ms/md/ma/mn/me) with random flags,
binary-protocol bytes, random bytes, pipelined garbage and slow clients. Every answer must be a memcached
reply line (ERROR / CLIENT_ERROR / SERVER_ERROR for garbage); a line that is too long closes the
connection. The health check is pymemcache set/get/incr/delete plus a meta get.
Usage: fuzz_memcached.py --seed S --count N --pid PID PORT"""
import os
import sys
import time

from pymemcache.client.base import Client

sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402
from fuzzlib import HUGE_NUMBERS, junk_bytes, junk_text, mutate  # noqa: E402

opts = fuzzlib.args(__doc__, lambda p: p.add_argument("port", type=int))
ADDR = ("127.0.0.1", opts.port)
HEALTH = [0]


def health(fz):
    HEALTH[0] += 1
    c = Client(ADDR, connect_timeout=fuzzlib.LIMIT, timeout=fuzzlib.LIMIT)
    try:
        key = f"health-{HEALTH[0]}"
        value = b"value\r\nwith\x00bytes " + str(HEALTH[0]).encode()
        if not c.set(key, value, expire=0, noreply=False):
            fz.fail("set was not STORED")
        if c.get(key) != value:
            fz.fail(f"get {key} returned {c.get(key)!r}")
        c.set("health-n", b"10", noreply=False)
        if c.incr("health-n", 5) != 15:
            fz.fail("incr 10 by 5 was not 15")
        if not c.delete(key, noreply=False) or c.get(key) is not None:
            fz.fail("delete did not delete")
        if not c.version().startswith(b"1."):
            fz.fail("version")
    finally:
        c.close()
    s = fuzzlib.connect(ADDR)
    try:
        s.sendall(b"ms health-meta 2 T0\r\nhi\r\nmg health-meta v\r\nmn\r\n")
        buf, _ = fuzzlib.read_until(fz, s, lambda b: b.endswith(b"MN\r\n"), "meta health check")
        if buf != b"HD\r\nVA 2\r\nhi\r\nMN\r\n":
            fz.fail(f"meta set/get answered {buf!r}")
    finally:
        s.close()


# -- replies ---------------------------------------------------------------------------------------

REPLY_WORDS = {b"VALUE", b"END", b"STORED", b"NOT_STORED", b"EXISTS", b"NOT_FOUND", b"DELETED", b"TOUCHED",
               b"OK", b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR", b"VERSION", b"STAT", b"HD", b"VA", b"EN",
               b"NF", b"NS", b"EX", b"MN", b"ME", b"RESET"}


def check_replies(fz, buf, what, eof):
    """Walks reply lines (skipping VALUE / VA data blocks); fails on anything that is not memcached's."""
    pos, lines = 0, []
    while pos < len(buf):
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            fz.fail(f"{what}: unterminated reply line {fuzzlib.show(buf[pos:])}")
        line = buf[pos:nl]
        pos = nl + 2
        words = line.split(b" ")
        word = words[0]
        if not (word in REPLY_WORDS or word.isdigit()):
            fz.fail(f"{what}: not a memcached reply: {fuzzlib.show(line)} in {fuzzlib.show(buf)}")
        if word in (b"VALUE", b"VA"):
            try:
                n = int(words[3] if word == b"VALUE" else words[1])
            except (IndexError, ValueError):
                fz.fail(f"{what}: bad value line {line!r}")
            if buf[pos + n: pos + n + 2] != b"\r\n":
                fz.fail(f"{what}: value block of the wrong length after {line!r}")
            pos += n + 2
        lines.append(line)
        fz.answer(word.decode() if not word.isdigit() else "number")
    return lines


def exchange(fz, data, what, sync=False):
    """Sends data on a fresh connection. `sync`: the input is well framed, so a trailing `mn` must be
    answered with MN (read up to it); otherwise half-close and read to EOF."""
    fz.note(data)
    s = fuzzlib.connect(ADDR)
    try:
        started = time.monotonic()
        if sync:
            fuzzlib.send_all(s, data + b"mn\r\n")
            buf, eof = fuzzlib.read_until(fz, s, lambda b: b.endswith(b"MN\r\n"), what)
        else:
            fuzzlib.send_all(s, data)
            fuzzlib.half_close(s)
            buf = fuzzlib.read_to_eof(fz, s, what)
            eof = True
        fz.timed(what, started)
    finally:
        s.close()
    lines = check_replies(fz, buf, what, eof)
    if sync and (not lines or lines[-1] != b"MN"):
        fz.fail(f"{what}: the connection is out of step: {lines[-3:]!r}")
    return lines


# -- generators ------------------------------------------------------------------------------------

KEYS = ["k", "n", "a" * 250, "a" * 251, "é", "k\x00", "", "key with space", "x" * 5000]
NUMS = HUGE_NUMBERS[:34]


def key(rng):
    return rng.choice(KEYS)


def exptime(rng):
    # Positive delays of up to a few minutes would expire the health check's keys mid-run elsewhere;
    # only these are drawn (memcached: > 30 days is an absolute time, in the past here).
    return rng.choice(["0", "-1", "2592001", "2147483647", "2147483648", "4294967296", "-2147483649",
                       "9223372036854775807", "18446744073709551616", "abc", "1.5", "", "0x10"])


def storage(rng, valid=False):
    cmd = rng.choice(["set", "add", "replace", "append", "prepend", "cas"])
    value = junk_bytes(rng, rng.choice([0, 1, 10, 1000])).replace(b"\r\n", b"..")
    if valid:
        parts = [cmd, rng.choice(["k", "n", "v2"]), str(rng.choice([0, 1, 4294967295])),
                 rng.choice(["0", "-1", "2592001", "2147483647", "-2147483648"]),
                 str(len(value))]
        if cmd == "cas":
            parts.append(rng.choice(["0", "1", "18446744073709551615"]))
        if rng.random() < 0.2:
            parts.append("noreply")
        return " ".join(parts).encode() + b"\r\n" + value + b"\r\n", "noreply" not in parts
    n = rng.choice([str(len(value)), str(len(value) + 1), str(max(0, len(value) - 1))] + NUMS[:20] +
                   ["1048576", "1048577", "2000000"])
    parts = [cmd, key(rng), rng.choice(NUMS), exptime(rng), n]
    if cmd == "cas" or rng.random() < 0.2:
        parts.append(rng.choice(NUMS + ["noreply"]))
    if rng.random() < 0.1:
        parts += ["extra"] * rng.choice([1, 100])
    return " ".join(parts).encode("utf-8", "surrogatepass") + b"\r\n" + value + b"\r\n", True


def retrieval(rng):
    cmd = rng.choice(["get", "gets", "gat", "gats", "touch", "delete", "incr", "decr", "verbosity", "stats",
                      "version", "flush_all", "cache_memlimit", "misbehave", "lru_crawler", "watch", "shutdown"])
    if cmd in ("shutdown",):
        cmd = "stats"  # never sent: memcached may honour it
    if cmd in ("get", "gets"):
        args = [key(rng) for _ in range(rng.choice([0, 1, 5, 500]))]
    elif cmd in ("gat", "gats"):
        args = [exptime(rng)] + [key(rng) for _ in range(rng.choice([0, 1, 5]))]
    elif cmd in ("incr", "decr"):
        args = [key(rng), rng.choice(NUMS + ["18446744073709551615", "18446744073709551616", "-5"])]
    elif cmd == "flush_all":
        # No small positive delay: that would flush the health check's keys later.
        args = rng.choice([[], ["0"], ["-1"], ["4294967296"], ["9223372036854775808"], ["abc"], ["noreply"],
                           ["2592001"], ["0", "noreply"]])
    elif cmd == "stats":
        args = rng.choice([[], ["items"], ["slabs"], ["settings"], ["detail", "dump"], ["reset"], ["x" * 1000]])
    else:
        args = [rng.choice(NUMS + KEYS) for _ in range(rng.choice([0, 1, 2, 3]))]
    if rng.random() < 0.2:
        args.append("noreply")
    return " ".join([cmd] + args).encode("utf-8", "surrogatepass") + b"\r\n"


def meta(rng):
    cmd = rng.choice(["mg", "ms", "md", "ma", "mn", "me", "mx"])
    flags = []
    for _ in range(rng.choice([0, 1, 3, 10, 40])):
        f = rng.choice("bcfhklOqstvDEINSTMCPLRZ$")
        flags.append(f + rng.choice(["", "1", "0", "-1", "abc", "4294967296", "18446744073709551616", "x" * 40,
                                     "I", "E", "A", "P", "S"]))
    k = rng.choice(KEYS + ["Zm9v", "!!!"])
    line = " ".join([cmd, k] + flags).encode("utf-8", "surrogatepass") + b"\r\n"
    if cmd == "ms":
        n = rng.choice([0, 2, 5, 1048577])
        datalen = rng.choice([str(n), "-1", "abc", "18446744073709551616"])
        line = " ".join([cmd, k, datalen] + flags).encode("utf-8", "surrogatepass") + b"\r\n"
        line += b"v" * min(n, 100) + b"\r\n"
    return line


# -- cases -----------------------------------------------------------------------------------------

def case_valid_pipeline(rng, fz):
    """Well-framed commands (odd values in well-formed places): the connection stays in step."""
    data = b""
    for _ in range(rng.choice([1, 5, 30])):
        r = rng.random()
        if r < 0.5:
            data += storage(rng, valid=True)[0]
        elif r < 0.8:
            k = rng.choice(["k", "n", "v2", "a" * 250])
            data += rng.choice([f"get {k} n v2", f"gets {k} {k}", f"incr n {rng.choice(NUMS[:10])}",
                                f"decr {k} 18446744073709551615", f"delete {k}", f"touch {k} 0", "version",
                                f"gat 2147483647 {k}", "flush_all 0", "verbosity 1"]).encode() + b"\r\n"
        else:
            data += b"mg k v f c t s\r\n"
    exchange(fz, data, "valid pipeline", sync=True)


def case_storage(rng, fz):
    data = b"".join(storage(rng)[0] for _ in range(rng.choice([1, 3, 10])))
    exchange(fz, data, "storage commands")


def case_retrieval(rng, fz):
    data = b"".join(retrieval(rng) for _ in range(rng.choice([1, 3, 10])))
    exchange(fz, data, "retrieval and other commands")


def case_meta(rng, fz):
    data = b"".join(meta(rng) for _ in range(rng.choice([1, 3, 10])))
    exchange(fz, data, "meta commands")


def case_long_lines(rng, fz):
    n = rng.choice([8191, 8192, 8193, 100000, 2000000])
    data = rng.choice([b"get " + b"k" * n + b"\r\n", b"x" * n, b"set k 0 0 1 " + b" " * n + b"\r\nx\r\n",
                       b"get " + b"k " * (n // 2) + b"\r\n", b"mg k " + b"v " * (n // 2) + b"\r\n"])
    exchange(fz, data, "long line")


def case_random_bytes(rng, fz):
    data = junk_bytes(rng, rng.choice([1, 24, 300, 5000]))
    if rng.random() < 0.3:
        data = b"\x80" + data  # a binary-protocol request magic
    exchange(fz, data, "random bytes")


def case_mutated(rng, fz):
    data = b"".join(rng.choice([storage(rng, valid=True)[0], retrieval(rng), meta(rng)]) for _ in range(5))
    exchange(fz, mutate(rng, data), "mutated commands")


def case_data_block(rng, fz):
    # The data block does not match its announced length; the connection must recover or close.
    n = rng.choice([1, 10, 100])
    got = rng.choice([0, n - 1, n + 1, n + 2, 2 * n])
    data = f"set k 0 0 {n}\r\n".encode() + b"d" * got + rng.choice([b"\r\n", b"\n", b"", b"\r"]) + b"get k\r\n"
    exchange(fz, data, "bad data block")


def case_slow_clients(rng, fz):
    socks = []
    try:
        for _ in range(rng.choice([5, 20, 50])):
            s = fuzzlib.connect(ADDR)
            fuzzlib.send_all(s, rng.choice([b"set k 0 0 1000000\r\n" + b"x" * 1000, b"get k", b"ms k 1000000\r\n",
                                            b"set k 0 0 5\r\nab", b"g"]))
            socks.append(s)
        time.sleep(0.05)
        fz.check("while slow clients hold connections")
    finally:
        for s in socks:
            s.close()


CASES = [
    (20, "valid_pipeline", case_valid_pipeline),
    (15, "storage", case_storage),
    (12, "retrieval", case_retrieval),
    (12, "meta", case_meta),
    (3, "long_lines", case_long_lines),
    (6, "random_bytes", case_random_bytes),
    (10, "mutated", case_mutated),
    (6, "data_block", case_data_block),
    (0.5, "slow_clients", case_slow_clients),
]

fuzzlib.Fuzzer("memcached", opts, health).run(CASES)
