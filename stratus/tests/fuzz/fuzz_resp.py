"""Seeded fuzzer for the cache daemon's Redis port (RESP2/RESP3 over raw sockets): random bytes,
mutated and truncated frames, bad and huge lengths, inline commands, real commands with wrong arities,
wrong types, huge and odd numbers and pathological glob patterns, MULTI/EXEC mixes, pipelined garbage and
slow clients holding half-sent frames. Every answer must be RESP (an error for garbage; a framing error
is "-ERR Protocol error" and a close). The health check is redis-py PING/SET/GET/INCR/LRANGE.
Usage: fuzz_resp.py --seed S --count N --pid PID PORT"""
import os
import sys
import time

import redis

sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402
from fuzzlib import HUGE_NUMBERS, junk_bytes, junk_text, mutate  # noqa: E402

opts = fuzzlib.args(__doc__, lambda p: p.add_argument("port", type=int))
ADDR = ("127.0.0.1", opts.port)
HEALTH = [0, None]


def health(fz):
    HEALTH[0] += 1
    r = redis.Redis(host=ADDR[0], port=ADDR[1], socket_timeout=fuzzlib.LIMIT, socket_connect_timeout=fuzzlib.LIMIT)
    try:
        if r.ping() is not True:
            fz.fail("PING did not answer PONG")
        k = f"health:{HEALTH[0]}"
        r.set(k, b"v\x00\r\n" * 10)
        if r.get(k) != b"v\x00\r\n" * 10:
            fz.fail(f"GET {k} returned {r.get(k)!r}")
        counter = r.incr("health:counter")
        if HEALTH[1] is not None and counter != HEALTH[1] + 1:
            fz.fail(f"INCR health:counter went from {HEALTH[1]} to {counter}")
        HEALTH[1] = counter
        r.delete("health:list")
        r.rpush("health:list", "a", "b", "c")
        if r.lrange("health:list", 0, -1) != [b"a", b"b", b"c"]:
            fz.fail("LRANGE of a fresh list is wrong")
    finally:
        r.close()


# -- RESP replies ----------------------------------------------------------------------------------

class Incomplete(Exception):
    pass


def parse_reply(buf, pos=0, depth=0):
    """One RESP2/RESP3 reply from buf[pos:]: (value, next pos). Raises Incomplete, or ValueError if it
    is not RESP."""
    if depth > 64:
        raise ValueError("reply nested too deep")
    if pos >= len(buf):
        raise Incomplete
    t = buf[pos:pos + 1]
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Incomplete
    line = buf[pos + 1:nl]
    pos = nl + 2
    if t in b"+-:_,#(" and len(t) == 1:
        return (t, line), pos
    if t in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return (t, None), pos
        if len(buf) < pos + n + 2:
            raise Incomplete
        if buf[pos + n:pos + n + 2] != b"\r\n":
            raise ValueError("bulk reply without CRLF")
        return (t, buf[pos:pos + n]), pos + n + 2
    if t in (b"*", b"~", b">", b"%", b"|"):
        n = int(line)
        if n < 0:
            return (t, None), pos
        items = []
        for _ in range(n * (2 if t in (b"%", b"|") else 1)):
            v, pos = parse_reply(buf, pos, depth + 1)
            items.append(v)
        if t == b"|":  # attributes precede the real reply
            return parse_reply(buf, pos, depth + 1)
        return (t, items), pos
    raise ValueError(f"unknown reply type {t!r}")


def count_replies(buf):
    n, pos = 0, 0
    while True:
        try:
            v, pos = parse_reply(buf, pos)
        except (Incomplete, ValueError):
            return n
        n += v[0] != b">"


def replies(fz, buf, what):
    """Every complete reply in buf; fails if buf is not RESP."""
    out, pos = [], 0
    while pos < len(buf):
        try:
            v, pos = parse_reply(buf, pos)
        except Incomplete:
            fz.fail(f"{what}: truncated reply {fuzzlib.show(buf[pos:])}")
        except ValueError as e:
            fz.fail(f"{what}: not RESP ({e}): {fuzzlib.show(buf[pos:])}")
        # Pushes (RESP3 pub/sub messages) are not replies to a command.
        if v[0] != b">":
            out.append(v)
    return out


def exchange(fz, data, what, expect=None):
    """Sends data on a fresh connection, half-closes, reads to EOF; returns the parsed replies.
    `expect`: the number of replies a well-framed pipeline must get."""
    fz.note(data)
    s = fuzzlib.connect(ADDR)
    try:
        fuzzlib.send_all(s, data)
        started = time.monotonic()
        if expect is None:
            fuzzlib.half_close(s)
            buf = fuzzlib.read_to_eof(fz, s, what)
        else:
            # Not half-closed: a client that hangs up while blocked (BLPOP) loses its later replies, as
            # in Redis. Read until every reply is in.
            buf, _ = fuzzlib.read_until(fz, s, lambda b: count_replies(b) >= expect, what)
        fz.timed(what, started)
    finally:
        s.close()
    got = replies(fz, buf, what)
    for v in got:
        if v[0] == b"-":
            fz.answer("-" + v[1].split(b" ")[0].decode("latin-1")[:24])
        else:
            fz.answer(v[0].decode())
    if expect is not None and len(got) != expect:
        fz.fail(f"{what}: {len(got)} replies to {expect} commands: {got[-3:]!r}")
    protocol_errors = [v for v in got if v[0] == b"-" and v[1].startswith(b"ERR Protocol error")]
    if protocol_errors and got[-1] is not protocol_errors[0]:
        fz.fail(f"{what}: replies after a protocol error (the connection must close): {got[-3:]!r}")
    return got


def frame(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode("utf-8", "surrogatepass")
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


# -- commands --------------------------------------------------------------------------------------

# Never sent: they stop or pause the server, block for good, change its configuration or persistence,
# or take over the connection (their replies are not one per command).
EXCLUDED = {"SHUTDOWN", "DEBUG", "CLIENT", "CONFIG", "MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
            "SAVE", "BGSAVE", "BGREWRITEAOF", "REPLICAOF", "SLAVEOF", "FAILOVER", "SYNC", "PSYNC", "WAIT",
            "AUTH", "ACL", "QUIT", "RESET", "SWAPDB", "MIGRATE", "FLUSHALL", "FLUSHDB", "SELECT", "HELLO",
            "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"}
COMMANDS = [
    "GET", "SET", "SETNX", "SETEX", "PSETEX", "GETEX", "GETDEL", "GETSET", "MGET", "MSET", "MSETNX", "APPEND",
    "STRLEN", "INCR", "DECR", "INCRBY", "DECRBY", "INCRBYFLOAT", "GETRANGE", "SETRANGE", "SUBSTR", "LCS",
    "GETBIT", "SETBIT", "BITCOUNT", "BITPOS", "BITOP", "BITFIELD", "DEL", "UNLINK", "EXISTS", "EXPIRE",
    "PEXPIRE", "EXPIREAT", "PEXPIREAT", "TTL", "PTTL", "EXPIRETIME", "PERSIST", "TYPE", "RENAME", "RENAMENX",
    "COPY", "MOVE", "KEYS", "SCAN", "RANDOMKEY", "DBSIZE", "OBJECT", "DUMP", "RESTORE", "TOUCH", "SORT",
    "HSET", "HGET", "HMGET", "HDEL", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HSCAN", "HRANDFIELD", "HSTRLEN",
    "LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE", "LINDEX", "LSET", "LINSERT", "LREM", "LTRIM", "LLEN", "LPOS",
    "LMOVE", "LMPOP", "RPOPLPUSH", "BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN",
    "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SPOP", "SRANDMEMBER", "SINTER",
    "SINTERCARD", "SUNION", "SDIFF", "SINTERSTORE", "SMOVE", "SSCAN",
    "ZADD", "ZINCRBY", "ZSCORE", "ZRANGE", "ZRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGE", "ZRANK", "ZREM",
    "ZCARD", "ZCOUNT", "ZLEXCOUNT", "ZPOPMIN", "ZPOPMAX", "ZRANDMEMBER", "ZUNIONSTORE", "ZINTERSTORE",
    "ZRANGESTORE", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZMSCORE", "ZSCAN", "ZMPOP",
    "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "PING", "ECHO", "TIME", "INFO", "COMMAND", "PUBLISH",
    "PUBSUB", "TYPE", "LASTSAVE", "MEMORY", "OBJECT", "EVAL", "XADD",
    "NOSUCHCOMMAND", "",
]
BLOCKING = {"BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN"}
# A huge negative count asks for that many picks with repetition: see case_big_counts.
RANDOM_PICKS = {"SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"}
# Arguments that would make a legitimate command allocate hundreds of MB (SETRANGE at 500 MB, SETBIT at
# 2^31) are not drawn: big offsets come from this list, which Redis refuses.
BIG_OFFSETS = ["0", "-1", "1", "4294967296", "9223372036854775807", "18446744073709551616", "abc", "1.5", "nan"]
KEYS = ["k", "s", "h", "l", "z", "set", "n", "f", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", "\x00"]
WORDS = ["EX", "PX", "EXAT", "KEEPATTR", "NX", "XX", "GT", "LT", "CH", "INCR", "GET", "KEEPTTL", "WITHSCORES",
         "LIMIT", "BYSCORE", "BYLEX", "REV", "COUNT", "MATCH", "TYPE", "RANK", "MAXLEN", "LEFT", "RIGHT",
         "BEFORE", "AFTER", "STORE", "BY", "ASC", "DESC", "ALPHA", "WEIGHTS", "AGGREGATE", "SUM", "MIN", "MAX",
         "(1", "[a", "-", "+", "-inf", "+inf", "(", "[", "ENCODING", "FREQ", "IDLETIME", "USAGE", "OVERFLOW",
         "FAIL", "SAT", "WRAP", "i64", "u63", "i65", "u0", "#999999999999", "REPLACE", "ABSTTL", "SAMPLES"]


def number(rng, cmd):
    if cmd in ("SETRANGE", "SETBIT", "GETBIT", "BITFIELD", "GETRANGE", "SUBSTR", "BITPOS", "BITCOUNT"):
        return rng.choice(BIG_OFFSETS)
    if cmd in RANDOM_PICKS:
        return rng.choice(BIG_OFFSETS + ["-3", "2147483648"])
    if cmd in BLOCKING:
        return rng.choice(["0.05", "-1", "nan", "abc", "1e400", "9223372036854775807", "-0.5"])
    return rng.choice(HUGE_NUMBERS[:34])


def glob(rng):
    n = rng.choice([3, 20, 100])
    # Many stars against long keys: a matcher that tries every split is exponential (fixed in f0b2da5:
    # KEYS *a*a*a…b spun a worker for minutes, as in Redis before 7.0.9).
    return rng.choice([
        "a*" * n + "b", "*a" * n + "*b", "[" * n, "[^" + "a-" * n + "]", "\\" * n, "?" * n + "*",
        "*[a-z]*" * n, "[]-]*", "[z-a]", junk_text(rng, n)])


# Known differences from Redis, kept out of the fuzz run until fixed; `--known-failures` runs them.
# (None now. A negative SRANDMEMBER / HRANDFIELD count asks for that many picks with repetition:
# Redis builds all of them, here they stop at 2^24, so such counts are not drawn: see case_big_counts.)
KNOWN_FAILURES = []


def arg(rng, cmd):
    r = rng.random()
    if r < 0.3:
        return rng.choice(KEYS)
    if r < 0.55:
        return number(rng, cmd)
    if r < 0.75:
        return rng.choice(WORDS)
    if r < 0.82:
        return glob(rng)
    if r < 0.9:
        return junk_bytes(rng, rng.choice([0, 1, 10, 1000]))
    if r < 0.95:
        return "x" * rng.choice([1, 1000, 100000])
    return junk_text(rng)


def command(rng):
    cmd = rng.choice(COMMANDS)
    case = rng.choice([cmd, cmd.lower(), cmd.title()])
    args = [case] + [arg(rng, cmd) for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 10]))]
    if cmd in BLOCKING:
        args = [case, rng.choice(KEYS), number(rng, cmd)]
        if cmd == "BLMOVE":
            args = [case, "l", "l2", rng.choice(["LEFT", "RIGHT", "UP"]), "RIGHT", number(rng, cmd)]
    return cmd, args


def seed_data():
    """Keys of every type, so that commands meet both right and wrong types."""
    return frame(["SET", "k", "v"]) + frame(["SET", "n", "10"]) + frame(["SET", "f", "1.5"]) + \
        frame(["HSET", "h", "a", "1", "b", "x"]) + frame(["RPUSH", "l", "a", "b", "c"]) + \
        frame(["ZADD", "z", "1", "a", "2", "b", "-inf", "c"]) + frame(["SADD", "set", "a", "b", "1"]) + \
        frame(["SET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x"])


# -- cases -----------------------------------------------------------------------------------------

def case_commands(rng, fz):
    """Well-framed real commands with random arguments: exactly one reply each, then PING answers."""
    cmds = [command(rng)[1] for _ in range(rng.choice([1, 5, 20, 60]))]
    if rng.random() < 0.1:
        cmds.insert(0, ["HELLO", "3"])
    data = seed_data() + b"".join(frame(c) for c in cmds) + frame(["PING"])
    got = exchange(fz, data, "pipelined commands", expect=8 + len(cmds) + 1)
    if got[-1] not in ((b"+", b"PONG"), (b"+", b"QUEUED")):
        fz.fail(f"PING after the pipeline answered {got[-1]!r}")


def case_inline(rng, fz):
    line = " ".join(str(a) if not isinstance(a, bytes) else a.decode("latin-1") for a in command(rng)[1])
    line = line.replace("\r", " ").replace("\n", " ")
    line = rng.choice([line, line + ' "unterminated', line + " 'a\\x4g'", '"\\x' + line, line + " " * 70000])
    exchange(fz, line.encode("latin-1", "replace") + b"\r\n" + b"PING\r\n", "inline command")


def case_random_bytes(rng, fz):
    data = junk_bytes(rng, rng.choice([1, 10, 100, 5000, 70000]))
    if rng.random() < 0.5:
        data = b"*" + data
    exchange(fz, data, "random bytes")


def case_mutated(rng, fz):
    data = b"".join(frame(command(rng)[1]) for _ in range(rng.choice([1, 3, 10])))
    exchange(fz, mutate(rng, data), "mutated frames")


def case_bad_lengths(rng, fz):
    head = rng.choice([b"*", b"*1\r\n$", b"*2\r\n$3\r\nGET\r\n$"])
    n = rng.choice(HUGE_NUMBERS + ["536870912", "536870911", "1048577", "1048576", "-2", "00", "1 ", "\x00"])
    data = head + n.encode("utf-8", "surrogatepass") + b"\r\n" + rng.choice([b"", b"GET\r\n", b"x" * 100])
    exchange(fz, data, "bad lengths")


def case_truncated(rng, fz):
    data = b"".join(frame(command(rng)[1]) for _ in range(rng.choice([1, 3])))
    exchange(fz, data[: rng.randrange(len(data))], "truncated frame")


def case_multi(rng, fz):
    cmds = [["MULTI"]]
    for _ in range(rng.choice([1, 5, 30])):
        cmds.append(rng.choice([command(rng)[1], ["WATCH", "k"], ["MULTI"], ["UNWATCH"], ["DISCARD"],
                                ["EXEC", "x"], ["INCR", "n"], ["LPUSH", "l", "x"]]))
    cmds.append(rng.choice([["EXEC"], ["DISCARD"], ["EXEC"]]))
    data = seed_data() + b"".join(frame(c) for c in cmds) + frame(["PING"])
    exchange(fz, data, "MULTI/EXEC mix", expect=8 + len(cmds) + 1)


def case_keys_glob(rng, fz):
    # Pathological patterns against long keys: a backtracking matcher would take forever.
    data = frame(["SET", "a" * 200, "x"]) + frame(["MSET"] + [f"{'a' * 60}{i}" for i in range(200) for _ in (0, 1)])
    pat = glob(rng)
    cmd = rng.choice([["KEYS", pat], ["SCAN", "0", "MATCH", pat, "COUNT", "1000"], ["PUBSUB", "CHANNELS", pat],
                      ["HSCAN", "h", "0", "MATCH", pat], ["SSCAN", "set", "0", "MATCH", pat]])
    exchange(fz, data + frame(cmd), "glob pattern", expect=3)


def case_big_counts(rng, fz):
    # Counts that must not turn into huge allocations.
    n = rng.choice(["-9223372036854775808", "-9223372036854775807", "9223372036854775807", "-4611686018427387904",
                    "2147483648", "-2147483649", "-1000000000"])
    p = n.lstrip("-")  # a negative count is that many picks: only the ones Redis refuses are drawn
    cmd = rng.choice([["SRANDMEMBER", "set", p], ["HRANDFIELD", "h", p], ["HRANDFIELD", "h", p, "WITHVALUES"],
                      ["SRANDMEMBER", "set", "-9223372036854775808"], ["HRANDFIELD", "h", "-9223372036854775808"],
                      ["HRANDFIELD", "h", rng.choice(["-4611686018427387904", "4611686018427387904"]), "WITHVALUES"],
                      ["ZRANDMEMBER", "z", p], ["ZRANDMEMBER", "z", p, "WITHSCORES"], ["SPOP", "set", n],
                      ["LPOP", "l", n], ["LPOS", "l", "a", "COUNT", n], ["LPOS", "l", "a", "RANK", n],
                      ["LRANGE", "l", n, n], ["ZRANGE", "z", "0", "-1", "LIMIT", n, n, "BYSCORE"],
                      ["SCAN", "0", "COUNT", n], ["ZPOPMIN", "z", n], ["LMPOP", n, "l", "LEFT"],
                      ["SINTERCARD", n, "set"], ["ZMPOP", n, "z", "MIN"], ["SORT", "l", "LIMIT", n, n, "ALPHA"],
                      ["BITFIELD", "k", "GET", "u8", n], ["OBJECT", "FREQ", "k"], ["LINDEX", "l", n],
                      ["LSET", "l", n, "x"], ["GETRANGE", "k", n, n], ["LTRIM", "l", n, n], ["EXPIRE", "k", n],
                      ["SET", "k", "v", "EX", n], ["SET", "k", "v", "PX", n], ["GETEX", "k", "PXAT", n],
                      ["PEXPIREAT", "k", n], ["INCRBY", "n", n], ["INCRBYFLOAT", "f", "1e308"],
                      ["HINCRBYFLOAT", "h", "a", "nan"], ["ZINCRBY", "z", "nan", "a"], ["ZADD", "z", "nan", "x"],
                      ["ZUNIONSTORE", "d", n, "z"], ["RESTORE", "r", "0", junk_bytes(rng, 30)]])
    data = seed_data() + frame(cmd) + frame(["PING"])
    exchange(fz, data, "huge counts", expect=10)


def case_slow_clients(rng, fz):
    # Connections holding half-sent frames (a huge announced bulk among them) while others are served.
    socks = []
    try:
        for i in range(rng.choice([5, 20, 50])):
            s = fuzzlib.connect(ADDR)
            part = rng.choice([b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab", b"*1\r\n$536870000\r\n" + b"x" * 1000,
                               b"*1048576\r\n", b"GET k", b"*2\r\n$4\r\nBLPOP\r\n", b"*"])
            fuzzlib.send_all(s, part)
            socks.append(s)
        time.sleep(0.05)
        fz.check("while slow clients hold connections")
    finally:
        for s in socks:
            s.close()


def case_blocked_then_gone(rng, fz):
    # A client blocked in BLPOP that hangs up: the key must still work for others.
    s = fuzzlib.connect(ADDR)
    fuzzlib.send_all(s, frame(["BLPOP", "blockq", rng.choice(["0", "30"])]))
    time.sleep(0.01)
    s.close()
    exchange(fz, frame(["RPUSH", "blockq", "x"]) + frame(["LPOP", "blockq"]) + frame(["DEL", "blockq"]),
             "list after a blocked client left", expect=3)


def case_concurrent(rng, fz):
    """Several connections at once, each a pipeline of multi-key commands (and transactions) over the
    same few keys: lock ordering bugs show up as replies that never come."""
    import threading

    keys = ["c1", "c2", "c3", "{c}1", "{c}2"]
    multi_key = [
        lambda: ["RENAME", rng.choice(keys), rng.choice(keys)], lambda: ["SMOVE", rng.choice(keys), rng.choice(keys), "x"],
        lambda: ["LMOVE", rng.choice(keys), rng.choice(keys), "LEFT", "RIGHT"], lambda: ["RPOPLPUSH", rng.choice(keys), rng.choice(keys)],
        lambda: ["SUNIONSTORE", rng.choice(keys), rng.choice(keys), rng.choice(keys)],
        lambda: ["ZUNIONSTORE", rng.choice(keys), "2", rng.choice(keys), rng.choice(keys)],
        lambda: ["MSET"] + [x for k in rng.sample(keys, 3) for x in (k, "v")], lambda: ["DEL"] + rng.sample(keys, 3),
        lambda: ["COPY", rng.choice(keys), rng.choice(keys), "REPLACE"], lambda: ["RPUSH", rng.choice(keys), "x", "y"],
        lambda: ["SADD", rng.choice(keys), "x"], lambda: ["ZADD", rng.choice(keys), "1", "x"],
        lambda: ["BLMOVE", rng.choice(keys), rng.choice(keys), "LEFT", "LEFT", "0.05"],
        lambda: ["BRPOP", rng.choice(keys), rng.choice(keys), "0.05"], lambda: ["WATCH", rng.choice(keys)],
        lambda: ["MULTI"], lambda: ["EXEC"], lambda: ["UNWATCH"], lambda: ["SINTERSTORE", rng.choice(keys), rng.choice(keys)],
        lambda: ["SORT", rng.choice(keys), "ALPHA", "STORE", rng.choice(keys)], lambda: ["EXISTS"] + keys,
        lambda: ["KEYS", "c*"], lambda: ["PING"],
    ]
    pipelines = []
    for _ in range(rng.choice([2, 4, 8])):
        cmds = [rng.choice(multi_key)() for _ in range(rng.choice([10, 50, 200]))] + [["DISCARD"], ["PING"]]
        pipelines.append((b"".join(frame(c) for c in cmds), len(cmds)))
    for data, _ in pipelines:
        fz.note(data[:200])
    socks = [fuzzlib.connect(ADDR) for _ in pipelines]
    results = [None] * len(pipelines)

    def run(i):
        data, n = pipelines[i]
        try:
            fuzzlib.send_all(socks[i], data)
            buf, _ = fuzzlib.read_until(fz, socks[i], lambda b: count_replies(b) >= n, "concurrent pipelines")
            results[i] = count_replies(buf)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pipelines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    fz.timed("concurrent pipelines", started)
    for i, r in enumerate(results):
        if r != pipelines[i][1]:
            fz.fail(f"concurrent pipeline {i}: {r!r} (expected {pipelines[i][1]} replies)")


CASES = [
    (3, "concurrent", case_concurrent),
    (30, "commands", case_commands),
    (5, "inline", case_inline),
    (6, "random_bytes", case_random_bytes),
    (10, "mutated", case_mutated),
    (5, "bad_lengths", case_bad_lengths),
    (5, "truncated", case_truncated),
    (6, "multi", case_multi),
    (3, "keys_glob", case_keys_glob),
    (8, "big_counts", case_big_counts),
    (0.5, "slow_clients", case_slow_clients),
    (1, "blocked_then_gone", case_blocked_then_gone),
]

if opts.known_failures:
    failed = 0
    for cmd in KNOWN_FAILURES:
        fz = fuzzlib.Fuzzer("resp known failures", opts, health)
        fz.kind = " ".join(cmd)
        setup = frame(["DEL", "set", "h", "z"]) + frame(["SADD", "set", "a"]) + frame(["HSET", "h", "a", "1"]) + \
            frame(["ZADD", "z", "1", "a"])
        try:
            got = exchange(fz, setup + frame(cmd), "known failure", expect=5)
            if got[-1][0] != b"-":
                fz.fail("a huge negative count did not answer an error")
            print(f"fixed: {cmd}")
        except fuzzlib.Failure as e:
            failed += 1
            print(f"still failing: {cmd}: {str(e)[:200]}")
    sys.exit(1 if failed else 0)
else:
    fuzzlib.Fuzzer("resp", opts, health).run(CASES)
