"""Seeded fuzzer for ebsd: the NBD server (raw sockets: handshake garbage, malformed and oversized
options, random option sequences, transmission requests with random commands, flags, offsets and
lengths, bad magics, writes whose payload never comes, deep pipelines, clients stalled mid-handshake)
and the EC2 Query API / EBS direct API (botocore-signed form posts with random actions and odd
parameters, huge indexes and numbers, garbage encodings, plus HTTP framing garbage, see fuzzlib).
Every NBD request must get exactly one reply with its cookie (an error for a bad one) or, for framing
errors, a close; option requests get option replies. The health check writes and reads back a block over
a fresh NBD connection and calls DescribeVolumes.
Usage: fuzz_ebs.py --seed S --count N --pid PID HOST:PORT NBD_HOST:PORT DATA_DIR"""
import os
import struct
import sys
import time
import urllib.parse


sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402
from fuzzlib import HUGE_NUMBERS, junk_bytes, junk_text, mutate  # noqa: E402

opts = fuzzlib.args(__doc__, lambda p: (p.add_argument("addr"), p.add_argument("nbd"), p.add_argument("data_dir")))
NBD = (opts.nbd.split(":")[0], int(opts.nbd.split(":")[1]))
HOST, ADDR, KEY, SECRET = fuzzlib.http_target(opts)

NBDMAGIC, IHAVEOPT, REPLY_MAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x3E889045565A9
REQUEST_MAGIC, SIMPLE_MAGIC, STRUCTURED_MAGIC = 0x25609513, 0x67446698, 0x668E33EF
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO, OPT_STRUCTURED, OPT_LIST_META, OPT_SET_META = \
    1, 2, 3, 6, 7, 8, 9, 10
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_ZEROES, CMD_BLOCK_STATUS = range(8)
MAX_PAYLOAD = 32 << 20

ec2 = fuzzlib.aws_client("ec2", HOST, KEY, SECRET)
# A fast volume, so that the performance model does not pace the fuzzing: 3000+ IOPS, 1000 MiB/s.
VOLUME = ec2.create_volume(AvailabilityZone="us-east-1a", Size=32, VolumeType="gp3", Iops=16000,
                           Throughput=1000)["VolumeId"]
ec2.attach_volume(VolumeId=VOLUME, InstanceId="i-0123456789abcdef0", Device="/dev/sdf")
SIZE = 32 << 30
HEALTH = [0]


# -- an NBD client over a raw socket ---------------------------------------------------------------

class Closed(Exception):
    pass


def recv_exact(fz, s, n, what):
    buf = bytearray()
    deadline = time.monotonic() + fuzzlib.LIMIT
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            fz.fail(f"{what}: no answer within {fuzzlib.LIMIT} s (hang); got {fuzzlib.show(buf)}")
        s.settimeout(left)
        try:
            chunk = s.recv(min(n - len(buf), 1 << 20))
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(bytes(buf))
        buf += chunk
    return bytes(buf)


def handshake(fz, s, flags=3):
    hello = recv_exact(fz, s, 18, "NBD greeting")
    magic, opt, _ = struct.unpack(">QQH", hello)
    if (magic, opt) != (NBDMAGIC, IHAVEOPT):
        fz.fail(f"bad NBD greeting {hello!r}")
    s.sendall(struct.pack(">I", flags))


def send_option(s, opt, data):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def read_option_replies(fz, s, opt, what):
    """Option replies up to the final one (ACK or an error). Returns [(type, data)]."""
    out = []
    while True:
        head = recv_exact(fz, s, 20, what)
        magic, o, typ, n = struct.unpack(">QIII", head)
        if magic != REPLY_MAGIC or o != opt:
            fz.fail(f"{what}: bad option reply {head!r} (option {opt})")
        if n > 1 << 20:
            fz.fail(f"{what}: option reply of {n} bytes")
        data = recv_exact(fz, s, n, what)
        out.append((typ, data))
        fz.answer(f"opt {opt} -> {typ if typ < 1 << 31 else 'ERR ' + str(typ - (1 << 31))}")
        if typ == 1 or typ >= 1 << 31:
            return out


def go_data(name, infos=()):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) + b"".join(struct.pack(">H", i) for i in infos)


def meta_data(name, queries):
    n = name.encode()
    out = struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries))
    for q in queries:
        out += struct.pack(">I", len(q)) + q.encode()
    return out


def open_export(fz, structured=True, meta=False):
    s = fuzzlib.connect(NBD)
    handshake(fz, s)
    if structured:
        send_option(s, OPT_STRUCTURED, b"")
        read_option_replies(fz, s, OPT_STRUCTURED, "NBD_OPT_STRUCTURED_REPLY")
    if meta:
        send_option(s, OPT_SET_META, meta_data(VOLUME, ["base:allocation"]))
        read_option_replies(fz, s, OPT_SET_META, "NBD_OPT_SET_META_CONTEXT")
    send_option(s, OPT_GO, go_data(VOLUME))
    replies = read_option_replies(fz, s, OPT_GO, "NBD_OPT_GO")
    if replies[-1][0] != 1:
        fz.fail(f"NBD_OPT_GO for the attached volume failed: {replies!r}")
    return s


def request(kind, cookie, offset, length, flags=0, payload=b""):
    return struct.pack(">IHHQQI", REQUEST_MAGIC, flags, kind, cookie, offset % (1 << 64), length % (1 << 32)) + payload


def read_reply(fz, s, structured, reads, what):
    """One whole reply. `reads`: cookie -> length of a pending simple-reply READ. Returns (cookie, error,
    data)."""
    magic = struct.unpack(">I", recv_exact(fz, s, 4, what))[0]
    if magic == SIMPLE_MAGIC:
        error, cookie = struct.unpack(">IQ", recv_exact(fz, s, 12, what))
        data = b""
        if error == 0 and cookie in reads:
            data = recv_exact(fz, s, reads[cookie], what)
        return cookie, error, data
    if magic != STRUCTURED_MAGIC or not structured:
        fz.fail(f"{what}: bad reply magic {magic:#x}")
    error, data, cookie = 0, b"", None
    while True:
        if cookie is not None:
            magic = struct.unpack(">I", recv_exact(fz, s, 4, what))[0]
            if magic != STRUCTURED_MAGIC:
                fz.fail(f"{what}: bad chunk magic {magic:#x}")
        flags, typ, c, n = struct.unpack(">HHQI", recv_exact(fz, s, 16, what))
        if cookie is not None and c != cookie:
            fz.fail(f"{what}: chunks of two replies interleave")
        cookie = c
        if n > MAX_PAYLOAD + 4096:
            fz.fail(f"{what}: a reply chunk of {n} bytes")
        body = recv_exact(fz, s, n, what)
        if typ >= 1 << 15:
            error = struct.unpack(">I", body[:4])[0]
        elif typ == 1:
            data += body[8:]
        if flags & 1:
            return cookie, error, data


def health(fz):
    HEALTH[0] += 1
    s = open_export(fz, structured=HEALTH[0] % 2 == 0)
    try:
        block = (b"health-%d-" % HEALTH[0]) * 400
        offset = (HEALTH[0] * 7919 * 4096) % (SIZE - len(block))
        s.sendall(request(CMD_WRITE, 1, offset, len(block), 0, block) + request(CMD_FLUSH, 2, 0, 0) +
                  request(CMD_READ, 3, offset, len(block)))
        got = {}
        for _ in range(3):
            c, err, data = read_reply(fz, s, HEALTH[0] % 2 == 0, {3: len(block)}, "health-check I/O")
            got[c] = (err, data)
        if got.get(1, (1,))[0] or got.get(2, (1,))[0]:
            fz.fail(f"health-check write/flush failed: {got!r}")
        if got.get(3) != (0, block):
            fz.fail("health-check read did not return the block just written")
        s.sendall(request(CMD_DISC, 4, 0, 0))
    finally:
        s.close()
    vols = ec2.describe_volumes(VolumeIds=[VOLUME])["Volumes"]
    if vols[0]["State"] != "in-use":
        fz.fail(f"our volume is {vols[0]['State']}")


# -- NBD cases -------------------------------------------------------------------------------------

def drain_to_eof(fz, s, what):
    fuzzlib.half_close(s)
    started = time.monotonic()
    fuzzlib.read_to_eof(fz, s, what)
    fz.timed(what, started)


def case_handshake_garbage(rng, fz):
    s = fuzzlib.connect(NBD)
    try:
        recv_exact(fz, s, 18, "NBD greeting")
        data = rng.choice([
            junk_bytes(rng), struct.pack(">I", rng.choice([0, 4, 0xFFFFFFFF, 1 << 31])) + junk_bytes(rng, 20),
            struct.pack(">I", 3) + junk_bytes(rng, rng.choice([1, 16, 1000])),
            struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT ^ 1, 7, 0),
            struct.pack(">I", 3) + struct.pack(">QI", IHAVEOPT, 7) + b"\x00\x00",
        ])
        fz.note(data)
        fuzzlib.send_all(s, data)
        drain_to_eof(fz, s, "handshake garbage")
    except Closed:
        pass
    finally:
        s.close()


def random_option(rng):
    opt = rng.choice([OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO, OPT_STRUCTURED, OPT_LIST_META, OPT_SET_META, 4, 5, 11,
                      12, 0, 0xFFFFFFFF, 1 << 31])
    name = rng.choice([VOLUME, "", "vol-0123456789abcdef0", "x" * 5000, "vol-\x00", VOLUME + "x", junk_text(rng, 8)])
    kind = rng.randrange(6)
    if kind == 0:
        data = go_data(name, [rng.choice([0, 1, 2, 3, 4, 0xFFFF]) for _ in range(rng.choice([0, 1, 5]))])
    elif kind == 1:
        data = meta_data(name, [rng.choice(["base:allocation", "base:", "", "qemu:dirty-bitmap:x", "x" * 3000])
                                for _ in range(rng.choice([0, 1, 3]))])
    elif kind == 2:  # lengths inside that lie
        n = name.encode()
        data = struct.pack(">I", rng.choice([len(n) + 1, 0xFFFFFFFF, 1 << 31])) + n + struct.pack(">H", 0xFFFF)
    elif kind == 3:
        data = struct.pack(">I", len(name)) + name.encode("utf-8", "surrogatepass") + \
            struct.pack(">I", rng.choice([0xFFFFFFFF, 1000000])) + b"\x00\x00\x00\x05base:"
    elif kind == 4:
        data = junk_bytes(rng, rng.choice([0, 1, 3, 100]))
    else:
        data = mutate(rng, go_data(VOLUME, [1, 2, 3]))
    if opt == OPT_GO and kind == 0 and name == VOLUME:
        opt = OPT_INFO  # GO on the volume ends the handshake: tested by the transmission cases
    return opt, data


def case_options(rng, fz):
    s = fuzzlib.connect(NBD)
    try:
        handshake(fz, s, rng.choice([1, 3]))
        for _ in range(rng.choice([1, 3, 10])):
            opt, data = random_option(rng)
            fz.note(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)
            send_option(s, opt, data)
            try:
                replies = read_option_replies(fz, s, opt, f"option {opt}")
            except Closed:
                return  # an unreadable GO/INFO for a volume that does not exist may end the session
            if opt == OPT_ABORT:
                drain_to_eof(fz, s, "after NBD_OPT_ABORT")
                return
            if opt == OPT_GO and replies[-1][0] == 1:
                # A (mutated) GO that opened the volume: the handshake is over; leave properly.
                s.sendall(request(CMD_DISC, 0, 0, 0))
                drain_to_eof(fz, s, "NBD_CMD_DISC after a GO")
                return
        send_option(s, OPT_ABORT, b"")
        read_option_replies(fz, s, OPT_ABORT, "NBD_OPT_ABORT")
    except Closed:
        fz.fail("the server closed the handshake after a well-framed option")
    finally:
        s.close()


def case_big_option(rng, fz):
    s = fuzzlib.connect(NBD)
    try:
        handshake(fz, s)
        n = rng.choice([65537, 1 << 20, 0xFFFFFFFF])
        opt = rng.choice([OPT_INFO, OPT_GO, OPT_LIST, OPT_EXPORT_NAME, 99])
        head = struct.pack(">QII", IHAVEOPT, opt, n)
        fz.note(head)
        fuzzlib.send_all(s, head + b"x" * min(n, rng.choice([0, 1000, 1 << 20])))
        if n <= 1 << 20 and rng.random() < 0.5:
            fuzzlib.send_all(s, b"x" * (n - min(n, 1 << 20)))
        drain_to_eof(fz, s, "oversized option")
    except Closed:
        pass
    finally:
        s.close()


def case_export_name(rng, fz):
    s = fuzzlib.connect(NBD)
    try:
        handshake(fz, s, rng.choice([1, 3]))
        name = rng.choice(["", "vol-0123456789abcdef0", "x" * 1000, junk_text(rng, 10)])
        send_option(s, OPT_EXPORT_NAME, name.encode("utf-8", "surrogatepass"))
        drain_to_eof(fz, s, "NBD_OPT_EXPORT_NAME of an unknown export")
    except Closed:
        pass
    finally:
        s.close()


def odd_offset(rng):
    return rng.choice([0, 1, 4095, SIZE - 4096, SIZE - 1, SIZE, SIZE + 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 4096,
                       rng.randrange(SIZE)])


def odd_length(rng):
    return rng.choice([0, 1, 512, 4096, 65536, 65537, MAX_PAYLOAD, MAX_PAYLOAD + 1, 0xFFFFFFFF, 1 << 31])


def case_transmission(rng, fz):
    structured = rng.random() < 0.7
    meta = structured and rng.random() < 0.5
    s = open_export(fz, structured, meta)
    try:
        sent, reads, expect, closing = b"", {}, [], None
        for i in range(rng.choice([1, 5, 20, 150])):
            cookie = rng.getrandbits(64)
            kind = rng.choice([CMD_READ, CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_ZEROES, CMD_BLOCK_STATUS,
                               8, 9, 0xFFFF, CMD_READ, CMD_WRITE])
            flags = rng.choice([0, 0, 1, 2, 4, 8, 0xFFFF])
            offset, length = odd_offset(rng), odd_length(rng)
            in_bounds = offset + length <= SIZE
            if kind in (CMD_ZEROES,) and in_bounds and length > 64 << 20:
                length = 1 << 20  # a huge in-bounds write-zeroes is paced by the volume's model
            if kind == CMD_READ and in_bounds and length > 1 << 20 and length <= MAX_PAYLOAD:
                length = rng.choice([length, 1 << 20])
            payload = b""
            if kind == CMD_WRITE:
                if length > 1 << 20:
                    # The payload never comes: the server drains or waits for it; this ends the session.
                    closing = "a write whose payload never came"
                else:
                    payload = junk_bytes(rng, min(length, 64)) * (length // 64 + 1)
                    payload = payload[:length]
            sent += request(kind, cookie, offset, length, flags, payload)
            if kind == CMD_READ and not structured:
                reads[cookie] = length
            expect.append(cookie)
            if closing:
                break
        if rng.random() < 0.2 and not closing:
            sent += struct.pack(">I", rng.getrandbits(32)) + junk_bytes(rng, 24)  # bad magic: closes
            closing = "a bad request magic"
        fz.note(sent)
        fuzzlib.send_all(s, sent)
        if closing:
            drain_to_eof(fz, s, f"requests ending with {closing}")
            return
        got = []
        started = time.monotonic()
        try:
            while len(got) < len(expect):
                c, err, _ = read_reply(fz, s, structured, reads, "NBD requests")
                got.append(c)
                fz.answer(f"nbd err {err}")
        except Closed:
            fz.fail(f"the server closed after {len(got)} of {len(expect)} well-framed requests")
        fz.timed("NBD requests", started)
        if sorted(got) != sorted(expect):
            fz.fail("replies do not match the requests' cookies")
        s.sendall(request(CMD_DISC, 0, 0, 0))
    finally:
        s.close()


def case_stalled_handshakes(rng, fz):
    socks = []
    try:
        for _ in range(rng.choice([5, 20, 60])):
            s = fuzzlib.connect(NBD)
            part = rng.choice([b"", b"\x00\x00", struct.pack(">I", 3) + struct.pack(">QI", IHAVEOPT, 7),
                               struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, 7, 100) + b"x"])
            if part:
                s.sendall(part)
            socks.append(s)
        # A stalled transmission too: a write header whose payload has not arrived.
        t = open_export(fz)
        t.sendall(request(CMD_WRITE, 1, 0, 4096) + b"x" * 100)
        socks.append(t)
        time.sleep(0.05)
        fz.check("while clients stall mid-handshake")
    finally:
        for s in socks:
            s.close()


# -- EC2 Query API and EBS direct API --------------------------------------------------------------

ACTIONS = ["CreateVolume", "DescribeVolumes", "DeleteVolume", "AttachVolume", "DetachVolume", "ModifyVolume",
           "DescribeVolumesModifications", "CreateTags", "DeleteTags", "CreateSnapshot", "DescribeSnapshots",
           "DeleteSnapshot", "CopySnapshot", "DescribeInstances", "", "x" * 500]
PARAMS = ["VolumeId", "VolumeId.1", "Size", "VolumeType", "Iops", "Throughput", "AvailabilityZone", "SnapshotId",
          "InstanceId", "Device", "Force", "MultiAttachEnabled", "Encrypted", "KmsKeyId", "DryRun", "MaxResults",
          "NextToken", "Filter.1.Name", "Filter.1.Value.1", "Filter.99999999999999999999.Name", "Filter.0.Name",
          "Filter.-1.Value.1", "ResourceId.1", "Tag.1.Key", "Tag.1.Value", "TagSpecification.1.ResourceType",
          "TagSpecification.1.Tag.1.Key", "SourceSnapshotId", "SourceRegion", "Description", "VolumeId.1000001",
          "Filter.1.Value.4294967296", "Version"]


def ec2_value(rng):
    return rng.choice(HUGE_NUMBERS[:34] + ["vol-0123456789abcdef0", "vol-", "vol-" + "0" * 100, "snap-0", "i-x",
                                           "gp2", "io2", "st1", "standard", "us-east-1a", "us-west-1a", "true",
                                           "false", "/dev/sdf", "*", "tag:*", "volume-type", "", "x" * 5000,
                                           junk_text(rng, 10)])


def ec2_body(rng):
    params = [("Action", rng.choice(ACTIONS)), ("Version", rng.choice(["2016-11-15", "", "1999-01-01"]))]
    for _ in range(rng.choice([0, 1, 3, 8])):
        params.append((rng.choice(PARAMS), ec2_value(rng)))
    if rng.random() < 0.05:
        params += [(f"VolumeId.{i}", "vol-0123456789abcdef0") for i in range(rng.choice([1001, 20000]))]
    # Never touch our own volume: the health check needs it attached.
    return urllib.parse.urlencode(params).encode()


def ec2_signed(body, ct="application/x-www-form-urlencoded; charset=utf-8"):
    hs = [("Host", HOST), ("Content-Type", ct)]
    hs = fuzzlib.sign("ec2", "us-east-1", KEY, SECRET, "POST", f"http://{HOST}/", hs, body)
    return hs + [("Content-Length", str(len(body)))]


def check_ec2(fz, r, what):
    fuzzlib.check_status(fz, r, what)
    code = ""
    if r.status >= 400 and r.body:
        if b"<Errors>" not in r.body and b"<Error>" not in r.body and not r.body.startswith(b"{"):
            fz.fail(f"{what}: the error is not an EC2/EBS error document: {r!r}")
        if b"<Code>" in r.body:
            code = r.body.split(b"<Code>")[1].split(b"</Code>")[0].decode("latin-1")
    fz.answer(f"{r.status} {code}".strip())


def case_ec2(rng, fz):
    body = ec2_body(rng)
    if rng.random() < 0.2:
        body = mutate(rng, body)
    if rng.random() < 0.05:
        body = rng.choice([b"%", b"%zz=1", b"Action=%E0%80", b"&&&&=", b"=" * 10000, b"Action=DescribeVolumes&" * 5000])
    ct = rng.choice(["application/x-www-form-urlencoded; charset=utf-8"] * 4 + ["text/xml", "", "multipart/form-data"])
    raw = fuzzlib.build_request("POST", "/", ec2_signed(body, ct), body)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="EC2 request"):
        check_ec2(fz, r, "EC2 request")


def case_ec2_query_string(rng, fz):
    q = ec2_body(rng).decode()
    url = f"http://{HOST}/?{q}"
    hs = fuzzlib.sign("ec2", "us-east-1", KEY, SECRET, "GET", url, [("Host", HOST)], b"")
    raw = fuzzlib.build_request("GET", f"/?{q}", hs)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="EC2 GET request"):
        check_ec2(fz, r, "EC2 GET request")


def case_direct_api(rng, fz):
    method = rng.choice(["GET", "PUT", "POST", "DELETE"])
    snap = rng.choice(["snap-0123456789abcdef0", "x", "", "snap-" + "0" * 500])
    path = rng.choice([f"/snapshots/{snap}/blocks", f"/snapshots/{snap}/blocks/{rng.choice(HUGE_NUMBERS[:20])}",
                       f"/snapshots/{snap}/changedblocks", "/snapshots", f"/snapshots/completion/{snap}",
                       f"/snapshots/{snap}/blocks/0?blockToken=" + "x" * 100, "/snapshots/" + "a/" * 500])
    path = urllib.parse.quote(path, safe="/?=")
    body = b"" if method in ("GET", "DELETE") else rng.choice([junk_bytes(rng), b"{}", b'{"VolumeSize":' +
                                                               rng.choice(HUGE_NUMBERS[:20]).encode() + b"}",
                                                               b"x" * (512 << 10)])
    hs = [("Host", HOST)]
    if method == "PUT":
        hs += [("x-amz-Data-Length", rng.choice(HUGE_NUMBERS[:20])), ("x-amz-Checksum", "AAAA"),
               ("x-amz-Checksum-Algorithm", rng.choice(["SHA256", "X"]))]
    hs = fuzzlib.sign("ebs", "us-east-1", KEY, SECRET, method, f"http://{HOST}{path}", hs, body)
    hs.append(("Content-Length", str(len(body))))
    raw = fuzzlib.build_request(method, path, hs, body)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what=f"EBS direct API {method}"):
        check_ec2(fz, r, f"EBS direct API {method}")


def template(rng):
    body = ec2_body(rng)
    return "POST", "/", ec2_signed(body), body


CASES = [
    (6, "nbd_handshake_garbage", case_handshake_garbage),
    (10, "nbd_options", case_options),
    (2, "nbd_big_option", case_big_option),
    (2, "nbd_export_name", case_export_name),
    (20, "nbd_transmission", case_transmission),
    (0.3, "nbd_stalled_handshakes", case_stalled_handshakes),
    (14, "ec2", case_ec2),
    (3, "ec2_query_string", case_ec2_query_string),
    (5, "ebs_direct_api", case_direct_api),
] + fuzzlib.http_garbage_cases(ADDR, HOST, template)

fuzzlib.Fuzzer("ebs", opts, health).run(CASES)
