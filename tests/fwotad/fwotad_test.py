#!/usr/bin/python3
"""fwotad end to end: a real fwotad on a free port with a temporary data directory,
driven with curl through ThingsBoard's REST flow and device API."""

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_testlib import wait_for  # noqa: E402

# The fwotad binary: the first argument (Bazel passes its runfiles path).
FWOTAD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "bazel-bin/tools/fwotad/fwotad"


class Fwotad:
    """A running fwotad. Stops it (SIGTERM) on stop()."""

    def __init__(self, data_dir, *extra):
        self.data_dir = data_dir
        self.port_file = os.path.join(data_dir + ".port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log = open(data_dir + ".log", "ab")
        self.proc = subprocess.Popen(
            [FWOTAD, "--data_dir=" + data_dir, "--http_port=0", "--coap_port=0", "--port_file=" + self.port_file,
             *extra], stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("fwotad exited with %s: %s" % (self.proc.returncode, self.read_log()))
            if time.time() > deadline:
                raise RuntimeError("fwotad did not start: " + self.read_log())
            time.sleep(0.05)
        self.port = int(open(self.port_file).read())
        self.key = open(os.path.join(data_dir, "admin-api-key")).read().strip()

    def read_log(self):
        self.log.flush()
        with open(self.data_dir + ".log", "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()
        return self.proc.returncode


def curl(args, data=None):
    """Runs curl; returns (status, body bytes, headers text)."""
    with tempfile.NamedTemporaryFile() as headers, tempfile.NamedTemporaryFile() as body:
        cmd = ["curl", "-sS", "-o", body.name, "-D", headers.name, "-w", "%{http_code}", *args]
        r = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("curl %s failed: %s" % (args, r.stderr.decode()))
        return int(r.stdout), open(body.name, "rb").read(), open(headers.name).read()


class FwotadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.server = Fwotad(os.path.join(cls.tmp, "data"))
        cls.base = "http://127.0.0.1:%d" % cls.server.port
        cls.image = os.urandom(3 * 1024 * 1024 + 17)
        cls.image_path = os.path.join(cls.tmp, "image.bin")
        with open(cls.image_path, "wb") as f:
            f.write(cls.image)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "fwotad exited with %s" % code

    def api(self, method, path, body=None, key=None, extra=()):
        args = ["-X", method, self.base + path,
                "-H", "X-Authorization: Bearer " + (key or self.server.key), *extra]
        data = None
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
            data = json.dumps(body).encode()
        status, out, _ = curl(args, data)
        try:
            return status, json.loads(out) if out else None
        except ValueError:
            return status, out

    def create_profile(self, name):
        status, p = self.api("POST", "/api/deviceProfile", {"name": name})
        self.assertEqual(status, 200, p)
        return p["id"]["id"]

    def create_package(self, title, version, profile_id, path=None, checksum=None, alg="SHA256"):
        status, info = self.api("POST", "/api/otaPackage", {
            "title": title, "version": version, "type": "FIRMWARE",
            "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile_id}})
        self.assertEqual(status, 200, info)
        pid = info["id"]["id"]
        query = "?checksumAlgorithm=" + alg + ("&checksum=" + checksum if checksum else "")
        status, out, _ = curl(["-X", "POST", self.base + "/api/otaPackage/" + pid + query,
                               "-H", "X-Authorization: Bearer " + self.server.key,
                               "-F", "file=@" + (path or self.image_path)])
        return pid, status, json.loads(out)

    def test_rest_flow(self):
        profile = self.create_profile("flow-profile")
        pid, status, info = self.create_package("flow-fw", "1.0", profile)
        self.assertEqual(status, 200, info)
        self.assertTrue(info["hasData"])
        self.assertEqual(info["dataSize"], len(self.image))
        self.assertEqual(info["checksum"], hashlib.sha256(self.image).hexdigest())
        self.assertEqual(info["fileName"], "image.bin")

        # Upload with a given checksum: verified.
        _, status, info2 = self.create_package(
            "flow-fw", "1.1", profile, checksum=hashlib.md5(self.image).hexdigest(), alg="MD5")
        self.assertEqual(status, 200, info2)
        _, status, err = self.create_package("flow-fw", "1.2", profile, checksum="00" * 16, alg="MD5")
        self.assertEqual(status, 400)
        self.assertEqual(err["message"], "Wrong otaPackage file!")

        status, page = self.api("GET", "/api/otaPackages?pageSize=10&page=0&textSearch=FLOW-FW")
        self.assertEqual(status, 200, page)
        self.assertEqual(page["totalElements"], 3)  # 1.2 exists as info without data

        status, device = self.api("POST", "/api/device", {
            "name": "flow-device", "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile}})
        self.assertEqual(status, 200, device)
        device["firmwareId"] = {"entityType": "OTA_PACKAGE", "id": pid}
        status, device = self.api("POST", "/api/device", device)
        self.assertEqual(status, 200, device)
        self.assertEqual(device["firmwareId"]["id"], pid)

        status, body, headers = curl([self.base + "/api/otaPackage/%s/download" % pid,
                                      "-H", "X-Authorization: Bearer " + self.server.key])
        self.assertEqual(status, 200)
        self.assertEqual(body, self.image)

        status, err = self.api("DELETE", "/api/otaPackage/" + pid)
        self.assertEqual(status, 400)
        self.assertEqual(err["message"], "The otaPackage referenced by the devices cannot be deleted!")
        device["firmwareId"] = None
        status, device = self.api("POST", "/api/device", device)
        self.assertEqual(status, 200, device)
        status, _ = self.api("DELETE", "/api/otaPackage/" + pid)
        self.assertEqual(status, 200)
        status, err = self.api("GET", "/api/otaPackage/info/" + pid)
        self.assertEqual(status, 404)

        status, log = self.api("GET", "/api/audit/logs?pageSize=50&page=0")
        self.assertEqual(status, 200)
        self.assertTrue(any(e["actionType"] == "DELETED" for e in log["data"]))

    def test_device_api_and_range_resume(self):
        profile = self.create_profile("dev-profile")
        pid, status, info = self.create_package("dev-fw", "2.0", profile)
        self.assertEqual(status, 200, info)
        status, device = self.api("POST", "/api/device", {
            "name": "dev-device", "deviceProfileId": {"id": profile},
            "firmwareId": {"id": pid}})
        self.assertEqual(status, 200, device)
        status, creds = self.api("GET", "/api/device/%s/credentials" % device["id"]["id"])
        token = creds["credentialsId"]
        fw = self.base + "/api/v1/%s/firmware?title=dev-fw&version=2.0" % token

        status, body, headers = curl([fw])
        self.assertEqual(status, 200)
        self.assertEqual(body, self.image)
        self.assertIn("x-filename: image.bin", headers.lower())

        # ThingsBoard chunks, the last one partial, then empty past the end.
        size = 1024 * 1024
        got = b""
        for n in range(10):
            status, body, _ = curl([fw + "&size=%d&chunk=%d" % (size, n)])
            self.assertEqual(status, 200)
            if not body:
                break
            got += body
        self.assertEqual(got, self.image)

        self.assertEqual(curl([fw.replace("version=2.0", "version=9")])[0], 400)
        self.assertEqual(curl([fw.replace(token, "no-such-token")])[0], 401)

        # A download killed half-way resumes with Range (curl -C -) to the same bytes.
        out = os.path.join(self.tmp, "resumed.bin")
        slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "64K", "-o", out, fw])
        time.sleep(1.0)
        slow.kill()
        slow.wait()
        partial = os.path.getsize(out) if os.path.exists(out) else 0
        if partial == 0 or partial >= len(self.image):
            # curl got nothing or everything before the kill: cut the file ourselves.
            with open(out, "wb") as f:
                f.write(self.image[:len(self.image) // 3])
            partial = len(self.image) // 3
        r = subprocess.run(["curl", "-sS", "-C", "-", "-o", out, "-w", "%{http_code}", fw],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"206")
        self.assertEqual(open(out, "rb").read(), self.image)
        status, body, headers = curl(["-H", "Range: bytes=%d-" % partial, fw])
        self.assertEqual(status, 206)
        self.assertIn("content-range: bytes %d-%d/%d" % (partial, len(self.image) - 1, len(self.image)),
                      headers.lower())

        status, attrs, _ = curl([self.base + "/api/v1/%s/attributes?sharedKeys=fw_title,fw_version,fw_size" % token])
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(attrs)["shared"],
                         {"fw_title": "dev-fw", "fw_version": "2.0", "fw_size": len(self.image)})

        status, _, _ = curl(["-X", "POST", self.base + "/api/v1/%s/telemetry" % token,
                             "-H", "Content-Type: application/json",
                             "--data-binary", '{"fw_state":"DOWNLOADED"}'])
        self.assertEqual(status, 200)
        status, history = self.api("GET", "/api/device/%s/otaHistory?type=FIRMWARE&pageSize=10&page=0"
                                   % device["id"]["id"])
        self.assertEqual(status, 200, history)
        self.assertEqual(history["data"][0]["state"], "DOWNLOADED")

    def test_auth_and_bad_input(self):
        status, err = self.api("GET", "/api/otaPackages?pageSize=10&page=0", key="fwota_wrong")
        self.assertEqual(status, 401)
        status, _, _ = curl([self.base + "/api/otaPackages?pageSize=10&page=0"])
        self.assertEqual(status, 401)
        self.assertEqual(self.api("GET", "/api/otaPackage/info/not-a-uuid")[0], 400)
        self.assertEqual(self.api("GET", "/api/otaPackages?pageSize=-1&page=0")[0], 400)
        self.assertEqual(self.api("GET", "/api/../../etc/passwd")[0] in (400, 404), True)
        status, _ = self.api("POST", "/api/otaPackage", None, extra=("--data-binary", "{not json",
                                                                     "-H", "Content-Type: application/json"))
        self.assertEqual(status, 400)
        # A chunk number so large that size*chunk overflows: an empty answer, no crash.
        status, body, _ = curl([self.base + "/api/v1/x/firmware?title=a&version=b&size=65536&chunk=999999999999999999"])
        self.assertIn(status, (400, 401))
        # The server still serves.
        self.assertEqual(self.api("GET", "/api/otaPackages?pageSize=1&page=0")[0], 200)


def scrape(base):
    """GET /metrics as {sample: value} ("name" or "name{labels}")."""
    status, body, headers = curl([base + "/metrics"])
    assert status == 200, (status, body)
    assert "text/plain; version=0.0.4" in headers, headers
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


class OpsTest(unittest.TestCase):
    """/healthz always, /metrics with --http_metrics: the counters follow real traffic."""

    def test_health_and_metrics(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        server = Fwotad(os.path.join(tmp, "data"), "--http_metrics", "--notices_per_minute=0")
        base = "http://127.0.0.1:%d" % server.port
        h = ["-H", "X-Authorization: Bearer " + server.key, "-H", "Content-Type: application/json"]
        try:
            status, body, headers = curl([base + "/healthz"])
            self.assertEqual((status, json.loads(body)), (200, {"status": "UP"}))
            self.assertEqual(curl(["-X", "POST", base + "/healthz"])[0], 405)
            before = scrape(base)
            self.assertEqual(before["fwota_notices_queued"], 0)

            profile, package = provision(server, tmp, "ops", "OPS_TOKEN", os.urandom(200000))
            status, out, _ = curl(["-X", "POST", base + "/api/deviceProfile", *h, "--data-binary",
                                   json.dumps({"id": {"id": profile}, "name": "ops",
                                               "firmwareId": {"id": package}})])
            self.assertEqual(status, 200, out)
            self.assertEqual(curl([base + "/api/v1/OPS_TOKEN/firmware?title=ops&version=1"])[0],
                             200)
            self.assertEqual(curl([base + "/api/v1/NO_SUCH_TOKEN/firmware?title=ops&version=1"])[0],
                             401)
            wait_for(lambda: scrape(base)["fwota_notices_sent_total"] == 1, "the notice")
            after = scrape(base)
            # Six answered with 2xx (the scrapes and /healthz count too), two with 4xx.
            self.assertGreaterEqual(after['fwota_http_requests_total{code="2xx"}']
                                    - before['fwota_http_requests_total{code="2xx"}'], 6)
            self.assertEqual(after['fwota_http_requests_total{code="4xx"}']
                             - before['fwota_http_requests_total{code="4xx"}'], 1)
            self.assertGreater(after["fwota_http_request_body_bytes_total"], 200000)
            self.assertGreater(after["fwota_http_response_body_bytes_total"], 200000)
            self.assertEqual(after['fwota_http_request_duration_seconds_bucket{le="+Inf"}'],
                             after["fwota_http_request_duration_seconds_count"])
            self.assertEqual(after["fwota_notices_queued"], 0)
            self.assertEqual(after['fwota_stalls_total{action="failed"}'], 0)
            self.assertEqual(server.stop(), 0)
        finally:
            server.stop()

    def test_no_metrics_unless_asked(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        server = Fwotad(os.path.join(tmp, "data"))
        try:
            base = "http://127.0.0.1:%d" % server.port
            self.assertEqual(curl([base + "/healthz"])[0], 200)
            self.assertEqual(curl([base + "/metrics"])[0], 404)
            self.assertEqual(server.stop(), 0)
        finally:
            server.stop()


class RestartTest(unittest.TestCase):
    def test_restart_serves_the_same_data_and_keeps_the_key(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        data_dir = os.path.join(tmp, "data")
        first = Fwotad(data_dir)
        key = first.key
        self.assertEqual(oct(os.stat(os.path.join(data_dir, "admin-api-key")).st_mode & 0o777), "0o600")
        base = "http://127.0.0.1:%d" % first.port
        status, out, _ = curl(["-X", "POST", base + "/api/deviceProfile",
                               "-H", "X-Authorization: Bearer " + key,
                               "-H", "Content-Type: application/json",
                               "--data-binary", '{"name":"kept"}'])
        self.assertEqual(status, 200, out)
        self.assertEqual(first.stop(), 0)
        self.assertIn("shutting down", open(data_dir + ".log").read())

        second = Fwotad(data_dir)
        try:
            self.assertEqual(second.key, key)
            status, out, _ = curl(["http://127.0.0.1:%d/api/deviceProfiles?pageSize=10&page=0" % second.port,
                                   "-H", "Authorization: Bearer " + key])
            self.assertEqual(status, 200)
            self.assertEqual([p["name"] for p in json.loads(out)["data"]], ["kept"])
        finally:
            self.assertEqual(second.stop(), 0)

    def test_tls(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        server = Fwotad(os.path.join(tmp, "data"), "--http_tls_cert=" + cert, "--http_tls_key=" + key)
        try:
            status, out, _ = curl(["-k", "https://127.0.0.1:%d/api/deviceProfiles?pageSize=10&page=0" % server.port,
                                   "-H", "X-Authorization: Bearer " + server.key])
            self.assertEqual(status, 200, out)
            r = subprocess.run(["curl", "-sS", "--max-time", "5",
                                "http://127.0.0.1:%d/api/deviceProfiles" % server.port],
                               capture_output=True)
            self.assertNotEqual(r.returncode, 0)  # plain HTTP to the TLS port fails
        finally:
            self.assertEqual(server.stop(), 0)


def provision(server, tmp, name, token, image):
    """Over the REST API: a profile `name`, a device `name`-1 in it with `token`, and a
    firmware package `name` version 1 of the bytes `image` (not assigned yet). Returns
    (profile id, package id)."""
    base = "http://127.0.0.1:%d" % server.port
    h = ["-H", "X-Authorization: Bearer " + server.key, "-H", "Content-Type: application/json"]

    def post(path, body):
        status, out, _ = curl(["-X", "POST", base + path, *h, "--data-binary", json.dumps(body)])
        assert status == 200, (path, status, out)
        return json.loads(out)["id"]["id"]
    profile = post("/api/deviceProfile", {"name": name})
    post("/api/device?accessToken=" + token,
         {"name": name + "-1", "deviceProfileId": {"id": profile}})
    package = post("/api/otaPackage", {"title": name, "version": "1", "type": "FIRMWARE",
                                       "deviceProfileId": {"id": profile}})
    path = os.path.join(tmp, name + ".bin")
    with open(path, "wb") as f:
        f.write(image)
    status, out, _ = curl(["-X", "POST", base + "/api/otaPackage/%s?checksumAlgorithm=SHA256"
                           % package, "-H", "X-Authorization: Bearer " + server.key,
                           "-F", "file=@" + path])
    assert status == 200, out
    return profile, package


class LongPollTest(unittest.TestCase):
    def test_long_poll_gets_the_notice_and_shutdown_answers_parked_polls(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        data_dir = os.path.join(tmp, "data")
        server = Fwotad(data_dir, "--notices_per_minute=0")
        base = "http://127.0.0.1:%d" % server.port
        h = ["-H", "X-Authorization: Bearer " + server.key, "-H", "Content-Type: application/json"]
        try:
            profile, package = provision(server, tmp, "lp", "LP_TOKEN", b"long poll image")
            # A device parks a long poll; the profile assignment's notice answers it.
            poll = subprocess.Popen(["curl", "-sS", "-w", "\n%{http_code}", base +
                                     "/api/v1/LP_TOKEN/attributes/updates?timeout=20000"],
                                    stdout=subprocess.PIPE)
            time.sleep(0.5)
            status, out, _ = curl(["-X", "POST", base + "/api/deviceProfile", *h, "--data-binary",
                                   json.dumps({"id": {"id": profile}, "name": "lp",
                                               "firmwareId": {"id": package}})])
            self.assertEqual(status, 200, out)
            body, code = poll.communicate(timeout=20)[0].decode().rsplit("\n", 1)
            self.assertEqual(code, "200", body)
            pushed = json.loads(body)
            self.assertEqual((pushed["fw_title"], pushed["fw_version"], pushed["fw_size"]),
                             ("lp", "1", len(b"long poll image")))
            self.assertEqual(pushed["deleted"], ["fw_url"])
            # The worker logs a drain when DrainNotices returns, after the push that
            # answered the poll: wait for the line instead of racing it.
            wait_for(lambda: 'msg="notices sent" sent=1' in server.read_log(),
                     "the worker's drain log line")
            self.assertIn('msg="notices sent" sent=1', server.read_log())
            # A poll parked at shutdown is answered at once (408), not after its timeout.
            poll = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base +
                                     "/api/v1/LP_TOKEN/attributes/updates?timeout=60000"],
                                    stdout=subprocess.PIPE)
            time.sleep(0.5)
            started = time.time()
            self.assertEqual(server.stop(), 0)
            self.assertEqual(poll.communicate(timeout=20)[0].decode(), "408")
            self.assertLess(time.time() - started, 10)
        finally:
            server.stop()


class BadInputTest(unittest.TestCase):
    """Abuse of every kind gets a clear 4xx; the server keeps serving and keeps nothing."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.data_dir = os.path.join(cls.tmp, "data")
        cls.server = Fwotad(cls.data_dir, "--max_package_size=1048576")
        cls.base = "http://127.0.0.1:%d" % cls.server.port
        cls.auth = "X-Authorization: Bearer " + cls.server.key
        status, out, _ = curl(["-X", "POST", cls.base + "/api/deviceProfile", "-H", cls.auth,
                               "-H", "Content-Type: application/json", "--data-binary", '{"name":"p"}'])
        assert status == 200, out
        profile = json.loads(out)["id"]["id"]
        status, out, _ = curl(["-X", "POST", cls.base + "/api/otaPackage", "-H", cls.auth,
                               "-H", "Content-Type: application/json", "--data-binary",
                               json.dumps({"title": "t", "version": "1", "type": "FIRMWARE",
                                           "deviceProfileId": {"id": profile}})])
        assert status == 200, out
        cls.package = json.loads(out)["id"]["id"]

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def assert_nothing_stored(self):
        status, out, _ = curl([self.base + "/api/otaPackage/info/" + self.package, "-H", self.auth])
        self.assertEqual(status, 200)
        self.assertFalse(json.loads(out)["hasData"])
        blobs = os.path.join(self.data_dir, "blobs")
        leftovers = [f for d, _, fs in os.walk(blobs) for f in fs]
        self.assertEqual(leftovers, [])

    def assert_still_serving(self):
        status, _, _ = curl([self.base + "/api/otaPackages?pageSize=1&page=0", "-H", self.auth])
        self.assertEqual(status, 200)

    def test_body_over_the_limit_is_413_and_leaves_nothing(self):
        path = os.path.join(self.tmp, "big.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(2 * 1024 * 1024))
        for form in (["-F", "file=@" + path], ["--data-binary", "@" + path]):
            status, out, _ = curl(["-X", "POST", self.base + "/api/otaPackage/" + self.package,
                                   "-H", self.auth, *form])
            self.assertEqual(status, 413, out)
        self.assert_nothing_stored()
        self.assert_still_serving()

    def test_truncated_and_malformed_multipart(self):
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + os.urandom(5000))  # no end
        status, out, _ = curl(["-X", "POST", self.base + "/api/otaPackage/" + self.package,
                               "-H", self.auth, "-H", "Content-Type: multipart/form-data; boundary=XyZ",
                               "--data-binary", "@-"], body)
        self.assertEqual(status, 400, out)
        status, out, _ = curl(["-X", "POST", self.base + "/api/otaPackage/" + self.package,
                               "-H", self.auth, "-H", "Content-Type: multipart/form-data; boundary=XyZ",
                               "--data-binary", "garbage without any boundary"])
        self.assertEqual(status, 400, out)
        self.assert_nothing_stored()

    def test_client_disconnecting_mid_upload_leaves_nothing(self):
        import socket
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(("POST /api/otaPackage/%s?fileName=x.bin HTTP/1.1\r\nHost: x\r\n%s\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: 900000\r\n\r\n"
                   % (self.package, self.auth)).encode() + os.urandom(300000))
        time.sleep(0.3)
        s.close()
        time.sleep(0.5)
        self.assert_nothing_stored()
        self.assert_still_serving()

    def test_stalled_client_does_not_block_others(self):
        import socket
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(b"GET /api/otaPackages?pageSize=1&page=0 HTTP/1.1\r\nHost: x\r\n")  # never ends
        try:
            for _ in range(5):
                self.assert_still_serving()
        finally:
            s.close()

    def test_oversized_request_line_and_headers(self):
        status, _, _ = curl([self.base + "/api/otaPackages?pageSize=1&page=0&x=" + "a" * 20000,
                             "-H", self.auth])
        self.assertIn(status, (414, 431, 400))
        status, _, _ = curl([self.base + "/api/otaPackages?pageSize=1&page=0", "-H", self.auth,
                             "-H", "X-Big: " + "b" * 20000])
        self.assertEqual(status, 431)
        self.assert_still_serving()

    def test_traversal_and_bad_ids_and_tokens(self):
        for path in ("/api/otaPackage/..%2F..%2Fetc%2Fpasswd", "/api/otaPackage/%00",
                     "/api/otaPackage/../../etc/passwd/download"):
            status, _, _ = curl(["--path-as-is", self.base + path, "-H", self.auth])
            self.assertIn(status, (400, 404), path)
        status, out, _ = curl([self.base + "/api/otaPackage/info/123", "-H", self.auth])
        self.assertEqual(status, 400)
        self.assertIn("Invalid UUID string", json.loads(out)["message"])
        for q in ("size=-1&chunk=0", "size=abc&chunk=0", "size=65536&chunk=-5",
                  "size=65536&chunk=99999999999999999999999"):
            status, _, _ = curl([self.base + "/api/v1/no-such-token/firmware?title=t&version=1&" + q])
            self.assertIn(status, (400, 401), q)
        self.assert_still_serving()


if __name__ == "__main__":
    unittest.main()
