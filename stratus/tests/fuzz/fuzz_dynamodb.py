"""Seeded fuzzer for dynamod's DynamoDB JSON 1.0 API: botocore-signed raw requests whose bodies are
malformed or adversarial (garbage and truncated JSON, deep nesting in JSON and in expressions, huge and
odd numbers, wrong types, oversized batches, PartiQL garbage), plus unsigned / badly signed requests and
HTTP framing garbage (see fuzzlib). The health check is boto3 PutItem / GetItem / Query on a table made
at start. Usage: fuzz_dynamodb.py --seed S --count N --pid PID ENDPOINT_HOST:PORT DATA_DIR"""
import json
import sys
import time
import uuid


sys.path.insert(0, __import__("os").path.dirname(__file__))
import fuzzlib  # noqa: E402
from fuzzlib import HUGE_NUMBERS, junk_bytes, junk_text, mutate  # noqa: E402

opts = fuzzlib.args(__doc__, lambda p: (p.add_argument("addr"), p.add_argument("data_dir")))
HOST, ADDR, KEY, SECRET = fuzzlib.http_target(opts)
TABLE = "fuzz"

client = fuzzlib.aws_client("dynamodb", HOST, KEY, SECRET)

try:
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
except client.exceptions.ResourceInUseException:
    pass  # a rerun against the same daemon
client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
HEALTH_N = [0]


def health(fz):
    HEALTH_N[0] += 1
    value = uuid.uuid4().hex
    item = {"pk": {"S": "health"}, "sk": {"N": str(HEALTH_N[0])}, "v": {"S": value},
            "n": {"N": "12345678901234567890.123456789"}, "l": {"L": [{"M": {"x": {"BOOL": True}}}]}}
    client.put_item(TableName=TABLE, Item=item)
    got = client.get_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)
    if got.get("Item") != item:
        fz.fail(f"GetItem after PutItem returned {got.get('Item')!r}, expected {item!r}")
    q = client.query(TableName=TABLE, KeyConditionExpression="pk = :p AND sk = :s",
                     ExpressionAttributeValues={":p": {"S": "health"}, ":s": item["sk"]})
    if q["Count"] != 1 or q["Items"][0]["v"]["S"] != value:
        fz.fail(f"Query after PutItem returned {q!r}")


def signed(target, body, content_type="application/x-amz-json-1.0", extra=()):
    headers = [("Host", HOST), ("Content-Type", content_type), ("X-Amz-Target", target)] + list(extra)
    headers = fuzzlib.sign("dynamodb", "us-east-1", KEY, SECRET, "POST", f"http://{HOST}/", headers, body)
    headers.append(("Content-Length", str(len(body))))
    return headers


def send(fz, target, body, what, content_type="application/x-amz-json-1.0", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    raw = fuzzlib.build_request("POST", "/", signed(target, body, content_type, extra), body)
    resps = fuzzlib.http_exchange(fz, ADDR, raw, what=what)
    if not resps:
        fz.fail(f"{what}: connection closed without a reply")
    r = resps[0]
    check_reply(fz, r, what)
    return r


def check_reply(fz, r, what):
    fuzzlib.check_status(fz, r, what)
    kind = ""
    if r.body[:1] == b"{":
        try:
            kind = json.loads(r.body).get("__type", "").rsplit("#", 1)[-1]
        except (ValueError, AttributeError):
            pass
    fz.answer(f"{r.status} {kind}".strip())
    if r.status >= 400 and r.status != 413:
        if not r.body and r.header("connection") == "close":
            return  # hyper's own answer to a request it cannot parse (a framing error)
        try:
            err = json.loads(r.body)
        except ValueError:
            fz.fail(f"{what}: error reply is not JSON: {r!r}")
        if not isinstance(err, dict) or "__type" not in err:
            fz.fail(f"{what}: error reply has no __type: {r!r}")


# -- valid request bodies, which cases then break --------------------------------------------------

def key(rng):
    return {"pk": {"S": rng.choice(["a", "b", "health", ""])}, "sk": {"N": rng.choice(["1", "2", "-3.5"])}}


def valid_body(rng):
    op = rng.choice(["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                     "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "DescribeTable", "ListTables",
                     "ExecuteStatement"])
    k = key(rng)
    item = dict(k, v={"S": "x"}, n={"N": "5"}, m={"M": {"a": {"L": [{"N": "1"}, {"SS": ["p", "q"]}]}}})
    bodies = {
        "GetItem": {"TableName": TABLE, "Key": k, "ProjectionExpression": "v, m.a[0]"},
        "PutItem": {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(v) OR n < :x",
                    "ExpressionAttributeValues": {":x": {"N": "10"}}},
        "UpdateItem": {"TableName": TABLE, "Key": k, "UpdateExpression": "SET #v = :v ADD n :one REMOVE m.a[1]",
                       "ExpressionAttributeNames": {"#v": "v"},
                       "ExpressionAttributeValues": {":v": {"S": "y"}, ":one": {"N": "1"}}, "ReturnValues": "ALL_NEW"},
        "DeleteItem": {"TableName": TABLE, "Key": k, "ConditionExpression": "size(v) > :z",
                       "ExpressionAttributeValues": {":z": {"N": "0"}}},
        "Query": {"TableName": TABLE, "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                  "FilterExpression": "contains(v, :s)", "Limit": 10,
                  "ExpressionAttributeValues": {":p": {"S": "a"}, ":a": {"N": "0"}, ":b": {"N": "9"}, ":s": {"S": "x"}}},
        "Scan": {"TableName": TABLE, "Segment": 0, "TotalSegments": 2, "FilterExpression": "begins_with(v, :s)",
                 "ExpressionAttributeValues": {":s": {"S": "x"}}},
        "BatchGetItem": {"RequestItems": {TABLE: {"Keys": [k]}}},
        "BatchWriteItem": {"RequestItems": {TABLE: [{"PutRequest": {"Item": item}}]}},
        "TransactWriteItems": {"TransactItems": [{"Put": {"TableName": TABLE, "Item": item}}]},
        "TransactGetItems": {"TransactItems": [{"Get": {"TableName": TABLE, "Key": k}}]},
        "DescribeTable": {"TableName": TABLE},
        "ListTables": {"Limit": 5},
        "ExecuteStatement": {"Statement": f"SELECT * FROM \"{TABLE}\" WHERE pk = ?", "Parameters": [{"S": "a"}]},
    }
    return op, bodies[op]


def target(op):
    return f"DynamoDB_20120810.{op}"


def template(rng):
    op, body = valid_body(rng)
    data = json.dumps(body).encode()
    return "POST", "/", signed(target(op), data), data


# -- adversarial pieces ----------------------------------------------------------------------------

def weird_number(rng):
    return rng.choice(HUGE_NUMBERS + [
        "1" * rng.choice([39, 100, 100000, 1000000]), "0." + "0" * 200000 + "1", "1e126", "1e-130", "9.9e125",
        "1E+999999999999", "-" * 5, ".", "1.", ".5", "1e", "--1", "1" * 38 + "." + "1" * 38, "0" * 100000,
    ])


def deep_expression(rng):
    n = rng.choice([50, 301, 1000, 5000, 50000])
    kind = rng.randrange(9)
    if kind == 0:
        return "(" * n + "a = :v" + ")" * n
    if kind == 1:
        return "NOT " * n + "a = :v"
    if kind == 2:
        return " AND ".join(["a = :v"] * n)
    if kind == 3:
        return "size(" * n + "a" + ")" * n + " > :v"
    if kind == 4:
        return "a" + ".b" * n + " = :v"
    if kind == 5:
        return "a" + "[0]" * n + " = :v"
    if kind == 6:
        return "a IN (" + ", ".join([":v"] * n) + ")"
    if kind == 7:
        return "(" * n + "a = :v"  # unbalanced
    return "attribute_exists(" * n + "a" + ")" * n


def random_expression(rng):
    tokens = ["a", "b.c", "#n", ":v", ":w", "(", ")", "[", "]", "0", "99999999999999999999", ",", "=", "<>",
              "<", "<=", ">", ">=", "AND", "OR", "NOT", "BETWEEN", "IN", "size", "attribute_exists",
              "attribute_not_exists", "attribute_type", "begins_with", "contains", "SET", "REMOVE", "ADD",
              "DELETE", "+", "-", "if_not_exists", "list_append", ".", "#", ":", "\u00e9", "\x00", "''", "\""]
    return " ".join(rng.choice(tokens) for _ in range(rng.choice([1, 3, 10, 40, 400])))


def nested_value(rng, depth):
    v = {"S": "x"}
    for _ in range(depth):
        v = rng.choice([{"M": {"k": v}}, {"L": [v]}])
    return v


def wrong_type(rng):
    return rng.choice([None, True, 0, -1, 1e308, 2 ** 64, "", "x" * 70000, [], [None], {}, {"S": 5},
                       {"N": "abc"}, {"S": "a", "N": "1"}, {"B": "!!notbase64"}, {"SS": []}, {"NS": ["1", "1"]},
                       {"BOOL": "true"}, {"NULL": False}, {"L": {}}, {"M": []}, {"X": "y"}, [[[[]]]]])


def replace_random_field(rng, obj, depth=0):
    """Replaces one randomly chosen value somewhere in obj with a wrong type."""
    if isinstance(obj, dict) and obj:
        k = rng.choice(sorted(obj))
        if depth > 3 or rng.random() < 0.4 or not isinstance(obj[k], (dict, list)):
            obj[k] = wrong_type(rng)
        else:
            replace_random_field(rng, obj[k], depth + 1)
    elif isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        if depth > 3 or rng.random() < 0.4 or not isinstance(obj[i], (dict, list)):
            obj[i] = wrong_type(rng)
        else:
            replace_random_field(rng, obj[i], depth + 1)


# -- cases -----------------------------------------------------------------------------------------

def case_json_garbage(rng, fz):
    op, body = valid_body(rng)
    data = json.dumps(body).encode()
    choice = rng.randrange(5)
    if choice == 0:
        data = junk_bytes(rng)
    elif choice == 1:
        data = data[: rng.randrange(len(data))]
    elif choice == 2:
        data = mutate(rng, data)
    elif choice == 3:
        data = rng.choice([b"null", b"[]", b"1", b"\"s\"", b"{}", b"{\"TableName\":}", b"\xef\xbb\xbf{}",
                           b"{\"a\":1,\"a\":2}", b"{\"TableName\":\"fuzz\"}" * 2, b"{" + b" " * 100000 + b"}",
                           b"{\"TableName\":\"\\ud800\"}", b"{\"TableName\":\"\xff\xfe\"}"])
    else:
        data = json.dumps(body, indent=rng.choice([0, 50])).encode() + junk_bytes(rng, 3)
    send(fz, target(op), data, "garbage JSON body")


def case_deep_json(rng, fz):
    n = rng.choice([100, 129, 1000, 100000, 1000000])
    op, body = valid_body(rng)
    kind = rng.randrange(4)
    if kind == 0:
        data = "[" * n + "]" * n
    elif kind == 1:
        data = '{"a":' * n + "1" + "}" * n
    elif kind == 2:
        body["Item" if "Item" in body else "Key"] = {"pk": {"S": "a"}, "sk": {"N": "1"}, "deep": "DEEP"}
        data = json.dumps(body).replace('"DEEP"', '{"M": {"k": ' * n + '{"S": "x"}' + "}}" * n)
    else:
        item = dict(key(rng), deep=nested_value(rng, rng.choice([31, 32, 33, 100])))
        data = json.dumps({"TableName": TABLE, "Item": item})
        op = "PutItem"
    send(fz, target(op), data, "deeply nested JSON")


def case_numbers(rng, fz):
    num = weird_number(rng)
    where = rng.randrange(5)
    if where == 0:
        body = {"TableName": TABLE, "Item": dict(key(rng), n={"N": num})}
        op = "PutItem"
    elif where == 1:
        body = {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"N": num}}}
        op = "GetItem"
    elif where == 2:
        body = {"TableName": TABLE, "Key": key(rng), "UpdateExpression": "ADD n :d SET m = :d + :d",
                "ExpressionAttributeValues": {":d": {"N": num}}}
        op = "UpdateItem"
    elif where == 3:
        body = {"TableName": TABLE, "Item": dict(key(rng), ns={"NS": [num, "1", num]})}
        op = "PutItem"
    else:
        op, body = "Scan", {"TableName": TABLE, "Limit": rng.choice([0, -1, 2 ** 64, 1e400, 2 ** 31]),
                            "Segment": rng.choice([0, -1, 2 ** 32, 2 ** 63]),
                            "TotalSegments": rng.choice([1, 0, 1000001, 2 ** 32])}
        data = json.dumps(body).replace("Infinity", "1e400")
        send(fz, target(op), data, "odd numbers")
        return
    send(fz, target(op), json.dumps(body), "odd numbers")


def case_expression(rng, fz):
    expr = deep_expression(rng) if rng.random() < 0.5 else random_expression(rng)
    names = {"#n": "n"}
    values = {":v": {"N": "1"}, ":w": {"S": "w"}}
    if rng.random() < 0.3:
        names = {f"#{junk_text(rng, 3)}": junk_text(rng, 3) for _ in range(rng.choice([0, 1, 300]))}
        values = {f":{i}": wrong_type(rng) for i in range(rng.choice([0, 1, 300]))}
    field, op = rng.choice([("ConditionExpression", "PutItem"), ("FilterExpression", "Scan"),
                            ("UpdateExpression", "UpdateItem"), ("ProjectionExpression", "GetItem"),
                            ("KeyConditionExpression", "Query"), ("ConditionExpression", "DeleteItem"),
                            ("FilterExpression", "Query")])
    body = {"TableName": TABLE, field: expr, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if op in ("PutItem",):
        body["Item"] = key(rng)
    if op in ("UpdateItem", "GetItem", "DeleteItem"):
        body["Key"] = key(rng)
    if op == "Query" and field != "KeyConditionExpression":
        body["KeyConditionExpression"] = "pk = :w"
    send(fz, target(op), json.dumps(body), f"adversarial {field}")


def case_legacy_conditions(rng, fz):
    n = rng.choice([1, 100, 5000])
    conds = {f"a{i}": {"ComparisonOperator": rng.choice(["EQ", "NE", "IN", "BETWEEN", "NULL", "BEGINS_WITH", "XX"]),
                       "AttributeValueList": [rng.choice([{"S": "x"}, {"N": weird_number(rng)}, wrong_type(rng)])]}
             for i in range(n)}
    body = {"TableName": TABLE, "ScanFilter": conds, "ConditionalOperator": rng.choice(["AND", "OR", "XOR"])}
    send(fz, target("Scan"), json.dumps(body), "legacy ScanFilter")


def case_wrong_types(rng, fz):
    op, body = valid_body(rng)
    for _ in range(rng.choice([1, 1, 3])):
        replace_random_field(rng, body)
    send(fz, target(op), json.dumps(body), "wrong types")


def case_big_batches(rng, fz):
    n = rng.choice([26, 101, 1000, 20000])
    kind = rng.randrange(4)
    if kind == 0:
        op, body = "BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": {
            "pk": {"S": "b"}, "sk": {"N": str(i)}}}} for i in range(n)]}}
    elif kind == 1:
        op, body = "BatchGetItem", {"RequestItems": {TABLE: {"Keys": [{"pk": {"S": "b"}, "sk": {"N": str(i)}}
                                                                      for i in range(n)]}}}
    elif kind == 2:
        op, body = "TransactWriteItems", {"TransactItems": [{"ConditionCheck": {
            "TableName": TABLE, "Key": {"pk": {"S": "b"}, "sk": {"N": "1"}},
            "ConditionExpression": "attribute_exists(pk)"}} for _ in range(n)]}
    else:
        op, body = "BatchGetItem", {"RequestItems": {f"t{i}": {"Keys": [key(rng)]} for i in range(n)}}
    send(fz, target(op), json.dumps(body), f"{op} of {n}")


def case_partiql(rng, fz):
    n = rng.choice([10, 101, 1000, 20000])
    stmt = rng.choice([
        "SELECT * FROM " + "(" * n + f'"{TABLE}"' + ")" * n,
        f'SELECT * FROM "{TABLE}" WHERE ' + "(" * n + "pk = 'a'" + ")" * n,
        f'SELECT * FROM "{TABLE}" WHERE ' + " OR ".join(["pk = 'a'"] * n),
        f'SELECT * FROM "{TABLE}" WHERE pk = ' + "[" * n + "]" * n,
        f'SELECT * FROM "{TABLE}" WHERE pk = ' + "{'a':" * n + "1" + "}" * n,
        f'INSERT INTO "{TABLE}" VALUE ' + "{'a':" * n + "1" + "}" * n,
        f'UPDATE "{TABLE}" SET a = ' + "1 + " * n + "1 WHERE pk = 'a' AND sk = 1",
        junk_text(rng, n), random_expression(rng), "SELECT " + "a." * n + "b FROM t",
        f'SELECT * FROM "{TABLE}" WHERE sk = {weird_number(rng)}', "",
    ])
    params = rng.choice([[], [{"S": "a"}], [wrong_type(rng)] * rng.choice([1, 1000])])
    kind = rng.randrange(3)
    if kind == 0:
        op, body = "ExecuteStatement", {"Statement": stmt, "Parameters": params}
    elif kind == 1:
        op, body = "BatchExecuteStatement", {"Statements": [{"Statement": stmt}] * rng.choice([1, 26, 1000])}
    else:
        op, body = "ExecuteTransaction", {"TransactStatements": [{"Statement": stmt}] * rng.choice([1, 101])}
    if not params:
        body.pop("Parameters", None)
    send(fz, target(op), json.dumps(body), f"PartiQL {op}")


def case_bad_target(rng, fz):
    op, body = valid_body(rng)
    t = rng.choice(["", "DynamoDB_20120810", "DynamoDB_20120810.", "DynamoDB_20120810." + "A" * 10000,
                    "DynamoDB_20111205.GetItem", "DynamoDBStreams_20120810.GetRecords",
                    "DynamoDBStreams_20120810.GetShardIterator", "DynamoDBStreams_20120810.PutItem",
                    "dynamodb_20120810.getitem", junk_text(rng, 20).replace("\r", "").replace("\n", "")])
    ct = rng.choice(["application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json",
                     "application/x-amz-cbor-1.1", "text/plain", ""])
    send(fz, t, json.dumps(body), "unknown target", content_type=ct)


def case_streams(rng, fz):
    op = rng.choice(["GetRecords", "GetShardIterator", "DescribeStream", "ListStreams"])
    body = rng.choice([{"ShardIterator": junk_text(rng, rng.choice([0, 10, 5000]))},
                       {"StreamArn": junk_text(rng, 30), "ShardId": junk_text(rng, 10),
                        "ShardIteratorType": rng.choice(["AT_SEQUENCE_NUMBER", "TRIM_HORIZON", "X"]),
                        "SequenceNumber": weird_number(rng)},
                       {"StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/fuzz/stream/" + "x" * 500,
                        "Limit": rng.choice([0, -1, 2 ** 64])},
                       {"Limit": 2 ** 63}])
    send(fz, f"DynamoDBStreams_20120810.{op}", json.dumps(body), f"Streams {op}")


def case_control(rng, fz):
    # Control-plane requests that must be refused (nothing gets created).
    op = rng.choice(["CreateTable", "UpdateTable", "DeleteTable", "UpdateTimeToLive", "CreateBackup",
                     "RestoreTableFromBackup", "TagResource", "DescribeTimeToLive"])
    body = {"TableName": rng.choice(["", "a", "x" * 300, "bad name!", TABLE + "-missing"]),
            "KeySchema": rng.choice([[], [{"AttributeName": "k", "KeyType": "RANGE"}], "x",
                                     [{"AttributeName": "k", "KeyType": "HASH"}] * 3]),
            "AttributeDefinitions": rng.choice([[], [{"AttributeName": "k", "AttributeType": "Q"}], None]),
            "BillingMode": rng.choice(["PAY_PER_REQUEST", "PROVISIONED", "FREE"]),
            "ProvisionedThroughput": {"ReadCapacityUnits": rng.choice([0, -1, 2 ** 63, 10 ** 30]),
                                      "WriteCapacityUnits": rng.choice([0, 1, 2 ** 64])},
            "TimeToLiveSpecification": {"Enabled": rng.choice([True, "yes"]), "AttributeName": junk_text(rng, 5)},
            "BackupArn": junk_text(rng, 50), "TargetTableName": rng.choice(["", "!"]),
            "ResourceArn": junk_text(rng, 20), "Tags": [{"Key": "", "Value": "x" * 1000}] * 60}
    if op == "UpdateTable":
        body["TableName"] = rng.choice([TABLE + "-missing", ""])
    if op in ("DeleteTable", "UpdateTimeToLive", "CreateBackup", "TagResource"):
        body["TableName"] = TABLE + "-missing"
    send(fz, target(op), json.dumps(body), f"control {op}")


def case_bad_signature(rng, fz):
    op, body = valid_body(rng)
    data = json.dumps(body).encode()
    headers = signed(target(op), data)
    kind = rng.randrange(6)
    if kind == 0:
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
    elif kind == 1:
        headers = [(k, v[:-1] + ("0" if v[-1] != "0" else "1")) if k.lower() == "authorization" else (k, v)
                   for k, v in headers]
    elif kind == 2:
        data = data + b" "  # the body no longer matches the signed hash
        headers = [(k, str(len(data))) if k.lower() == "content-length" else (k, v) for k, v in headers]
    elif kind == 3:
        headers = [(k, "20000101T000000Z") if k.lower() == "x-amz-date" else (k, v) for k, v in headers]
    elif kind == 4:
        h = [("Host", HOST), ("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target(op))]
        headers = fuzzlib.sign("dynamodb", rng.choice(["us-west-2", "", "x" * 100]), "AKIDNOTAKEY0000000", "s",
                               "POST", f"http://{HOST}/", h, data) + [("Content-Length", str(len(data)))]
    else:
        headers = [(k, mutate(rng, v.encode()).decode("latin-1")) if k.lower() == "authorization" else (k, v)
                   for k, v in headers]
        headers = [(k, v.replace("\r", "").replace("\n", "")) for k, v in headers]
    raw = fuzzlib.build_request("POST", "/", headers, data)
    resps = fuzzlib.http_exchange(fz, ADDR, raw, what="badly signed request")
    for r in resps:
        check_reply(fz, r, "badly signed request")
        # A mutated Authorization header may still carry the right signature (extra fields are ignored).
        if r.status < 400 and kind != 5:
            fz.fail(f"a badly signed request was accepted: {r!r}")


def case_big_values(rng, fz):
    size = rng.choice([400 * 1024, 400 * 1024 + 1, 2 << 20, 17 << 20])
    item = dict(key(rng), big={"S": "x" * size})
    send(fz, target("PutItem"), json.dumps({"TableName": TABLE, "Item": item}), "oversized item")


def case_advance_clock(rng, fz):
    # Only with --fake-clock; without it this path is an ordinary (unsigned) request.
    body = rng.choice([b"1", b"-1", b"nan", b"1e400", b"x" * 100])
    raw = fuzzlib.build_request("POST", "/_stratus/advance-clock", [("Host", HOST), ("Content-Length", str(len(body)))],
                                body)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="advance-clock"):
        fuzzlib.check_status(fz, r, "advance-clock")


CASES = [
    (10, "json_garbage", case_json_garbage),
    (6, "deep_json", case_deep_json),
    (8, "numbers", case_numbers),
    (14, "expression", case_expression),
    (2, "legacy_conditions", case_legacy_conditions),
    (10, "wrong_types", case_wrong_types),
    (3, "big_batches", case_big_batches),
    (6, "partiql", case_partiql),
    (3, "bad_target", case_bad_target),
    (2, "streams", case_streams),
    (3, "control", case_control),
    (4, "bad_signature", case_bad_signature),
    (1, "big_values", case_big_values),
    (0.5, "advance_clock", case_advance_clock),
] + fuzzlib.http_garbage_cases(ADDR, HOST, template)

fuzzlib.Fuzzer("dynamodb", opts, health).run(CASES)
