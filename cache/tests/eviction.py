"""Fills the cache past maxmemory under each policy and checks which keys survive.

usage: eviction.py PORT
"""
import sys
import time

import redis

PORT = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=30)
VALUE = b"x" * 1000
BUDGET = 8 * 1024 * 1024


def info(section):
    return r.info(section)


def fresh(policy):
    r.config_set("maxmemory", 0)
    r.flushall()
    time.sleep(0.2)
    used = int(info("memory")["used_memory"])
    r.config_set("maxmemory-policy", policy)
    r.config_set("maxmemory", used + BUDGET)
    r.config_resetstat()


def fill(prefix, n, ttl=None, touch=None, every=200):
    p = r.pipeline(transaction=False)
    for i in range(n):
        if ttl:
            p.set(f"{prefix}{i}", VALUE, ex=ttl(i) if callable(ttl) else ttl)
        else:
            p.set(f"{prefix}{i}", VALUE)
        if touch and i % every == 0:
            p.execute()
            touch()
            p = r.pipeline(transaction=False)
    p.execute()


def count(prefix, n):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.exists(f"{prefix}{i}")
    return sum(p.execute())


def check_memory_bound():
    mem = info("memory")
    used, maxm = int(mem["used_memory"]), int(mem["maxmemory"])
    assert used <= maxm * 1.05, (used, maxm)
    assert int(info("stats")["evicted_keys"]) > 0


def noeviction():
    fresh("noeviction")
    try:
        fill("k", 20000)
        raise AssertionError("writes past maxmemory must fail")
    except redis.exceptions.ResponseError as e:
        assert str(e).endswith("command not allowed when used memory > 'maxmemory'."), str(e)
    assert r.get("k0") == VALUE, "reads still work"
    assert r.delete("k0") == 1, "deletes still work"


def hot_survive(policy):
    fresh(policy)
    hot = [f"hot{i}" for i in range(200)]
    for k in hot:
        r.set(k, VALUE)

    def touch():
        p = r.pipeline(transaction=False)
        for k in hot:
            p.get(k)
        p.execute()

    for _ in range(5):
        touch()
    fill("cold", 30000, touch=touch)
    check_memory_bound()
    survived_hot = sum(r.exists(k) for k in hot)
    survived_cold = count("cold", 30000)
    assert survived_hot >= 190, (policy, survived_hot)
    assert survived_cold < 30000 * 0.5, (policy, survived_cold)


def allkeys_random():
    fresh("allkeys-random")
    fill("k", 30000)
    check_memory_bound()
    assert r.dbsize() < 30000


def volatile(policy):
    fresh(policy)
    fill("persistent", 2000)
    fill("volatile", 30000, ttl=lambda i: 1000 + i)
    check_memory_bound()
    assert count("persistent", 2000) == 2000, f"{policy} evicted keys without TTL"
    if policy == "volatile-ttl":
        early = count("volatile", 5000)
        late = sum(r.exists(f"volatile{i}") for i in range(25000, 30000))
        assert late > early * 2, (early, late)


def memory_tracks_rss():
    # On a fresh daemon, used_memory tracks the process: within 10 % of the RSS growth when the data dominates.
    m0 = info("memory")
    p = r.pipeline(transaction=False)
    for i in range(100000):
        p.set(f"m{i}", VALUE)
        if i % 5000 == 0:
            p.execute()
    p.execute()
    m1 = info("memory")
    d_used = int(m1["used_memory"]) - int(m0["used_memory"])
    d_rss = int(m1["used_memory_rss"]) - int(m0["used_memory_rss"])
    print(f"used_memory grew {d_used}, rss grew {d_rss}", flush=True)
    assert abs(d_used - d_rss) <= 0.1 * d_rss, (d_used, d_rss)
    r.flushall()


memory_tracks_rss()
noeviction()
print("noeviction: ok", flush=True)
for pol in ["allkeys-lru", "allkeys-lfu", "allkeys-sieve"]:
    hot_survive(pol)
    print(f"{pol}: ok", flush=True)
allkeys_random()
print("allkeys-random: ok", flush=True)
for pol in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]:
    volatile(pol)
    print(f"{pol}: ok", flush=True)
print("ALL OK")
