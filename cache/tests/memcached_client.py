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
assert ask(b"flush_all x\r\n") == b"CLIENT_ERROR invalid exptime argument\r\n"
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
# Found by differential runs against memcached 1.6.18 (replies checked there byte for byte).
assert ask(b"set g 0 0 1\r\nv\r\n") == b"STORED\r\n"
assert ask(b"gat -1 g\r\n", 3) == b"VALUE g 0 1\r\nv\r\nEND\r\n", "gat returns the item, then expires it"
assert ask(b"get g\r\n") == b"END\r\n"
assert ask(b"gats 0\r\n") == b"END\r\n"
for cmd in [b"touch keep abc", b"gat abc keep", b"flush_all abc"]:
    assert ask(cmd + b"\r\n") == b"CLIENT_ERROR invalid exptime argument\r\n", cmd
assert ask(b"delete keep 5\r\n") == b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
assert ask(b"delete nothere 0\r\n") == b"NOT_FOUND\r\n"
assert ask(b"verbosity\r\n") == b"ERROR\r\n"
assert ask(b"verbosity 1\r\n") == b"OK\r\n"
for cmd in [b"mg", b"md", b"ma"]:
    assert ask(cmd + b"\r\n") == b"ERROR\r\n", cmd
assert ask(b"ms keep 1 MX\r\nv\r\n") == b"CLIENT_ERROR invalid mode for ms M token\r\n"
assert ask(b"ma viv q N0 J7 v\r\n", 2) == b"VA 1\r\n7\r\n", "a vivified counter answers under q"
assert ask(b"ma viv q\r\nmn\r\n") == b"MN\r\n"
# incr/decr as memcached: leading spaces read, a shorter result padded to the old length.
assert ask(b"set n 0 0 3\r\n100\r\n") == b"STORED\r\n"
assert ask(b"decr n 95\r\n") == b"5\r\n"
assert ask(b"get n\r\n", 3) == b"VALUE n 0 3\r\n5  \r\nEND\r\n"
assert ask(b"incr n 1000\r\n") == b"1005\r\n"
assert ask(b"set n 0 0 2\r\n 5\r\n") == b"STORED\r\n"
assert ask(b"incr n 1\r\n") == b"6\r\n"
assert ask(b"ma n MD D6 v\r\n", 2) == b"VA 1\r\n0\r\n"
assert ask(b"mg n v\r\n", 2) == b"VA 2\r\n0 \r\n"
# ms with a CAS: add stores a missing item, append/prepend do not; add of an existing one is NS.
assert ask(b"md miss q\r\n") == b"NF\r\n", "q does not silence NF"
assert ask(b"ms miss 1 C5 c MA\r\nv\r\n") == b"NS c0\r\n"
assert ask(b"ms miss 1 C5 MR\r\nv\r\n") == b"NF\r\n"
assert ask(b"ms miss 1 C5 ME\r\nv\r\n") == b"HD\r\n"
assert ask(b"ms miss 1 C5 ME\r\nv\r\n") == b"NS\r\n"
assert ask(b"ms miss 1 C5 MR\r\nv\r\n") == b"EX\r\n"
assert ask(b"ms n abc\r\n") == b"CLIENT_ERROR bad command line format\r\n"
# Return flags come back in the order asked for.
assert ask(b"mg none k Oabc v\r\n") == b"EN knone Oabc\r\n"
assert ask(b"mg none Oabc k v\r\n") == b"EN Oabc knone\r\n"
assert ask(b"ma n Oq t k\r\n") == b"HD Oq t-1 kn\r\n"
assert ask(b"ms tt 1 T100\r\nv\r\n") == b"HD\r\n"
assert ask(b"mg tt t T30\r\n") == b"HD t100\r\n", "t is the TTL before this request's T"
assert ask(b"mg tt t\r\n") == b"HD t30\r\n"
assert ask(b"mg tt T50 t\r\n") == b"HD t50\r\n", "a t after the T sees the new TTL"
# A data block of the wrong length: memcached drops len + 2 bytes and reads on (no disconnect).
assert ask(b"set k 0 0 1\r\nvv\r\n", 2) == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
assert ask(b"mn\r\n") == b"MN\r\n"
s.close()
print("ALL OK")
