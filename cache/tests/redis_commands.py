"""Every Redis command family and its error texts, driven by redis-py against the cache daemon.

usage: redis_commands.py PORT
"""
import socket
import sys
import threading
import time

import redis

PORT = int(sys.argv[1])


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=10, **kw)


r = client()
rb = client(decode_responses=True)


def expect_error(fn, text):
    try:
        fn()
    except redis.exceptions.ResponseError as e:
        assert str(e) == text, f"expected {text!r}, got {str(e)!r}"
        return
    raise AssertionError(f"expected error {text!r}")


def connection_and_server():
    assert r.ping()
    assert r.echo("hi") == b"hi"
    assert r.select(1)
    r.set("in-db1", "x")
    assert r.dbsize() == 1
    r.execute_command("SELECT", 0)
    expect_error(lambda: r.execute_command("SELECT", 99), "DB index is out of range")
    assert r.client_setname("worker-1")
    assert r.client_getname() in ("worker-1", b"worker-1")
    cid = r.client_id()
    assert any(c["id"] == str(cid) or c["id"] == cid for c in rb.client_list())
    info = rb.info()
    for key in ["redis_version", "connected_clients", "used_memory", "maxmemory", "keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys"]:
        assert key in info, key
    assert "db1" in rb.info("keyspace")
    assert rb.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert rb.config_set("maxmemory-samples", 7)
    assert rb.config_get("maxmemory-samples")["maxmemory-samples"] == "7"
    expect_error(lambda: rb.config_set("no-such-option", 1), "Unknown option or number of arguments for CONFIG SET - 'no-such-option'")
    secs, micros = r.time()
    assert abs(secs - time.time()) < 5 and 0 <= micros < 1_000_000
    assert r.execute_command("COMMAND COUNT") > 100
    info = r.execute_command("COMMAND INFO", "get")
    assert info[0][0] == b"get" and info[0][1] == 2
    docs = r.execute_command("COMMAND DOCS", "set")
    assert docs
    r3 = client(protocol=3)
    assert r3.ping()
    r3.hset("h3", mapping={"a": "1"})
    assert r3.hgetall("h3") == {b"a": b"1"}
    r3.zadd("z3", {"m": 1.5})
    assert r3.zscore("z3", "m") == 1.5
    r.flushdb()
    r.execute_command("SELECT", 1)
    r.flushdb(asynchronous=True)
    r.execute_command("SELECT", 0)
    r.set("a", 1)
    r.flushall()
    assert r.dbsize() == 0


def strings():
    assert r.set("s", "v")
    assert r.get("s") == b"v"
    assert r.set("s", "w", nx=True) is None
    assert r.set("s", "w", xx=True)
    assert r.set("s", "old-then", get=True) == b"w"
    assert r.set("t", "v", ex=100)
    assert 99 <= r.ttl("t") <= 100
    assert r.set("t", "v2", keepttl=True)
    assert r.ttl("t") > 0
    assert r.set("p", "v", px=100000)
    assert r.set("ea", "v", exat=int(time.time()) + 100)
    assert r.set("pa", "v", pxat=int(time.time() * 1000) + 100000)
    assert not r.setnx("s", "x")
    assert r.setex("se", 100, "v") and r.ttl("se") > 0
    assert r.psetex("pse", 100000, "v") and r.pttl("pse") > 0
    assert r.getex("s", ex=50) == b"old-then" and r.ttl("s") > 0
    assert r.getex("s", persist=True) == b"old-then" and r.ttl("s") == -1
    assert r.getdel("s") == b"old-then" and r.get("s") is None
    assert r.mset({"m1": "1", "m2": "2"})
    assert r.mget("m1", "m2", "nope") == [b"1", b"2", None]
    assert not r.msetnx({"m2": "x", "m3": "3"})
    assert r.incr("n") == 1 and r.incrby("n", 10) == 11 and r.decr("n") == 10 and r.decrby("n", 5) == 5
    assert r.incrbyfloat("f", 1.5) == 1.5 and r.incrbyfloat("f", 0.25) == 1.75
    assert r.append("ap", "ab") == 2 and r.append("ap", "cd") == 4 and r.strlen("ap") == 4
    assert r.getrange("ap", 1, -2) == b"bc"
    assert r.setrange("ap", 6, "x") == 7 and r.get("ap") == b"abcd\x00\x00x"
    r.set("big", "9223372036854775807")
    expect_error(lambda: r.incr("big"), "increment or decrement would overflow")
    r.set("txt", "abc")
    expect_error(lambda: r.incr("txt"), "value is not an integer or out of range")
    expect_error(lambda: r.incrbyfloat("txt", 1), "value is not a valid float")
    expect_error(lambda: r.execute_command("GET"), "wrong number of arguments for 'get' command")
    expect_error(lambda: r.execute_command("SET", "k", "v", "EX", "0"), "invalid expire time in 'set' command")
    expect_error(lambda: r.execute_command("SET", "k", "v", "NX", "XX"), "syntax error")
    expect_error(lambda: r.execute_command("SET", "k", "v", "EX", "ten"), "value is not an integer or out of range")
    expect_error(lambda: r.execute_command("NOSUCHCMD", "a"), "unknown command 'NOSUCHCMD', with args beginning with: 'a' ")
    r.lpush("alist", "x")
    expect_error(lambda: r.get("alist"), "WRONGTYPE Operation against a key holding the wrong kind of value")


def keys_family():
    r.flushdb()
    r.set("k1", "1")
    r.set("k2", "2")
    r.lpush("l", "a")
    assert r.exists("k1", "k2", "nope") == 2
    assert r.type("l") == b"list" and r.type("nope") == b"none"
    assert r.delete("k1", "nope") == 1
    assert r.unlink("k2") == 1
    r.set("a", "1")
    assert r.rename("a", "b") and r.get("b") == b"1"
    expect_error(lambda: r.rename("nope", "x"), "no such key")
    r.set("c", "3")
    assert not r.renamenx("b", "c")
    assert r.expire("c", 100) and 99 <= r.ttl("c") <= 100
    assert r.expire("c", 200, gt=True) and r.ttl("c") > 150
    assert not r.expire("c", 50, gt=True)
    assert r.expire("c", 50, lt=True) and r.ttl("c") <= 50
    assert not r.expire("c", 10, nx=True)
    assert not r.expire("nope", 10)
    expect_error(lambda: r.execute_command("EXPIRE", "c", "10", "NX", "XX"), "NX and XX, GT or LT options at the same time are not compatible")
    assert r.pexpire("c", 100000) and r.pttl("c") > 90000
    at = int(time.time()) + 1000
    assert r.expireat("c", at) and r.expiretime("c") == at
    assert r.pexpireat("c", at * 1000) and r.execute_command("PEXPIRETIME", "c") == at * 1000
    assert r.persist("c") and r.ttl("c") == -1 and not r.persist("c")
    assert r.ttl("nope") == -2
    assert r.expire("c", -1) and r.exists("c") == 0
    for i in range(500):
        r.set(f"user:{i}", i)
    r.set("other", 1)
    assert len(r.keys("user:*")) == 500
    seen = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, match="user:*", count=37)
        seen.update(batch)
        if cursor == 0:
            break
    assert len(seen) == 500
    assert set(r.scan_iter(_type="list")) == {b"l"}
    assert r.randomkey() is not None
    r.set("obj", "12345")
    assert r.object("encoding", "obj") == b"int"
    r.set("obj2", "x" * 100)
    assert r.object("encoding", "obj2") == b"raw"
    assert r.object("idletime", "obj") == 0
    expect_error(lambda: r.object("freq", "obj"), "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    assert r.touch("obj", "obj2", "nope") == 2


def hashes():
    r.flushdb()
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", "a", "10") == 0
    assert r.hget("h", "a") == b"10" and r.hget("h", "zz") is None
    assert r.hmget("h", "a", "b", "c") == [b"10", b"2", None]
    assert r.hgetall("h") == {b"a": b"10", b"b": b"2"}
    assert r.hincrby("h", "a", 5) == 15
    assert r.hincrbyfloat("h", "f", 1.5) == 1.5
    assert r.hexists("h", "a") and not r.hexists("h", "zz")
    assert sorted(r.hkeys("h")) == [b"a", b"b", b"f"]
    assert sorted(r.hvals("h")) == [b"1.5", b"15", b"2"]
    assert r.hlen("h") == 3
    assert r.hdel("h", "a", "zz") == 1
    assert not r.hsetnx("h", "b", "x")
    for i in range(300):
        r.hset("big", f"f{i}", i)
    fields = dict(r.hscan_iter("big", match="f1*"))
    assert len(fields) == 111
    r.hset("h", "t", "abc")
    expect_error(lambda: r.hincrby("h", "t", 1), "hash value is not an integer")
    r.set("str", "x")
    expect_error(lambda: r.hget("str", "a"), "WRONGTYPE Operation against a key holding the wrong kind of value")
    expect_error(lambda: r.execute_command("HSET", "h", "a"), "wrong number of arguments for 'hset' command")
    r.hdel("h", "b", "f", "t")
    assert r.exists("h") == 0, "empty hashes are deleted"


def lists():
    r.flushdb()
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lpush("l", "z") == 4
    assert r.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert r.llen("l") == 4 and r.lindex("l", -1) == b"c"
    assert r.lset("l", 0, "y")
    expect_error(lambda: r.lset("l", 10, "y"), "index out of range")
    expect_error(lambda: r.lset("nolist", 0, "y"), "no such key")
    assert r.lpop("l") == b"y" and r.rpop("l") == b"c"
    r.rpush("l", "a", "a", "x", "a")
    assert r.lrem("l", 2, "a") == 2
    assert r.lrange("l", 0, -1) == [b"b", b"a", b"x", b"a"]
    assert r.lrem("l", -1, "a") == 1
    assert r.ltrim("l", 1, -1) and r.lrange("l", 0, -1) == [b"a", b"x"]
    # An end before the first element is an empty range (not GETRANGE's clamp to 0).
    r.rpush("short", "a", "b", "c")
    assert r.lrange("short", 0, -4) == [] and r.lrange("short", 0, -3) == [b"a"]
    assert r.ltrim("short", 0, -4) and r.exists("short") == 0
    assert r.lpop("l", 5) == [b"a", b"x"] and r.exists("l") == 0
    assert r.lpop("nolist") is None
    r.rpush("q", "1")
    assert r.blpop(["empty", "q"], timeout=1) == (b"q", b"1")
    t0 = time.time()
    assert r.brpop(["empty"], timeout=0.3) is None
    assert time.time() - t0 >= 0.25

    def pusher():
        time.sleep(0.3)
        client().rpush("jobs", "job-1")

    threading.Thread(target=pusher).start()
    assert r.blpop(["jobs"], timeout=5) == (b"jobs", b"job-1")
    expect_error(lambda: r.blpop(["q"], timeout=-1), "timeout is negative")
    r.set("str", "x")
    expect_error(lambda: r.lpush("str", "a"), "WRONGTYPE Operation against a key holding the wrong kind of value")


def sets():
    r.flushdb()
    assert r.sadd("s1", "a", "b", "c") == 3 and r.sadd("s1", "a") == 0
    r.sadd("s2", "b", "c", "d")
    assert r.smembers("s1") == {b"a", b"b", b"c"}
    assert r.sismember("s1", "a") and not r.sismember("s1", "z")
    assert r.scard("s1") == 3
    assert r.sinter("s1", "s2") == {b"b", b"c"}
    assert r.sunion("s1", "s2") == {b"a", b"b", b"c", b"d"}
    assert r.sdiff("s1", "s2") == {b"a"}
    assert r.srem("s1", "a", "zz") == 1
    popped = r.spop("s2")
    assert popped in {b"b", b"c", b"d"} and r.scard("s2") == 2
    assert len(r.spop("s2", 5)) == 2 and r.exists("s2") == 0
    r.sadd("s3", *range(100))
    assert r.srandmember("s3") is not None
    assert len(set(r.srandmember("s3", 10))) == 10
    assert len(r.srandmember("s3", -200)) == 200
    # The count whose negation overflows is refused (before the key is looked up), and so are
    # HRANDFIELD WITHVALUES counts whose reply length would (redis-server 7.0's texts).
    whole = "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    expect_error(lambda: r.srandmember("s3", -9223372036854775808), whole)
    expect_error(lambda: r.execute_command("HRANDFIELD", "nohash", -9223372036854775808), whole)
    expect_error(lambda: r.execute_command("HRANDFIELD", "nohash", -4611686018427387904, "WITHVALUES"),
                 "value is out of range")
    assert len(set(r.sscan_iter("s3"))) == 100


def zsets():
    r.flushdb()
    assert r.zadd("lb", {"alice": 10, "bob": 20, "carol": 15}) == 3
    assert r.zadd("lb", {"alice": 5}, nx=True) == 0
    assert r.zadd("lb", {"alice": 30}, xx=True, ch=True) == 1
    assert r.zadd("lb", {"alice": 1}, gt=True) == 0 and r.zscore("lb", "alice") == 30
    assert r.zadd("lb", {"alice": 1}, lt=True, ch=True) == 1
    assert r.zadd("lb", {"alice": 2}, incr=True) == 3.0
    assert r.zincrby("lb", 10, "bob") == 30.0
    assert r.zrange("lb", 0, -1) == [b"alice", b"carol", b"bob"]
    assert r.zrange("lb", 0, -1, desc=True, withscores=True) == [(b"bob", 30.0), (b"carol", 15.0), (b"alice", 3.0)]
    assert r.zrange("lb", 10, 20, byscore=True) == [b"carol"]
    assert r.zrangebyscore("lb", "(3", "+inf") == [b"carol", b"bob"]
    assert r.zrevrangebyscore("lb", "+inf", "-inf", start=0, num=1) == [b"bob"]
    assert r.zrank("lb", "bob") == 2 and r.zrevrank("lb", "bob") == 0 and r.zrank("lb", "zz") is None
    assert r.zcard("lb") == 3 and r.zcount("lb", 0, 15) == 2
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zrangebylex("lex", "[b", "(d") == [b"b", b"c"]
    assert r.zrange("lex", "[a", "[b", bylex=True) == [b"a", b"b"]
    assert r.zrange("lb", 0, -4) == [] and r.zrange("lb", 0, -4, desc=True) == []
    assert r.zremrangebyrank("lb", 0, -4) == 0 and r.zcard("lb") == 3
    assert r.zpopmin("lb") == [(b"alice", 3.0)]
    assert r.zpopmax("lb", 2) == [(b"bob", 30.0), (b"carol", 15.0)]
    assert r.exists("lb") == 0
    assert r.zrem("lex", "a", "zz") == 1
    expect_error(lambda: r.execute_command("ZADD", "lex", "NX", "XX", "1", "a"), "XX and NX options at the same time are not compatible")
    expect_error(lambda: r.execute_command("ZADD", "lex", "nan-ish", "a"), "value is not a valid float")
    expect_error(lambda: r.execute_command("ZRANGEBYSCORE", "lex", "x", "1"), "min or max is not a float")
    # A leaderboard entry with a TTL (the course's example).
    r.zadd("daily", {"p1": 100})
    r.expire("daily", 1)
    time.sleep(1.2)
    assert r.zcard("daily") == 0 and r.exists("daily") == 0


def transactions():
    r.flushdb()
    p = r.pipeline(transaction=True)
    p.set("a", 1).incr("a").get("a")
    assert p.execute() == [True, 2, b"2"]
    # WATCH: a concurrent change aborts EXEC.
    with r.pipeline() as p:
        p.watch("a")
        client().set("a", 100)
        p.multi()
        p.set("a", 5)
        try:
            p.execute()
            raise AssertionError("EXEC should have aborted")
        except redis.exceptions.WatchError:
            pass
    assert r.get("a") == b"100"
    with r.pipeline() as p:
        p.watch("a")
        p.multi()
        p.incr("a")
        assert p.execute() == [101]
    # A queueing error aborts the whole transaction.
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(b"MULTI\r\nSET x 1\r\nGET\r\nEXEC\r\n")
    time.sleep(0.2)
    data = s.recv(4096)
    assert b"EXECABORT Transaction discarded because of previous errors." in data, data
    # A malformed EXEC ends the transaction (Redis 7).
    s.sendall(b"MULTI\r\nSET y 1\r\nEXEC extra\r\nGET y\r\n")
    time.sleep(0.2)
    data = s.recv(4096)
    assert data == b"+OK\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n$-1\r\n", data
    s.close()
    # Runtime errors are per command.
    p = r.pipeline(transaction=True)
    p.set("s", "x").incr("s").set("after", 1)
    res = p.execute(raise_on_error=False)
    assert res[0] is True and isinstance(res[1], redis.exceptions.ResponseError) and res[2] is True
    # Server commands inside EXEC (they must not wait for shards EXEC already holds).
    p = r.pipeline(transaction=True)
    p.info().config_set("maxmemory-samples", 5).dbsize().keys("*").scan(0)
    res = p.execute()
    assert res[1] is True and res[2] >= 1
    # UNWATCH queued in a transaction (EXEC holds every shard lock while it runs the queue).
    with r.pipeline() as p:
        p.watch("a")
        p.multi()
        p.execute_command("UNWATCH")
        p.incr("a")
        assert p.execute() == [True, 102]
    assert client().ping()
    expect_error(lambda: r.execute_command("EXEC"), "EXEC without MULTI")
    expect_error(lambda: r.execute_command("DISCARD"), "DISCARD without MULTI")


def pubsub():
    sub = client()
    ps = sub.pubsub()
    ps.subscribe("news")
    ps.psubscribe("news.*")
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    assert ps.get_message(timeout=2)["type"] == "psubscribe"
    assert r.publish("news", "hello") == 1
    assert r.publish("news.sport", "goal") == 1
    m = ps.get_message(timeout=2)
    assert m["type"] == "message" and m["data"] == b"hello", m
    m = ps.get_message(timeout=2)
    assert m["type"] == "pmessage" and m["channel"] == b"news.sport" and m["data"] == b"goal", m
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    raw.sendall(b"PUBSUB NUMSUB news\r\n")
    time.sleep(0.1)
    assert raw.recv(100) == b"*2\r\n$4\r\nnews\r\n:1\r\n"
    raw.close()
    assert r.pubsub_numpat() == 1
    ps.unsubscribe("news")
    ps.punsubscribe("news.*")
    time.sleep(0.2)
    assert r.publish("news", "x") == 0
    ps.close()
    # RESP2: only pub/sub commands in subscribe mode.
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(b"SUBSCRIBE c\r\nGET k\r\n")
    time.sleep(0.2)
    data = s.recv(4096)
    assert b"ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context" in data, data
    s.close()


def expiry():
    r.flushdb()
    r.set("short", "v", px=150)
    assert r.get("short") == b"v"
    time.sleep(0.25)
    assert r.get("short") is None and r.exists("short") == 0
    # The active cycle removes keys nobody reads.
    before = int(rb.info("stats")["expired_keys"])
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set(f"tmp:{i}", "x", px=100)
    p.execute()
    r.set("keep", "x")
    deadline = time.time() + 5
    while time.time() < deadline and r.dbsize() > 1:
        time.sleep(0.2)
    assert r.dbsize() == 1, r.dbsize()
    assert int(rb.info("stats")["expired_keys"]) - before >= 2000


def wire_robustness():
    # Inline commands work (telnet / nc).
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(b"PING\r\nSET inline \"a b\"\r\nGET inline\r\n")
    time.sleep(0.2)
    assert s.recv(4096) == b"+PONG\r\n+OK\r\n$3\r\na b\r\n"
    # CLIENT REPLY: SKIP drops the next reply, OFF every reply until ON (which answers), as Redis.
    s.sendall(b"CLIENT REPLY SKIP\r\nPING\r\nPING\r\nCLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\n"
              b"CLIENT REPLY ON\r\nGET a\r\nCLIENT REPLY BAD\r\n")
    time.sleep(0.3)
    assert s.recv(4096) == b"+PONG\r\n+OK\r\n$1\r\n1\r\n-ERR syntax error\r\n"
    s.close()
    # A malformed frame closes only that connection.
    bad = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    bad.sendall(b"*1\r\n$-5\r\n")
    data = bad.recv(4096)
    assert data.startswith(b"-ERR Protocol error"), data
    assert bad.recv(4096) == b""
    bad.close()
    # Requests framed ahead of a malformed one still run, in order, before the error.
    mixed = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    mixed.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\npa\r\n$1\r\n1\r\n*0\r\n\r\n*2\r\n$3\r\nGET\r\n$2\r\npa\r\n*1\r\n$-5\r\n")
    data = b""
    while True:
        chunk = mixed.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"+OK\r\n$1\r\n1\r\n-ERR Protocol error"), data
    mixed.close()
    # A batch that switches databases mid-pipeline sees each key in its own database.
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(b"SELECT 3\r\nSET dbk three\r\nSELECT 0\r\nGET dbk\r\nSET dbk zero\r\nSELECT 3\r\nGET dbk\r\nDEL dbk\r\nSELECT 0\r\n")
    want = b"+OK\r\n+OK\r\n+OK\r\n$-1\r\n+OK\r\n+OK\r\n$5\r\nthree\r\n:1\r\n+OK\r\n"
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want, got
    s.close()
    r.delete("dbk", "pa")
    huge = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    huge.sendall(b"*1\r\n$999999999999\r\n")
    assert huge.recv(4096).startswith(b"-ERR Protocol error")
    huge.close()
    assert r.ping()
    # Pipelining: many commands in one write, replies in order.
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(b"".join(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(1000)))
    want = b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(1000))
    got = b""
    while len(got) < len(want):
        got += s.recv(65536)
    assert got == want
    s.close()
    # CLIENT KILL closes another connection.
    victim = client()
    victim.client_setname("victim")
    vid = victim.client_id()
    assert r.client_kill_filter(_id=vid) == 1
    time.sleep(0.2)
    assert "victim" not in [c.get("name") for c in rb.client_list()]
    # A client parked in a blocking pop is killed too (it waits on the kill signal while parked).
    blocked = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    blocked.sendall(b"CLIENT SETNAME blockee\r\n")
    assert blocked.recv(64) == b"+OK\r\n"
    blocked.sendall(b"BLPOP never-pushed 0\r\n")
    time.sleep(0.2)
    bid = next(c["id"] for c in rb.client_list() if c.get("name") == "blockee")
    assert r.client_kill_filter(_id=bid) == 1
    assert blocked.recv(64) == b""  # closed by the server, not by the 5 s timeout
    blocked.close()


def hot_key_runs():
    """Pipelined commands on one key run under one lock of its shard: replies, errors, WATCH and
    OOM must be exactly what one-by-one execution gives."""
    r.delete("hot:l", "hot:h", "hot:z", "hot:c", "hot:s")
    p = r.pipeline(transaction=False)
    for i in range(40):
        p.lpush("hot:l", f"v{i}")
    p.execute_command("lpush", "hot:l", "lower-case name")
    p.llen("hot:l")
    assert p.execute() == list(range(1, 42)) + [41]
    assert r.lrange("hot:l", 0, 1) == [b"lower-case name", b"v39"]
    p = r.pipeline(transaction=False)
    p.hset("hot:h", "f1", "a").hset("hot:h", "f2", "b").hset("hot:h", "f1", "c").hget("hot:h", "f1")
    p.zadd("hot:z", {"m": 1}).zadd("hot:z", {"m": 2}).zadd("hot:z", {"m": 3}, nx=True).zadd("hot:z", {"m": 5}, xx=True, ch=True)
    p.zadd("hot:z", {"n": 4}).zrange("hot:z", 0, -1, withscores=True)
    for _ in range(20):
        p.incr("hot:c")
    assert p.execute() == [1, 1, 0, b"c", 1, 0, 0, 1, 1, [(b"n", 4.0), (b"m", 5.0)]] + list(range(1, 21))
    # Errors inside a run stay per command: wrong type, wrong arity, and a good command after them.
    r.set("hot:s", "x")
    p = r.pipeline(transaction=False)
    p.lpush("hot:s", "a").lpush("hot:s", "b")
    p.execute_command("HSET", "hot:h", "odd").execute_command("HSET", "hot:h", "odd")
    p.hset("hot:h", "f3", "d")
    res = p.execute(raise_on_error=False)
    assert [type(x).__name__ for x in res] == ["ResponseError"] * 4 + ["int"], res
    assert str(res[0]).startswith("WRONGTYPE") and "wrong number of arguments for 'hset'" in str(res[2])
    # Runs end at a request with another arity or name, one-argument requests included.
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    raw.sendall(b"HSET hot:h a 1\r\nHSET hot:h b 2\r\nPING\r\nGET hot:s\r\nGET hot:s\r\nGET hot:s x\r\nQUIT\r\n")
    got = b""
    while chunk := raw.recv(4096):
        got += chunk
    raw.close()
    assert got == b":1\r\n:1\r\n+PONG\r\n$1\r\nx\r\n$1\r\nx\r\n-ERR wrong number of arguments for 'get' command\r\n+OK\r\n", got
    # A WATCHed key changed by another client's run aborts the transaction.
    w = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    w.sendall(b"WATCH hot:l\r\n")
    assert w.recv(64) == b"+OK\r\n"
    p = r.pipeline(transaction=False)
    for _ in range(5):
        p.rpush("hot:l", "x")
    assert p.execute() == [42, 43, 44, 45, 46]
    w.sendall(b"MULTI\r\nSET other 1\r\nEXEC\r\n")
    got = b""
    while not got.endswith(b"*-1\r\n") and len(got) < 64:
        got += w.recv(64)
    assert got == b"+OK\r\n+QUEUED\r\n*-1\r\n", got
    w.close()
    assert r.get("other") is None
    # With maxmemory set, every command of a run is refused as one-by-one execution would be.
    r.config_set("maxmemory", "1")
    try:
        p = r.pipeline(transaction=False)
        for _ in range(3):
            p.lpush("hot:l", "y")
        res = p.execute(raise_on_error=False)
        assert all(isinstance(x, redis.exceptions.OutOfMemoryError) for x in res), res
    finally:
        r.config_set("maxmemory", "0")
    assert r.llen("hot:l") == 46
    r.delete("hot:l", "hot:h", "hot:z", "hot:c", "hot:s", "other")


def exchange(data, want, timeout=5):
    """Sends raw bytes on a fresh connection and reads until `want` arrived (or EOF / timeout)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.sendall(data)
    got = b""
    while len(got) < len(want):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    assert got == want, f"{data!r}: expected {want!r}, got {got!r}"


def redis_parity():
    """Replies checked byte for byte against redis-server 7.0."""
    # Inline commands split as sdssplitargs does: escapes in double quotes, \' in single quotes.
    exchange(b'ECHO "a\\x41b"\r\n', b"$3\r\naAb\r\n")
    exchange(b'ECHO "tab\\there"\r\n', b"$8\r\ntab\there\r\n")
    exchange(b"SET parity:q 'it\\'s'\r\nGET parity:q\r\n", b"+OK\r\n$4\r\nit's\r\n")
    exchange(b'ECHO "\\n\\r\\t\\b\\a\\\\\\"\\q\\xff"\r\n', b'$9\r\n\n\r\t\x08\x07\\"q\xff\r\n')
    exchange(b"ECHO 'a\\\\b\\n'\r\n", b"$6\r\na\\\\b\\n\r\n")
    exchange(b'ECHO a"b c"\r\nPING\r\n', b"$4\r\nab c\r\n+PONG\r\n")
    # Escaped lines mixed with multibulk and plain inline requests, in one write.
    exchange(b'*1\r\n$4\r\nPING\r\nECHO "q\\x41"\r\nPING\nECHO "\\x42"\n*2\r\n$4\r\nECHO\r\n$1\r\nz\r\n',
             b"+PONG\r\n$2\r\nqA\r\n+PONG\r\n$1\r\nB\r\n$1\r\nz\r\n")
    closed = b"-ERR Protocol error: unbalanced quotes in request\r\n"
    for line in [b'ECHO "abc"def\r\nPING\r\n', b"ECHO 'abc'def\r\n", b'ECHO "abc\r\n', b"ECHO a'b c'd\r\n"]:
        exchange(line, closed + b"")
    # Protocol errors, worded as Redis words them.
    exchange(b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n")
    exchange(b"*1\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n")
    exchange(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n*1\r\n", b"+PONG\r\n-ERR Protocol error: expected '$', got '*'\r\n")
    exchange(b"*1\r\n$4\r\nPINGxx\r\n", b"+PONG\r\n")  # the two bytes after a bulk are not checked
    # AUTH as the default user without a password configured: nopass, any password is accepted.
    exchange(b"AUTH default whatever\r\n", b"+OK\r\n")
    exchange(b"AUTH someone whatever\r\n", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    # SCAN cursors are read as strtoul does: a sign is allowed, -1 wraps; blanks and junk are not.
    for cursor in [b"-1", b"-0", b"+1", b"01", b"18446744073709551615"]:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(b"*2\r\n$4\r\nSCAN\r\n$%d\r\n%s\r\n" % (len(cursor), cursor))
        assert s.recv(4096).startswith(b"*2\r\n"), cursor
        s.close()
    for cursor in [b"abc", b" 1", b"1.5", b"18446744073709551616", b"-", b"+"]:
        expect_error(lambda: r.execute_command("SCAN", cursor), "invalid cursor")
        expect_error(lambda: r.execute_command("HSCAN", "h", cursor), "invalid cursor")
    exchange(b"HSCAN no-such-hash -1\r\n", b"*2\r\n$1\r\n0\r\n*0\r\n")
    # CLIENT REPLY OFF / SKIP also drop the reply of a blocking pop, served later or timed out.
    def blocked(setup, after, want, push=True):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(setup)
        time.sleep(0.2)
        if push:
            r.rpush("parity:bq", "x")
        time.sleep(0.1)
        s.sendall(after)
        got = b""
        while len(got) < len(want):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        assert got == want, f"{setup!r}: expected {want!r}, got {got!r}"
    r.delete("parity:bq")
    blocked(b"CLIENT REPLY OFF\r\nBLPOP parity:bq 0\r\n", b"CLIENT REPLY ON\r\nPING\r\n", b"+OK\r\n+PONG\r\n")
    blocked(b"CLIENT REPLY SKIP\r\nBLPOP parity:bq 0\r\n", b"PING\r\n", b"+PONG\r\n")
    blocked(b"CLIENT REPLY OFF\r\nBRPOP parity:none 0.05\r\nCLIENT REPLY ON\r\n", b"PING\r\n", b"+OK\r\n+PONG\r\n", push=False)
    blocked(b"CLIENT REPLY SKIP\r\nBRPOP parity:none 0.05\r\nECHO a\r\n", b"PING\r\n", b"$1\r\na\r\n+PONG\r\n", push=False)
    assert r.llen("parity:bq") == 0
    r.delete("parity:q", "parity:bq")


def differential_regressions():
    """Divergences a differential fuzz against redis-server 7.0.15 found: each reply here is the
    one redis-server gives, byte for byte, for the same sequence."""

    def session(steps, hello3=False):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        buf = b""

        def call(*args):
            nonlocal buf
            s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
            while True:
                time.sleep(0)
                chunk = s.recv(65536)
                buf += chunk
                if not chunk or buf.endswith(b"\r\n"):
                    # Replies here are short: one recv normally holds the whole reply.
                    out, buf = buf, b""
                    return out

        call(b"SELECT", b"9")
        call(b"FLUSHDB")
        if hello3:
            call(b"HELLO", b"3")
        for args, want in steps:
            got = call(*[a.encode() if isinstance(a, str) else a for a in args])
            assert want(got) if callable(want) else got == want, f"{args}: expected {want!r}, got {got!r}"
        call(b"FLUSHDB")
        s.close()

    wrongtype = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    session([
        # A missing source is nil / 0 whatever type the destination holds.
        (["SET", "str", "x"], b"+OK\r\n"),
        (["RPOPLPUSH", "nolist", "str"], b"$-1\r\n"),
        (["LMOVE", "nolist", "str", "LEFT", "RIGHT"], b"$-1\r\n"),
        (["SMOVE", "noset", "str", "m"], b":0\r\n"),
        (["RPUSH", "l", "a"], b":1\r\n"),
        (["RPOPLPUSH", "l", "str"], wrongtype),
        (["LLEN", "l"], b":1\r\n"),
        # LINDEX / LSET look the key up before reading the index.
        (["LINDEX", "nolist", "x"], b"$-1\r\n"),
        (["LSET", "nolist", "1.5", "a"], b"-ERR no such key\r\n"),
        (["LINDEX", "str", "x"], wrongtype),
        # BLPOP: WRONGTYPE only for keys before the first non-empty list; huge timeouts are "negative".
        (["BLPOP", "l", "str", "0"], b"*2\r\n$1\r\nl\r\n$1\r\na\r\n"),
        (["BLPOP", "l", "inf"], b"-ERR timeout is negative\r\n"),
        (["BLPOP", "l", "1e400"], b"-ERR timeout is negative\r\n"),
        # Pop counts: any non-count is "out of range, must be positive".
        (["LPOP", "l", "abc"], b"-ERR value is out of range, must be positive\r\n"),
        (["SPOP", "s", "-0"], b"-ERR value is out of range, must be positive\r\n"),
        (["ZPOPMIN", "z", "-1"], b"-ERR value is out of range, must be positive\r\n"),
        # SET / GETEX: option conflicts before the expire value, the value before GET / the key.
        (["SET", "k", "v", "PXAT", "0", "KEEPTTL"], b"-ERR syntax error\r\n"),
        (["SET", "k", "v", "NX", "EXAT", "0", "XX"], b"-ERR syntax error\r\n"),
        (["SET", "k", "v", "GET", "PX", "0", "PX", "100000"], b"$-1\r\n"),
        (["PTTL", "k"], lambda got: got.startswith(b":") and 90000 < int(got[1:]) <= 100000),
        (["SET", "str", "v", "EX", "0", "GET"], b"-ERR invalid expire time in 'set' command\r\n"),
        (["GETEX", "missing", "EX", "abc"], b"$-1\r\n"),
        (["GETEX", "missing", "PX", "-9223372036854775808"], b"$-1\r\n"),
        (["GETEX", "k", "EXAT", "0", "EX"], b"-ERR syntax error\r\n"),
        (["EXPIRE", "k", "10", "Bogus"], b"-ERR Unsupported option Bogus\r\n"),
        # LT on a key without TTL (an infinite one) always sets it, even to i64::MAX ms.
        (["PEXPIREAT", "str", "9223372036854775807", "LT"], b":1\r\n"),
        (["PEXPIRETIME", "str"], b":9223372036854775807\r\n"),
        # Float parsing as strtod: hex is read, out-of-range literals are refused.
        (["ZADD", "z", "0x10", "m"], b":1\r\n"),
        (["ZSCORE", "z", "m"], b"$2\r\n16\r\n"),
        (["ZADD", "z", "1e400", "m"], b"-ERR value is not a valid float\r\n"),
        (["INCRBYFLOAT", "f", "0x10"], b"$2\r\n16\r\n"),
        (["HINCRBYFLOAT", "h", "f", "+inf"], b"-ERR value is NaN or Infinity\r\n"),
        (["SADD", "s", "a"], b":1\r\n"),
        (["INCRBYFLOAT", "s", " 1"], wrongtype),
        (["SET", "big", "-4611686018427387904"], b"+OK\r\n"),
        (["INCRBYFLOAT", "big", "0.1"], b"$20\r\n-4611686018427387904\r\n"),
        (["SETRANGE", "s", "9223372036854775807", "x"], wrongtype),
        (["SETRANGE", "missing", "9223372036854775807", ""], b":0\r\n"),
        # Scores print as %.17g; -0 stays -0.
        (["ZADD", "z", "INCR", "0.1", "a"], b"$19\r\n0.10000000000000001\r\n"),
        (["ZINCRBY", "z", "-0", "b"], b"$2\r\n-0\r\n"),
        (["ZSCORE", "z", "b"], b"$1\r\n0\r\n"),  # (stored as 0, as in a listpack)
        (["ZRANGE", "z", "0", "0", "WITHSCORES"], b"*2\r\n$1\r\nb\r\n$1\r\n0\r\n"),
        # ZRANGE: ranges are parsed before the key is looked up or a negative offset empties it.
        (["ZRANGEBYSCORE", "nozset", "abc", "2", "LIMIT", "-1", "1"], b"-ERR min or max is not a float\r\n"),
        (["ZRANGEBYLEX", "nozset", "a", "[", "LIMIT", "-1", "2"], b"-ERR min or max not valid string range item\r\n"),
        (["ZRANGEBYSCORE", "str", "0", "1", "LIMIT", "-1", "1"], wrongtype),
        (["ZRANGE", "z", "0", "-1", "LIMIT", "10", "-1"], b"*3\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nm\r\n"),
        (["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"],
         b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        (["ZRANGE", "z", "0", "-1", "REV", "REV"], b"-ERR syntax error\r\n"),
    ])
    session([
        (["ZADD", "z", "0.1", "a", "-0", "b"], b":2\r\n"),
        (["ZSCORE", "z", "a"], b",0.10000000000000001\r\n"),
        (["ZPOPMIN", "z"], b"*2\r\n$1\r\nb\r\n,0\r\n"),
    ], hello3=True)


# ZUNION/ZINTER/ZDIFF (and *STORE), ZLEXCOUNT, ZREMRANGEBYLEX, LPOS, SINTERCARD and COPY: each
# request (split on spaces) with the reply redis-server 7.0.15 gives in RESP2 (and, when it
# differs, in RESP3), recorded from one session in database 9 (COPY ... DB reaches databases 10 and 11).
SET_ALGEBRA_STEPS = [
    ('SELECT 11', b'+OK\r\n'),
    ('FLUSHDB', b'+OK\r\n'),
    ('SELECT 10', b'+OK\r\n'),
    ('FLUSHDB', b'+OK\r\n'),
    ('SELECT 9', b'+OK\r\n'),
    ('FLUSHDB', b'+OK\r\n'),
    ('ZADD z1 1 a 2 b 3 c', b':3\r\n'),
    ('ZADD z2 4 b 5 c 6 d', b':3\r\n'),
    ('SADD s1 a d x', b':3\r\n'),
    ('SET str hello', b'+OK\r\n'),
    ('RPUSH l a b c 1 2 3 c c', b':8\r\n'),
    ('ZUNIONSTORE out 2 z1 z2', b':4\r\n'),
    ('ZRANGE out 0 -1 WITHSCORES', b'*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\nd\r\n$1\r\n6\r\n$1\r\nc\r\n$1\r\n8\r\n', b'*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,6\r\n*2\r\n$1\r\nd\r\n,6\r\n*2\r\n$1\r\nc\r\n,8\r\n'),
    ('ZINTERSTORE out 2 z1 z2 WEIGHTS 2 3', b':2\r\n'),
    ('ZRANGE out 0 -1 WITHSCORES', b'*4\r\n$1\r\nb\r\n$2\r\n16\r\n$1\r\nc\r\n$2\r\n21\r\n', b'*2\r\n*2\r\n$1\r\nb\r\n,16\r\n*2\r\n$1\r\nc\r\n,21\r\n'),
    ('ZINTERSTORE out 2 z1 z2 AGGREGATE MAX', b':2\r\n'),
    ('ZRANGE out 0 -1 WITHSCORES', b'*4\r\n$1\r\nb\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n5\r\n', b'*2\r\n*2\r\n$1\r\nb\r\n,4\r\n*2\r\n$1\r\nc\r\n,5\r\n'),
    ('ZUNIONSTORE out 3 z1 z2 s1 AGGREGATE min WEIGHTS 1 2 3', b':5\r\n'),
    ('ZRANGE out 0 -1 WITHSCORES', b'*10\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\n3\r\n', b'*5\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,3\r\n*2\r\n$1\r\nx\r\n,3\r\n'),
    ('ZUNION 3 z1 z2 s1 WITHSCORES', b'*10\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\nd\r\n$1\r\n7\r\n$1\r\nc\r\n$1\r\n8\r\n', b'*5\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,6\r\n*2\r\n$1\r\nd\r\n,7\r\n*2\r\n$1\r\nc\r\n,8\r\n'),
    ('ZUNION 3 z1 z2 s1', b'*5\r\n$1\r\nx\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nd\r\n$1\r\nc\r\n'),
    ('ZINTERCARD 2 z1 z2', b':2\r\n'),
    ('ZINTERCARD 2 z1 s1', b':1\r\n'),
    ('ZINTERCARD 3 z1 z2 s1', b':0\r\n'),
    ('ZINTERCARD 2 z1 z2 LIMIT 1', b':1\r\n'),
    ('ZINTERCARD 2 z1 z2 LIMIT 0', b':2\r\n'),
    ('ZINTERCARD 2 z1 nokey', b':0\r\n'),
    ('ZINTERCARD 2 z1 z2 LIMIT -1', b"-ERR LIMIT can't be negative\r\n"),
    ('ZINTERCARD 0 z1', b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
    ('ZINTERCARD 3 z1 z2', b'-ERR syntax error\r\n'),
    ('ZINTERCARD 2 z1 str', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZINTERCARD 1 z1 WITHSCORES', b'-ERR syntax error\r\n'),
    ('ZINTER 2 z1 s1 WITHSCORES', b'*2\r\n$1\r\na\r\n$1\r\n2\r\n', b'*1\r\n*2\r\n$1\r\na\r\n,2\r\n'),
    ('ZINTER 2 z1 nokey WITHSCORES', b'*0\r\n'),
    ('ZDIFF 2 z1 z2 WITHSCORES', b'*2\r\n$1\r\na\r\n$1\r\n1\r\n', b'*1\r\n*2\r\n$1\r\na\r\n,1\r\n'),
    ('ZDIFF 1 s1 WITHSCORES', b'*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nd\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n', b'*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nd\r\n,1\r\n*2\r\n$1\r\nx\r\n,1\r\n'),
    ('ZDIFF 2 z1 s1', b'*2\r\n$1\r\nb\r\n$1\r\nc\r\n'),
    ('ZDIFFSTORE out 2 z1 z2', b':1\r\n'),
    ('ZRANGE out 0 -1 WITHSCORES', b'*2\r\n$1\r\na\r\n$1\r\n1\r\n', b'*1\r\n*2\r\n$1\r\na\r\n,1\r\n'),
    ('EXPIRE out 100', b':1\r\n'),
    ('ZINTERSTORE out 2 z1 nokey', b':0\r\n'),
    ('EXISTS out', b':0\r\n'),
    ('ZUNIONSTORE out 1 z1', b':3\r\n'),
    ('TTL out', b':-1\r\n'),
    ('ZUNIONSTORE out 2 z1 str', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZUNION 2 z1 str', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZUNION 2 str z1 WEIGHTS x y', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZUNION 2 z1 z2 WEIGHTS x y', b'-ERR weight value is not a float\r\n'),
    ('ZUNION 2 z1 z2 WEIGHTS 1', b'-ERR syntax error\r\n'),
    ('ZUNION 2 z1 z2 WEIGHTS 1 nan', b'-ERR weight value is not a float\r\n'),
    ('ZUNION 2 z1 z2 WEIGHTS 1 inf WITHSCORES', b'*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\ninf\r\n$1\r\nc\r\n$3\r\ninf\r\n$1\r\nd\r\n$3\r\ninf\r\n', b'*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,inf\r\n*2\r\n$1\r\nc\r\n,inf\r\n*2\r\n$1\r\nd\r\n,inf\r\n'),
    ('ZUNION 2 z1 z2 WEIGHTS 1 -inf AGGREGATE max WITHSCORES', b'*8\r\n$1\r\nd\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n', b'*4\r\n*2\r\n$1\r\nd\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n'),
    ('ZADD zi 1 a +inf b -inf c', b':3\r\n'),
    ('ZADD zj 1 a -inf b +inf c', b':3\r\n'),
    ('ZUNION 2 zi zj WITHSCORES', b'*6\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n2\r\n', b'*3\r\n*2\r\n$1\r\nb\r\n,0\r\n*2\r\n$1\r\nc\r\n,0\r\n*2\r\n$1\r\na\r\n,2\r\n'),
    ('ZINTER 2 zi zj WITHSCORES', b'*6\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n2\r\n', b'*3\r\n*2\r\n$1\r\nb\r\n,0\r\n*2\r\n$1\r\nc\r\n,0\r\n*2\r\n$1\r\na\r\n,2\r\n'),
    ('ZINTER 2 zi zj WEIGHTS 0 1 WITHSCORES', b'*6\r\n$1\r\nb\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$3\r\ninf\r\n', b'*3\r\n*2\r\n$1\r\nb\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nc\r\n,inf\r\n'),
    ('ZUNION 1 zi WEIGHTS 0 WITHSCORES', b'*6\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n0\r\n', b'*3\r\n*2\r\n$1\r\na\r\n,0\r\n*2\r\n$1\r\nb\r\n,0\r\n*2\r\n$1\r\nc\r\n,0\r\n'),
    ('ZADD z0 0 a 1 b', b':2\r\n'),
    ('ZUNION 1 z0 WEIGHTS -1 WITHSCORES', b'*4\r\n$1\r\nb\r\n$2\r\n-1\r\n$1\r\na\r\n$2\r\n-0\r\n', b'*2\r\n*2\r\n$1\r\nb\r\n,-1\r\n*2\r\n$1\r\na\r\n,-0\r\n'),
    ('ZUNIONSTORE d0 1 z0 WEIGHTS -1', b':2\r\n'),
    ('ZRANGE d0 0 -1 WITHSCORES', b'*4\r\n$1\r\nb\r\n$2\r\n-1\r\n$1\r\na\r\n$1\r\n0\r\n', b'*2\r\n*2\r\n$1\r\nb\r\n,-1\r\n*2\r\n$1\r\na\r\n,0\r\n'),
    ('ZUNION 0 z1', b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    ('ZUNION -1 z1', b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    ('ZUNION abc z1', b'-ERR value is not an integer or out of range\r\n'),
    ('ZUNION 3 z1 z2', b'-ERR syntax error\r\n'),
    ('ZUNIONSTORE out 0 z1', b"-ERR at least 1 input key is needed for 'zunionstore' command\r\n"),
    ('ZINTERSTORE out 5 z1', b'-ERR syntax error\r\n'),
    ('ZDIFFSTORE out 0 z1', b"-ERR at least 1 input key is needed for 'zdiffstore' command\r\n"),
    ('ZDIFF 0 z1', b"-ERR at least 1 input key is needed for 'zdiff' command\r\n"),
    ('ZDIFF 2 z1 z2 WEIGHTS 1 2', b'-ERR syntax error\r\n'),
    ('ZDIFF 2 z1 z2 AGGREGATE sum', b'-ERR syntax error\r\n'),
    ('ZUNION 2 z1 z2 AGGREGATE foo', b'-ERR syntax error\r\n'),
    ('ZUNION 2 z1 z2 AGGREGATE', b'-ERR syntax error\r\n'),
    ('ZUNION 2 z1 z2 WITHSCORES WITHSCORES', b'*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\nd\r\n$1\r\n6\r\n$1\r\nc\r\n$1\r\n8\r\n', b'*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,6\r\n*2\r\n$1\r\nd\r\n,6\r\n*2\r\n$1\r\nc\r\n,8\r\n'),
    ('ZUNIONSTORE out 2 z1 z2 WITHSCORES', b'-ERR syntax error\r\n'),
    ('ZINTER 1 z1 foo', b'-ERR syntax error\r\n'),
    ('ZUNIONSTORE', b"-ERR wrong number of arguments for 'zunionstore' command\r\n"),
    ('ZUNIONSTORE out 1', b"-ERR wrong number of arguments for 'zunionstore' command\r\n"),
    ('ZUNION 1', b"-ERR wrong number of arguments for 'zunion' command\r\n"),
    ('ZINTER 1 z1 WEIGHTS 2.5 AGGREGATE SUM WITHSCORES', b'*6\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nb\r\n$1\r\n5\r\n$1\r\nc\r\n$3\r\n7.5\r\n', b'*3\r\n*2\r\n$1\r\na\r\n,2.5\r\n*2\r\n$1\r\nb\r\n,5\r\n*2\r\n$1\r\nc\r\n,7.5\r\n'),
    ('ZADD lex 0 a 0 b 0 c 0 d 0 e', b':5\r\n'),
    ('ZLEXCOUNT lex - +', b':5\r\n'),
    ('ZLEXCOUNT lex [b (d', b':2\r\n'),
    ('ZLEXCOUNT lex (a [e', b':4\r\n'),
    ('ZLEXCOUNT lex + -', b':0\r\n'),
    ('ZLEXCOUNT lex x y', b'-ERR min or max not valid string range item\r\n'),
    ('ZLEXCOUNT nokey - +', b':0\r\n'),
    ('ZLEXCOUNT str - +', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZLEXCOUNT str x +', b'-ERR min or max not valid string range item\r\n'),
    ('ZLEXCOUNT lex', b"-ERR wrong number of arguments for 'zlexcount' command\r\n"),
    ('ZREMRANGEBYLEX lex [b (d', b':2\r\n'),
    ('ZRANGE lex 0 -1', b'*3\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n'),
    ('ZREMRANGEBYLEX lex x y', b'-ERR min or max not valid string range item\r\n'),
    ('ZREMRANGEBYLEX str - +', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('ZREMRANGEBYLEX nokey - +', b':0\r\n'),
    ('ZREMRANGEBYLEX lex - +', b':3\r\n'),
    ('EXISTS lex', b':0\r\n'),
    ('LPOS l c', b':2\r\n'),
    ('LPOS l c RANK 2', b':6\r\n'),
    ('LPOS l c RANK -1', b':7\r\n'),
    ('LPOS l c RANK -3', b':2\r\n'),
    ('LPOS l c COUNT 0', b'*3\r\n:2\r\n:6\r\n:7\r\n'),
    ('LPOS l c COUNT 2', b'*2\r\n:2\r\n:6\r\n'),
    ('LPOS l c RANK -1 COUNT 0', b'*3\r\n:7\r\n:6\r\n:2\r\n'),
    ('LPOS l c RANK 2 COUNT 0', b'*2\r\n:6\r\n:7\r\n'),
    ('LPOS l c MAXLEN 3 COUNT 0', b'*1\r\n:2\r\n'),
    ('LPOS l c MAXLEN 2', b'$-1\r\n', b'_\r\n'),
    ('LPOS l c RANK -1 MAXLEN 2 COUNT 0', b'*2\r\n:7\r\n:6\r\n'),
    ('LPOS l zz', b'$-1\r\n', b'_\r\n'),
    ('LPOS l zz COUNT 3', b'*0\r\n'),
    ('LPOS nokey a', b'$-1\r\n', b'_\r\n'),
    ('LPOS nokey a COUNT 1', b'*0\r\n'),
    ('LPOS str a', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('LPOS str a COUNT 1', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('LPOS str a RANK 0', b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    ('LPOS l c RANK 0', b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    ('LPOS l c RANK abc', b'-ERR value is not an integer or out of range\r\n'),
    ('LPOS l c RANK -9223372036854775808', b':7\r\n'),
    ('LPOS l c RANK -9223372036854775808 COUNT 1', b'*3\r\n:7\r\n:6\r\n:2\r\n'),
    ('LPOS l c RANK -9223372036854775808 COUNT 0', b'*3\r\n:7\r\n:6\r\n:2\r\n'),
    ('LPOS l c RANK 9223372036854775807', b'$-1\r\n', b'_\r\n'),
    ('LPOS l c COUNT -1', b"-ERR COUNT can't be negative\r\n"),
    ('LPOS l c COUNT x', b"-ERR COUNT can't be negative\r\n"),
    ('LPOS l c MAXLEN -1', b"-ERR MAXLEN can't be negative\r\n"),
    ('LPOS l c MAXLEN 0', b':2\r\n'),
    ('LPOS l c RANK', b'-ERR syntax error\r\n'),
    ('LPOS l c FOO 1', b'-ERR syntax error\r\n'),
    ('LPOS l', b"-ERR wrong number of arguments for 'lpos' command\r\n"),
    ('SADD s2 a b c d', b':4\r\n'),
    ('SADD s3 c d e', b':3\r\n'),
    ('SINTERCARD 2 s2 s3', b':2\r\n'),
    ('SINTERCARD 2 s2 s3 LIMIT 1', b':1\r\n'),
    ('SINTERCARD 2 s2 s3 LIMIT 0', b':2\r\n'),
    ('SINTERCARD 1 s2 LIMIT 3', b':3\r\n'),
    ('SINTERCARD 2 s2 nokey', b':0\r\n'),
    ('SINTERCARD 2 nokey str', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('SINTERCARD 2 s2 str', b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'),
    ('SINTERCARD 0 s2', b'-ERR numkeys should be greater than 0\r\n'),
    ('SINTERCARD -1 s2', b'-ERR numkeys should be greater than 0\r\n'),
    ('SINTERCARD x s2', b'-ERR numkeys should be greater than 0\r\n'),
    ('SINTERCARD 3 s2 s3', b"-ERR Number of keys can't be greater than number of args\r\n"),
    ('SINTERCARD 2 s2 s3 LIMIT -1', b"-ERR LIMIT can't be negative\r\n"),
    ('SINTERCARD 2 s2 s3 LIMIT x', b"-ERR LIMIT can't be negative\r\n"),
    ('SINTERCARD 2 s2 s3 LIMIT', b'-ERR syntax error\r\n'),
    ('SINTERCARD 2 s2 s3 FOO 1', b'-ERR syntax error\r\n'),
    ('SINTERCARD 1', b"-ERR wrong number of arguments for 'sintercard' command\r\n"),
    ('COPY z1 zc', b':1\r\n'),
    ('ZRANGE zc 0 -1 WITHSCORES', b'*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n', b'*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n'),
    ('COPY z1 zc', b':0\r\n'),
    ('COPY z1 zc REPLACE', b':1\r\n'),
    ('SET t v EX 100', b'+OK\r\n'),
    ('COPY t t2', b':1\r\n'),
    ('TTL t2', b':100\r\n'),
    ('COPY t t2 DB 10 REPLACE', b':1\r\n'),
    ('SELECT 10', b'+OK\r\n'),
    ('GET t2', b'$1\r\nv\r\n'),
    ('TTL t2', b':100\r\n'),
    ('SELECT 9', b'+OK\r\n'),
    ('COPY t t', b'-ERR source and destination objects are the same\r\n'),
    ('COPY t t DB 9', b'-ERR source and destination objects are the same\r\n'),
    ('COPY t t DB 11', b':1\r\n'),
    ('COPY t x DB 16', b'-ERR DB index is out of range\r\n'),
    ('COPY t x DB -1', b'-ERR DB index is out of range\r\n'),
    ('COPY t x DB abc', b'-ERR value is not an integer or out of range\r\n'),
    ('COPY t x DB 99999999999', b'-ERR value is out of range, value must between -2147483648 and 2147483647\r\n'),
    ('COPY t x DB', b'-ERR syntax error\r\n'),
    ('COPY t x FOO', b'-ERR syntax error\r\n'),
    ('COPY nokey x', b':0\r\n'),
    ('COPY l lc', b':1\r\n'),
    ('LRANGE lc 0 -1', b'*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\nc\r\n$1\r\nc\r\n'),
    ('COPY s1 sc', b':1\r\n'),
    ('SCARD sc', b':3\r\n'),
    ('COPY str strc', b':1\r\n'),
    ('GET strc', b'$5\r\nhello\r\n'),
    ('HSET h f v', b':1\r\n'),
    ('COPY h hc', b':1\r\n'),
    ('HGETALL hc', b'*2\r\n$1\r\nf\r\n$1\r\nv\r\n', b'%1\r\n$1\r\nf\r\n$1\r\nv\r\n'),
    ('COPY t', b"-ERR wrong number of arguments for 'copy' command\r\n"),
    ('DEL z1', b':1\r\n'),
    ('ZADD z1 1 a', b':1\r\n'),
    ('SET strc x', b'+OK\r\n'),
    ('COPY z1 strc REPLACE', b':1\r\n'),
    ('TYPE strc', b'+zset\r\n'),
    ('ZADD mx 1 b 2 a 3 d 4 c 5 e', b':5\r\n'),
    ('ZLEXCOUNT mx [b [d', b':4\r\n'),
    ('ZLEXCOUNT mx - [c', b':2\r\n'),
    ('ZLEXCOUNT mx - -', b':0\r\n'),
    ('ZLEXCOUNT mx [c [c', b':0\r\n'),
    ('ZLEXCOUNT mx (c (c', b':0\r\n'),
    ('ZRANGEBYLEX mx [b [d', b'*4\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\nc\r\n'),
    ('ZRANGEBYLEX mx - + LIMIT 3 10', b'*2\r\n$1\r\nc\r\n$1\r\ne\r\n'),
    ('ZREVRANGEBYLEX mx [d [b', b'*2\r\n$1\r\nc\r\n$1\r\nd\r\n'),
    ('ZREMRANGEBYLEX mx [a [c', b':2\r\n'),
    ('ZRANGE mx 0 -1', b'*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\ne\r\n'),
]


def set_algebra_lpos_copy():
    for resp3 in (False, True):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        if resp3:
            s.sendall(b"HELLO 3\r\n")
            got = b""
            while not got.endswith(b"\r\n") or b"modules" not in got:
                got += s.recv(65536)
        for step in SET_ALGEBRA_STEPS:
            line, want = step[0], step[2] if resp3 and len(step) == 3 else step[1]
            args = [a.encode() for a in line.split()]
            s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
            got = b""
            while len(got) < len(want):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert got == want, f"RESP{3 if resp3 else 2} {line}: expected {want!r}, got {got!r}"
        s.close()
    for db in (11, 10, 0):
        r.select(db)
        r.flushdb()
    # Through redis-py: the options as applications pass them.
    r.zadd("za", {"a": 1, "b": 2})
    r.zadd("zb", {"b": 3, "c": 4})
    r.sadd("sa", "a", "c")
    assert r.zunion(["za", "zb", "sa"], withscores=True) == [(b"a", 2.0), (b"b", 5.0), (b"c", 5.0)]
    assert r.zinter({"za": 2, "zb": 1}, aggregate="MIN", withscores=True) == [(b"b", 3.0)]
    assert r.zdiff(["za", "zb"], withscores=True) == [b"a", b"1"]  # redis-py leaves ZDIFF pairs flat
    assert r.zunionstore("zdst", ["za", "zb"], aggregate="MAX") == 3
    assert r.zrange("zdst", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 3.0), (b"c", 4.0)]
    assert r.zdiffstore("zdst", ["za", "za"]) == 0 and r.exists("zdst") == 0
    assert r.sintercard(2, ["sa", "sa"], limit=1) == 1
    r.rpush("lp", "a", "b", "a", "a")
    assert r.lpos("lp", "a", rank=-1, count=2) == [3, 2]
    assert r.lpos("lp", "a", rank=2, maxlen=2) is None
    # WATCH sees a *STORE destination and a COPY target change.
    for change in (lambda c: c.zunionstore("w:dst", ["za"]), lambda c: c.copy("za", "w:copy")):
        p = r.pipeline()
        p.watch("w:dst", "w:copy")
        change(client())
        p.multi()
        p.set("w:after", "1")
        try:
            p.execute()
            raise AssertionError("EXEC ran after a watched key changed")
        except redis.exceptions.WatchError:
            pass
    # Inside MULTI, and COPY across databases keeping the TTL.
    p = r.pipeline()
    p.zinterstore("m:dst", ["za", "zb"]).copy("m:dst", "m:dst", destination_db=5).zlexcount("m:dst", "-", "+")
    assert p.execute() == [1, True, 1]
    r.expire("za", 500)
    assert r.copy("za", "za", destination_db=6, replace=True)
    r.select(6)
    assert 490 < r.ttl("za") <= 500 and r.zcard("za") == 2
    r.flushdb()
    r.select(5)
    r.flushdb()
    r.select(0)
    # A COPY onto a list key a pop waits on serves it.
    r.delete("cq")
    r.rpush("cq-src", "job")

    def copier():
        time.sleep(0.3)
        client().copy("cq-src", "cq")

    threading.Thread(target=copier).start()
    assert r.blpop(["cq"], timeout=5) == (b"cq", b"job")
    # COMMAND metadata: the keys after a count.
    info = r.execute_command("COMMAND INFO", "zunionstore")[0]
    assert info[1] == -4 and b"movablekeys" in info[2] and info[3:6] == [1, 1, 1], info
    assert r.command_getkeys("ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2") == ["d", "a", "b"]
    assert r.command_getkeys("SINTERCARD", "2", "a", "b", "LIMIT", "1") == ["a", "b"]
    assert r.command_getkeys("COPY", "a", "b", "DB", "1") == ["a", "b"]


for name, test in [
    ("connection_and_server", connection_and_server),
    ("hot_key_runs", hot_key_runs),
    ("strings", strings),
    ("keys", keys_family),
    ("hashes", hashes),
    ("lists", lists),
    ("sets", sets),
    ("zsets", zsets),
    ("transactions", transactions),
    ("pubsub", pubsub),
    ("expiry", expiry),
    ("wire", wire_robustness),
    ("redis_parity", redis_parity),
    ("differential_regressions", differential_regressions),
    ("set_algebra_lpos_copy", set_algebra_lpos_copy),
]:
    test()
    print(f"{name}: ok", flush=True)
print("ALL OK")
