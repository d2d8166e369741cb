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
def m(cmd):
    """Sends cmd then mn, and returns every reply before the MN (so quiet ones can be seen
    missing)."""
    s.sendall(cmd + b"mn\r\n")
    data = b""
    deadline = time.time() + 5
    while not data.endswith(b"MN\r\n") and time.time() < deadline:
        data += s.recv(65536)
    assert data.endswith(b"MN\r\n"), data
    return data[:-4]


# Meta flags, replies as memcached 1.6.18 gives them (differential runs, byte for byte).
cas_of = lambda reply: int(reply.split(b" c")[1].split()[0])
# Duplicate and unknown flags; md and ma word every flag error alike.
for cmd in [b"mg dk v v", b"mg dk T1 T2", b"mg dk O1 O2", b"mg dk b b", b"mg dk Tx v v"]:
    assert m(cmd + b"\r\n") == b"CLIENT_ERROR duplicate flag\r\n", cmd
assert m(b"mg dk x\r\n") == b"CLIENT_ERROR invalid flag\r\n"
assert m(b"mg dk E5\r\n") == b"CLIENT_ERROR invalid flag\r\n", "1.6.18 has no E flag"
assert m(b"mg dk F\r\n") == b"CLIENT_ERROR bad command line format\r\n"
assert m(b"mg dk M\r\n") == b"CLIENT_ERROR incorrect length for M token\r\n"
assert m(b"mg dk Nx\r\n") == b"CLIENT_ERROR bad token in command line format\r\n"
assert m(b"ms dk 1 F1 F2\r\nv\r\nmg dk v\r\n") == b"CLIENT_ERROR duplicate flag\r\nEN\r\n", "data swallowed"
assert m(b"ms dk 1 E5\r\nv\r\n") == b"CLIENT_ERROR invalid flag\r\n"
for cmd in [b"md dk q q", b"md dk C", b"ma dk D1 D2", b"ma dk x", b"md ### b", b"ma dk Dx"]:
    assert m(cmd + b"\r\n") == b"CLIENT_ERROR invalid or duplicate flag\r\n", cmd
assert m(b"ma dk Mx\r\n") == b"CLIENT_ERROR invalid mode for ma M token\r\n"
assert m(b"ms dk 1 Ms\r\nv\r\n") == b"CLIENT_ERROR invalid mode for ms M token\r\n", "modes are upper case"
# Opaque: up to 32 bytes with the O.
assert m(b"mg dk O" + b"a" * 31 + b"\r\n") == b"EN O" + b"a" * 31 + b"\r\n"
for cmd in [b"mg dk", b"md dk"]:
    assert m(cmd + b" O" + b"a" * 32 + b"\r\n") == b"CLIENT_ERROR opaque token too long\r\n"
assert m(b"ms dk 1 O" + b"a" * 32 + b"\r\nv\r\nmg dk\r\n") == b"CLIENT_ERROR opaque token too long\r\nEN\r\n"
# q: mg drops EN only, ms / md HD only, ma HD and VA; NF, NS and EX still answer.
assert m(b"mg dk q k Oa\r\n") == b""
assert m(b"ms dk 1 q\r\nv\r\nmg dk q k v\r\n") == b"VA 1 kdk\r\nv\r\n"
assert m(b"ms dk 1 q MR C99999999999\r\nv\r\nms nodk 1 q MR\r\nv\r\n") == b"EX\r\nNS\r\n"
assert m(b"ma dk q\r\n") == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
assert m(b"ms dk 1\r\n5\r\nma dk q v\r\nma nodk q\r\n") == b"HD\r\nNF\r\n"
assert m(b"md dk q k Oa\r\nmd dk q k Oa\r\n") == b"NF kdk Oa\r\n"
# ma: modes, C; N (on a created counter), T and t act in request order.
assert m(b"ma ctr N30 J5 t T40 v\r\n") == b"VA 1 t30\r\n5\r\n"
assert m(b"ma ctr t\r\n") == b"HD t40\r\n"
assert m(b"ma ctr M- D2 T50 t v\r\n") == b"VA 1 t50\r\n4\r\n"
assert m(b"ma ctr M+ C1 v\r\n") == b"EX\r\n"
# b: base64 keys, echoed encoded and marked by a b after the key.
assert m(b"ms eHl6 2 b k O1\r\nhi\r\nmg xyz v\r\n") == b"HD keHl6 b O1\r\nVA 2\r\nhi\r\n"
assert m(b"mg eHl6 b v k\r\n") == b"VA 2 keHl6 b\r\nhi\r\n"
assert m(b"mg eHl6 b\r\n") == b"HD\r\n", "b alone is not echoed"
assert m(b"mg ### b v\r\n") == b"CLIENT_ERROR error decoding key\r\n"
assert m(b"ms ### 1 b\r\nv\r\n") == b"CLIENT_ERROR error decoding key\r\n"
assert m(b"ma Y3RyMg== b v N0 k\r\n") == b"VA 1 kY3RyMg== b\r\n0\r\n"
assert m(b"md eHl6 b k\r\nmg xyz\r\n") == b"HD keHl6 b\r\nEN\r\n"
# h and l: as the item was before this fetch.
assert m(b"ms hl 1 T100\r\nv\r\n") == b"HD\r\n"
assert m(b"mg hl v h l t\r\n") == b"VA 1 h0 l0 t100\r\nv\r\n"
assert m(b"mg hl h\r\n") == b"HD h1\r\n"
assert m(b"ms hl 1\r\nv\r\nget hl\r\nmg hl h\r\n") == b"HD\r\nVALUE hl 0 1\r\nv\r\nEND\r\nHD h1\r\n", "get fetches"
assert m(b"ms hl 1\r\nv\r\nmg hl u\r\nmg hl h\r\n") == b"HD\r\nHD\r\nHD h0\r\n", "u does not count a fetch"
# N: a miss creates an empty item and wins; later readers get Z.
assert m(b"mg viv1 N30 v s t f h\r\n") == b"VA 0 s0 t30 f0 h0 W\r\n\r\n"
assert m(b"mg viv1 N30 q k Oab\r\n") == b"HD kviv1 Oab Z\r\n"
assert m(b"mg viv1 v h\r\n") == b"VA 0 h1 Z\r\n\r\n"
# R: a win when the TTL is below the token, once.
assert m(b"ms rc 1 T20\r\nx\r\nms rc2 1\r\nx\r\n") == b"HD\r\nHD\r\n"
assert m(b"mg rc R10 t\r\n") == b"HD t20\r\n"
assert m(b"mg rc R30 t\r\n") == b"HD t20 W\r\n"
assert m(b"mg rc R30 t\r\n") == b"HD t20 Z\r\n"
assert m(b"mg rc2 R30\r\n") == b"HD\r\n", "no TTL: never recached"
# I: md marks stale (new CAS, optional T, a fresh win); ms I stores an older CAS as stale.
c1 = cas_of(m(b"ms st 1 T100 c\r\nz\r\n"))
assert m(b"md st I T30\r\n") == b"HD\r\n"
c2 = cas_of(m(b"mg st c\r\n"))
assert c2 > c1
assert m(b"mg st v c t\r\n") == b"VA 1 c%d t30 Z X\r\nz\r\n" % c2
assert m(b"md st I q\r\nmg st\r\n") == b"HD X W\r\n", "md I hands out a new win"
assert m(b"ms st 1 I C%d T5\r\nw\r\n" % (c2 + 1000)) == b"EX\r\n", "a newer CAS is not stale"
assert m(b"ms st 1 I C1 T5\r\nw\r\nmg st v t\r\n") == b"HD\r\nVA 1 t30 Z X\r\nw\r\n", "keeps the TTL and the win"
assert m(b"ms st 1\r\nw\r\nmg st\r\n") == b"HD\r\nHD\r\n", "a plain set clears stale"
assert m(b"md st I T-1\r\nmg st\r\n") == b"HD\r\nEN\r\n"
assert m(b"md nost I\r\n") == b"NF\r\n"
# me: the debug line (size and class as memcached 1.6.18 computes them).
c3 = cas_of(m(b"ms dbg 1 T100 c\r\nv\r\n"))
assert m(b"me dbg\r\n") == b"ME dbg exp=-100 la=0 cas=%d fetch=no cls=1 size=63\r\n" % c3
assert m(b"mg dbg\r\nme dbg\r\n") == b"HD\r\nME dbg exp=-100 la=0 cas=%d fetch=yes cls=1 size=63\r\n" % c3
c4 = cas_of(m(b"ms big 1000 F5 c\r\n" + b"x" * 1000 + b"\r\n"))
assert m(b"me big\r\n") == b"ME big exp=-1 la=0 cas=%d fetch=no cls=12 size=1066\r\n" % c4
assert m(b"me ZGJn b\r\n") == b"ME dbg exp=-100 la=0 cas=%d fetch=yes cls=1 size=63\r\n" % c3
r = m(b"ms YWJjZA== 1 b\r\nv\r\nme abcd\r\n")
assert r.startswith(b"HD\r\nME YWJjZA== exp=-1 la=0 cas=") and r.endswith(b" fetch=no cls=1 size=64\r\n"), r
assert m(b"me nodbg\r\n") == b"EN\r\n"
assert m(b"me\r\n") == b"CLIENT_ERROR bad command line format\r\n"
assert m(b"me ### b\r\n") == b"CLIENT_ERROR bad command line format\r\n"
assert m(b"") == b""
s.close()
print("ALL OK")
