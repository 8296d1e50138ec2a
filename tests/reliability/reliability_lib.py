"""Helpers for the reliability tests (fault, load and tenant isolation): a real fwotad on
free ports and a temporary data directory, a mosquitto on a free port, a small REST client
and checks of what the data directory holds. Standard library only."""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

MOSQUITTO = "/usr/sbin/mosquitto"
COAP_CLIENT = "/usr/bin/coap-client-notls"


# A slower build of fwotad (--config=asan sets FWOTA_TEST_TIME_SCALE=3) gets
# proportionally more time; what is checked stays the same.
TIME_SCALE = float(os.environ.get("FWOTA_TEST_TIME_SCALE", "1"))
# Set by --config=asan: memory figures then include ASan's shadow memory and quarantine
# and say nothing about fwotad's own use.
SANITIZER = os.environ.get("FWOTA_SANITIZER", "")


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what, timeout=30, interval=0.05):
    timeout *= TIME_SCALE
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TestFailure("timed out after %d s waiting for %s" % (timeout, what))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def scratch_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TEST_TMPDIR"))


def peak_rss_kib(pid):
    """VmHWM (peak resident set) of a live process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise TestFailure("no VmHWM for pid %d" % pid)


class Mosquitto:
    """A mosquitto broker on a free loopback port (TCP_NODELAY, a large queue per client
    as docs/operations.md advises for large fleets)."""

    def __init__(self, work_dir):
        self.port = free_port()
        conf = os.path.join(work_dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "set_tcp_nodelay true\nmax_queued_messages 100000\n" % self.port)
        check(os.access(MOSQUITTO, os.X_OK), "mosquitto is missing: run tools/scripts/install-deps.sh")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def connectable():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(connectable, "mosquitto")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Fwotad:
    """A running fwotad on a free HTTP port (and a free CoAP port unless coap=False); its
    log goes to <data_dir>.log, appended across restarts."""

    def __init__(self, binary, data_dir, extra=(), coap=True, mqtt_port=None, side=None):
        """`side`: where the port file and the log go (default: beside the data directory)."""
        self.data_dir = data_dir
        side = side or data_dir
        self.port_file = side + ".port"
        self.log_path = side + ".log"
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.coap_port = free_port(socket.SOCK_DGRAM) if coap else 0
        args = [binary, "--data_dir=" + data_dir, "--http_port=0", "--port_file=" + self.port_file,
                "--coap_port=%d" % self.coap_port]
        if mqtt_port is not None:
            args.append("--mqtt_broker=tcp://127.0.0.1:%d" % mqtt_port)
        args += list(extra)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.time() + 60
        while not os.path.exists(self.port_file) or os.path.getsize(self.port_file) == 0:
            if self.proc.poll() is not None:
                raise TestFailure("fwotad exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.time() > deadline:
                raise TestFailure("fwotad did not start:\n" + self.log_tail())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        with open(os.path.join(data_dir, "admin-api-key")) as f:
            self.key = f.read().strip()
        if mqtt_port is not None:
            wait_for(lambda: "MQTT connected" in self.log(), "fwotad's MQTT connection")

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, lines=40):
        kept = [l for l in self.log().splitlines() if "msg=request " not in l]
        return "\n".join(kept[-lines:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        check(self.proc.returncode == -signal.SIGKILL, "fwotad did not die of SIGKILL: %s"
              % self.proc.returncode)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def client(self, key=None):
        return Rest(self.port, self.key if key is None else key)


class Rest:
    """One keep-alive connection to fwotad; admin calls carry the API key."""

    def __init__(self, port, key, timeout=60):
        self.port = port
        self.key = key
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None, headers=None, admin=True):
        """(status, bytes). One retry on a connection the server closed while idle."""
        headers = dict(headers or {})
        if admin and self.key:
            headers["X-Authorization"] = "Bearer " + self.key
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise

    def json(self, method, path, body=None, expect=200):
        status, data = self.request(method, path, body)
        check(status == expect, "%s %s: HTTP %d, expected %d: %s"
              % (method, path, status, expect, data[:500]))
        return json.loads(data) if data else None

    def all_pages(self, path, page_size=1000):
        out, page = [], 0
        sep = "&" if "?" in path else "?"
        while True:
            got = self.json("GET", "%s%spageSize=%d&page=%d" % (path, sep, page_size, page))
            out += got["data"]
            if not got["hasNext"]:
                return out
            page += 1

    # ---- entities ----

    def profile(self, name):
        return self.json("POST", "/api/deviceProfile", {"name": name})["id"]["id"]

    def device(self, name, profile_id, token=None):
        path = "/api/device" + ("?accessToken=" + token if token else "")
        return self.json("POST", path, {"name": name, "deviceProfileId": {
            "entityType": "DEVICE_PROFILE", "id": profile_id}})["id"]["id"]

    def package_info(self, profile_id, title, version, package_type="FIRMWARE"):
        return self.json("POST", "/api/otaPackage", {
            "title": title, "version": version, "type": package_type,
            "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile_id}})["id"]["id"]

    def upload(self, package_id, data, expect=200):
        boundary = "rel" + os.urandom(8).hex()
        body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode()
                + data + ("\r\n--%s--\r\n" % boundary).encode())
        status, out = self.request(
            "POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256&checksum=%s" % (package_id, sha256(data)),
            body, {"Content-Type": "multipart/form-data; boundary=" + boundary})
        check(status == expect, "upload: HTTP %d, expected %d: %s" % (status, expect, out[:300]))
        return json.loads(out) if out else None

    def package(self, profile_id, title, version, data, package_type="FIRMWARE"):
        pid = self.package_info(profile_id, title, version, package_type)
        info = self.upload(pid, data)
        check(info["hasData"] and info["checksum"] == sha256(data), "upload: %s" % info)
        return pid

    def assign_profile(self, profile_id, name, package_id, field="firmwareId"):
        ref = {"entityType": "OTA_PACKAGE", "id": package_id} if package_id else None
        return self.json("POST", "/api/deviceProfile", {
            "id": {"entityType": "DEVICE_PROFILE", "id": profile_id}, "name": name, field: ref})

    def assign_device(self, device_id, package_id, field="firmwareId"):
        ref = {"entityType": "OTA_PACKAGE", "id": package_id} if package_id else None
        return self.json("POST", "/api/device", {
            "id": {"entityType": "DEVICE", "id": device_id}, field: ref})


def create_devices(port, key, profile_id, names_tokens, threads=8):
    """Creates devices over several connections; returns {token: device id}."""
    import threading
    ids, errors = {}, []

    def work(part):
        rest = Rest(port, key)
        try:
            for name, token in part:
                ids[token] = rest.device(name, profile_id, token)
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            rest.close()
    workers = [threading.Thread(target=work, args=(names_tokens[k::threads],)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    check(not errors, "device creation: %s" % errors[:3])
    return ids


# ---- the data directory ----

BLOB_NAME = re.compile(r"^[0-9a-f]{64}(\.crc)?$")


def blob_files(data_dir):
    """Files under blobs/ but tmp/, as paths relative to blobs/."""
    root = os.path.join(data_dir, "blobs")
    out = []
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == "tmp" or rel.startswith("tmp" + os.sep):
            continue
        out += [os.path.join(rel, f) for f in files]
    return sorted(out)


def tmp_files(data_dir):
    d = os.path.join(data_dir, "blobs", "tmp")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def blob_path(data_dir, sha):
    return os.path.join(data_dir, "blobs", sha[:2], sha)


def check_storage(rest, data_dir, expected=None):
    """The data directory is consistent with the package list: a package with data has
    its blob (and sidecar) with the right SHA-256 and serves exactly those bytes; a
    package without data has nothing; no blob belongs to no package; blobs/tmp is empty.
    `expected`: {package id: bytes} for packages whose content the caller knows.
    Returns the package list."""
    packages = rest.all_pages("/api/otaPackages")
    owned = set()
    for p in packages:
        pid = p["id"]["id"]
        if not p["hasData"]:
            check(not p.get("checksum") and not p.get("dataSize"),
                  "package %s without data has data fields: %s" % (pid, p))
            continue
        check(p["checksumAlgorithm"] == "SHA256", "package %s: %s" % (pid, p))
        sha = p["checksum"]
        path = blob_path(data_dir, sha)
        check(os.path.exists(path) and os.path.exists(path + ".crc"),
              "package %s has data but no blob file %s" % (pid, path))
        with open(path, "rb") as f:
            stored = f.read()
        check(len(stored) == p["dataSize"] and sha256(stored) == sha,
              "package %s: blob of %d bytes, SHA-256 %s; metadata says %d bytes, %s"
              % (pid, len(stored), sha256(stored), p["dataSize"], sha))
        if expected is not None and pid in expected:
            check(stored == expected[pid], "package %s holds other bytes than uploaded" % pid)
        status, body = rest.request("GET", "/api/otaPackage/%s/download" % pid)
        check(status == 200 and sha256(body) == sha, "download of %s: HTTP %d, %d bytes"
              % (pid, status, len(body)))
        owned |= {os.path.join(sha[:2], sha), os.path.join(sha[:2], sha + ".crc")}
    orphans = [f for f in blob_files(data_dir) if f not in owned]
    check(not orphans, "blob files no package refers to: %s" % orphans)
    check(tmp_files(data_dir) == [], "files left in blobs/tmp: %s" % tmp_files(data_dir))
    return packages


def cleanup(*things):
    for t in things:
        if t is None:
            continue
        try:
            t.stop()
        except Exception:
            pass


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
