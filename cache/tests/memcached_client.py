"""pymemcache's operations, plus the meta protocol over a raw socket, against the cache daemon.

usage: memcached_client.py PORT
"""
import socket
import sys
import time

from pymemcache.client.base import Client

PORT = int(sys.argv[1])
c = Client(("127.0.0.1", PORT), connect_timeout=10, timeout=10)

assert c.version().decode().startswith("1.6")
assert c.set("k", b"v", expire=0, noreply=False)
assert c.get("k") == b"v"
assert c.get_many(["k", "missing"]) == {"k": b"v"}
assert c.add("k", b"x", noreply=False) is False
assert c.add("new", b"x", noreply=False) is True
assert c.replace("k", b"v2", noreply=False) is True
assert c.replace("absent", b"v", noreply=False) is False
assert c.append("k", b"-tail", noreply=False) and c.prepend("k", b"head-", noreply=False)
assert c.get("k") == b"head-v2-tail"
value, cas = c.gets("k")
assert value == b"head-v2-tail"
assert c.cas("k", b"swapped", cas, noreply=False) is True
assert c.cas("k", b"again", cas, noreply=False) is False, "stale CAS must fail"
assert c.get("k") == b"swapped"
c.set("n", b"10")
assert c.incr("n", 5) == 15 and c.decr("n", 20) == 0
assert c.incr("nope", 1) is None
assert c.delete("n", noreply=False) is True and c.delete("n", noreply=False) is False
assert c.touch("k", 100, noreply=False) is True and c.touch("absent", 100, noreply=False) is False
c.set("flags", b"data", expire=0)
c.set("short", b"x", expire=1)
time.sleep(2.1)
assert c.get("short") is None, "exptime is relative seconds"
c.set("abs", b"x", expire=int(time.time()) + 100)
assert c.get("abs") == b"x", "large exptime is an absolute Unix time"
c.set("past", b"x", expire=int(time.time()) - 100)
assert c.get("past") is None
stats = c.stats()
assert b"curr_items" in stats or "curr_items" in stats
assert c.gat("k", 100) == b"swapped" if hasattr(c, "gat") else True
c.flush_all(noreply=False)
assert c.get("k") is None

# Meta commands.
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)


def ask(cmd, want_lines=1):
    s.sendall(cmd)
    data = b""
    deadline = time.time() + 5
    while data.count(b"\r\n") < want_lines and time.time() < deadline:
        data += s.recv(4096)
    return data


assert ask(b"ms mk 2 T100 F5\r\nhi\r\n") == b"HD\r\n"
assert ask(b"mg mk v f t\r\n", 2).startswith(b"VA 2 f5 t")
assert ask(b"mg missing v\r\n") == b"EN\r\n"
assert ask(b"mg mk s k Oxyz\r\n") == b"HD s2 kmk Oxyz\r\n"
assert ask(b"ma cnt N0 J10\r\n") == b"HD\r\n"
assert ask(b"ma cnt D5 v\r\n", 2) == b"VA 2\r\n15\r\n"
assert ask(b"md mk\r\n") == b"HD\r\n"
assert ask(b"md mk\r\n") == b"NF\r\n"
assert ask(b"ms mk 1 MA\r\nx\r\n") == b"NS\r\n", "append to a missing item is not stored"
assert ask(b"mn\r\n") == b"MN\r\n"
assert ask(b"bogus\r\n") == b"ERROR\r\n"
# Exptimes and flush delays are 32-bit (as memcached reads them): a huge one is refused, never
# wrapped to "now", which flushed or expired everything.
assert ask(b"ms keep 1\r\nk\r\n") == b"HD\r\n"
assert ask(b"flush_all 9223372036854775807\r\n") == b"CLIENT_ERROR bad command line format\r\n"
assert ask(b"flush_all x\r\n") == b"CLIENT_ERROR bad command line format\r\n"
# (memcached does not swallow the data of a refused command line: it reads as an unknown command)
assert ask(b"set big 0 18446744073709552 1\r\nx\r\n", 2) == b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
assert ask(b"touch keep 18446744073709552\r\n") == b"CLIENT_ERROR bad command line format\r\n"
assert ask(b"mg keep v\r\n", 2) == b"VA 1\r\nk\r\n"
# Keys over 250 bytes: refused with the command line (checked against memcached 1.6), the data
# block then read as a command; noreply silences the refusal.
long_key = b"k" * 251
bad = b"CLIENT_ERROR bad command line format\r\n"
for cmd in [b"set", b"add", b"replace", b"append", b"prepend"]:
    assert ask(cmd + b" " + long_key + b" 0 0 1\r\nx\r\n", 2) == bad + b"ERROR\r\n", cmd
assert ask(b"cas " + long_key + b" 0 0 1 1\r\nx\r\n", 2) == bad + b"ERROR\r\n"
assert ask(b"ms " + long_key + b" 1\r\nx\r\n", 2) == bad + b"ERROR\r\n"
assert ask(b"set " + long_key + b" 0 0 1 noreply\r\nx\r\n") == b"ERROR\r\n"
# (a get with one bad key among good ones sends none of their values)
for cmd in [b"get ", b"gets ", b"get keep ", b"gat 0 ", b"delete ", b"incr ", b"decr ", b"touch "]:
    tail = b" 1" if cmd in (b"incr ", b"decr ", b"touch ") else b""
    assert ask(cmd + long_key + tail + b"\r\n") == bad, cmd
assert ask(b"delete " + long_key + b" noreply\r\nmn\r\n") == b"MN\r\n"
assert ask(b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\n") == b"STORED\r\n"
s.close()
print("ALL OK")
