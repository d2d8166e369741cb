"""boto3 against a running dynamod: every operation, expression feature and error case of issues #7 and #8

usage: boto3_suite.py ENDPOINT ACCESS_KEY SECRET_KEY MODE [ARGS]
modes: suite | pagination | throttle | ttl | backfill | durability-write | durability-check FILE
Exits non-zero on the first failed check (with the check's name)."""

import base64
import sys
import threading
import time
import urllib.request
from decimal import Decimal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, AK, SK, MODE = sys.argv[1:5]


def client(**cfg):
    return boto3.client(
        "dynamodb", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=AK, aws_secret_access_key=SK,
        config=Config(connect_timeout=10, read_timeout=60, **cfg),
    )


c = client()
c1 = client(retries={"max_attempts": 1, "mode": "standard"})


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


def create(name, hash_type="S", range_type=None, provisioned=None):
    ks = [{"AttributeName": "pk", "KeyType": "HASH"}]
    ad = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_type:
        ks.append({"AttributeName": "sk", "KeyType": "RANGE"})
        ad.append({"AttributeName": "sk", "AttributeType": range_type})
    kw = {"BillingMode": "PAY_PER_REQUEST"}
    if provisioned:
        kw = {"ProvisionedThroughput": {"ReadCapacityUnits": provisioned[0], "WriteCapacityUnits": provisioned[1]}}
    return c.create_table(TableName=name, KeySchema=ks, AttributeDefinitions=ad, **kw)["TableDescription"]


# ---------------------------------------------------------------- control plane

def test_control_plane():
    d = create("ctl_table", "S", "N", provisioned=(5, 7))
    check(d["TableStatus"] == "CREATING", "new table is CREATING")
    c.get_waiter("table_exists").wait(TableName="ctl_table", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    t = c.describe_table(TableName="ctl_table")["Table"]
    check(t["TableStatus"] == "ACTIVE", "table becomes ACTIVE")
    check(t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}], "key schema")
    check(t["ProvisionedThroughput"]["ReadCapacityUnits"] == 5 and t["ProvisionedThroughput"]["WriteCapacityUnits"] == 7, "throughput")
    check(t["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/ctl_table", t["TableArn"])
    check(t["ItemCount"] == 0 and t["TableSizeBytes"] == 0, "empty table")
    check(t["CreationDateTime"].year >= 2024, "creation time")
    c.put_item(TableName="ctl_table", Item={"pk": S("a"), "sk": N(1), "x": S("hello")})
    t = c.describe_table(TableName="ctl_table")["Table"]
    check(t["ItemCount"] == 1, "ItemCount counts items")
    check(t["TableSizeBytes"] == len("pk") + 1 + len("sk") + 2 + len("x") + 5, f"TableSizeBytes {t['TableSizeBytes']}")
    expect_error(lambda: create("ctl_table"), "ResourceInUseException", "Table already exists: ctl_table")
    expect_error(lambda: c.describe_table(TableName="nope_table"), "ResourceNotFoundException",
                 "Requested resource not found: Table: nope_table not found")
    expect_error(lambda: c.get_item(TableName="nope_table", Key={"pk": S("a")}), "ResourceNotFoundException", "Requested resource not found")
    expect_error(lambda: c.create_table(TableName="bad_defs", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                        AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST"),
                 "ValidationException", contains="Some index key attributes are not defined in AttributeDefinitions")
    expect_error(lambda: c.create_table(TableName="bad_mode", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}]),
                 "ValidationException", contains="ReadCapacityUnits and WriteCapacityUnits must both be specified")
    expect_error(lambda: create("too_big", provisioned=(50000, 1)), "LimitExceededException")
    # UpdateTable: throughput, then billing mode.
    u = c.update_table(TableName="ctl_table", ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 7})["TableDescription"]
    check(u["ProvisionedThroughput"]["ReadCapacityUnits"] == 10, "UpdateTable throughput")
    expect_error(lambda: c.update_table(TableName="ctl_table", ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 7}),
                 "ValidationException", contains="will not change")
    u = c.update_table(TableName="ctl_table", BillingMode="PAY_PER_REQUEST")["TableDescription"]
    check(u["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", "UpdateTable billing mode")
    # ListTables pagination.
    for i in range(5):
        create(f"list_{i:02d}")
    names = []
    kw = {"Limit": 2}
    while True:
        r = c.list_tables(**kw)
        check(len(r["TableNames"]) <= 2, "Limit honoured")
        names += r["TableNames"]
        if "LastEvaluatedTableName" not in r:
            break
        kw["ExclusiveStartTableName"] = r["LastEvaluatedTableName"]
    check(names == sorted(names) and all(f"list_{i:02d}" in names for i in range(5)), f"list pagination {names}")
    check(c.list_tables(ExclusiveStartTableName="list_02", Limit=2)["TableNames"] == ["list_03", "list_04"], "ExclusiveStartTableName")
    # Tags.
    arn = t["TableArn"]
    c.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "db"}])
    c.untag_resource(ResourceArn=arn, TagKeys=["team"])
    check(c.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}], "tags")
    expect_error(lambda: c.list_tags_of_resource(ResourceArn=arn.replace("ctl_table", "zzz_table")), "ResourceNotFoundException")
    lim = c.describe_limits()
    check(lim["TableMaxReadCapacityUnits"] == 40000 and lim["AccountMaxWriteCapacityUnits"] == 80000, "DescribeLimits")
    check(len(c.describe_endpoints()["Endpoints"]) == 1, "DescribeEndpoints")
    # DeleteTable.
    d = c.delete_table(TableName="list_00")["TableDescription"]
    check(d["TableStatus"] == "DELETING", "DELETING")
    c.get_waiter("table_not_exists").wait(TableName="list_00", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    expect_error(lambda: c.delete_table(TableName="list_00"), "ResourceNotFoundException")


# ---------------------------------------------------------------- values, keys, sizes

def test_values_and_keys():
    create("vals", "S", "N")
    item = {
        "pk": S("v1"), "sk": N(1),
        "s": S("héllo"), "empty": S(""), "n": N("1.50"), "b": {"B": b"\x00\x01\xff"}, "t": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [S("a"), N(2), {"M": {"deep": {"L": [N(3)]}}}]}, "m": {"M": {"x": S("y")}},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]},
        "big": N("12345678901234567890123456789012345678"), "tiny": N("1E-130"), "huge": N("9.9999999999999999999999999999999999999E+125"),
        "neg": N("-0.000123400"),
    }
    c.put_item(TableName="vals", Item=item)
    got = c.get_item(TableName="vals", Key={"pk": S("v1"), "sk": N(1)}, ConsistentRead=True)["Item"]
    check(got["n"] == N("1.5"), f"canonical number {got['n']}")
    check(got["neg"] == N("-0.0001234"), f"canonical negative {got['neg']}")
    check(got["big"] == item["big"] and got["tiny"] == N("0." + "0" * 129 + "1"), "precision edge cases")
    check(got["b"] == {"B": b"\x00\x01\xff"} and got["empty"] == S(""), "binary and empty string")
    check(sorted(got["ns"]["NS"]) == ["1", "2.5"] and sorted(got["ss"]["SS"]) == ["a", "b"], "sets")
    check(got["l"]["L"][2]["M"]["deep"]["L"][0] == N(3), "nested list/map")
    # Number limits.
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "n": N("123456789012345678901234567890123456789")}),
                 "ValidationException", "Attempting to store more than 38 significant digits in a Number")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "n": N("1E+126")}),
                 "ValidationException", contains="Number overflow")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "n": N("1E-131")}),
                 "ValidationException", contains="Number underflow")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "n": N("abc")}), "ValidationException")
    # Exact arithmetic.
    c.update_item(TableName="vals", Key={"pk": S("v1"), "sk": N(1)}, UpdateExpression="SET n = n + :a", ExpressionAttributeValues={":a": N("0.1")})
    c.update_item(TableName="vals", Key={"pk": S("v1"), "sk": N(1)}, UpdateExpression="SET n = n + :a", ExpressionAttributeValues={":a": N("0.2")})
    got = c.get_item(TableName="vals", Key={"pk": S("v1"), "sk": N(1)}, ProjectionExpression="n")["Item"]
    check(got == {"n": N("1.8")}, f"exact decimal arithmetic {got}")
    # Sets.
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "ss": {"SS": []}}), "ValidationException", contains="may not be empty")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("x"), "sk": N(1), "ss": {"SS": ["a", "a"]}}), "ValidationException", contains="contains duplicates")
    # Keys.
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": N(1), "sk": N(1)}), "ValidationException",
                 "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("a")}), "ValidationException",
                 "One or more parameter values were invalid: Missing the key sk in the item")
    expect_error(lambda: c.get_item(TableName="vals", Key={"pk": S("a")}), "ValidationException", "The provided key element does not match the schema")
    expect_error(lambda: c.get_item(TableName="vals", Key={"pk": S("a"), "sk": S("1")}), "ValidationException", "The provided key element does not match the schema")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S(""), "sk": N(1)}), "ValidationException", contains="cannot contain an empty string value")
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("k" * 2049), "sk": N(1)}), "ValidationException", contains="2048 bytes")
    c.put_item(TableName="vals", Item={"pk": S("k" * 2048), "sk": N(1)})
    # Item size: 400 KB including attribute names.
    big = "x" * (400 * 1024 - len("pk") - 2 - len("sk") - 2 - len("data"))
    c.put_item(TableName="vals", Item={"pk": S("bg"), "sk": N(1), "data": S(big)})
    expect_error(lambda: c.put_item(TableName="vals", Item={"pk": S("bg"), "sk": N(1), "data": S(big + "y")}),
                 "ValidationException", "Item size has exceeded the maximum allowed size")
    expect_error(lambda: c.update_item(TableName="vals", Key={"pk": S("bg"), "sk": N(1)}, UpdateExpression="SET more = :v",
                                       ExpressionAttributeValues={":v": S("zz")}), "ValidationException", contains="Item size to update has exceeded")
    expect_error(lambda: c.update_item(TableName="vals", Key={"pk": S("v1"), "sk": N(1)}, UpdateExpression="SET pk = :v",
                                       ExpressionAttributeValues={":v": S("zz")}), "ValidationException", contains="This attribute is part of the key")
    # Binary keys.
    create("binkeys", "B")
    c.put_item(TableName="binkeys", Item={"pk": {"B": b"\x00\x00"}, "v": N(1)})
    check(c.get_item(TableName="binkeys", Key={"pk": {"B": b"\x00\x00"}})["Item"]["v"] == N(1), "binary key")


# ---------------------------------------------------------------- writes, conditions, return values

def test_writes_and_conditions():
    create("items", "S")
    T = "items"
    r = c.put_item(TableName=T, Item={"pk": S("a"), "v": N(1)}, ReturnValues="ALL_OLD")
    check("Attributes" not in r, "no old item")
    r = c.put_item(TableName=T, Item={"pk": S("a"), "v": N(2)}, ReturnValues="ALL_OLD")
    check(r["Attributes"] == {"pk": S("a"), "v": N(1)}, "ALL_OLD on put")
    expect_error(lambda: c.put_item(TableName=T, Item={"pk": S("a")}, ReturnValues="ALL_NEW"), "ValidationException")
    e = expect_error(lambda: c1.put_item(TableName=T, Item={"pk": S("a")}, ConditionExpression="attribute_not_exists(pk)",
                                         ReturnValuesOnConditionCheckFailure="ALL_OLD"),
                     "ConditionalCheckFailedException", "The conditional request failed")
    check(e.get("Item") == {"pk": S("a"), "v": N(2)}, f"ReturnValuesOnConditionCheckFailure {e.get('Item')}")
    base = {"pk": S("c"), "n": N(5), "s": S("hello world"), "tags": {"SS": ["x", "y"]}, "l": {"L": [N(1), N(2), N(3)]},
            "m": {"M": {"a": {"M": {"b": {"L": [N(0), N(0), {"M": {"c": N(7)}}]}}}}}, "flag": {"BOOL": True}}
    c.put_item(TableName=T, Item=base)
    vals = {":five": N(5), ":one": N(1), ":ten": N(10), ":hw": S("hello"), ":x": S("x"), ":w": S("world"), ":S": S("S"), ":three": N(3), ":seven": N(7)}
    passing = [
        ("n = :five", [":five"]), ("n <> :one", [":one"]), ("n < :ten", [":ten"]), ("n <= :five", [":five"]), ("n > :one", [":one"]),
        ("n >= :five", [":five"]), ("n BETWEEN :one AND :ten", [":one", ":ten"]), ("n IN (:one, :five)", [":one", ":five"]),
        ("n = :five AND (s = :hw OR begins_with(s, :hw))", [":five", ":hw"]), ("NOT n = :one", [":one"]),
        ("attribute_exists(s) AND attribute_not_exists(zz)", []), ("attribute_type(s, :S)", [":S"]), ("contains(s, :w)", [":w"]),
        ("contains(tags, :x)", [":x"]), ("size(l) = :three", [":three"]), ("size(s) > :ten", [":ten"]), ("m.a.b[2].c = :seven", [":seven"]),
        ("(n = :one OR n = :five) AND NOT (n = :ten)", [":one", ":five", ":ten"]),
    ]
    for expr, used in passing:
        c.delete_item(TableName=T, Key={"pk": S("nothing")})
        c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="SET flag = :t", ConditionExpression=expr,
                      ExpressionAttributeValues={**{k: vals[k] for k in used}, ":t": {"BOOL": True}})
    failing = [("n = :one", [":one"]), ("n BETWEEN :five AND :ten AND n > :five", [":five", ":ten"]), ("attribute_exists(zz)", []),
               ("begins_with(s, :w)", [":w"]), ("n IN (:one, :ten)", [":one", ":ten"]), ("size(l) > :three", [":three"])]
    for expr, used in failing:
        expect_error(lambda: c1.delete_item(TableName=T, Key={"pk": S("c")}, ConditionExpression=expr,
                                            ExpressionAttributeValues={k: vals[k] for k in used} or None) if used else
                     c1.delete_item(TableName=T, Key={"pk": S("c")}, ConditionExpression=expr),
                     "ConditionalCheckFailedException")
    # Update actions.
    r = c.update_item(TableName=T, Key={"pk": S("c")},
                      UpdateExpression="SET n = n - :one, cnt = if_not_exists(cnt, :ten) + :one, l = list_append(l, :more), m.a.b[2].c = :hw, #s = :w "
                                       "REMOVE flag ADD tags :more_tags, tot :five DELETE gone :gone_set",
                      ExpressionAttributeNames={"#s": "s"},
                      ExpressionAttributeValues={":one": N(1), ":ten": N(10), ":more": {"L": [N(4)]}, ":hw": S("hello"), ":w": S("world"),
                                                 ":more_tags": {"SS": ["z"]}, ":five": N(5), ":gone_set": {"SS": ["q"]}},
                      ReturnValues="ALL_NEW")
    a = r["Attributes"]
    check(a["n"] == N(4) and a["cnt"] == N(11) and a["tot"] == N(5), f"SET arithmetic / ADD number {a}")
    check(a["l"] == {"L": [N(1), N(2), N(3), N(4)]}, f"list_append {a['l']}")
    r = c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="REMOVE l[0], l[2]", ReturnValues="ALL_NEW")
    check(r["Attributes"]["l"] == {"L": [N(2), N(4)]}, f"REMOVE list elements {r['Attributes']}")
    check(a["m"]["M"]["a"]["M"]["b"]["L"][2]["M"]["c"] == S("hello"), "nested SET")
    check("flag" not in a and a["s"] == S("world") and sorted(a["tags"]["SS"]) == ["x", "y", "z"], "REMOVE / ADD set")
    r = c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="DELETE tags :d", ExpressionAttributeValues={":d": {"SS": ["x", "z"]}},
                      ReturnValues="UPDATED_NEW")
    check(r["Attributes"] == {"tags": {"SS": ["y"]}}, f"DELETE from set, UPDATED_NEW {r['Attributes']}")
    r = c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="SET n = :ten", ExpressionAttributeValues={":ten": N(10)}, ReturnValues="UPDATED_OLD")
    check(r["Attributes"] == {"n": N(4)}, "UPDATED_OLD")
    r = c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="SET n = :one", ExpressionAttributeValues={":one": N(1)}, ReturnValues="ALL_OLD")
    check(r["Attributes"]["n"] == N(10), "ALL_OLD on update")
    r = c.update_item(TableName=T, Key={"pk": S("new")}, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": N(1)}, ReturnValues="ALL_NEW")
    check(r["Attributes"] == {"pk": S("new"), "hits": N(1)}, "UpdateItem creates the item")
    expect_error(lambda: c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="SET n = s + :one", ExpressionAttributeValues={":one": N(1)}),
                 "ValidationException", "An operand in the update expression has an incorrect data type")
    expect_error(lambda: c.update_item(TableName=T, Key={"pk": S("c")}, UpdateExpression="SET n = nothere + :one", ExpressionAttributeValues={":one": N(1)}),
                 "ValidationException", "The provided expression refers to an attribute that does not exist in the item")
    r = c.delete_item(TableName=T, Key={"pk": S("new")}, ReturnValues="ALL_OLD")
    check(r["Attributes"]["hits"] == N(1), "ALL_OLD on delete")
    check("Item" not in c.get_item(TableName=T, Key={"pk": S("new")}), "deleted")


def test_expression_errors():
    T = "items"
    key = {"pk": S("c")}
    expect_error(lambda: c.get_item(TableName=T, Key=key, ProjectionExpression="status"), "ValidationException",
                 "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: status")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="n = :a", ExpressionAttributeValues={":a": N(1), ":b": N(2)}),
                 "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="n = :a", ExpressionAttributeValues={":a": N(1)},
                                       ExpressionAttributeNames={"#x": "x"}),
                 "ValidationException", "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="n = :nope"), "ValidationException",
                 "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="attribute_exists(#nope)"), "ValidationException",
                 "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #nope")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="n = = :a", ExpressionAttributeValues={":a": N(1)}),
                 "ValidationException", 'Invalid ConditionExpression: Syntax error; token: "=", near: "= = :a"')
    expect_error(lambda: c.update_item(TableName=T, Key=key, UpdateExpression="SET a = :a SET b = :a", ExpressionAttributeValues={":a": N(1)}),
                 "ValidationException", contains='The "SET" section can only be used once')
    expect_error(lambda: c.update_item(TableName=T, Key=key, UpdateExpression="SET a = :a REMOVE a", ExpressionAttributeValues={":a": N(1)}),
                 "ValidationException", contains="Two document paths overlap")
    expect_error(lambda: c.delete_item(TableName=T, Key=key, ConditionExpression="bogus(n)"), "ValidationException",
                 "Invalid ConditionExpression: Invalid function name; function: bogus")
    expect_error(lambda: c.put_item(TableName=T, Item=key, ConditionExpression="n = :a", Expected={"n": {"Exists": False}},
                                    ExpressionAttributeValues={":a": N(1)}),
                 "ValidationException", contains="Can not use both expression and non-expression parameters")


def test_projection_and_capacity():
    T = "items"
    c.put_item(TableName=T, Item={"pk": S("p"), "a": {"M": {"b": {"L": [N(1), N(2)]}, "c": S("x")}}, "d": S("y"), "e": S("z")})
    got = c.get_item(TableName=T, Key={"pk": S("p")}, ProjectionExpression="a.b[1], #d", ExpressionAttributeNames={"#d": "d"})["Item"]
    check(got == {"a": {"M": {"b": {"L": [N(2)]}}}, "d": S("y")}, f"projection {got}")
    got = c.get_item(TableName=T, Key={"pk": S("p")}, AttributesToGet=["d", "e"])["Item"]
    check(got == {"d": S("y"), "e": S("z")}, "AttributesToGet")
    # Capacity: writes 1 WCU per KB, reads 1 RCU per 4 KB (half when eventually consistent).
    one_and_half_kb = "x" * 1500
    r = c.put_item(TableName=T, Item={"pk": S("cap"), "v": S(one_and_half_kb)}, ReturnConsumedCapacity="TOTAL")
    check(r["ConsumedCapacity"] == {"TableName": T, "CapacityUnits": 2.0}, f"put capacity {r['ConsumedCapacity']}")
    r = c.get_item(TableName=T, Key={"pk": S("cap")}, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    check(r["ConsumedCapacity"]["CapacityUnits"] == 1.0, "strong read")
    r = c.get_item(TableName=T, Key={"pk": S("cap")}, ReturnConsumedCapacity="INDEXES")
    check(r["ConsumedCapacity"]["CapacityUnits"] == 0.5 and r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 0.5, f"eventual read {r['ConsumedCapacity']}")
    c.put_item(TableName=T, Item={"pk": S("cap5"), "v": S("x" * 5000)})
    r = c.get_item(TableName=T, Key={"pk": S("cap5")}, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    check(r["ConsumedCapacity"]["CapacityUnits"] == 2.0, "5 KB strong read = 2 RCU")
    r = c.delete_item(TableName=T, Key={"pk": S("cap5")}, ReturnConsumedCapacity="TOTAL")
    check(r["ConsumedCapacity"]["CapacityUnits"] == 5.0, f"delete of a 5 KB item {r['ConsumedCapacity']}")
    check("ConsumedCapacity" not in c.get_item(TableName=T, Key={"pk": S("cap")}), "NONE by default")


# ---------------------------------------------------------------- query / scan

def test_query_and_scan():
    create("qnum", "S", "N")
    create("qstr", "S", "S")
    nums = ["-5", "-0.5", "0", "2", "10", "100", "1E+3"]
    for n in nums:
        c.put_item(TableName="qnum", Item={"pk": S("p"), "sk": N(n), "odd": {"BOOL": n in ("-5", "100")}, "pad": S("x" * 100)})
    c.put_item(TableName="qnum", Item={"pk": S("other"), "sk": N(1)})
    r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    check([i["sk"]["N"] for i in r["Items"]] == ["-5", "-0.5", "0", "2", "10", "100", "1000"], f"numeric sort order {[i['sk'] for i in r['Items']]}")
    r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, ScanIndexForward=False)
    check(r["Items"][0]["sk"] == N(1000), "ScanIndexForward=False")
    cases = [("sk = :a", {":a": N(2)}, ["2"]), ("sk < :a", {":a": N(0)}, ["-5", "-0.5"]), ("sk <= :a", {":a": N(0)}, ["-5", "-0.5", "0"]),
             ("sk > :a", {":a": N(10)}, ["100", "1000"]), ("sk >= :a", {":a": N(10)}, ["10", "100", "1000"]),
             ("sk BETWEEN :a AND :b", {":a": N("-0.5"), ":b": N(2)}, ["-0.5", "0", "2"])]
    for cond, vals, want in cases:
        r = c.query(TableName="qnum", KeyConditionExpression="pk = :p AND " + cond, ExpressionAttributeValues={":p": S("p"), **vals})
        check([i["sk"]["N"] for i in r["Items"]] == want, f"{cond}: {[i['sk']['N'] for i in r['Items']]}")
    for s in ["b", "a", "ab", "abc", "B", "a\u00e9"]:
        c.put_item(TableName="qstr", Item={"pk": S("p"), "sk": S(s)})
    r = c.query(TableName="qstr", KeyConditionExpression="pk = :p AND begins_with(sk, :a)", ExpressionAttributeValues={":p": S("p"), ":a": S("a")})
    check([i["sk"]["S"] for i in r["Items"]] == ["a", "ab", "abc", "a\u00e9"], f"begins_with {r['Items']}")
    r = c.query(TableName="qstr", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    check([i["sk"]["S"] for i in r["Items"]] == ["B", "a", "ab", "abc", "a\u00e9", "b"], "strings sort by UTF-8 bytes")
    # Limit + ExclusiveStartKey.
    seen, kw = [], {}
    while True:
        r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Limit=3, **kw)
        seen += [i["sk"]["N"] for i in r["Items"]]
        if "LastEvaluatedKey" not in r:
            break
        kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}
    check(seen == ["-5", "-0.5", "0", "2", "10", "100", "1000"], f"paged query {seen}")
    # Filter after Limit; Select COUNT.
    r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", FilterExpression="odd = :t", ExpressionAttributeValues={":p": S("p"), ":t": {"BOOL": True}})
    check(r["Count"] == 2 and r["ScannedCount"] == 7, "filter counts")
    r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", Select="COUNT", ExpressionAttributeValues={":p": S("p")}, ReturnConsumedCapacity="TOTAL")
    check(r["Count"] == 7 and "Items" not in r, "Select COUNT")
    check(r["ConsumedCapacity"]["CapacityUnits"] == 0.5, "query capacity sums sizes before rounding")
    r = c.query(TableName="qnum", KeyConditionExpression="pk = :p", ProjectionExpression="sk", ExpressionAttributeValues={":p": S("p")}, Limit=1)
    check(r["Items"] == [{"sk": N(-5)}], "query projection")
    # Key condition errors.
    expect_error(lambda: c.query(TableName="qnum", KeyConditionExpression="sk = :a", ExpressionAttributeValues={":a": N(1)}),
                 "ValidationException", "Query condition missed key schema element: pk")
    expect_error(lambda: c.query(TableName="qnum", KeyConditionExpression="pk = :p OR sk = :a", ExpressionAttributeValues={":p": S("p"), ":a": N(1)}),
                 "ValidationException", "Invalid operator used in KeyConditionExpression: OR")
    expect_error(lambda: c.query(TableName="qnum", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": N(1)}),
                 "ValidationException", contains="Condition parameter type does not match schema type")
    # Legacy KeyConditions / QueryFilter.
    r = c.query(TableName="qnum", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("p")]},
                                              "sk": {"ComparisonOperator": "GT", "AttributeValueList": [N(2)]}},
                QueryFilter={"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": True}]}})
    check([i["sk"]["N"] for i in r["Items"]] == ["100"], "KeyConditions + QueryFilter")
    # Scan: everything, segments, filter, pagination.
    total = c.scan(TableName="qnum")["Count"]
    check(total == 8, "scan count")
    segs = [c.scan(TableName="qnum", Segment=s, TotalSegments=3)["Items"] for s in range(3)]
    keys = sorted((i["pk"]["S"], i["sk"]["N"]) for seg in segs for i in seg)
    check(len(keys) == 8 and len(set(keys)) == 8, "parallel scan segments partition the table")
    expect_error(lambda: c.scan(TableName="qnum", Segment=3, TotalSegments=3), "ValidationException", contains="Segment")
    r = c.scan(TableName="qnum", ScanFilter={"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": True}]}})
    check(r["Count"] == 2, "ScanFilter")
    r = c.scan(TableName="qnum", FilterExpression="sk > :z", ExpressionAttributeValues={":z": N(5)})
    check(r["Count"] == 3, "scan FilterExpression")
    pages, n, kw = 0, 0, {}
    while True:
        r = c.scan(TableName="qnum", Limit=3, **kw)
        pages, n = pages + 1, n + r["Count"]
        if "LastEvaluatedKey" not in r:
            break
        kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}
    check(n == 8 and pages == 3, f"scan pagination {n} {pages}")
    p = c.get_paginator("scan")
    check(sum(pg["Count"] for pg in p.paginate(TableName="qnum", PaginationConfig={"PageSize": 2})) == 8, "boto3 paginator")


# ---------------------------------------------------------------- batches and legacy writes

def test_batches_and_legacy():
    create("batch", "S")
    puts = [{"PutRequest": {"Item": {"pk": S(f"k{i}"), "v": N(i)}}} for i in range(25)]
    r = c.batch_write_item(RequestItems={"batch": puts}, ReturnConsumedCapacity="TOTAL")
    check(r["UnprocessedItems"] == {} and r["ConsumedCapacity"][0]["CapacityUnits"] == 25.0, "BatchWriteItem")
    expect_error(lambda: c.batch_write_item(RequestItems={"batch": puts + [{"PutRequest": {"Item": {"pk": S("k99")}}}]}), "ValidationException")
    expect_error(lambda: c.batch_write_item(RequestItems={"batch": puts[:2] + puts[:1]}), "ValidationException",
                 "Provided list of item keys contains duplicates")
    r = c.batch_write_item(RequestItems={"batch": [{"DeleteRequest": {"Key": {"pk": S("k0")}}}]})
    check(r["UnprocessedItems"] == {}, "batch delete")
    keys = [{"pk": S(f"k{i}")} for i in range(25)] + [{"pk": S(f"none{i}")} for i in range(75)]
    r = c.batch_get_item(RequestItems={"batch": {"Keys": keys, "ProjectionExpression": "v"}})
    check(len(r["Responses"]["batch"]) == 24 and r["UnprocessedKeys"] == {}, "BatchGetItem 100 keys")
    check(all(set(i) == {"v"} for i in r["Responses"]["batch"]), "batch projection")
    expect_error(lambda: c.batch_get_item(RequestItems={"batch": {"Keys": keys + [{"pk": S("x")}]}}), "ValidationException",
                 "Too many items requested for the BatchGetItem call")
    # Legacy write parameters.
    c.put_item(TableName="batch", Item={"pk": S("L"), "v": N(1)}, Expected={"v": {"Value": N(1)}, "pk": {"Exists": False}}, ConditionalOperator="OR")
    expect_error(lambda: c1.put_item(TableName="batch", Item={"pk": S("L")}, Expected={"pk": {"Exists": False}}), "ConditionalCheckFailedException")
    c.update_item(TableName="batch", Key={"pk": S("L")}, AttributeUpdates={"v": {"Action": "ADD", "Value": N(2)}, "w": {"Action": "PUT", "Value": S("x")}},
                  Expected={"v": {"ComparisonOperator": "LT", "AttributeValueList": [N(5)]}})
    got = c.get_item(TableName="batch", Key={"pk": S("L")}, AttributesToGet=["v", "w"])["Item"]
    check(got == {"v": N(3), "w": S("x")}, f"AttributeUpdates {got}")
    c.update_item(TableName="batch", Key={"pk": S("L")}, AttributeUpdates={"w": {"Action": "DELETE"}})
    check("w" not in c.get_item(TableName="batch", Key={"pk": S("L")})["Item"], "AttributeUpdates DELETE")
    c.delete_item(TableName="batch", Key={"pk": S("L")}, Expected={"v": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(1), N(3)]}})


def test_transactions():
    create("txn", "S")
    c.put_item(TableName="txn", Item={"pk": S("acct1"), "bal": N(100)})
    c.put_item(TableName="txn", Item={"pk": S("acct2"), "bal": N(0)})
    c.put_item(TableName="txn", Item={"pk": S("bank")})
    move = lambda amount: c1.transact_write_items(TransactItems=[
        {"Update": {"TableName": "txn", "Key": {"pk": S("acct1")}, "UpdateExpression": "SET bal = bal - :a", "ConditionExpression": "bal >= :a",
                    "ExpressionAttributeValues": {":a": N(amount)}}},
        {"Update": {"TableName": "txn", "Key": {"pk": S("acct2")}, "UpdateExpression": "SET bal = bal + :a", "ExpressionAttributeValues": {":a": N(amount)}}},
        {"Put": {"TableName": "txn", "Item": {"pk": S(f"log{amount}"), "amount": N(amount)}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"ConditionCheck": {"TableName": "txn", "Key": {"pk": S("bank")}, "ConditionExpression": "attribute_exists(pk)"}},
    ], ReturnConsumedCapacity="TOTAL")
    r = move(30)
    check(r["ConsumedCapacity"] == [{"TableName": "txn", "CapacityUnits": 8.0}], f"transactions cost 2x {r['ConsumedCapacity']}")
    e = expect_error(lambda: move(80), "TransactionCanceledException", contains="ConditionalCheckFailed")
    check([x["Code"] for x in e["CancellationReasons"]] == ["ConditionalCheckFailed", "None", "None", "None"], f"reasons {e['CancellationReasons']}")
    r = c.transact_get_items(TransactItems=[{"Get": {"TableName": "txn", "Key": {"pk": S("acct1")}}}, {"Get": {"TableName": "txn", "Key": {"pk": S("acct2")}}},
                                            {"Get": {"TableName": "txn", "Key": {"pk": S("nobody")}}}], ReturnConsumedCapacity="TOTAL")
    check([x.get("Item", {}).get("bal") for x in r["Responses"]] == [N(70), N(30), None], f"all or nothing {r['Responses']}")
    check(r["ConsumedCapacity"][0]["CapacityUnits"] == 6.0, "transactional reads cost 2x")
    check("Item" not in c.get_item(TableName="txn", Key={"pk": S("log80")}), "cancelled put did not apply")
    expect_error(lambda: c.transact_write_items(TransactItems=[
        {"Delete": {"TableName": "txn", "Key": {"pk": S("acct1")}}}, {"Delete": {"TableName": "txn", "Key": {"pk": S("acct1")}}}]),
        "ValidationException", contains="multiple operations on one item")


def raw_call(target, body, sign=True):
    """A hand-made request (botocore's signer, urllib transport) for what boto3 refuses to send."""
    import json
    import urllib.error
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
    req = AWSRequest(method="POST", url=ENDPOINT + "/", data=body.encode(), headers=headers)
    if sign:
        SigV4Auth(Credentials(AK, SK), "dynamodb", "us-east-1").add_auth(req)
    r = urllib.request.Request(ENDPOINT + "/", data=body.encode(), headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_wire_errors():
    status, body = raw_call("DynamoDB_20120810.NoSuchOperation", "{}")
    check(status == 400 and body["__type"].endswith("#UnknownOperationException"), f"unknown operation {status} {body}")
    status, body = raw_call("DynamoDB_20120810.ListTables", "{not json")
    check(status == 400 and body["__type"].endswith("#SerializationException"), f"bad JSON {status} {body}")
    status, body = raw_call("DynamoDB_20120810.ListTables", "{}", sign=False)
    check(status == 400 and body["__type"].endswith("#MissingAuthenticationTokenException"), f"unsigned {status} {body}")
    status, body = raw_call("DynamoDB_20120810.PutItem", '{"TableName": "items", "Item": {"pk": {"S": "a", "N": "1"}}}')
    check(status == 400 and body["__type"] == "com.amazonaws.dynamodb.v20120810#ValidationException" and "more than one datatypes" in body["message"],
          f"two types in one value {body}")
    status, body = raw_call("DynamoDB_20120810.GetItem", '{"TableName": "items", "Key": {"pk": {"S": "c"}}}')
    check(status == 200 and body["Item"]["pk"] == {"S": "c"}, "raw GetItem")


def test_auth():
    bad = boto3.client("dynamodb", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=AK, aws_secret_access_key="wrong" + SK,
                       config=Config(retries={"max_attempts": 1}))
    expect_error(lambda: bad.list_tables(), "InvalidSignatureException")
    unknown = boto3.client("dynamodb", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="AKIDUNKNOWN", aws_secret_access_key=SK,
                           config=Config(retries={"max_attempts": 1}))
    expect_error(lambda: unknown.list_tables(), "UnrecognizedClientException")


# ---------------------------------------------------------------- secondary indexes (issue #8)

def test_secondary_indexes():
    c.create_table(
        TableName="idx", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                              [("pk", "S"), ("sk", "N"), ("city", "S"), ("score", "N"), ("ts", "N")]],
        LocalSecondaryIndexes=[{"IndexName": "by_ts", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "ts", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"},
             {"AttributeName": "score", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]}},
            {"IndexName": "all_city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
        ])
    for i in range(10):
        item = {"pk": S(f"u{i % 3}"), "sk": N(i), "name": S(f"n{i}"), "secret": S("x"), "ts": N(100 - i)}
        if i != 9:  # item 9 lacks the GSI key: not in by_city / all_city
            item["city"] = S("paris" if i % 2 else "rome")
            item["score"] = N(i * 10)
        c.put_item(TableName="idx", Item=item)
    t = c.describe_table(TableName="idx")["Table"]
    gsis = {g["IndexName"]: g for g in t["GlobalSecondaryIndexes"]}
    check(gsis["by_city"]["IndexStatus"] == "ACTIVE" and gsis["by_city"]["ItemCount"] == 9, f"GSI described {gsis['by_city']}")
    check(gsis["by_city"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]}, "GSI projection")
    check(t["LocalSecondaryIndexes"][0]["IndexName"] == "by_ts" and t["LocalSecondaryIndexes"][0]["ItemCount"] == 10, "LSI described")
    check(gsis["by_city"]["IndexArn"].endswith(":table/idx/index/by_city"), "IndexArn")
    # Query a GSI: index order, projection INCLUDE (no "secret"), items lacking the key absent.
    r = c.query(TableName="idx", IndexName="by_city", KeyConditionExpression="city = :c AND score >= :s",
                ExpressionAttributeValues={":c": S("paris"), ":s": N(30)})
    check([int(i["score"]["N"]) for i in r["Items"]] == [30, 50, 70], f"GSI query {r['Items']}")
    check(all("secret" not in i and "name" in i and "pk" in i for i in r["Items"]), "INCLUDE projection")
    expect_error(lambda: c.query(TableName="idx", IndexName="by_city", ConsistentRead=True, KeyConditionExpression="city = :c",
                                 ExpressionAttributeValues={":c": S("paris")}), "ValidationException",
                 "Consistent reads are not supported on global secondary indexes")
    expect_error(lambda: c.query(TableName="idx", IndexName="nope", KeyConditionExpression="city = :c",
                                 ExpressionAttributeValues={":c": S("paris")}), "ValidationException", contains="does not have the specified index")
    expect_error(lambda: c.query(TableName="idx", IndexName="by_city", Select="ALL_ATTRIBUTES", KeyConditionExpression="city = :c",
                                 ExpressionAttributeValues={":c": S("paris")}), "ValidationException", contains="ALL_ATTRIBUTES")
    # Pagination through a GSI with equal hash keys (all_city has no sort key).
    seen, kw = [], {}
    while True:
        r = c.query(TableName="idx", IndexName="all_city", KeyConditionExpression="city = :c",
                    ExpressionAttributeValues={":c": S("rome")}, Limit=2, **kw)
        seen += [i["sk"]["N"] for i in r["Items"]]
        check(all("secret" in i for i in r["Items"]), "ALL projection")
        if "LastEvaluatedKey" not in r:
            break
        check(set(r["LastEvaluatedKey"]) == {"pk", "sk", "city"}, f"index LastEvaluatedKey {r['LastEvaluatedKey']}")
        kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}
    check(sorted(seen) == ["0", "2", "4", "6", "8"], f"GSI pagination {seen}")
    # LSI: strongly consistent allowed, sort by ts, KEYS_ONLY unless attributes are asked for (fetched from the table).
    r = c.query(TableName="idx", IndexName="by_ts", ConsistentRead=True, KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": S("u0")})
    check([i["ts"]["N"] for i in r["Items"]] == ["91", "94", "97", "100"], f"LSI order {r['Items']}")
    check(set(r["Items"][0]) == {"pk", "sk", "ts"}, "KEYS_ONLY projection")
    r = c.query(TableName="idx", IndexName="by_ts", KeyConditionExpression="pk = :p", Select="ALL_ATTRIBUTES",
                ExpressionAttributeValues={":p": S("u0")})
    check(r["Items"][0]["secret"] == S("x"), "LSI fetches unprojected attributes")
    # Scan an index.
    r = c.scan(TableName="idx", IndexName="by_city")
    check(r["Count"] == 9, f"GSI scan {r['Count']}")
    # Maintenance: changing the index key moves the entry (2 index writes), removing it drops it.
    r = c.update_item(TableName="idx", Key={"pk": S("u0"), "sk": N(0)}, UpdateExpression="SET city = :c",
                      ExpressionAttributeValues={":c": S("oslo")}, ReturnConsumedCapacity="INDEXES")
    cc = r["ConsumedCapacity"]
    check(cc["GlobalSecondaryIndexes"]["by_city"]["CapacityUnits"] == 2.0, f"key change = 2 index writes {cc}")
    check(cc["GlobalSecondaryIndexes"]["all_city"]["CapacityUnits"] == 2.0, f"{cc}")
    check("by_ts" not in cc.get("LocalSecondaryIndexes", {}), f"unchanged LSI entry costs nothing {cc}")
    check(cc["Table"]["CapacityUnits"] == 1.0 and cc["CapacityUnits"] == 5.0, f"totals {cc}")
    r = c.query(TableName="idx", IndexName="by_city", KeyConditionExpression="city = :c", ExpressionAttributeValues={":c": S("oslo")})
    check(r["Count"] == 1, "moved entry")
    r = c.query(TableName="idx", IndexName="by_city", KeyConditionExpression="city = :c", ExpressionAttributeValues={":c": S("rome")})
    check("0" not in [i["sk"]["N"] for i in r["Items"]], "old entry removed")
    c.update_item(TableName="idx", Key={"pk": S("u0"), "sk": N(0)}, UpdateExpression="REMOVE score")
    check(c.scan(TableName="idx", IndexName="by_city")["Count"] == 8, "item without index key leaves the index")
    c.delete_item(TableName="idx", Key={"pk": S("u1"), "sk": N(1)})
    check(c.scan(TableName="idx", IndexName="all_city")["Count"] == 8, "delete removes entries")
    # Batch and transaction writes maintain indexes too.
    c.batch_write_item(RequestItems={"idx": [{"PutRequest": {"Item": {"pk": S("b"), "sk": N(1), "city": S("lima"), "score": N(1)}}}]})
    c.transact_write_items(TransactItems=[{"Put": {"TableName": "idx", "Item": {"pk": S("b"), "sk": N(2), "city": S("lima"), "score": N(2)}}}])
    r = c.query(TableName="idx", IndexName="by_city", KeyConditionExpression="city = :c", ExpressionAttributeValues={":c": S("lima")})
    check(r["Count"] == 2, "batch/transaction maintain indexes")
    expect_error(lambda: c.put_item(TableName="idx", Item={"pk": S("z"), "sk": N(1), "city": N(5)}), "ValidationException",
                 contains="Type mismatch for Index Key city")
    # Schema errors.
    expect_error(lambda: c.create_table(TableName="bad_lsi", BillingMode="PAY_PER_REQUEST",
                                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
                                        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "x", "KeyType": "RANGE"}],
                                                                "Projection": {"ProjectionType": "ALL"}}]),
                 "ValidationException", contains="does not have a range key")
    expect_error(lambda: c.create_table(TableName="bad_gsi", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
                                        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                                                                 "Projection": {"ProjectionType": "ALL"}}]),
                 "ValidationException", contains="ProvisionedThroughput must be specified for index: gsi")


BACKFILL_ITEMS = 50000


def test_gsi_backfill():
    create("bfill", "S")
    stop = threading.Event()
    written = []

    def writer():
        w = client()
        i = 0
        while not stop.is_set():
            w.put_item(TableName="bfill", Item={"pk": S(f"live{i}"), "grp": S(f"g{i % 7}")})
            written.append(i)
            i += 1

    def load(part):
        w = client()
        for start in range(part * 25, BACKFILL_ITEMS, 25 * 4):
            w.batch_write_item(RequestItems={"bfill": [{"PutRequest": {"Item": {"pk": S(f"k{j}"), "grp": S(f"g{j % 7}")}}}
                                                       for j in range(start, min(start + 25, BACKFILL_ITEMS))]})
    loaders = [threading.Thread(target=load, args=(p,)) for p in range(4)]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    check(c.describe_table(TableName="bfill")["Table"]["ItemCount"] == BACKFILL_ITEMS, "loaded")
    th = threading.Thread(target=writer)
    th.start()
    d = c.update_table(TableName="bfill", AttributeDefinitions=[{"AttributeName": "grp", "AttributeType": "S"}],
                       GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by_grp", "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                                                                "Projection": {"ProjectionType": "KEYS_ONLY"}}}])["TableDescription"]
    g = d["GlobalSecondaryIndexes"][0]
    check(g["IndexStatus"] == "CREATING" and g.get("Backfilling") is True, f"new GSI is CREATING and Backfilling {g}")
    deadline = time.time() + 120
    while True:
        g = c.describe_table(TableName="bfill")["Table"]["GlobalSecondaryIndexes"][0]
        if g["IndexStatus"] == "ACTIVE":
            break
        check(time.time() < deadline, "backfill never finished")
        time.sleep(0.2)
    stop.set()
    th.join(timeout=30)
    total = BACKFILL_ITEMS + len(written)
    count, kw = 0, {}
    while True:
        r = c.scan(TableName="bfill", IndexName="by_grp", Select="COUNT", **kw)
        count += r["Count"]
        if "LastEvaluatedKey" not in r:
            break
        kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}
    check(count == total, f"index has {count} entries, table {total}")
    check(c.describe_table(TableName="bfill")["Table"]["GlobalSecondaryIndexes"][0]["ItemCount"] == total, "index ItemCount")
    c.update_table(TableName="bfill", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_grp"}}])
    check("GlobalSecondaryIndexes" not in c.describe_table(TableName="bfill")["Table"], "GSI deleted")
    expect_error(lambda: c.scan(TableName="bfill", IndexName="by_grp"), "ValidationException")
    print(f"ok backfill ({BACKFILL_ITEMS} items, {len(written)} concurrent writes)", flush=True)


def test_dynalite_differences():
    """Behaviour a differential run against dynalite found dynamod got wrong (each checked against DynamoDB's
    documented or reported behaviour)."""
    raw = client(parameter_validation=False)
    create("ddiff", "S", "N")
    c.create_table(TableName="ddgsi", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                   BillingMode="PAY_PER_REQUEST",
                   GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "ALL"}}])
    key = {"pk": S("k"), "sk": N(1)}
    c.put_item(TableName="ddiff", Item={**key, "n": N(1), "l": {"L": [N(1), N(2)]}, "m": {"M": {"a": N(1)}}, "lst": {"L": [S("a")]}})
    bad_path = "The document path provided in the update expression is invalid for update"
    # REMOVE: the parent must exist and be a map / list; a missing key or an index past the end is fine.
    for expr in ["REMOVE zz.a", "REMOVE n[0]", "REMOVE n.a", "REMOVE m[0]", "REMOVE l.a"]:
        expect_error(lambda: c.update_item(TableName="ddiff", Key=key, UpdateExpression=expr), "ValidationException", bad_path)
    c.update_item(TableName="ddiff", Key=key, UpdateExpression="REMOVE m.zz, l[5], zz")
    got = c.get_item(TableName="ddiff", Key=key)["Item"]
    check(got["l"] == {"L": [N(1), N(2)]} and got["m"] == {"M": {"a": N(1)}}, f"no-op removals {got}")
    # Placeholder maps.
    expect_error(lambda: raw.update_item(TableName="ddiff", Key=key, UpdateExpression="REMOVE zz", ExpressionAttributeNames={}),
                 "ValidationException", "ExpressionAttributeNames must not be empty")
    expect_error(lambda: raw.put_item(TableName="ddiff", Item=key, ConditionExpression="attribute_exists(n)", ExpressionAttributeValues={}),
                 "ValidationException", "ExpressionAttributeValues must not be empty")
    expect_error(lambda: c.put_item(TableName="ddiff", Item=key, ExpressionAttributeValues={":a": S("x")}),
                 "ValidationException", "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null")
    expect_error(lambda: c.scan(TableName="ddiff", ProjectionExpression="n", ExpressionAttributeValues={":a": S("x")}),
                 "ValidationException", "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null")
    expect_error(lambda: c.put_item(TableName="ddiff", Item=key, ConditionExpression="#a = :a", ExpressionAttributeNames={"#a-b": "a"},
                                    ExpressionAttributeValues={":a": S("x")}),
                 "ValidationException", 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"')
    expect_error(lambda: c.put_item(TableName="ddiff", Item=key, ConditionExpression="n = :a", ExpressionAttributeValues={":a": {"SS": ["x", "x"]}}),
                 "ValidationException",
                 "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: Input collection [x, x] contains duplicates. for key :a")
    expect_error(lambda: raw.put_item(TableName="ddiff", Item=key, ConditionExpression="n = :a", ExpressionAttributeValues={":a": {"NULL": False}}),
                 "ValidationException", contains="Null attribute value types must have the value of true for key :a")
    # Set values: DynamoDB's wording per set type.
    expect_error(lambda: c.put_item(TableName="ddiff", Item={**key, "b": {"BS": [b"\x01", b"\x01"]}}), "ValidationException",
                 "One or more parameter values were invalid: Input collection [AQ==, AQ==]of type BS contains duplicates.")
    expect_error(lambda: raw.put_item(TableName="ddiff", Item={**key, "b": {"BS": []}}), "ValidationException",
                 "One or more parameter values were invalid: Binary sets should not be empty")
    expect_error(lambda: c.put_item(TableName="ddiff", Item={**key, "b": {"NS": ["1", "1.0"]}}), "ValidationException",
                 "Input collection contains duplicates")
    # Constant operands are type-checked before any item is read (not a ConditionalCheckFailed).
    missing = {"pk": S("none"), "sk": N(1)}
    for cond, vals, msg in [
        ("begins_with(n, :v)", {":v": N(1)}, "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("begins_with(n, :v)", {":v": {"BOOL": True}}, "Incorrect operand type for operator or function; operator or function: begins_with, operand type: BOOL"),
        ("n = n", {}, "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [n]"),
        ("n BETWEEN :a AND :b", {":a": N(1), ":b": S("x")},
         "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:x}"),
        ("attribute_type(n, :t)", {":t": S("X")}, "Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
        ("attribute_type(n, s)", {}, "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
    ]:
        kw = {"ExpressionAttributeValues": vals} if vals else {}
        expect_error(lambda: c.delete_item(TableName="ddiff", Key=missing, ConditionExpression=cond, **kw), "ValidationException",
                     "Invalid ConditionExpression: " + msg)
    # A path of another type is simply false.
    expect_error(lambda: c.delete_item(TableName="ddiff", Key=key, ConditionExpression="begins_with(lst, :v)", ExpressionAttributeValues={":v": S("a")}),
                 "ConditionalCheckFailedException")
    expect_error(lambda: c.update_item(TableName="ddiff", Key=missing, UpdateExpression="ADD n :v", ConditionExpression="attribute_exists(pk)",
                                       ExpressionAttributeValues={":v": {"L": [N(1)]}}),
                 "ValidationException", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: LIST")
    for upd, vals, msg in [("SET n = n + :v", {":v": S("x")}, "+, operand type: S"), ("SET n = :v - n", {":v": {"NS": ["1"]}}, "-, operand type: NS"),
                           ("SET l = list_append(l, :v)", {":v": S("x")}, "list_append, operand type: S")]:
        expect_error(lambda: c.update_item(TableName="ddiff", Key=missing, UpdateExpression=upd, ConditionExpression="attribute_exists(pk)",
                                           ExpressionAttributeValues=vals),
                     "ValidationException", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: " + msg)
    expect_error(lambda: c.update_item(TableName="ddiff", Key=key, UpdateExpression="SET a[0] = :v, a.b = :v", ExpressionAttributeValues={":v": N(1)}),
                 "ValidationException", contains="Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]")
    expect_error(lambda: c.get_item(TableName="ddiff", Key=key, ProjectionExpression="m.a, m[0]"), "ValidationException",
                 "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [m, a], path two: [m, [0]]")
    # Key attributes are scalars.
    scalars = "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: "
    expect_error(lambda: c.get_item(TableName="ddiff", Key=key, ProjectionExpression="pk.a"), "ValidationException", scalars + "Key: pk")
    expect_error(lambda: c.scan(TableName="ddgsi", FilterExpression="g.a = :v", ExpressionAttributeValues={":v": S("x")}), "ValidationException",
                 scalars + "IndexKey: g")
    expect_error(lambda: c.update_item(TableName="ddgsi", Key={"pk": S("a")}, UpdateExpression="SET g.a = :v", ExpressionAttributeValues={":v": S("x")}),
                 "ValidationException", scalars + "IndexKey: g")
    # Query: filters on key attributes, the start key against the sort key condition, one condition per key.
    q = {"TableName": "ddiff", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S("k")}}
    expect_error(lambda: c.query(**q, FilterExpression="attribute_exists(sk)"), "ValidationException",
                 "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk")
    expect_error(lambda: c.query(TableName="ddiff", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("k")]}},
                                 QueryFilter={"pk": {"ComparisonOperator": "NOT_NULL"}}),
                 "ValidationException", "QueryFilter can only contain non-primary key attributes: Primary key attribute: pk")
    expect_error(lambda: c.query(TableName="ddiff", KeyConditionExpression="pk = :p AND sk > :s", ExpressionAttributeValues={":p": S("k"), ":s": N(5)},
                                 ExclusiveStartKey={"pk": S("k"), "sk": N(1)}),
                 "ValidationException", "The provided starting key does not match the range key predicate")
    expect_error(lambda: c.query(TableName="ddiff", KeyConditionExpression="pk = :p AND pk = :p", ExpressionAttributeValues={":p": S("k")}),
                 "ValidationException", "KeyConditionExpressions must only contain one condition per key")
    for kc, op in [("pk = :p AND sk <> :s", "<>"), ("pk = :p AND sk IN (:s)", "IN"), ("pk = :p AND NOT sk = :s", "NOT"),
                   ("pk = :p AND attribute_exists(sk)", "attribute_exists")]:
        vals = {":p": S("k"), ":s": N(1)} if ":s" in kc else {":p": S("k")}
        expect_error(lambda: c.query(TableName="ddiff", KeyConditionExpression=kc, ExpressionAttributeValues=vals), "ValidationException",
                     "Invalid operator used in KeyConditionExpression: " + op)
    expect_error(lambda: c.query(TableName="ddiff", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("k")]},
                                                                   "sk": {"ComparisonOperator": "NOT_NULL"}}),
                 "ValidationException", "Attempted conditional constraint is not an indexable operation")
    expect_error(lambda: raw.get_item(TableName="ddiff", Key=key, AttributesToGet=[]), "ValidationException",
                 "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
    # Batches: each table's list is 1..25 long, checked before any table is looked up.
    expect_error(lambda: raw.batch_write_item(RequestItems={"ddiff": [{"PutRequest": {"Item": key}}], "ddgsi": []}), "ValidationException",
                 contains="Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
    puts = lambda t, n: [{"PutRequest": {"Item": {"pk": S(f"b{i}"), "sk": N(i)} if t == "ddiff" else {"pk": S(f"b{i}")}}} for i in range(n)]
    expect_error(lambda: c.batch_write_item(RequestItems={"ddiff": puts("ddiff", 20), "ddgsi": puts("ddgsi", 10)}), "ValidationException",
                 "Too many items requested for the BatchWriteItem call")
    expect_error(lambda: raw.batch_get_item(RequestItems={"ddiff": {"Keys": []}, "nosuchtable": {"Keys": [{"pk": S("a")}]}}), "ValidationException",
                 "1 validation error detected: Value '[]' at 'requestItems.ddiff.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1")
    # Legacy conditions: operand types as DynamoDB checks them.
    for flt, msg in [
        ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"NS": ["1"]}]}}, "ComparisonOperator GT is not valid for NS AttributeValue type"),
        ({"n": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [N(1)]}}, "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
        ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [N(1), S("a")]}}, "AttributeValues inside AttributeValueList must be of same type"),
        ({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"SS": []}]}}, "An string set  may not be empty"),
    ]:
        expect_error(lambda: raw.scan(TableName="ddiff", ScanFilter=flt), "ValidationException", "One or more parameter values were invalid: " + msg)
    expect_error(lambda: c.scan(TableName="ddiff", ScanFilter={"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(5), N(1)]}}),
                 "ValidationException", "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
    r = c.scan(TableName="ddiff", ScanFilter={"l": {"ComparisonOperator": "EQ", "AttributeValueList": [{"L": [N(1), N(2)]}]}})
    check(r["Count"] == 1, "legacy EQ compares lists")
    # AttributeUpdates: ADD of a list appends (or starts one); DELETE with a value takes a set.
    c.update_item(TableName="ddiff", Key=key, AttributeUpdates={"lst": {"Action": "ADD", "Value": {"L": [S("b")]}},
                                                             "new": {"Action": "ADD", "Value": {"L": [N(7)]}}})
    got = c.get_item(TableName="ddiff", Key=key)["Item"]
    check(got["lst"] == {"L": [S("a"), S("b")]} and got["new"] == {"L": [N(7)]}, f"legacy ADD of a list {got}")
    expect_error(lambda: c.update_item(TableName="ddiff", Key=key, AttributeUpdates={"n": {"Action": "DELETE", "Value": N(1)}}),
                 "ValidationException", "One or more parameter values were invalid: DELETE action with value is not supported for the type N")
    expect_error(lambda: c.update_item(TableName="ddiff", Key=key, AttributeUpdates={"n": {"Action": "ADD", "Value": S("x")}}),
                 "ValidationException", "One or more parameter values were invalid: ADD action is not supported for the type S")
    expect_error(lambda: c.update_item(TableName="ddiff", Key=key, AttributeUpdates={"n": {"Action": "ADD"}}), "ValidationException",
                 "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")


def suite():
    for t in [test_control_plane, test_values_and_keys, test_writes_and_conditions, test_expression_errors, test_projection_and_capacity,
              test_query_and_scan, test_batches_and_legacy, test_transactions, test_wire_errors, test_auth,
              test_secondary_indexes, test_dynalite_differences]:
        t()
        print("ok", t.__name__, flush=True)


# ---------------------------------------------------------------- 10,000-item partition

def pagination():
    create("big", "S", "N")
    pad = "p" * 300
    for start in range(0, 10000, 25):
        reqs = [{"PutRequest": {"Item": {"pk": S("part"), "sk": N(i), "pad": S(pad)}}} for i in range(start, start + 25)]
        r = c.batch_write_item(RequestItems={"big": reqs})
        check(r["UnprocessedItems"] == {}, "unprocessed")
    c.put_item(TableName="big", Item={"pk": S("zz-other"), "sk": N(1)})
    seen, pages, kw = [], 0, {}
    while True:
        r = c.query(TableName="big", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("part")}, ReturnConsumedCapacity="TOTAL", **kw)
        pages += 1
        size = sum(len("pk") + 4 + len("sk") + 1 + len(str(int(i["sk"]["N"]))) // 2 + len("pad") + 300 for i in r["Items"])
        check(size <= 1024 * 1024 + 400, f"page larger than 1 MB: {size}")
        check(r["ConsumedCapacity"]["CapacityUnits"] <= 128.5, f"page capacity {r['ConsumedCapacity']}")
        seen += [int(i["sk"]["N"]) for i in r["Items"]]
        if "LastEvaluatedKey" not in r:
            break
        kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}
    check(seen == list(range(10000)), f"all 10,000 items in order ({len(seen)})")
    check(pages >= 3, f"1 MB pages: {pages}")
    r = c.query(TableName="big", KeyConditionExpression="pk = :p AND sk >= :s", ExpressionAttributeValues={":p": S("part"), ":s": N(9990)}, ScanIndexForward=False, Limit=5)
    check([int(i["sk"]["N"]) for i in r["Items"]] == [9999, 9998, 9997, 9996, 9995] and "LastEvaluatedKey" in r, "reverse page")
    r = c.query(TableName="big", KeyConditionExpression="pk = :p", Select="COUNT", ExpressionAttributeValues={":p": S("part")})
    check(r["Count"] < 10000 and "LastEvaluatedKey" in r, "COUNT is paged by 1 MB too")
    n = sum(pg["Count"] for pg in c.get_paginator("query").paginate(TableName="big", KeyConditionExpression="pk = :p",
                                                                     ExpressionAttributeValues={":p": S("part")}, Select="COUNT"))
    check(n == 10000, f"COUNT over pages {n}")
    print("ok pagination", flush=True)


# ---------------------------------------------------------------- throttling with the fake clock

def advance(seconds):
    req = urllib.request.Request(ENDPOINT + "/_stratus/advance-clock", data=str(seconds).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 200, "advance clock")


def throttle():
    create("thr", "S", provisioned=(10, 5))
    create("ppr_early", "S")
    # Burst: 300 s × 5 WCU = 1500 WCU = 15 puts of 100 KB.
    hundred_kb = "x" * (100 * 1024 - len("pk") - 3 - len("v"))
    for i in range(15):
        r = c1.put_item(TableName="thr", Item={"pk": S(f"b{i:02d}"), "v": S(hundred_kb)}, ReturnConsumedCapacity="TOTAL")
        check(r["ConsumedCapacity"]["CapacityUnits"] == 100.0, "100 WCU per put")
    expect_error(lambda: c1.put_item(TableName="thr", Item={"pk": S("over"), "v": S("x")}), "ProvisionedThroughputExceededException")
    # Then the rate: 5 WCU per second.
    advance(1)
    for i in range(5):
        c1.put_item(TableName="thr", Item={"pk": S(f"r{i}"), "v": S("x")})
    expect_error(lambda: c1.put_item(TableName="thr", Item={"pk": S("over")}), "ProvisionedThroughputExceededException")
    # A batch whose only table is exhausted is throttled as a whole (a partly exhausted one returns UnprocessedItems).
    expect_error(lambda: c1.batch_write_item(RequestItems={"thr": [{"PutRequest": {"Item": {"pk": S("bw")}}}]}), "ProvisionedThroughputExceededException")
    r = c1.batch_write_item(RequestItems={"thr": [{"PutRequest": {"Item": {"pk": S("bw")}}}], "ppr_early": [{"PutRequest": {"Item": {"pk": S("x")}}}]})
    check(r["UnprocessedItems"] == {"thr": [{"PutRequest": {"Item": {"pk": S("bw")}}}]}, f"UnprocessedItems {r['UnprocessedItems']}")
    # Reads: 300 s × 10 RCU = 3000 RCU = 120 strongly consistent reads of 100 KB (25 RCU each).
    for i in range(120):
        c1.get_item(TableName="thr", Key={"pk": S(f"b{i % 15:02d}")}, ConsistentRead=True)
    expect_error(lambda: c1.get_item(TableName="thr", Key={"pk": S("b00")}), "ProvisionedThroughputExceededException")
    advance(5)  # 50 RCU: four eventually consistent 100 KB reads (12.5 RCU each)
    for i in range(4):
        c1.get_item(TableName="thr", Key={"pk": S("b00")})
    expect_error(lambda: c1.get_item(TableName="thr", Key={"pk": S("b00")}), "ProvisionedThroughputExceededException")
    # A bursty client with boto3's default retries succeeds while time moves on: first put the table in
    # debt (a 100 KB write admitted with less than 100 WCU left), then write faster than 5 WCU/s allows.
    c.put_item(TableName="thr", Item={"pk": S("debt"), "v": S(hundred_kb)})
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            advance(1)
            time.sleep(0.05)

    th = threading.Thread(target=ticker)
    th.start()
    retries = 0
    try:
        for i in range(30):
            r = c.put_item(TableName="thr", Item={"pk": S(f"burst{i}"), "v": S("y" * 900)})
            retries += r["ResponseMetadata"]["RetryAttempts"]
    finally:
        stop.set()
        th.join()
    check(retries > 0, "the bursty client was throttled at least once")
    # PAY_PER_REQUEST tables are never throttled but report capacity.
    create("ppr", "S")
    for i in range(20):
        r = c1.put_item(TableName="ppr", Item={"pk": S(f"{i}"), "v": S(hundred_kb)}, ReturnConsumedCapacity="TOTAL")
        check(r["ConsumedCapacity"]["CapacityUnits"] == 100.0, "on-demand capacity reported")
    print(f"ok throttle (retries={retries})", flush=True)


# ---------------------------------------------------------------- durability

def durability_write():
    create("dur", "S")
    done = threading.Event()
    lock = threading.Lock()

    def writer(t):
        i = 0
        while True:
            key = f"{t}-{i}"
            try:
                c1.put_item(TableName="dur", Item={"pk": S(key), "v": N(i)})
            except Exception:
                return
            with lock:
                print("ACK", key, flush=True)
            i += 1

    threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def durability_check(path):
    keys = [line.strip() for line in open(path) if line.strip()]
    check(len(keys) > 0, "no acknowledged keys")
    missing = []
    for start in range(0, len(keys), 100):
        chunk = keys[start:start + 100]
        r = c.batch_get_item(RequestItems={"dur": {"Keys": [{"pk": S(k)} for k in chunk], "ConsistentRead": True}})
        check(r["UnprocessedKeys"] == {}, "unprocessed")
        found = {i["pk"]["S"] for i in r["Responses"]["dur"]}
        missing += [k for k in chunk if k not in found]
    check(not missing, f"acknowledged writes lost after kill -9: {missing[:10]}")
    # ItemCount is recounted in the background after a restart.
    deadline = time.time() + 30
    while c.describe_table(TableName="dur")["Table"]["ItemCount"] < len(keys):
        check(time.time() < deadline, "ItemCount not recounted after restart")
        time.sleep(0.2)
    print(f"ok durability ({len(keys)} acknowledged writes survived)", flush=True)


# ---------------------------------------------------------------- TTL with the fake clock (issue #8)

def ttl():
    c.create_table(TableName="ttlt", BillingMode="PAY_PER_REQUEST",
                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                   GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    d = c.describe_time_to_live(TableName="ttlt")["TimeToLiveDescription"]
    check(d == {"TimeToLiveStatus": "DISABLED"}, f"TTL starts disabled {d}")
    r = c.update_time_to_live(TableName="ttlt", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    check(r["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}, "UpdateTimeToLive echoes the spec")
    d = c.describe_time_to_live(TableName="ttlt")["TimeToLiveDescription"]
    check(d == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}, f"TTL enabled {d}")
    expect_error(lambda: c.update_time_to_live(TableName="ttlt", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}),
                 "ValidationException", "TimeToLive is already enabled")
    expect_error(lambda: c.describe_time_to_live(TableName="nope_ttl"), "ResourceNotFoundException")
    now = int(time.time())
    items = {"soon": N(now + 100), "later": N(now + 1000), "none": None, "text": S(str(now - 10)), "ancient": N(now - 10 * 365 * 86400)}
    for k, v in items.items():
        item = {"pk": S(k), "g": S("grp")}
        if v is not None:
            item["exp"] = v
        c.put_item(TableName="ttlt", Item=item)

    def present():
        return {i["pk"]["S"] for i in c.scan(TableName="ttlt", ConsistentRead=True)["Items"]}

    def wait_gone(key):
        deadline = time.time() + 20
        while key in present():
            check(time.time() < deadline, f"{key} was not swept")
            time.sleep(0.1)

    time.sleep(1.0)
    check(present() == set(items), "nothing expires before its time")
    advance(200)
    wait_gone("soon")
    check(present() == set(items) - {"soon"}, f"only the expired item is swept: {present()}")
    r = c.query(TableName="ttlt", IndexName="by_g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": S("grp")})
    check(r["Count"] == 4, "sweeper maintains indexes")
    check(c.describe_table(TableName="ttlt")["Table"]["ItemCount"] == 4, "ItemCount after sweep")
    advance(1000)
    wait_gone("later")
    check(present() == {"none", "text", "ancient"}, f"non-number and ancient TTLs are ignored: {present()}")
    # Disabled: nothing is swept any more.
    c.update_time_to_live(TableName="ttlt", TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"})
    check(c.describe_time_to_live(TableName="ttlt")["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED", "disabled")
    c.put_item(TableName="ttlt", Item={"pk": S("kept"), "exp": N(now)})
    advance(10)
    time.sleep(1.5)
    check("kept" in present(), "no sweeping while TTL is disabled")
    print("ok ttl", flush=True)


def idempotency():
    create("idem", "S")
    c.put_item(TableName="idem", Item={"pk": S("ctr"), "n": N(0)})
    incr = [{"Update": {"TableName": "idem", "Key": {"pk": S("ctr")}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": N(1)}}}]
    for _ in range(3):
        c.transact_write_items(TransactItems=incr, ClientRequestToken="token-1")
    check(c.get_item(TableName="idem", Key={"pk": S("ctr")})["Item"]["n"] == N(1), "a repeated token applies once")
    other = [{"Update": {"TableName": "idem", "Key": {"pk": S("ctr")}, "UpdateExpression": "ADD n :two",
                         "ExpressionAttributeValues": {":two": N(2)}}}]
    expect_error(lambda: c.transact_write_items(TransactItems=other, ClientRequestToken="token-1"),
                 "IdempotentParameterMismatchException")
    c.transact_write_items(TransactItems=incr)  # boto3 generates a fresh token
    check(c.get_item(TableName="idem", Key={"pk": S("ctr")})["Item"]["n"] == N(2), "fresh tokens apply")
    advance(601)
    c.transact_write_items(TransactItems=incr, ClientRequestToken="token-1")
    check(c.get_item(TableName="idem", Key={"pk": S("ctr")})["Item"]["n"] == N(3), "a token expires after 10 minutes")
    expect_error(lambda: c.transact_write_items(TransactItems=incr, ClientRequestToken="x" * 37), "ValidationException")
    print("ok idempotency", flush=True)


if __name__ == "__main__":
    try:
        {"suite": suite, "pagination": pagination, "throttle": throttle, "ttl": lambda: (ttl(), idempotency()), "backfill": test_gsi_backfill, "durability-write": durability_write,
         "durability-check": lambda: durability_check(sys.argv[5])}[MODE]()
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        print("FAILED:", e, flush=True)
        sys.exit(1)
