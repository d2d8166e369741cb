"""Redis Lua scripting (EVAL, EVALSHA, SCRIPT, redis-py's Lock and register_script) driven by
redis-py against the cache daemon; the error texts are redis-server 7.0.15's.

usage: scripting.py PORT            every check
       scripting.py PORT aof-write  writes through scripts (for a kill -9 test)
       scripting.py PORT aof-verify checks those writes survived
"""
import sys
import threading
import time

import redis

PORT = int(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "all"


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=30, **kw)


r = client()


def expect_error(fn, text):
    try:
        fn()
    except redis.exceptions.ResponseError as e:
        assert str(e) == text, f"expected {text!r}, got {str(e)!r}"
        return
    raise AssertionError(f"expected error {text!r}")


def sha_of(body):
    import hashlib

    return hashlib.sha1(body.encode()).hexdigest()


def keys_and_argv():
    r.flushall()
    assert r.eval("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", 2, "k1", "k2", "a1", "a2") == [
        b"k1", b"k2", b"a1", b"a2", 2, 2]
    assert r.eval("return redis.call('set', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"
    assert r.get("k") == b"v"
    assert r.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "n", 5) == 5
    expect_error(lambda: r.eval("return 1", -1), "Number of keys can't be negative")
    expect_error(lambda: r.eval("return 1", 3, "a"), "Number of keys can't be greater than number of args")
    expect_error(lambda: r.execute_command("EVAL", "return 1", "x"), "value is not an integer or out of range")
    expect_error(lambda: r.execute_command("EVAL", "return 1"), "wrong number of arguments for 'eval' command")
    expect_error(lambda: r.eval("return {", 0),
                 "Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")


def conversions():
    # Lua -> reply
    assert r.eval("return 3.99", 0) == 3
    assert r.eval("return -3.99", 0) == -3
    assert r.eval("return 'hello'", 0) == b"hello"
    assert r.eval("return true", 0) == 1
    assert r.eval("return false", 0) is None
    assert r.eval("return nil", 0) is None
    assert r.eval("return {1, 2, nil, 4}", 0) == [1, 2]
    assert r.eval("return {1, 'a', {2, {3}}, false, true}", 0) == [1, b"a", [2, [3]], None, 1]
    assert r.eval("return {ok='fine'}", 0) == b"fine"
    assert r.eval("return redis.status_reply('FINE')", 0) == b"FINE"
    expect_error(lambda: r.eval("return {err='MY error'}", 0), "MY error")
    expect_error(lambda: r.eval("return redis.error_reply('MY error')", 0), "MY error")
    expect_error(lambda: r.eval("return redis.error_reply('Oops')", 0), "Oops")  # redis-py drops "ERR "
    assert r.eval("return {double=3.5}", 0) in (3.5, b"3.5")  # a RESP3 double for redis-py 8
    # reply -> Lua
    r.set("s", "x")
    r.rpush("l", "a", "b")
    assert r.eval("local v = redis.call('incr', 'cnt') return type(v) .. v", 0) == b"number1"
    assert r.eval("return type(redis.call('get', 's'))", 0) == b"string"
    assert r.eval("local v = redis.call('get', 'nokey') return type(v) .. tostring(v)", 0) == b"booleanfalse"
    assert r.eval("local v = redis.call('lrange', 'l', 0, -1) return {type(v), #v, v[2]}", 0) == [b"table", 2, b"b"]
    assert r.eval("local v = redis.call('ping') return {type(v), v.ok}", 0) == [b"table", b"PONG"]
    assert r.eval("local v = redis.pcall('incr', 's') return {type(v), v.err}", 0) == [
        b"table", b"ERR value is not an integer or out of range"]
    # RESP3 inside the script (redis.setresp)
    r.hset("h", "f", "v")
    assert r.eval("redis.setresp(3) return redis.call('hgetall', 'h').map.f", 0) == b"v"
    assert r.eval("redis.setresp(3) return tostring(redis.call('get', 'nokey'))", 0) == b"nil"
    # numbers as arguments: %.17g, as Redis 7.0
    assert r.eval("return redis.call('echo', 0.1)", 0) == b"0.10000000000000001"
    assert r.eval("return redis.call('echo', 3)", 0) == b"3"


def errors():
    r.set("s", "x")
    sha = sha_of("return redis.call('incr', KEYS[1])")
    expect_error(lambda: r.eval("return redis.call('incr', KEYS[1])", 1, "s"),
                 f"value is not an integer or out of range script: {sha}, on @user_script:1.")
    # pcall returns the error instead of raising it
    expect_error(lambda: r.eval("return redis.pcall('incr', KEYS[1])", 1, "s"),
                 "value is not an integer or out of range")
    assert r.eval("local ok, e = pcall(redis.call, 'incr', 's') return {tostring(ok), e}", 0) == [
        b"false", b"ERR value is not an integer or out of range"]
    body = "\n\nerror('boom')"
    expect_error(lambda: r.eval(body, 0), f"user_script:3: boom script: {sha_of(body)}, on @user_script:3.")
    body = "return redis.call('nosuch')"
    expect_error(lambda: r.eval(body, 0),
                 f"Unknown Redis command called from script script: {sha_of(body)}, on @user_script:1.")
    body = "return redis.call('set', 'k')"
    expect_error(lambda: r.eval(body, 0),
                 f"Wrong number of args calling Redis command from script script: {sha_of(body)}, on @user_script:1.")
    for cmd in ["'multi'", "'exec'", "'watch', 'x'", "'subscribe', 'c'", "'eval', 'return 1', 0", "'blpop', 'q', 0",
                "'config', 'get', 'maxmemory'"]:
        body = f"return redis.call({cmd})"
        expect_error(lambda: r.eval(body, 0),
                     f"This Redis command is not allowed from script script: {sha_of(body)}, on @user_script:1.")
    body = "return redis.call('get', {})"
    expect_error(lambda: r.eval(body, 0),
                 f"Lua redis lib command arguments must be strings or integers script: {sha_of(body)}, on @user_script:1.")


def cache_and_evalsha():
    r.script_flush()
    body = "return 'cached ' .. ARGV[1]"
    sha = sha_of(body)
    assert r.script_exists(sha) == [False]
    expect_error(lambda: r.evalsha(sha, 0, "x"), "No matching script. Please use EVAL.")
    expect_error(lambda: r.evalsha("abc", 0), "No matching script. Please use EVAL.")
    assert r.script_load(body) == sha
    assert r.script_exists(sha, sha.upper(), "0" * 40) == [True, True, False]
    assert r.evalsha(sha, 0, "x") == b"cached x"
    assert r.evalsha(sha.upper(), 0, "y") == b"cached y"
    assert r.evalsha_ro(sha, 0, "z") == b"cached z"
    # EVAL caches its script too
    assert r.eval("return 42", 0) == 42
    assert r.script_exists(sha_of("return 42")) == [True]
    assert r.script_flush("ASYNC")
    assert r.script_exists(sha, sha_of("return 42")) == [False, False]
    expect_error(lambda: r.execute_command("SCRIPT", "FLUSH", "LATER"), "SCRIPT FLUSH only support SYNC|ASYNC option")
    expect_error(lambda: r.script_load("return {"),
                 "Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")
    expect_error(lambda: r.execute_command("SCRIPT", "NOPE"), "unknown subcommand 'NOPE'. Try SCRIPT HELP.")
    expect_error(lambda: r.script_kill(), "NOTBUSY No scripts in execution right now.")
    info = r.info("memory")
    assert "used_memory_lua" in info and "number_of_cached_scripts" in info, info
    cmd = r.execute_command("COMMAND", "INFO", "eval")["eval"]
    assert cmd["arity"] == -3 and cmd["flags"][:2] == ["noscript", "stale"] and "movablekeys" in cmd["flags"], cmd
    assert r.execute_command("COMMAND", "INFO", "evalsha_ro")["evalsha_ro"]["flags"][0] == "readonly"
    assert r.command_getkeys("EVAL", "return 1", "2", "a", "b", "c") == ["a", "b"]


def read_only_scripts():
    r.set("ro", "1")
    assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "ro") == b"1"
    body = "return redis.call('set', KEYS[1], 'x')"
    expect_error(lambda: r.eval_ro(body, 1, "ro"),
                 f"Write commands are not allowed from read-only scripts. script: {sha_of(body)}, on @user_script:1.")
    assert r.get("ro") == b"1"


def shebang_and_oom():
    r.set("sb", "1")
    body = "#!lua flags=no-writes\nreturn redis.call('set', 'sb', '2')"
    expect_error(lambda: r.eval(body, 0),
                 f"Write commands are not allowed from read-only scripts. script: {sha_of(body)}, on @user_script:2.")
    assert r.eval("#!lua flags=no-writes\nreturn redis.call('get', 'sb')", 0) == b"1"
    assert r.eval_ro("#!lua flags=no-writes\nreturn redis.call('get', 'sb')", 0) == b"1"
    expect_error(lambda: r.eval_ro("#!lua\nreturn 1", 0), "Can not execute a script with write flag using *_ro command.")
    expect_error(lambda: r.eval("#!lua flags=bogus\nreturn 1", 0), "Unexpected flag in script shebang: bogus")
    expect_error(lambda: r.eval("#!js\nreturn 1", 0), "Unexpected engine in script shebang: #!js")
    expect_error(lambda: r.script_load("#!lua name=x\nreturn 1"), "Unknown lua shebang option: name=x")
    # above maxmemory: compat scripts fail at their first write, shebang scripts as a whole
    assert r.config_set("maxmemory", 1)
    try:
        body = "return redis.call('set', 'sb', '3')"
        expect_error(lambda: r.eval(body, 0),
                     f"command not allowed when used memory > 'maxmemory'. script: {sha_of(body)}, on @user_script:1.")
        assert r.eval("return redis.call('get', 'sb')", 0) == b"1"
        expect_error(lambda: r.eval("#!lua\nreturn 1", 0), "command not allowed when used memory > 'maxmemory'.")
        assert r.eval("#!lua flags=no-writes\nreturn 1", 0) == 1
        assert r.eval("#!lua flags=allow-oom\nreturn redis.call('set', 'sb', '4')", 0) == b"OK"
    finally:
        r.config_set("maxmemory", 0)
    assert r.get("sb") == b"4"


def sandbox():
    body = "x = 1"
    expect_error(lambda: r.eval(body, 0),
                 f"user_script:1: Attempt to modify a readonly table script: {sha_of(body)}, on @user_script:1.")
    body = "return undefined_global"
    expect_error(lambda: r.eval(body, 0),
                 f"user_script:1: Script attempted to access nonexistent global variable 'undefined_global' "
                 f"script: {sha_of(body)}, on @user_script:1.")
    for body in ["string.upper = nil", "redis.call = nil", "_G.y = 1", "math.floor = 3"]:
        try:
            r.eval(body, 0)
        except redis.exceptions.ResponseError as e:
            assert "Attempt to modify a readonly table" in str(e), (body, e)
        else:
            raise AssertionError(body)
    body = "rawset(_G, 'z', 1)"
    expect_error(lambda: r.eval(body, 0),
                 f"Attempt to modify a readonly table script: {sha_of(body)}, on @user_script:1.")
    # what Redis leaves out
    for name in ["os", "io", "loadfile", "dofile", "debug", "print", "setfenv", "require"]:
        assert r.eval(f"return tostring(rawget(_G, '{name}'))", 0) == b"nil", name
    # a script's locals do not leak into the next one
    r.eval("local leaked = 5 return 1", 0)
    expect_error(lambda: r.eval("return leaked", 0),
                 f"user_script:1: Script attempted to access nonexistent global variable 'leaked' "
                 f"script: {sha_of('return leaked')}, on @user_script:1.")
    # math.random is Redis's generator: integers in range
    vals = r.eval("local t = {} for i = 1, 50 do t[i] = math.random(1, 6) end return t", 0)
    assert all(1 <= v <= 6 for v in vals), vals
    assert r.eval("math.randomseed(1) return math.random(1000)", 0) == 42


def libraries():
    doc = '{"name":"bob","tags":["a","b"],"n":null,"nested":{"x":1.5}}'
    assert r.eval("local t = cjson.decode(ARGV[1]) return {t.name, t.tags[2], tostring(t.n == cjson.null), "
                  "tostring(t.nested.x)}", 0, doc) == [b"bob", b"b", b"true", b"1.5"]
    out = r.eval("return cjson.encode(cjson.decode(ARGV[1]))", 0, '{"a":[1,2,3]}')
    assert out == b'{"a":[1,2,3]}', out
    assert r.eval("return cjson.encode({1, 'a/b', {k=true}})", 0) == b'[1,"a\\/b",{"k":true}]'
    assert r.eval("return cjson.encode({[1]=1, [3]=3})", 0) == b"[1,null,3]"
    body = "return cjson.encode({[1]=1, [20]=3})"
    expect_error(lambda: r.eval(body, 0),
                 f"user_script:1: Cannot serialise table: excessively sparse array script: {sha_of(body)}, on @user_script:1.")
    assert r.eval("return {bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(3, 1), bit.lshift(1, 4), bit.tohex(255)}", 0) == [
        15, 3, 2, 16, b"000000ff"]
    assert r.eval("return redis.sha1hex('')", 0) == b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert r.eval("redis.log(redis.LOG_WARNING, 'from a script') return 1", 0) == 1
    assert r.eval("return redis.REDIS_VERSION", 0) == b"7.0.15"


def select_in_script():
    r.flushall()
    assert r.eval("redis.call('select', 3) redis.call('set', 'in3', 'x') return redis.call('dbsize')", 0) == 1
    assert r.get("in3") is None
    assert r.execute_command("SELECT", 3) and r.get("in3") == b"x"
    r.execute_command("SELECT", 0)
    # the connection's own SELECT is the script's starting database
    c = client(db=2)
    c.set("own", "y")
    assert c.eval("return redis.call('get', 'own')", 0) == b"y"


def transactions_and_watch():
    r.delete("w")
    # a script modifying a WATCHed key aborts the watcher's EXEC
    watcher = client()
    with watcher.pipeline() as p:
        p.watch("w")
        r.eval("return redis.call('set', KEYS[1], 'by-script')", 1, "w")
        p.multi()
        p.set("w", "by-tx")
        try:
            p.execute()
            raise AssertionError("EXEC should have been aborted")
        except redis.exceptions.WatchError:
            pass
    assert r.get("w") == b"by-script"
    # EVAL inside MULTI runs inside EXEC
    with r.pipeline() as p:
        p.set("t", 1)
        p.eval("return redis.call('incr', KEYS[1])", 1, "t")
        p.eval("return redis.call('incr', KEYS[1])", 1, "t")
        assert p.execute() == [True, 2, 3]


def redis_py_helpers():
    r.delete("resource")
    lock = r.lock("resource", timeout=5)
    other = client().lock("resource", timeout=5)
    assert lock.acquire(blocking=False)
    assert not other.acquire(blocking=False)
    assert lock.owned() and lock.locked()
    assert lock.extend(10)
    assert 5000 < r.pttl("resource") <= 15000
    assert lock.reacquire()
    lock.release()
    assert not r.exists("resource")
    assert other.acquire(blocking=False)
    try:
        lock.release()
        raise AssertionError("released a lock it does not own")
    except redis.exceptions.LockError:
        pass
    other.release()
    # register_script: EVALSHA, falling back to EVAL on NOSCRIPT
    incr_by = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    r.set("counter", 10)
    assert incr_by(keys=["counter"], args=[5]) == 15
    r.script_flush()
    assert incr_by(keys=["counter"], args=[5]) == 20
    with r.pipeline() as p:
        incr_by(keys=["counter"], args=[1], client=p)
        assert p.execute() == [21]


def atomicity():
    r.set("atomic", 0)
    body = "for i = 1, 1000 do redis.call('incr', KEYS[1]) end return redis.call('get', KEYS[1])"
    stop = threading.Event()
    seen = []
    bad = []

    def reader():
        c = client()
        while not stop.is_set():
            v = int(c.get("atomic"))
            seen.append(v)
            if v % 1000:
                bad.append(v)

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(200):
        r.eval(body, 1, "atomic")
    stop.set()
    t.join()
    assert not bad, bad[:10]
    assert r.get("atomic") == b"200000"
    assert len(seen) >= 3, len(seen)


def kill_and_busy():
    killer = client()
    result = {}

    def run(body):
        try:
            result["reply"] = client().eval(body, 0)
        except redis.exceptions.ResponseError as e:
            result["error"] = str(e)

    # SCRIPT KILL from another connection stops a script that has not written
    t = threading.Thread(target=run, args=("local i = 0 while true do i = i + 1 end",))
    t.start()
    deadline = time.time() + 10
    while True:
        try:
            assert killer.script_kill()
            break
        except redis.exceptions.ResponseError as e:
            assert "NOTBUSY" in str(e) or "No scripts in execution" in str(e), e
            assert time.time() < deadline, "the script never started"
            time.sleep(0.05)
    t.join(10)
    assert not t.is_alive(), "the killed script did not stop"
    assert result["error"].startswith("Script killed by user with SCRIPT KILL... script: "), result
    assert r.ping()
    # past busy-reply-threshold other clients get BUSY; a script that wrote cannot be killed
    assert r.config_set("busy-reply-threshold", 300)
    result.clear()
    body = "redis.call('set', 'busy', 1) local t = tonumber(redis.call('time')[1]) " \
           "while tonumber(redis.call('time')[1]) - t < 2 do end return 'done'"
    t = threading.Thread(target=run, args=(body,))
    t.start()
    time.sleep(0.8)
    expect_error(lambda: killer.get("busy"),
                 "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    expect_error(lambda: killer.script_kill(),
                 "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either "
                 "wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    t.join(10)
    assert result.get("reply") == b"done", result
    assert killer.get("busy") == b"1"
    assert r.config_get("busy-reply-threshold") == {"busy-reply-threshold": "300"}
    assert r.config_set("busy-reply-threshold", 5000)
    # before the threshold, other clients simply wait for the script
    result.clear()
    t = threading.Thread(target=run, args=("local t = tonumber(redis.call('time')[1]) "
                                          "while tonumber(redis.call('time')[1]) - t < 1 do end return 'slow'",))
    t.start()
    time.sleep(0.2)
    started = time.time()
    assert killer.ping()
    t.join(10)
    assert result.get("reply") == b"slow", result
    assert time.time() - started > 0.3


def memory_limit():
    body = "local t = {} for i = 1, 1e9 do t[i] = {i, i, i, i} end return #t"
    try:
        r.eval(body, 0)
        raise AssertionError("the memory limit did not stop the script")
    except redis.exceptions.ResponseError as e:
        assert "not enough memory" in str(e) or "memory" in str(e), e
    assert r.eval("return 1", 0) == 1


def aof_write():
    r.flushall()
    r.eval("redis.call('set', KEYS[1], ARGV[1]) redis.call('rpush', KEYS[2], 'a', 'b') "
           "redis.call('select', 4) redis.call('set', 'db4', 'yes') return 1", 2, "script:k", "script:l", "v1")
    r.eval("for i = 1, 100 do redis.call('incr', KEYS[1]) end return 1", 1, "script:n")
    sha = r.script_load("return redis.call('hset', KEYS[1], 'f', ARGV[1])")
    r.evalsha(sha, 1, "script:h", "hv")
    r.eval("return redis.call('spop', KEYS[1])", 1, "script:noset")
    r.eval("redis.call('set', KEYS[1], 'x', 'EX', 1000) return 1", 1, "script:ttl")


def aof_verify():
    assert r.get("script:k") == b"v1"
    assert r.lrange("script:l", 0, -1) == [b"a", b"b"]
    assert r.get("script:n") == b"100"
    assert r.hget("script:h", "f") == b"hv"
    assert 900 < r.ttl("script:ttl") <= 1000
    assert client(db=4).get("db4") == b"yes"
    assert r.get("db4") is None


if MODE == "aof-write":
    aof_write()
    print("ALL OK")
elif MODE == "aof-verify":
    aof_verify()
    print("ALL OK")
else:
    for name, test in [
        ("keys_and_argv", keys_and_argv),
        ("conversions", conversions),
        ("errors", errors),
        ("cache_and_evalsha", cache_and_evalsha),
        ("read_only_scripts", read_only_scripts),
        ("shebang_and_oom", shebang_and_oom),
        ("sandbox", sandbox),
        ("libraries", libraries),
        ("select_in_script", select_in_script),
        ("transactions_and_watch", transactions_and_watch),
        ("redis_py_helpers", redis_py_helpers),
        ("atomicity", atomicity),
        ("kill_and_busy", kill_and_busy),
        ("memory_limit", memory_limit),
    ]:
        test()
        print(f"{name}: ok", flush=True)
    print("ALL OK")
