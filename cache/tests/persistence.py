"""Writes a known dataset, or verifies it after a restart (crash tests for the AOF and snapshots).

usage: persistence.py PORT write|verify|save|verify-saved|rewrite
"""
import sys
import time

import redis

PORT, MODE = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=10)
N = 2000


def write():
    for i in range(N):
        r.set(f"k{i}", f"v{i}")
        r.incr("counter")
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.rpush("l", "x", "y", "z")
    r.sadd("s", "m1", "m2")
    r.zadd("z", {"p1": 1.5, "p2": 2.5})
    r.set("ttl", "v", ex=1000)
    r.set("gone", "v", px=50)
    r.spop("s")
    r.select(3)
    r.set("db3", "yes")
    r.select(0)
    r.incrbyfloat("f", 0.1)
    r.incrbyfloat("f", 0.2)
    # Set-algebra stores and COPY replay to the same keys (an empty result deletes its destination).
    r.zadd("z2", {"p2": 10, "p3": 3})
    r.zunionstore("zu", {"z": 2, "z2": 1}, aggregate="MAX")
    r.set("zi", "replaced")
    r.zinterstore("zi", ["z", "nosuch"])
    r.zadd("lex", {"a": 0, "b": 0, "c": 0})
    r.zremrangebylex("lex", "[b", "+")
    r.copy("ttl", "ttl-copy", destination_db=4)
    r.copy("zu", "zu-copy")


def verify():
    assert r.get("counter") == str(N).encode(), r.get("counter")
    p = r.pipeline(transaction=False)
    for i in range(N):
        p.get(f"k{i}")
    assert p.execute() == [f"v{i}".encode() for i in range(N)]
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert r.lrange("l", 0, -1) == [b"x", b"y", b"z"]
    assert r.scard("s") == 1
    assert r.zrange("z", 0, -1, withscores=True) == [(b"p1", 1.5), (b"p2", 2.5)]
    assert 900 < r.ttl("ttl") <= 1000
    assert r.get("gone") is None
    assert r.get("f") == b"0.3", r.get("f")
    r.select(3)
    assert r.get("db3") == b"yes"
    r.select(0)
    assert r.zrange("zu", 0, -1, withscores=True) == [(b"p1", 3.0), (b"p3", 3.0), (b"p2", 10.0)]
    assert r.zrange("zu-copy", 0, -1, withscores=True) == r.zrange("zu", 0, -1, withscores=True)
    assert r.exists("zi") == 0
    assert r.zrange("lex", 0, -1) == [b"a"]
    r.select(4)
    assert r.get("ttl-copy") == b"v" and 900 < r.ttl("ttl-copy") <= 1000
    r.select(0)


if MODE == "write":
    write()
elif MODE == "verify":
    verify()
elif MODE == "save":
    write()
    before = r.lastsave()
    time.sleep(1.1)
    assert r.save()
    assert r.lastsave() > before
    r.set("after-save", "lost on crash")
    assert r.bgsave()
    time.sleep(0.5)
    r.set("after-bgsave", "lost on crash")
elif MODE == "verify-saved":
    verify()
    assert r.get("after-bgsave") is None
elif MODE == "rewrite":
    write()
    r.bgrewriteaof()
    r.set("after-rewrite", "kept")
elif MODE == "verify-rewrite":
    verify()
    assert r.get("after-rewrite") == b"kept"
else:
    raise SystemExit(f"unknown mode {MODE}")
print("OK")
