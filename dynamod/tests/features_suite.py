"""boto3 against a running dynamod: the #8 features — streams (read with boto3's `dynamodbstreams`
client), PartiQL, backups and exports, LSI item collections, and concurrency.

usage: features_suite.py ENDPOINT ACCESS_KEY SECRET_KEY MODE [ARGS]
modes: streams | streams-ttl (needs --fake-clock and a short --ttl-sweep-seconds) | partiql | backups |
       export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY | collections (needs --item-collection-limit 20000) |
       concurrency
Exits non-zero on the first failed check (with the check's name)."""

import sys
import threading
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, AK, SK, MODE = sys.argv[1:5]


def make(service, endpoint=ENDPOINT, keys=(AK, SK), **cfg):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
        config=Config(connect_timeout=10, read_timeout=60, **cfg),
    )


c = make("dynamodb")
c1 = make("dynamodb", retries={"max_attempts": 1, "mode": "standard"})
streams = make("dynamodbstreams")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(fn, code, message=None, contains=None):
    try:
        fn()
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == code, f"expected {code}, got {err['Code']}: {err.get('Message')}")
        if message is not None:
            check(err["Message"] == message, f"message {err['Message']!r} != {message!r}")
        if contains is not None:
            check(contains in err["Message"], f"message {err['Message']!r} lacks {contains!r}")
        return e.response
    raise AssertionError(f"expected {code}, call succeeded")


def S(v): return {"S": v}
def N(v): return {"N": str(v)}


def create(name, range_type=None, **kw):
    ks = [{"AttributeName": "pk", "KeyType": "HASH"}]
    ad = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        ks.append({"AttributeName": "sk", "KeyType": "RANGE"})
        ad.append({"AttributeName": "sk", "AttributeType": range_type})
    ad += kw.pop("extra_defs", [])
    return c.create_table(TableName=name, KeySchema=ks, AttributeDefinitions=ad, BillingMode="PAY_PER_REQUEST",
                          **kw)["TableDescription"]


def advance(seconds):
    req = urllib.request.Request(ENDPOINT + "/_stratus/advance-clock", data=str(seconds).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 200, "advance clock")


# ---------------------------------------------------------------- streams

def shard_of(arn):
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    check(len(d["Shards"]) == 1, f"one shard: {d['Shards']}")
    return d, d["Shards"][0]["ShardId"]


def read_all(it, idle_rounds=3):
    """Every record from iterator `it` until `idle_rounds` empty reads in a row; returns (records, next)."""
    out, idle = [], 0
    while it and idle < idle_rounds:
        r = streams.get_records(ShardIterator=it, Limit=1000)
        out += r["Records"]
        idle = 0 if r["Records"] else idle + 1
        it = r.get("NextShardIterator")
    return out, it


def test_stream_completeness():
    spec = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    d = create("st_main", "N", StreamSpecification=spec)
    check(d["StreamSpecification"] == spec, f"CreateTable echoes the spec {d.get('StreamSpecification')}")
    arn, label = d["LatestStreamArn"], d["LatestStreamLabel"]
    check(arn == f"arn:aws:dynamodb:us-east-1:000000000000:table/st_main/stream/{label}", arn)
    t = c.describe_table(TableName="st_main")["Table"]
    check(t["LatestStreamArn"] == arn and t["StreamSpecification"] == spec, "DescribeTable shows the stream")
    listed = streams.list_streams(TableName="st_main")["Streams"]
    check(listed == [{"StreamArn": arn, "TableName": "st_main", "StreamLabel": label}], f"ListStreams {listed}")
    desc, shard = shard_of(arn)
    check(desc["StreamStatus"] == "ENABLED" and desc["StreamViewType"] == "NEW_AND_OLD_IMAGES", "stream status")
    check(desc["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}, "stream key schema")
    check("EndingSequenceNumber" not in desc["Shards"][0]["SequenceNumberRange"], "open shard")
    start = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    # Concurrent writers, each the only writer of its items, every write changing the item: each
    # write must appear exactly once, in the writer's order per item.
    expected = {}  # (pk, sk) -> list of (event, version)
    lock = threading.Lock()
    errors = []

    def writer(w):
        try:
            for i in range(60):
                pk, sk = f"w{w}", i % 6
                key = {"pk": S(pk), "sk": N(sk)}
                with lock:
                    hist = expected.setdefault((pk, sk), [])
                    version = len(hist) + 1
                op = i % 5
                if op in (0, 1):
                    c.put_item(TableName="st_main", Item={**key, "v": N(version)})
                    event = "MODIFY" if any(e != "REMOVE" for e, _ in hist[-1:]) else "INSERT"
                elif op == 2:
                    c.update_item(TableName="st_main", Key=key, UpdateExpression="SET v = :v",
                                  ExpressionAttributeValues={":v": N(version)})
                    event = "MODIFY" if any(e != "REMOVE" for e, _ in hist[-1:]) else "INSERT"
                elif op == 3:
                    c.transact_write_items(TransactItems=[{"Put": {"TableName": "st_main", "Item": {**key, "v": N(version)}}}])
                    event = "MODIFY" if any(e != "REMOVE" for e, _ in hist[-1:]) else "INSERT"
                else:
                    if not hist or hist[-1][0] == "REMOVE":
                        c.batch_write_item(RequestItems={"st_main": [{"PutRequest": {"Item": {**key, "v": N(version)}}}]})
                        event = "INSERT"
                    else:
                        c.delete_item(TableName="st_main", Key=key)
                        event = "REMOVE"
                with lock:
                    hist.append((event, version))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    check(not errors, f"writers failed: {errors}")
    # No-op writes emit nothing: a put of the same item, a delete of a missing item.
    c.put_item(TableName="st_main", Item={"pk": S("noop"), "sk": N(0), "v": N(1)})
    c.put_item(TableName="st_main", Item={"pk": S("noop"), "sk": N(0), "v": N(1)})
    c.delete_item(TableName="st_main", Key={"pk": S("absent"), "sk": N(0)})
    expected[("noop", 0)] = [("INSERT", 1)]

    records, _ = read_all(start)
    seen = {}
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers increase")
    for r in records:
        check(r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1", "record source")
        check("userIdentity" not in r, "user writes carry no userIdentity")
        ddb = r["dynamodb"]
        key = (ddb["Keys"]["pk"]["S"], int(ddb["Keys"]["sk"]["N"]))
        image = ddb.get("NewImage") if r["eventName"] != "REMOVE" else ddb.get("OldImage")
        version = int(ddb["NewImage"]["v"]["N"]) if r["eventName"] != "REMOVE" else None
        check(image is not None, f"images present for NEW_AND_OLD_IMAGES: {r}")
        check((r["eventName"] == "INSERT") == ("OldImage" not in ddb), f"INSERT has no old image {r}")
        seen.setdefault(key, []).append((r["eventName"], version))
    for key, hist in expected.items():
        want = [(e, None if e == "REMOVE" else v) for e, v in hist]
        check(seen.get(key) == want, f"records of {key}: {seen.get(key)} != {want}")
    check(set(seen) == set(expected), f"no records of other items: {set(seen) - set(expected)}")
    total = sum(len(h) for h in expected.values())
    check(len(records) == total, f"exactly once: {len(records)} records for {total} writes")

    # Positions: AT / AFTER a sequence number, LATEST.
    mid = records[len(records) // 2]["dynamodb"]["SequenceNumber"]
    at = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                    SequenceNumber=mid)["ShardIterator"]
    got = streams.get_records(ShardIterator=at, Limit=1)["Records"]
    check(got[0]["dynamodb"]["SequenceNumber"] == mid, "AT_SEQUENCE_NUMBER starts at it")
    after = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                       SequenceNumber=mid)["ShardIterator"]
    got = streams.get_records(ShardIterator=after, Limit=2)
    check(int(got["Records"][0]["dynamodb"]["SequenceNumber"]) > int(mid) and len(got["Records"]) == 2, "AFTER and Limit")
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    check(streams.get_records(ShardIterator=latest)["Records"] == [], "LATEST starts after the last record")
    c.update_item(TableName="st_main", Key={"pk": S("noop"), "sk": N(0)}, UpdateExpression="SET v = :v",
                  ExpressionAttributeValues={":v": N(2)})
    got, _ = read_all(latest, idle_rounds=1)
    check([r["eventName"] for r in got] == ["MODIFY"], f"LATEST sees new writes: {got}")
    check(got[0]["dynamodb"]["OldImage"]["v"] == N(1) and got[0]["dynamodb"]["NewImage"]["v"] == N(2), "old and new images")

    expect_error(lambda: streams.get_shard_iterator(StreamArn=arn, ShardId="shardId-00000000000000000000-00000000", ShardIteratorType="LATEST"),
                 "ResourceNotFoundException")
    expect_error(lambda: streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER"),
                 "ValidationException")
    expect_error(lambda: streams.describe_stream(StreamArn=arn.replace(label, "2001-01-01T00:00:00.000")),
                 "ResourceNotFoundException")
    expect_error(lambda: streams.get_records(ShardIterator="garbage"), "ValidationException")

    # Disabling closes the shard; enabling again starts a new stream.
    expect_error(lambda: c.update_table(TableName="st_main", StreamSpecification=spec), "ValidationException",
                 "Table already has an enabled stream: TableName: st_main")
    tail_it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    c.put_item(TableName="st_main", Item={"pk": S("last"), "sk": N(0)})
    c.update_table(TableName="st_main", StreamSpecification={"StreamEnabled": False})
    c.put_item(TableName="st_main", Item={"pk": S("unrecorded"), "sk": N(0)})
    desc, _ = shard_of(arn)
    check(desc["StreamStatus"] == "DISABLED" and "EndingSequenceNumber" in desc["Shards"][0]["SequenceNumberRange"],
          f"disabled stream has a closed shard {desc}")
    got, nxt = read_all(tail_it, idle_rounds=5)
    check([r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["last"], f"closed shard ends with the last write {got}")
    check(nxt is None, "no NextShardIterator after a closed shard is read")
    check("StreamSpecification" not in c.describe_table(TableName="st_main")["Table"], "no spec once disabled")
    d = c.update_table(TableName="st_main", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    check(d["TableDescription"]["LatestStreamArn"] != arn, "a new stream")
    check(len(streams.list_streams(TableName="st_main")["Streams"]) == 2, "both streams listed")
    print("ok test_stream_completeness", flush=True)


def test_stream_view_types():
    for view in ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"]:
        name = "st_" + view.lower()
        arn = create(name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})["LatestStreamArn"]
        c.put_item(TableName=name, Item={"pk": S("a"), "x": N(1)})
        c.put_item(TableName=name, Item={"pk": S("a"), "x": N(2)})
        c.delete_item(TableName=name, Key={"pk": S("a")})
        _, shard = shard_of(arn)
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs, _ = read_all(it, idle_rounds=1)
        check([r["eventName"] for r in recs] == ["INSERT", "MODIFY", "REMOVE"], f"{view} events")
        for r in recs:
            ddb = r["dynamodb"]
            check(ddb["Keys"] == {"pk": S("a")} and ddb["StreamViewType"] == view, f"{view} keys")
            check(("NewImage" in ddb) == (view == "NEW_IMAGE" and r["eventName"] != "REMOVE"), f"{view} new image {ddb}")
            check(("OldImage" in ddb) == (view == "OLD_IMAGE" and r["eventName"] != "INSERT"), f"{view} old image {ddb}")
            check(ddb["SizeBytes"] > 0, "SizeBytes")
    expect_error(lambda: create("st_bad", StreamSpecification={"StreamEnabled": True}), "ValidationException")
    expect_error(lambda: create("st_bad", StreamSpecification={"StreamEnabled": True, "StreamViewType": "ALL"}),
                 "ValidationException")
    expect_error(lambda: c.update_table(TableName="st_keys_only", StreamSpecification={"StreamEnabled": False})
                 and c.update_table(TableName="st_keys_only", StreamSpecification={"StreamEnabled": False}),
                 "ValidationException")
    page = streams.list_streams(Limit=2)
    check(len(page["Streams"]) == 2 and "LastEvaluatedStreamArn" in page, "ListStreams pages")
    rest = streams.list_streams(ExclusiveStartStreamArn=page["LastEvaluatedStreamArn"])["Streams"]
    check(not {s["StreamArn"] for s in rest} & {s["StreamArn"] for s in page["Streams"]}, "pages do not overlap")
    print("ok test_stream_view_types", flush=True)


def streams_main():
    test_stream_completeness()
    test_stream_view_types()
    print("ok streams", flush=True)


def streams_ttl():
    """TTL deletions as REMOVE records by the service; records trimmed after 24 hours (fake clock)."""
    arn = create("st_ttl", StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"})["LatestStreamArn"]
    c.update_time_to_live(TableName="st_ttl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    now = int(time.time())
    c.put_item(TableName="st_ttl", Item={"pk": S("old"), "exp": N(now + 50)})
    _, shard = shard_of(arn)
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    advance(100)
    deadline, recs = time.time() + 20, []
    while len(recs) < 2:
        check(time.time() < deadline, f"no TTL REMOVE record: {recs}")
        r = streams.get_records(ShardIterator=it)
        recs += r["Records"]
        it = r["NextShardIterator"]
        time.sleep(0.1)
    check(recs[0]["eventName"] == "INSERT" and "userIdentity" not in recs[0], "the put")
    check(recs[1]["eventName"] == "REMOVE", "TTL deletion")
    check(recs[1]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
          f"service principal {recs[1].get('userIdentity')}")
    check(recs[1]["dynamodb"]["OldImage"]["pk"] == S("old"), "old image of the expired item")
    first_seq = recs[0]["dynamodb"]["SequenceNumber"]
    # 24-hour retention: after a day the records are trimmed in the background.
    advance(25 * 3600)
    deadline = time.time() + 20
    while True:
        h = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        try:
            if not streams.get_records(ShardIterator=h)["Records"]:
                break
        except ClientError as e:
            # AWS documents this race: the trim can pass an iterator between GetShardIterator and GetRecords.
            check(e.response["Error"]["Code"] == "TrimmedDataAccessException", f"unexpected {e}")
        check(time.time() < deadline, "records older than 24 hours were not trimmed")
        time.sleep(0.2)
    expect_error(lambda: streams.get_records(ShardIterator=it), "ExpiredIteratorException")
    expect_error(lambda: streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                                    SequenceNumber=first_seq), "TrimmedDataAccessException")
    c.put_item(TableName="st_ttl", Item={"pk": S("new")})
    got, _ = read_all(streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"], 1)
    check([r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["new"], f"new records after trimming {got}")
    print("ok streams-ttl", flush=True)


# ---------------------------------------------------------------- PartiQL

def partiql():
    create("pqt", "N", extra_defs=[{"AttributeName": "g", "AttributeType": "S"}],
           GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}])
    ex = c.execute_statement
    for i in range(10):
        ex(Statement="INSERT INTO pqt VALUE {'pk': ?, 'sk': ?, 'n': ?, 'g': 'grp', 'tags': <<'a', 'b'>>, 'm': {'x': [1, 'two', TRUE, NULL]}}",
           Parameters=[S("p1" if i < 7 else "p2"), N(i), N(i * 10)])
    got = c.get_item(TableName="pqt", Key={"pk": S("p1"), "sk": N(3)})["Item"]
    check(got["n"] == N(30) and got["tags"] == {"SS": ["a", "b"]} and got["m"]["M"]["x"]["L"][3] == {"NULL": True}, f"INSERT values {got}")
    expect_error(lambda: ex(Statement="INSERT INTO pqt VALUE {'pk': 'p1', 'sk': 3}"), "DuplicateItemException",
                 "Duplicate primary key exists in table")

    r = ex(Statement="SELECT * FROM pqt WHERE pk = ? AND sk >= 2 AND n < 60", Parameters=[S("p1")])
    check([int(i["sk"]["N"]) for i in r["Items"]] == [2, 3, 4, 5], f"SELECT by key and filter {r['Items']}")
    r = ex(Statement='SELECT pk, "sk", m.x[1] FROM "pqt" WHERE pk = \'p1\' AND sk BETWEEN 1 AND 2')
    check(r["Items"] == [{"pk": S("p1"), "sk": N(1), "m": {"M": {"x": {"L": [S("two")]}}}},
                         {"pk": S("p1"), "sk": N(2), "m": {"M": {"x": {"L": [S("two")]}}}}], f"projection {r['Items']}")
    r = ex(Statement="SELECT sk FROM pqt WHERE n > 65")  # no key: a scan with a filter
    check(sorted(int(i["sk"]["N"]) for i in r["Items"]) == [7, 8, 9], f"scan with filter {r['Items']}")
    r = ex(Statement='SELECT sk FROM pqt."by_g" WHERE g = \'grp\' AND begins_with(pk, \'p2\')')
    check(len(r["Items"]) == 3, f"SELECT from an index {r['Items']}")
    r = ex(Statement="SELECT * FROM pqt WHERE pk = 'p1' AND contains(tags, 'a') AND m.x[0] IN [1, 2] AND nope IS MISSING")
    check(len(r["Items"]) == 7, "functions, IN, IS MISSING")
    # Pages: Limit and NextToken.
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        r = ex(Statement="SELECT sk FROM pqt WHERE pk = 'p1'", Limit=3, **kw)
        seen += [int(i["sk"]["N"]) for i in r["Items"]]
        token = r.get("NextToken")
        if not token:
            break
    check(seen == list(range(7)), f"pages {seen}")

    # UPDATE: SET / REMOVE, conditions beyond the key, RETURNING.
    r = ex(Statement="UPDATE pqt SET n = n + ? SET note = 'hi' REMOVE m WHERE pk = 'p1' AND sk = 0 RETURNING ALL NEW *",
           Parameters=[N(5)])
    check(r["Items"][0]["n"] == N(5) and r["Items"][0]["note"] == S("hi") and "m" not in r["Items"][0], f"UPDATE {r}")
    ex(Statement="UPDATE pqt SET tags = set_add(tags, <<'c'>>) WHERE pk = 'p1' AND sk = 0")
    check(set(c.get_item(TableName="pqt", Key={"pk": S("p1"), "sk": N(0)})["Item"]["tags"]["SS"]) == {"a", "b", "c"}, "set_add")
    expect_error(lambda: ex(Statement="UPDATE pqt SET n = 1 WHERE pk = 'p1' AND sk = 0 AND n > 100"),
                 "ConditionalCheckFailedException")
    expect_error(lambda: ex(Statement="UPDATE pqt SET n = 1 WHERE pk = 'nope' AND sk = 0"), "ConditionalCheckFailedException")
    expect_error(lambda: ex(Statement="UPDATE pqt SET n = 1 WHERE pk = 'p1'"), "ValidationException",
                 "Where clause does not contain a mandatory equality on all key attributes")

    # DELETE.
    r = ex(Statement="DELETE FROM pqt WHERE pk = 'p2' AND sk = 9 RETURNING ALL OLD *")
    check(r["Items"][0]["n"] == N(90), "DELETE RETURNING ALL OLD")
    check("Item" not in c.get_item(TableName="pqt", Key={"pk": S("p2"), "sk": N(9)}), "deleted")
    expect_error(lambda: ex(Statement="DELETE FROM pqt WHERE pk = 'p2' AND sk = 8 AND n = 1"), "ConditionalCheckFailedException")

    # Errors.
    expect_error(lambda: ex(Statement="SELEC * FROM pq"), "ValidationException")
    expect_error(lambda: ex(Statement="SELECT * FROM pqt WHERE pk = ?"), "ValidationException")
    expect_error(lambda: ex(Statement="SELECT * FROM nope_table"), "ResourceNotFoundException")
    expect_error(lambda: ex(Statement="SELECT * FROM pqt WHERE pk = 'x'", Parameters=[S("extra")]), "ValidationException")

    # BatchExecuteStatement: per-statement outcomes.
    r = c.batch_execute_statement(Statements=[
        {"Statement": "SELECT * FROM pqt WHERE pk = ? AND sk = ?", "Parameters": [S("p1"), N(1)]},
        {"Statement": "SELECT * FROM pqt WHERE pk = 'p1' AND sk = 99"},
        {"Statement": "SELECT * FROM pqt WHERE pk = 'p1'"},
    ])["Responses"]
    check(r[0]["TableName"] == "pqt" and r[0]["Item"]["sk"] == N(1), f"batch read {r[0]}")
    check("Item" not in r[1] and "Error" not in r[1], "batch read of a missing item")
    check(r[2]["Error"]["Code"] == "ValidationError", f"batch read needs the full key {r[2]}")
    r = c.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'b', 'sk': 1}"},
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'p1', 'sk': 1}"},
        {"Statement": "UPDATE pqt SET v = 1 WHERE pk = 'p1' AND sk = 2"},
    ])["Responses"]
    check("Error" not in r[0] and r[1]["Error"]["Code"] == "DuplicateItem" and "Error" not in r[2], f"batch writes {r}")
    expect_error(lambda: c.batch_execute_statement(Statements=[{"Statement": "SELECT * FROM pqt WHERE pk = 'b' AND sk = 1"},
                                                               {"Statement": "DELETE FROM pqt WHERE pk = 'b' AND sk = 1"}]),
                 "ValidationException")

    # ExecuteTransaction: all or nothing.
    c.execute_transaction(TransactStatements=[
        {"Statement": "INSERT INTO pqt VALUE {'pk': 't', 'sk': 1, 'n': 1}"},
        {"Statement": "UPDATE pqt SET n = n + 1 WHERE pk = 'p1' AND sk = 1"},
        {"Statement": "DELETE FROM pqt WHERE pk = 'b' AND sk = 1"},
    ])
    r = c.execute_transaction(TransactStatements=[
        {"Statement": "SELECT n FROM pqt WHERE pk = 't' AND sk = 1"},
        {"Statement": "SELECT n FROM pqt WHERE pk = 'p1' AND sk = 1"},
        {"Statement": "SELECT n FROM pqt WHERE pk = 'b' AND sk = 1"},
    ])["Responses"]
    check(r == [{"Item": {"n": N(1)}}, {"Item": {"n": N(11)}}, {}], f"transaction reads {r}")
    e = expect_error(lambda: c.execute_transaction(TransactStatements=[
        {"Statement": "UPDATE pqt SET n = 0 WHERE pk = 'p1' AND sk = 2"},
        {"Statement": "INSERT INTO pqt VALUE {'pk': 't', 'sk': 1}"},
    ]), "TransactionCanceledException")
    check([x["Code"] for x in e["CancellationReasons"]] == ["None", "DuplicateItem"], f"reasons {e['CancellationReasons']}")
    check(c.get_item(TableName="pqt", Key={"pk": S("p1"), "sk": N(2)})["Item"]["n"] == N(20), "cancelled: nothing applied")
    print("ok partiql", flush=True)


# ---------------------------------------------------------------- backups and exports

def wait_for(fn, what, timeout=60):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, f"timed out waiting for {what}")
        time.sleep(0.1)


def backups():
    create("bkt", "N", extra_defs=[{"AttributeName": "g", "AttributeType": "S"}],
           GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    for start in range(0, 2000, 25):
        c.batch_write_item(RequestItems={"bkt": [{"PutRequest": {"Item": {"pk": S(f"p{i % 10}"), "sk": N(i), "g": S(f"g{i % 3}"), "v": N(0)}}}
                                                for i in range(start, start + 25)]})
    # Writers keep going while the backup is taken: it must be one point in time.
    stop, written = threading.Event(), []

    def writer():
        n = 0
        while not stop.is_set():
            c.put_item(TableName="bkt", Item={"pk": S("live"), "sk": N(n), "g": S("g0"), "v": N(1)})
            written.append(n)
            n += 1

    th = threading.Thread(target=writer)
    th.start()
    time.sleep(0.3)
    d = c.create_backup(TableName="bkt", BackupName="bk-one")["BackupDetails"]
    time.sleep(0.3)
    stop.set()
    th.join(timeout=30)
    arn = d["BackupArn"]
    check(d["BackupStatus"] in ("CREATING", "AVAILABLE") and d["BackupType"] == "USER" and "/backup/" in arn, f"backup {d}")
    desc = wait_for(lambda: (lambda b: b if b["BackupDetails"]["BackupStatus"] == "AVAILABLE" else None)(
        c.describe_backup(BackupArn=arn)["BackupDescription"]), "backup AVAILABLE")
    src = desc["SourceTableDetails"]
    count = src["ItemCount"]
    live_in_backup = count - 2000
    check(0 < live_in_backup < len(written), f"point in time during writes: {live_in_backup} of {len(written)}")
    check(src["TableName"] == "bkt" and src["KeySchema"][1]["AttributeName"] == "sk", "source table details")
    check(desc["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"][0]["IndexName"] == "by_g", "index in the backup")
    expect_error(lambda: c.create_backup(TableName="nope", BackupName="xx1"), "TableNotFoundException")
    c.create_backup(TableName="bkt", BackupName="bk-two")
    listed = c.list_backups(TableName="bkt")["BackupSummaries"]
    check([b["BackupName"] for b in listed] == ["bk-one", "bk-two"], f"ListBackups {listed}")
    page = c.list_backups(Limit=1)
    check(len(page["BackupSummaries"]) == 1 and "LastEvaluatedBackupArn" in page, "ListBackups pages")

    # Writes after the backup do not reach it: a restore has exactly the backup's items.
    c.delete_item(TableName="bkt", Key={"pk": S("p1"), "sk": N(1)})
    r = c.restore_table_from_backup(TargetTableName="bk_restored", BackupArn=arn)["TableDescription"]
    check(r["RestoreSummary"]["SourceBackupArn"] == arn, f"RestoreSummary {r.get('RestoreSummary')}")
    wait_for(lambda: c.describe_table(TableName="bk_restored")["Table"]["TableStatus"] == "ACTIVE", "restored table ACTIVE")
    items = []
    kw = {}
    while True:
        page = c.scan(TableName="bk_restored", ConsistentRead=True, **kw)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    check(len(items) == count, f"restored {len(items)} items, backup had {count}")
    check(any(i["pk"] == S("p1") and i["sk"] == N(1) for i in items), "the item deleted after the backup is restored")
    live = sorted(int(i["sk"]["N"]) for i in items if i["pk"] == S("live"))
    check(live == list(range(len(live))), "the backup holds a prefix of the writer's sequence")
    q = c.query(TableName="bk_restored", IndexName="by_g", KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": S("g1")}, Select="COUNT")
    check(q["Count"] == len([i for i in items if i["g"] == S("g1")]), "indexes rebuilt on restore")
    expect_error(lambda: c.restore_table_from_backup(TargetTableName="bk_restored", BackupArn=arn), "TableAlreadyExistsException")
    d = c.delete_backup(BackupArn=arn)["BackupDescription"]
    check(d["BackupDetails"]["BackupStatus"] == "DELETED", "DeleteBackup")
    expect_error(lambda: c.describe_backup(BackupArn=arn), "BackupNotFoundException")
    expect_error(lambda: c.restore_table_from_backup(TargetTableName="bk_again", BackupArn=arn), "BackupNotFoundException")
    print("ok backups", flush=True)


def export(s3_endpoint, s3_keys):
    import gzip
    import json
    s3 = make("s3", endpoint=s3_endpoint, keys=s3_keys)
    s3.create_bucket(Bucket="exports")
    create("ext", "N")
    for start in range(0, 300, 25):
        c.batch_write_item(RequestItems={"ext": [{"PutRequest": {"Item": {"pk": S(f"p{i % 7}"), "sk": N(i), "n": N(i * 1.5),
                                                                         "b": {"B": b"\x00\x01"}, "l": {"L": [S("x"), {"NULL": True}]}}}}
                                                for i in range(start, start + 25)]})
    table_arn = c.describe_table(TableName="ext")["Table"]["TableArn"]
    expect_error(lambda: c.export_table_to_point_in_time(TableArn=table_arn, S3Bucket="exports"),
                 "PointInTimeRecoveryUnavailableException")
    r = c.update_continuous_backups(TableName="ext", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    check(r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", "PITR on")
    e = c.export_table_to_point_in_time(TableArn=table_arn, S3Bucket="exports", S3Prefix="dumps/ex",
                                        ExportFormat="DYNAMODB_JSON")["ExportDescription"]
    check(e["ExportStatus"] in ("IN_PROGRESS", "COMPLETED") and e["TableArn"] == table_arn, f"export {e}")
    c.put_item(TableName="ext", Item={"pk": S("after"), "sk": N(0)})  # after the export's point in time
    done = wait_for(lambda: (lambda d: d if d["ExportStatus"] != "IN_PROGRESS" else None)(
        c.describe_export(ExportArn=e["ExportArn"])["ExportDescription"]), "export finished")
    check(done["ExportStatus"] == "COMPLETED", f"export completed: {done}")
    check(done["ItemCount"] == 300, f"ItemCount {done['ItemCount']}")
    summary = json.loads(s3.get_object(Bucket="exports", Key=done["ExportManifest"])["Body"].read())
    check(summary["itemCount"] == 300 and summary["exportArn"] == e["ExportArn"], f"manifest summary {summary}")
    files = [json.loads(line) for line in
             s3.get_object(Bucket="exports", Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()]
    exported = []
    for f in files:
        check(f["dataFileS3Key"].startswith("dumps/ex/AWSDynamoDB/"), f"data file key {f}")
        body = gzip.decompress(s3.get_object(Bucket="exports", Key=f["dataFileS3Key"])["Body"].read())
        exported += [json.loads(line)["Item"] for line in body.decode().splitlines()]
    check(len(exported) == 300, f"{len(exported)} exported lines")
    by_key = {(i["pk"]["S"], int(i["sk"]["N"])): i for i in exported}
    check(by_key[("p3", 10)]["n"] == {"N": "15"} and by_key[("p3", 10)]["b"] == {"B": "AAE="}, f"DynamoDB JSON {by_key[('p3', 10)]}")
    check(("after", 0) not in by_key, "writes after the export time are not exported")
    listed = c.list_exports(TableArn=table_arn)["ExportSummaries"]
    check([x["ExportArn"] for x in listed] == [e["ExportArn"]], f"ListExports {listed}")
    bad = c.export_table_to_point_in_time(TableArn=table_arn, S3Bucket="no-such-bucket")["ExportDescription"]
    failed = wait_for(lambda: (lambda d: d if d["ExportStatus"] != "IN_PROGRESS" else None)(
        c.describe_export(ExportArn=bad["ExportArn"])["ExportDescription"]), "failing export")
    check(failed["ExportStatus"] == "FAILED" and failed["FailureCode"] == "S3NoSuchBucket", f"failed export {failed}")
    expect_error(lambda: c.describe_export(ExportArn=table_arn + "/export/01700000000000-00000000"), "ExportNotFoundException")
    print("ok export", flush=True)


# ---------------------------------------------------------------- item collections and concurrency

def collections():
    """Run with --item-collection-limit 20000: a collection is the items of one partition key plus
    their LSI entries."""
    create("coll", "N", extra_defs=[{"AttributeName": "alt", "AttributeType": "N"}],
           LocalSecondaryIndexes=[{"IndexName": "by_alt", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                        {"AttributeName": "alt", "KeyType": "RANGE"}],
                                   "Projection": {"ProjectionType": "ALL"}}])
    big = "x" * 2000
    r = c.put_item(TableName="coll", Item={"pk": S("a"), "sk": N(0), "alt": N(0), "d": S(big)}, ReturnItemCollectionMetrics="SIZE")
    m = r["ItemCollectionMetrics"]
    check(m["ItemCollectionKey"] == {"pk": S("a")} and m["SizeEstimateRangeGB"] == [0.0, 1.0], f"metrics {m}")
    check("ItemCollectionMetrics" not in c.put_item(TableName="coll", Item={"pk": S("b"), "sk": N(0)}), "only when asked")
    e = expect_error(lambda: [c1.put_item(TableName="coll", Item={"pk": S("a"), "sk": N(i), "alt": N(i), "d": S(big)})
                              for i in range(1, 20)], "ItemCollectionSizeLimitExceededException")
    n = c.query(TableName="coll", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("a")}, Select="COUNT")["Count"]
    check(3 <= n <= 5, f"the collection stopped growing at the limit ({n} items)")
    grow = {"pk": S("a"), "sk": N(100), "alt": N(100), "d": S(big * 3)}
    expect_error(lambda: c1.batch_write_item(RequestItems={"coll": [{"PutRequest": {"Item": grow}}]}),
                 "ItemCollectionSizeLimitExceededException")
    e = expect_error(lambda: c1.transact_write_items(TransactItems=[{"Put": {"TableName": "coll", "Item": grow}}]),
                     "TransactionCanceledException")
    check(e["CancellationReasons"][0]["Code"] == "ItemCollectionSizeLimitExceeded", f"reasons {e['CancellationReasons']}")
    c.put_item(TableName="coll", Item={"pk": S("other"), "sk": N(1), "alt": N(1), "d": S(big)})  # other collections are fine
    c.delete_item(TableName="coll", Key={"pk": S("a"), "sk": N(0)})  # shrinking is always allowed
    c.put_item(TableName="coll", Item={"pk": S("a"), "sk": N(0), "alt": N(0), "d": S(big)})
    r = c.delete_item(TableName="coll", Key={"pk": S("a"), "sk": N(0)}, ReturnItemCollectionMetrics="SIZE")
    check(r["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": S("a")}, "metrics on delete")
    print("ok collections", flush=True)


def concurrency():
    create("race")
    # Two clients racing transactions on the same items: exactly one wins each round; the loser is
    # cancelled with TransactionConflict (while the winner is in flight) or ConditionalCheckFailed
    # (if it came after).
    clients = [make("dynamodb", retries={"max_attempts": 1, "mode": "standard"}) for _ in range(2)]
    conflicts, rounds = 0, 40
    for rnd in range(rounds):
        for k in ("x", "y"):
            c.put_item(TableName="race", Item={"pk": S(k), "round": N(rnd), "owner": S("none")})
        barrier = threading.Barrier(2)
        results = [None, None]

        def go(who):
            tx = [{"Update": {"TableName": "race", "Key": {"pk": S(k)}, "UpdateExpression": "SET #o = :me",
                              "ConditionExpression": "#o = :none", "ExpressionAttributeNames": {"#o": "owner"},
                              "ExpressionAttributeValues": {":me": S(f"c{who}"), ":none": S("none")}}} for k in ("x", "y")]
            barrier.wait()
            try:
                clients[who].transact_write_items(TransactItems=tx)
                results[who] = "won"
            except ClientError as e:
                codes = [r["Code"] for r in e.response.get("CancellationReasons", [])]
                results[who] = (e.response["Error"]["Code"], tuple(codes))

        threads = [threading.Thread(target=go, args=(w,)) for w in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        check(results.count("won") == 1, f"round {rnd}: exactly one wins: {results}")
        loser = [r for r in results if r != "won"][0]
        check(loser[0] == "TransactionCanceledException", f"loser {loser}")
        check(set(loser[1]) <= {"TransactionConflict", "ConditionalCheckFailed", "None"} and set(loser[1]) != {"None"}, f"reasons {loser}")
        conflicts += "TransactionConflict" in loser[1]
        owners = {c.get_item(TableName="race", Key={"pk": S(k)}, ConsistentRead=True)["Item"]["owner"]["S"] for k in ("x", "y")}
        check(len(owners) == 1, f"round {rnd}: both items belong to the winner {owners}")
    check(conflicts > 0, "some rounds overlapped and were cancelled with TransactionConflict")

    # No lost update: 8 writers doing conditional increments.
    c.put_item(TableName="race", Item={"pk": S("ctr"), "n": N(0)})
    successes, errors = [0] * 8, []

    def incr(w):
        cl = make("dynamodb", retries={"max_attempts": 1, "mode": "standard"})
        try:
            for _ in range(25):
                while True:
                    cur = cl.get_item(TableName="race", Key={"pk": S("ctr")}, ConsistentRead=True)["Item"]["n"]["N"]
                    try:
                        cl.update_item(TableName="race", Key={"pk": S("ctr")}, UpdateExpression="SET n = :new",
                                       ConditionExpression="n = :old",
                                       ExpressionAttributeValues={":old": N(cur), ":new": N(int(cur) + 1)})
                        successes[w] += 1
                        break
                    except ClientError as e:
                        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                            raise
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=incr, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=240)
    check(not errors, f"incrementers failed: {errors}")
    final = int(c.get_item(TableName="race", Key={"pk": S("ctr")}, ConsistentRead=True)["Item"]["n"]["N"])
    check(final == sum(successes) == 200, f"no lost update: counter {final}, successes {sum(successes)}")
    print(f"ok concurrency ({conflicts}/{rounds} rounds with TransactionConflict)", flush=True)


# ---------------------------------------------------------------- restart

def restart_write():
    """Before a kill -9: a stream with records, an available backup, a completed-or-not restore."""
    arn = create("rs_stream", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["LatestStreamArn"]
    for i in range(50):
        c.put_item(TableName="rs_stream", Item={"pk": S(f"k{i}"), "v": N(i)})
    b = c.create_backup(TableName="rs_stream", BackupName="before-kill")["BackupDetails"]
    # Complete when acknowledged: a backup still CREATING could not outlive a restart.
    check(b["BackupStatus"] == "AVAILABLE" and b["BackupSizeBytes"] > 0, f"CreateBackup returns a finished backup: {b}")
    create("rs_tok")
    c.transact_write_items(ClientRequestToken="tok-restart", TransactItems=[TOKEN_ADD])
    print("ARN", arn, b["BackupArn"], flush=True)
    print("ok restart-write", flush=True)


# One increment, retried with its ClientRequestToken across the restart.
TOKEN_ADD = {"Update": {"TableName": "rs_tok", "Key": {"pk": S("n")}, "UpdateExpression": "ADD v :one",
                        "ExpressionAttributeValues": {":one": N(1)}}}


def restart_check(stream_arn, backup_arn):
    _, shard = shard_of(stream_arn)
    it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs, _ = read_all(it, idle_rounds=1)
    check([r["dynamodb"]["NewImage"]["v"] for r in recs] == [N(i) for i in range(50)], f"stream records survive: {len(recs)}")
    c.put_item(TableName="rs_stream", Item={"pk": S("after"), "v": N(99)})
    more, _ = read_all(streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                                  SequenceNumber=recs[-1]["dynamodb"]["SequenceNumber"])["ShardIterator"], 1)
    check([r["dynamodb"]["Keys"]["pk"] for r in more] == [S("after")], "new records number after the old ones")
    d = c.describe_backup(BackupArn=backup_arn)["BackupDescription"]
    check(d["BackupDetails"]["BackupStatus"] == "AVAILABLE" and d["SourceTableDetails"]["ItemCount"] == 50, f"backup survives {d}")
    c.restore_table_from_backup(TargetTableName="rs_restored", BackupArn=backup_arn)
    wait_for(lambda: c.describe_table(TableName="rs_restored")["Table"]["TableStatus"] == "ACTIVE", "restore after restart")
    check(c.scan(TableName="rs_restored", Select="COUNT", ConsistentRead=True)["Count"] == 50, "restored after restart")
    # A retry after the restart is recognised (within ten minutes), not applied a second time.
    c.transact_write_items(ClientRequestToken="tok-restart", TransactItems=[TOKEN_ADD])
    v = c.get_item(TableName="rs_tok", Key={"pk": S("n")}, ConsistentRead=True)["Item"]["v"]
    check(v == N(1), f"a token's transaction applies once across a restart: {v}")
    print("ok restart-check", flush=True)


MODES = {
    "streams": streams_main,
    "streams-ttl": streams_ttl,
    "partiql": partiql,
    "backups": backups,
    "export": lambda: export(sys.argv[5], (sys.argv[6], sys.argv[7])),
    "collections": collections,
    "concurrency": concurrency,
    "restart-write": restart_write,
    "restart-check": lambda: restart_check(sys.argv[5], sys.argv[6]),
}

if __name__ == "__main__":
    try:
        MODES[MODE]()
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        print("FAILED:", e, flush=True)
        sys.exit(1)
