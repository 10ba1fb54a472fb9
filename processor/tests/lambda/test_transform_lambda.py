"""The transform Lambda through the real Lambda Runtime API (cargo-lambda's emulator), with its
snapshot in S3 served by moto server. Run by .ci/test-lambda.sh (pytest).

The emulator runs with `--only-lambda-apis` and the `crossaz-transform` binary that `cargo test`
already built (`CROSSAZ_TRANSFORM_BIN`, default `target/debug/crossaz-transform`) polls it, as it
polls the Runtime API in AWS: no second build of the function just for the emulator.

Checks what Firehose checks: every recordId back exactly once, `result` one of the three values,
valid base64, concatenated JSON rows that parse, `partitionKeys.dt` on every Ok record; plus the
6 MB response guard, the stale-snapshot failure (judged by the records' own times) and the
missing-snapshot failure.
"""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.request

import boto3
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BINARY = os.environ.get("CROSSAZ_TRANSFORM_BIN", os.path.join(ROOT, "target", "debug", "crossaz-transform"))
# The load-test generator and drivers, built by `cargo test` too.
LOADTEST = os.environ.get("CROSSAZ_LOADTEST_BIN", os.path.join(ROOT, "target", "debug", "crossaz-loadtest"))
# The function name cargo-lambda's emulator serves in --only-lambda-apis mode.
FUNCTION = "_"
BUCKET = "crossaz-snapshots"
KEY = "snapshots/demo/latest"
T0 = 1714568400  # 2024-05-01T13:00:00Z
# The snapshot's time: 13:55, so records of 13:01 (within the 3600 s record age) and of 14:00:01
# (within the 600 s snapshot lag) are both attributable in one batch.
SNAP_AT = T0 + 3300
FORMAT = ("${version} ${account-id} ${interface-id} ${instance-id} ${pkt-srcaddr} ${pkt-dstaddr} "
          "${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} "
          "${log-status} ${flow-direction}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def snapshot():
    def node(name, ip, zone, zone_id, instance):
        return {"name": name, "ips": [ip], "zone": zone, "zone_id": zone_id, "instance_id": instance,
                "instance_type": "m5.large", "compute_type": None}

    def pod(name, workload, node, ip):
        return {"uid": "uid-" + name, "namespace": "shop", "name": name, "workload_kind": "Deployment",
                "workload": workload, "app": workload, "node": node, "ips": [ip], "host_network": False,
                "phase": "Running", "start_time": T0 - 600, "first_seen": T0 - 600, "last_seen": SNAP_AT}

    return {
        "format": "crossaz.pod-snapshot", "version": 1, "cluster": "demo", "generated_at": SNAP_AT,
        "nodes": [node("n-a", "10.0.1.1", "us-east-1a", "use1-az1", "i-a"),
                  node("n-b", "10.0.2.1", "us-east-1b", "use1-az2", "i-b")],
        "pods": [pod("client-1", "client", "n-a", "10.0.1.10"),
                 pod("server-1", "server", "n-b", "10.0.2.10"),
                 pod("server-2", "server", "n-a", "10.0.1.11")],
    }


def line(src, dst, start, nbytes=1500, direction="egress"):
    return (f"5 123456789012 eni-1 i-a {src} {dst} 43512 80 6 10 {nbytes} {start} {start + 60} "
            f"ACCEPT OK {direction}")


def event(lines):
    return {
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/flows",
        "region": "us-east-1",
        "records": [{"recordId": f"495469866831355442865074579363216256757001924711567{i:05d}",
                     "approximateArrivalTimestamp": 1714568460000,
                     "data": base64.b64encode(json.dumps({"message": l}).encode()).decode()}
                    for i, l in enumerate(lines)],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lambda")
    moto_port, lambda_port = free_port(), free_port()
    procs = []
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(moto)
    endpoint = f"http://127.0.0.1:{moto_port}"
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint}
    try:
        wait_http(endpoint, 60, moto)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(snapshot()).encode())
        lambda_env = dict(env, CROSSAZ_SNAPSHOT_BUCKET=BUCKET, CROSSAZ_SNAPSHOT_KEY=KEY,
                          CROSSAZ_S3_FORCE_PATH_STYLE="true", CROSSAZ_FLOW_FORMAT=FORMAT,
                          CROSSAZ_SNAPSHOT_REFRESH_SECS="0", RUST_LOG="info")
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError(f"{BINARY} is missing: run `cargo test --workspace --all-features` first")
        log = open(tmp / "watch.log", "w")
        watch = subprocess.Popen(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
             "--invoke-port", str(lambda_port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, **env))
        procs.append(watch)
        # Any answer (405 to a GET) on the invoke path means the emulator is up.
        wait_http(f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/{FUNCTION}/invocations", 120, watch)
        function_log = open(tmp / "function.log", "w")
        function = subprocess.Popen(
            [BINARY], cwd=ROOT, stdout=function_log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **lambda_env,
                     AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{lambda_port}/.rt",
                     AWS_LAMBDA_FUNCTION_NAME=FUNCTION, AWS_LAMBDA_FUNCTION_VERSION="1",
                     AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512"))
        procs.append(function)
        time.sleep(1)
        if function.poll() is not None:
            raise RuntimeError(f"crossaz-transform exited with {function.returncode}: "
                               + (tmp / "function.log").read_text()[-3000:])
        yield {"s3": s3, "port": lambda_port, "tmp": tmp, "log": tmp / "function.log"}
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def invoke(stack, payload, name="event.json"):
    return invoke_text(stack, json.dumps(payload), name)


def invoke_text(stack, text, name="event.json"):
    path = stack["tmp"] / name
    path.write_text(text)
    out = subprocess.run(
        ["cargo", "lambda", "invoke", FUNCTION, "--invoke-address", "127.0.0.1",
         "--invoke-port", str(stack["port"]), "--data-file", str(path), "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out


def ok_response(stack, payload, name="event.json"):
    out = invoke(stack, payload, name)
    assert out.returncode == 0, out.stderr + stack["log"].read_text()[-3000:]
    return json.loads(out.stdout)


def rows_of(record):
    data = base64.b64decode(record["data"], validate=True).decode()
    decoder, rows, pos = json.JSONDecoder(), [], 0
    while pos < len(data):
        if data[pos].isspace():
            pos += 1
            continue
        obj, pos = decoder.raw_decode(data, pos)
        rows.append(obj)
    return rows


def test_every_record_id_comes_back_once_with_valid_rows(stack):
    lines = [line("10.0.1.10", "10.0.2.10", T0 + 60),          # cross-AZ: kept
             line("10.0.1.10", "10.0.1.11", T0 + 60),          # same AZ: dropped
             line("10.0.1.10", "10.0.2.10", T0 + 60, direction="ingress"),  # receiver's copy
             "garbage that is no flow log line",               # unreadable: failed
             line("10.0.1.10", "10.0.2.10", T0 + 3600 + 1, 99)]  # next hour, kept
    payload = event(lines)
    response = ok_response(stack, payload)
    ids_in = [r["recordId"] for r in payload["records"]]
    ids_out = [r["recordId"] for r in response["records"]]
    assert ids_out == ids_in
    results = [r["result"] for r in response["records"]]
    assert results == ["Ok", "Dropped", "Dropped", "ProcessingFailed", "Ok"]
    for r in response["records"]:
        base64.b64decode(r["data"], validate=True)
        if r["result"] == "Ok":
            assert set(r["metadata"]["partitionKeys"]) == {"dt"}
    assert response["records"][0]["metadata"]["partitionKeys"]["dt"] == "2024-05-01-13"
    assert response["records"][4]["metadata"]["partitionKeys"]["dt"] == "2024-05-01-14"
    [row] = rows_of(response["records"][0])
    assert (row["src_pod"], row["dst_pod"], row["bytes"]) == ("client-1", "server-1", 1500)
    assert (row["src_zone_id"], row["dst_zone_id"]) == ("use1-az1", "use1-az2")
    assert row["dst_workload"] == "server" and row["src_kind"] == "pod"
    assert abs(row["cost_usd"] - 1500 / 2**30 * 0.02) < 1e-15
    [row] = rows_of(response["records"][4])
    assert row["bytes"] == 99
    # One CloudWatch EMF line per batch on stdout, dimensioned by the function's own name.
    docs = [json.loads(l) for l in stack["log"].read_text().splitlines() if l.startswith("{")]
    emf = [d for d in docs if "_aws" in d]
    assert emf, stack["log"].read_text()[-3000:]
    last = emf[-1]
    assert last["Function"] == FUNCTION
    assert (last["RecordsIn"], last["RecordsOk"], last["RecordsDropped"], last["RecordsFailed"]) == (5, 2, 2, 1)


def test_bad_base64_fails_its_record_alone_and_escaped_json_is_read(stack):
    payload = event([line("10.0.1.10", "10.0.2.10", T0 + 60, 700 + i) for i in range(3)])
    payload["records"][1]["data"] = "%%% not base64 %%%"
    # JSON may escape "/" as "\/" (base64 holds "/"): the event is still read in place.
    text = json.dumps(payload).replace("/", "\\/")
    assert "\\/" in text
    out = invoke_text(stack, text, "escaped.json")
    assert out.returncode == 0, out.stderr + stack["log"].read_text()[-3000:]
    response = json.loads(out.stdout)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in payload["records"]]
    assert [r["result"] for r in response["records"]] == ["Ok", "ProcessingFailed", "Ok"]
    assert [rows_of(response["records"][i])[0]["bytes"] for i in (0, 2)] == [700, 702]
    assert "data is not standard base64" in stack["log"].read_text()


def test_response_stays_under_six_megabytes(stack):
    # ~4.6 MB request of cross-AZ records whose rows would need ~20 MB of response.
    lines = [line("10.0.1.10", "10.0.2.10", T0 + 60, i) for i in range(20000)]
    payload = event(lines)
    assert len(json.dumps(payload)) < 6 * 1024 * 1024
    out = invoke(stack, payload, "big.json")
    assert out.returncode == 0, out.stderr[-3000:]
    response = json.loads(out.stdout)
    # `cargo lambda invoke` pretty-prints; the function sent the compact form.
    assert len(json.dumps(response, separators=(",", ":")).encode()) <= 6_000_000
    results = [r["result"] for r in response["records"]]
    assert len(results) == 20000
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in payload["records"]]
    ok = results.count("Ok")
    assert ok > 1000 and results.count("ProcessingFailed") == 20000 - ok
    assert set(results[:ok]) == {"Ok"} and set(results[ok:]) == {"ProcessingFailed"}


def test_stale_snapshot_fails_the_invocation(stack):
    out = invoke(stack, event([line("10.0.1.10", "10.0.2.10", SNAP_AT + 601)]), "stale.json")
    assert out.returncode != 0
    assert "older than the newest record" in out.stdout + out.stderr, out.stdout + out.stderr


def test_replay_of_old_data_works_with_its_snapshot(stack):
    # Records an hour older than now but fresh relative to the snapshot: the wall clock is not used.
    response = ok_response(stack, event([line("10.0.1.10", "10.0.2.10", T0 - 30)]), "replay.json")
    assert [r["result"] for r in response["records"]] == ["Ok"]


def test_loadtest_lambda_driver_through_the_emulator(stack):
    # The load-test Lambda driver (an Invoke API client) against cargo-lambda's emulator: an hour of
    # generated flow logs in the function's format, in events of ~1 MB. The driver checks that every
    # recordId comes back once; the results must add up to what was sent.
    out_dir = stack["tmp"] / "drive"
    run = subprocess.run(
        [LOADTEST, "drive", "--driver", "lambda", "--function", FUNCTION,
         "--endpoint-url", f"http://127.0.0.1:{stack['port']}", "--start", str(T0), "--hours", "1",
         "--format", FORMAT, "--flows-per-minute", "20", "--quiet", "--out", str(out_dir)],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1"))
    assert run.returncode == 0, run.stdout + run.stderr + stack["log"].read_text()[-3000:]
    report = json.loads((out_dir / "report.json").read_text())
    assert report["generated"] > 1000, report
    assert (report["sent"], report["failed"], report["call_errors"]) == (report["generated"], 0, 0), report
    results = report["results"]
    assert sum(results.get(k, 0) for k in ("Ok", "Dropped", "ProcessingFailed")) == report["sent"], report
    assert results.get("ProcessingFailed", 0) == 0, report
    assert results.get("rows", 0) == results.get("Ok", 0), report


def test_missing_snapshot_fails_the_invocation(stack):
    stack["s3"].delete_object(Bucket=BUCKET, Key=KEY)
    out = invoke(stack, event([line("10.0.1.10", "10.0.2.10", T0 + 60)]), "missing.json")
    assert out.returncode != 0
    assert "no snapshot at s3://crossaz-snapshots/snapshots/demo/latest" in out.stdout + out.stderr
