#!/usr/bin/python3
"""The update process end to end: a simulated fleet of 1,000 devices over fwotad's HTTP
device API.

A real fwotad (paced notices, short stall timeouts) on a temporary data directory; a
profile assignment to 1,000 devices, device overrides (one before the profile assignment,
one while the device's profile notice is still queued), a reassignment in the middle of a
download, a device-level unassignment, devices that report FAILED, devices that go silent
after DOWNLOADING, and a SIGKILL of fwotad in the middle of the rollout, restarted on the
same data directory. At the end the admin views must tell exactly what the fleet did, and
every device's history must hold exactly one INITIATED event per target it was notified
for (plus one per re-notification for the silent ones): nothing lost, nothing sent twice.

How devices learn of a notice: 20 of them long-poll GET .../attributes/updates (the push
channel of the HTTP API). For the others, one dispatcher lists the INITIATED statuses
(GET /api/ota/devices?state=INITIATED), which stands in for the push a device would get
over its own transport, and hands each notified device to a pool of worker threads. A
device then reads its shared attributes, reports DOWNLOADING, downloads in chunks, checks
the SHA-256 against fw_checksum and reports DOWNLOADED, VERIFIED, UPDATING, UPDATED.

Standard library only. Usage: fleet_test.py <path to fwotad>
"""

import collections
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

FWOTAD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "bazel-bin/tools/fwotad/fwotad"

# ---- The scenario ----
DEVICES = 1000
WORKERS = 24
IMAGE_SIZE = 64 * 1024
CHUNK = 16 * 1024
NOTICES_PER_MINUTE = 3000  # 50 a second: the rollout takes ~15 s, the restart falls inside
NOTICE_BURST = 200
STALL_RENOTIFY = 1
# A slower build of fwotad (--config=asan sets FWOTA_TEST_TIME_SCALE=3) gets
# proportionally longer stall timeouts and deadline; the scenario stays the same.
TIME_SCALE = float(os.environ.get("FWOTA_TEST_TIME_SCALE", "1"))
# Long enough that a healthy device never looks silent (not even across the restart or a
# backlog of 200 notices at once on 2 cores), short enough for a fast test.
STALL_FLAGS = [
    "--stall_timeouts=INITIATED=%dms,DOWNLOADING=%dms,DOWNLOADED=%dms,VERIFIED=%dms,UPDATING=%dms"
    % tuple(int(s * 1000 * TIME_SCALE) for s in (6, 3, 4, 4, 4)),
    "--stall_renotify=%d" % STALL_RENOTIFY,
    "--stall_sweep_interval_ms=200",
]
RESTART_WHEN_QUEUED = 650  # SIGKILL once this many devices (or fewer) still wait
DEADLINE = 100 * TIME_SCALE  # seconds from the profile assignment to the end of the rollout

LONG_POLL = set(range(10, 20)) | set(range(985, 995))  # first burst / after the restart
FAILING = {i for i in range(DEVICES) if i % 50 == 25}  # 20 devices report FAILED
STALLING = {i for i in range(DEVICES) if i % 100 == 37}  # 10 go silent after DOWNLOADING
REASSIGNED = 100  # reassigned to fw 2.0 in the middle of its 1.0 download
OVERRIDE_BEFORE = 5  # its own package before the profile gets one
# Another device gets its own package while its profile notice is still queued: the one
# queued last (profile notices go out in device id order), picked once the ids are known.
assert not (LONG_POLL | {REASSIGNED, OVERRIDE_BEFORE}) & (FAILING | STALLING)

ATTRIBUTE_KEYS = "fw_title,fw_version,fw_size,fw_checksum,fw_checksum_algorithm"


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


class Fwotad:
    """A running fwotad on a free port; its log goes to <data_dir>.log."""

    def __init__(self, data_dir, extra):
        self.data_dir = data_dir
        self.port_file = data_dir + ".port"
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log_path = data_dir + ".log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [FWOTAD, "--data_dir=" + data_dir, "--http_port=0", "--coap_port=0", "--port_file=" + self.port_file,
                 *extra], stdout=log, stderr=log)
        deadline = time.time() + 30
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise TestFailure("fwotad exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.time() > deadline:
                raise TestFailure("fwotad did not start:\n" + self.log_tail())
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())
        self.key = open(os.path.join(data_dir, "admin-api-key")).read().strip()

    def log_tail(self, lines=40):
        """The last lines of the log but the access log's."""
        with open(self.log_path, "rb") as f:
            kept = [l for l in f.read().decode(errors="replace").splitlines() if "msg=request " not in l]
        return "\n".join(kept[-lines:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Device:
    def __init__(self, index, name, token, role, long_poll=False):
        self.index = index
        self.name = name
        self.token = token
        self.role = role  # ok, fail, stall, reassign, override, unassign
        self.long_poll = long_poll
        self.id = None
        self.target = None  # the package it must end on (dict: id, title, version, data)
        self.lock = threading.Lock()
        self.silent = False  # a stalling device after its DOWNLOADING
        self.completed = None  # (title, version) after UPDATED
        self.failed = None  # the fw_error it reported
        self.verified = set()  # (title, version) whose SHA-256 it checked
        self.abandoned = []  # downloads given up: (version, why)
        self.dispatched = 0
        self.ignored_notices = 0


class Fleet:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fleet", dir=os.environ.get("TEST_TMPDIR"))
        self.data_dir = os.path.join(self.tmp, "data")
        self.flags = ["--notices_per_minute=%d" % NOTICES_PER_MINUTE,
                      "--notice_burst=%d" % NOTICE_BURST, *STALL_FLAGS]
        self.server = None
        self.port = None
        self.key = None
        self.up = threading.Event()
        self.stopping = threading.Event()
        self.errors = []
        self.errors_lock = threading.Lock()
        self.devices = []
        self.by_id = {}
        self.jobs = queue.Queue()
        self.threads = []
        self.restarts = 0

    # ---- plumbing ----

    def error(self, message):
        with self.errors_lock:
            self.errors.append(message)
        print("ERROR: " + message, flush=True)

    def start_server(self):
        self.server = Fwotad(self.data_dir, self.flags)
        self.port = self.server.port
        self.key = self.server.key
        self.up.set()

    def crash_and_restart(self):
        self.up.clear()
        old_port = self.port
        self.server.kill()
        check(self.server.proc.returncode == -signal.SIGKILL,
              "fwotad did not die of SIGKILL: %s" % self.server.proc.returncode)
        t = time.time()
        self.start_server()
        self.restarts += 1
        print("fwotad killed (port %d) and restarted on port %d in %.2f s"
              % (old_port, self.port, time.time() - t), flush=True)

    def cleanup(self):
        self.stopping.set()
        self.up.set()  # wakes threads waiting for the server: they see `stopping`
        if self.server is not None:
            code = self.server.stop()
            if code != 0:
                print("fwotad exited with %s" % code)
        for t in self.threads:
            t.join(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
        for suffix in (".log", ".port"):
            if os.path.exists(self.data_dir + suffix):
                os.unlink(self.data_dir + suffix)


class Client:
    """One keep-alive connection to the current fwotad. Requests are retried across a
    restart (connection refused or dropped): the caller sees the answer of the server
    that is up, or an exception after `retry_seconds`."""

    def __init__(self, fleet, timeout=30, retry_seconds=30):
        self.fleet = fleet
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.conn = None
        self.conn_port = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None, headers=None, admin=False):
        headers = dict(headers or {})
        if admin:
            headers["X-Authorization"] = "Bearer " + self.fleet.key
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        deadline = time.time() + self.retry_seconds
        while True:
            if self.fleet.stopping.is_set():
                raise TestFailure("stopping")
            self.fleet.up.wait(timeout=self.retry_seconds)
            port = self.fleet.port
            if self.conn is None or self.conn_port != port:
                self.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
                self.conn_port = port
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if time.time() > deadline:
                    raise TestFailure("%s %s: %r (no server for %d s)"
                                      % (method, path, e, self.retry_seconds))
                time.sleep(0.05)

    def json(self, method, path, body=None, admin=True, expect=200):
        status, data = self.request(method, path, body, admin=admin)
        if status != expect:
            raise TestFailure("%s %s: HTTP %d, expected %d: %s"
                              % (method, path, status, expect, data[:500]))
        return json.loads(data) if data else None


def multipart_upload(client, package_id, file_name, data):
    boundary = "fleet" + os.urandom(8).hex()
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % (boundary, file_name)).encode()
            + data + ("\r\n--%s--\r\n" % boundary).encode())
    sha = hashlib.sha256(data).hexdigest()
    status, out = client.request(
        "POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256&checksum=%s" % (package_id, sha),
        body, {"Content-Type": "multipart/form-data; boundary=" + boundary}, admin=True)
    check(status == 200, "upload of %s: HTTP %d %s" % (file_name, status, out[:300]))
    info = json.loads(out)
    check(info["hasData"] and info["dataSize"] == len(data), "upload of %s: %s" % (file_name, info))
    check(info["checksumAlgorithm"] == "SHA256" and info["checksum"] == sha,
          "upload of %s: checksum %s" % (file_name, info))


def create_package(client, profile_id, title, version):
    data = os.urandom(IMAGE_SIZE)
    info = client.json("POST", "/api/otaPackage", {
        "title": title, "version": version, "type": "FIRMWARE",
        "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile_id}})
    multipart_upload(client, info["id"]["id"], "%s-%s.bin" % (title, version), data)
    return {"id": info["id"]["id"], "title": title, "version": version, "data": data,
            "sha256": hashlib.sha256(data).hexdigest()}


def package_ref(package):
    return {"entityType": "OTA_PACKAGE", "id": package["id"]} if package else None


def assign_device(client, device, package):
    out = client.json("POST", "/api/device", {
        "id": {"entityType": "DEVICE", "id": device.id}, "firmwareId": package_ref(package)})
    got = out.get("firmwareId")
    check((got["id"] if got else None) == (package["id"] if package else None),
          "assignment of %s: %s" % (device.name, out))


# ---- The device side ----

class DeviceSim:
    """What one device does once notified; runs on a worker or long-poll thread."""

    def __init__(self, fleet, client):
        self.fleet = fleet
        self.client = client

    def report(self, device, payload):
        status, out = self.client.request("POST", "/api/v1/%s/telemetry" % device.token, payload)
        if status != 200:
            raise TestFailure("%s: telemetry %s: HTTP %d %s" % (device.name, payload, status, out[:300]))

    def attributes(self, device):
        status, out = self.client.request(
            "GET", "/api/v1/%s/attributes?sharedKeys=%s" % (device.token, ATTRIBUTE_KEYS))
        check(status == 200, "%s: attributes: HTTP %d %s" % (device.name, status, out[:300]))
        return json.loads(out).get("shared", {})

    def chunk(self, device, title, version, n):
        return self.client.request(
            "GET", "/api/v1/%s/firmware?title=%s&version=%s&size=%d&chunk=%d"
            % (device.token, title, version, CHUNK, n))

    def update(self, device):
        """One update attempt, from the notice to UPDATED (or FAILED, silence, abandon)."""
        target = device.target
        shared = self.attributes(device)
        expected = {"fw_title": target["title"], "fw_version": target["version"],
                    "fw_size": IMAGE_SIZE, "fw_checksum": target["sha256"],
                    "fw_checksum_algorithm": "SHA256"}
        check(shared == expected, "%s: attributes %s, expected %s"
              % (device.name, shared, dict(expected, fw_checksum="...")))
        title, version, size = shared["fw_title"], shared["fw_version"], shared["fw_size"]
        self.report(device, {"fw_state": "DOWNLOADING"})
        if device.role == "stall":
            device.silent = True  # never heard of again
            return
        data = b""
        n = 0
        while len(data) < size:
            if n == 1 and device.role == "reassign" and target is self.fleet.fw1:
                # The administrator reassigns it to 2.0 while it downloads 1.0.
                device.target = self.fleet.fw2
                assign_device(self.client, device, self.fleet.fw2)
                status, out = self.chunk(device, title, version, n)
                check(status == 400, "%s: chunk %d of %s after the reassignment: HTTP %d, "
                      "expected 400" % (device.name, n, version, status))
                device.abandoned.append((version, json.loads(out)["message"]))
                return  # waits for the notice of 2.0
            if n == 1 and device.role == "unassign":
                assign_device(self.client, device, None)
                status, out = self.chunk(device, title, version, n)
                check(status == 404, "%s: chunk after the unassignment: HTTP %d, expected 404"
                      % (device.name, status))
                device.abandoned.append((version, json.loads(out)["message"]))
                device.target = None
                return
            status, out = self.chunk(device, title, version, n)
            check(status == 200 and out, "%s: chunk %d of %s %s: HTTP %d, %d bytes"
                  % (device.name, n, title, version, status, len(out)))
            data += out
            n += 1
        check(len(data) == size, "%s: downloaded %d bytes, fw_size %d" % (device.name, len(data), size))
        status, out = self.chunk(device, title, version, n)
        check(status == 200 and out == b"", "%s: chunk past the end: HTTP %d, %d bytes"
              % (device.name, status, len(out)))
        if hashlib.sha256(data).hexdigest() != shared["fw_checksum"]:
            self.report(device, {"fw_state": "FAILED", "fw_error": "checksum mismatch"})
            raise TestFailure("%s: SHA-256 of %s %s does not match fw_checksum" % (device.name, title, version))
        device.verified.add((title, version))
        self.report(device, {"fw_state": "DOWNLOADED"})
        if device.role == "fail" and device.index % 100 == 25:
            device.failed = "simulated: image rejected by the bootloader"
            self.report(device, {"fw_state": "FAILED", "fw_error": device.failed})
            return
        self.report(device, {"fw_state": "VERIFIED"})
        self.report(device, {"fw_state": "UPDATING"})
        if device.role == "fail":
            device.failed = "simulated: flash write failed at 0x%x" % (device.index * 4096)
            self.report(device, {"fw_state": "FAILED", "fw_error": device.failed})
            return
        self.report(device, {"ts": int(time.time() * 1000),
                             "values": {"fw_state": "UPDATED", "current_fw_title": title,
                                        "current_fw_version": version}})
        device.completed = (title, version)


def worker(fleet):
    sim = DeviceSim(fleet, Client(fleet))
    while not fleet.stopping.is_set():
        try:
            device, status = fleet.jobs.get(timeout=0.2)
        except queue.Empty:
            continue
        try:
            with device.lock:
                device.dispatched += 1
                if device.silent or device.completed or device.failed or device.target is None:
                    device.ignored_notices += 1  # a silent device hears nothing
                    continue
                notified = (status["targetPackageId"] or {}).get("id")
                if notified != device.target["id"]:
                    fleet.error("%s notified for package %s, expected %s %s"
                                % (device.name, notified, device.target["title"], device.target["version"]))
                    continue
                sim.update(device)
        except TestFailure as e:
            if not fleet.stopping.is_set():
                fleet.error(str(e))
        except Exception:  # a bug of the test itself: loud
            fleet.error(traceback.format_exc())


def dispatcher(fleet):
    """Hands every newly notified polling device to the workers, once per notice."""
    client = Client(fleet)
    seen = set()
    while not fleet.stopping.is_set():
        try:
            page = client.json("GET", "/api/ota/devices?type=FIRMWARE&state=INITIATED"
                                      "&pageSize=5000&page=0")
        except TestFailure as e:
            if not fleet.stopping.is_set():
                fleet.error("dispatcher: %s" % e)
            return
        # Oldest notice first, as devices start when their notice arrives (the listing is
        # newest first).
        for status in sorted(page["data"], key=lambda st: st["stateSince"]):
            device = fleet.by_id.get(status["deviceId"]["id"])
            if device is None:
                fleet.error("INITIATED status of an unknown device: %s" % status)
                continue
            if device.long_poll:
                continue
            key = (device.id, (status["targetPackageId"] or {}).get("id"), status["stateSince"])
            if key not in seen:
                seen.add(key)
                fleet.jobs.put((device, status))
        time.sleep(0.15)


def long_poller(fleet, device):
    """A device that learns of its update from ThingsBoard's HTTP long poll."""
    client = Client(fleet, timeout=60)
    sim = DeviceSim(fleet, client)
    try:
        while not fleet.stopping.is_set() and not device.completed:
            status, out = client.request(
                "GET", "/api/v1/%s/attributes/updates?timeout=25000" % device.token)
            if status == 408:
                continue
            check(status == 200, "%s: long poll: HTTP %d %s" % (device.name, status, out[:300]))
            update = json.loads(out)
            with device.lock:
                device.dispatched += 1
                check(update.get("fw_title") == device.target["title"] and
                      update.get("fw_version") == device.target["version"] and
                      update.get("fw_checksum") == device.target["sha256"],
                      "%s: long poll answered %s" % (device.name, update))
                sim.update(device)
    except TestFailure as e:
        if not fleet.stopping.is_set():
            fleet.error(str(e))
    except Exception:
        fleet.error(traceback.format_exc())


# ---- The scenario ----

def run(fleet):
    t0 = time.time()
    fleet.start_server()
    admin = Client(fleet)

    profile = admin.json("POST", "/api/deviceProfile", {"name": "fleet"})["id"]["id"]
    solo_profile = admin.json("POST", "/api/deviceProfile", {"name": "solo"})["id"]["id"]
    fleet.fw1 = create_package(admin, profile, "fleet-fw", "1.0")
    fleet.fw2 = create_package(admin, profile, "fleet-fw", "2.0")
    special = create_package(admin, profile, "fleet-fw-special", "1.0-special")
    solo_fw = create_package(admin, solo_profile, "solo-fw", "1.0")

    # 1,000 devices in "fleet" with chosen access tokens, and one in "solo".
    for i in range(DEVICES):
        role = ("fail" if i in FAILING else "stall" if i in STALLING else
                "reassign" if i == REASSIGNED else
                "override" if i == OVERRIDE_BEFORE else "ok")
        fleet.devices.append(Device(i, "dev-%04d" % i, "fleet-token-%04d" % i, role, i in LONG_POLL))
    solo = Device(DEVICES, "solo-0", "solo-token-0", "unassign")
    fleet.devices.append(solo)

    def create(devices):
        client = Client(fleet)
        for d in devices:
            pid = solo_profile if d is solo else profile
            out = client.json("POST", "/api/device?accessToken=" + d.token, {
                "name": d.name, "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": pid}})
            d.id = out["id"]["id"]
        client.close()

    creators = [threading.Thread(target=create, args=(fleet.devices[k::8],)) for k in range(8)]
    for t in creators:
        t.start()
    for t in creators:
        t.join()
    check(all(d.id for d in fleet.devices), "not every device was created")
    fleet.by_id = {d.id: d for d in fleet.devices}
    page = admin.json("GET", "/api/tenant/devices?pageSize=1&page=0")
    check(page["totalElements"] == DEVICES + 1, "devices: %s" % page["totalElements"])
    creds = admin.json("GET", "/api/device/%s/credentials" % fleet.devices[7].id)
    check(creds["credentialsId"] == fleet.devices[7].token, "credentials: %s" % creds)
    t_created = time.time()
    print("setup: 1,001 devices and 4 packages in %.1f s" % (t_created - t0), flush=True)

    # The device side starts: workers, the dispatcher, the long polls (parked before any
    # notice goes out).
    for _ in range(WORKERS):
        fleet.threads.append(threading.Thread(target=worker, args=(fleet,), daemon=True))
    fleet.threads.append(threading.Thread(target=dispatcher, args=(fleet,), daemon=True))
    for d in fleet.devices:
        if d.long_poll:
            fleet.threads.append(threading.Thread(target=long_poller, args=(fleet, d), daemon=True))
    for t in fleet.threads:
        t.start()
    time.sleep(1.0)

    # The solo device gets a package of its own (unassigned later, mid-download); dev-0005
    # its override before the profile has a package.
    solo.target = solo_fw
    assign_device(admin, solo, solo_fw)
    overridden = fleet.devices[OVERRIDE_BEFORE]
    overridden.target = special
    assign_device(admin, overridden, special)
    for d in fleet.devices[:DEVICES]:
        if d is not overridden:
            d.target = fleet.fw1
    t_assign = time.time()
    out = admin.json("POST", "/api/deviceProfile", {
        "id": {"entityType": "DEVICE_PROFILE", "id": profile}, "name": "fleet",
        "firmwareId": package_ref(fleet.fw1)})
    check(out["firmwareId"]["id"] == fleet.fw1["id"], "profile assignment: %s" % out)
    # Every fleet device but the overridden one is queued, or already further: the first
    # burst of notices goes out at once, and a fast device may have reported already.
    stats = admin.json("GET", "/api/ota/stats?type=FIRMWARE")
    check(stats["waiting"] + stats["updating"] >= DEVICES - 1,
          "after the profile assignment: %s" % stats)
    # The last device in the queue gets its own package while its profile notice waits.
    late = max((d for d in fleet.devices[:DEVICES] if d.role == "ok" and not d.long_poll),
               key=lambda d: d.id)
    late.role = "override"
    late_status = admin.json("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % late.id)
    check(late_status["state"] == "QUEUED", "%s is not queued any more: %s" % (late.name, late_status))
    with late.lock:
        late.target = special
    assign_device(admin, late, special)

    # The rollout runs; fwotad is killed while notices are still queued.
    queued_at_kill = None
    while queued_at_kill is None:
        check(time.time() - t_assign < 30, "the rollout does not progress: %s" % stats)
        check(not fleet.errors, "device errors before the restart")
        stats = admin.json("GET", "/api/ota/stats?type=FIRMWARE")
        if stats["QUEUED"] <= RESTART_WHEN_QUEUED:
            queued_at_kill = stats["QUEUED"]
            fleet.crash_and_restart()
        else:
            time.sleep(0.05)
    check(queued_at_kill >= NOTICE_BURST + 100,
          "only %d devices still queued at the restart: the test would prove nothing" % queued_at_kill)
    t_restart = time.time()
    stats = admin.json("GET", "/api/ota/stats?type=FIRMWARE")
    check(stats["QUEUED"] > 0, "nothing queued after the restart: %s" % stats)
    print("restart %.1f s after the assignment with %d devices queued; after it: %s"
          % (t_restart - t_assign, queued_at_kill, stats["QUEUED"]), flush=True)

    # The end: every device UPDATED or FAILED (the silent ones by the stall detector).
    n_failed = len(FAILING) + len(STALLING)
    n_updated = DEVICES - n_failed
    while True:
        stats = admin.json("GET", "/api/ota/stats?type=FIRMWARE")
        if fleet.errors:
            raise TestFailure("%d device errors, the first: %s" % (len(fleet.errors), fleet.errors[0]))
        if stats["UPDATED"] + stats["FAILED"] >= DEVICES and fleet.jobs.empty():
            break
        if time.time() - t_assign > DEADLINE:
            raise TestFailure("the rollout did not finish in %d s: %s" % (DEADLINE, stats))
        time.sleep(0.25)
    t_done = time.time()
    time.sleep(1.0)  # any stray notice or stall would show now
    fleet.stopping.set()
    for t in fleet.threads:
        t.join(timeout=30)
    check(not any(t.is_alive() for t in fleet.threads), "device threads still running")
    check(not fleet.errors, "device errors: %s" % fleet.errors[:5])
    fleet.stopping.clear()  # the admin client may talk again
    verify(fleet, admin, profile, special, solo_fw, n_updated, n_failed)
    return {"setup": t_created - t0, "rollout": t_done - t_assign, "queued_at_kill": queued_at_kill,
            "restart_after": t_restart - t_assign, "total": time.time() - t0, "stats": stats}


def history(admin, device):
    events = []
    page = 0
    while True:
        out = admin.json("GET", "/api/device/%s/otaHistory?type=FIRMWARE&pageSize=100&page=%d"
                         % (device.id, page))
        events += out["data"]
        if not out["hasNext"]:
            break
        page += 1
    return list(reversed(events))  # oldest first


def verify(fleet, admin, profile, special, solo_fw, n_updated, n_failed):
    fw1, fw2 = fleet.fw1, fleet.fw2
    stats = admin.json("GET", "/api/ota/stats?type=FIRMWARE")
    expected_stats = {"QUEUED": 0, "INITIATED": 0, "DOWNLOADING": 0, "DOWNLOADED": 0,
                      "VERIFIED": 0, "UPDATING": 0, "UPDATED": n_updated, "FAILED": n_failed,
                      "waiting": 0, "updating": 0, "updated": n_updated, "failed": n_failed}
    got = {k: stats.get(k) for k in expected_stats}
    check(got == expected_stats, "stats %s, expected %s" % (got, expected_stats))
    for state, count in (("UPDATED", n_updated), ("FAILED", n_failed)):
        page = admin.json("GET", "/api/ota/devices?type=FIRMWARE&state=%s&pageSize=2000&page=0" % state)
        check(page["totalElements"] == count, "%s devices listed: %d" % (state, page["totalElements"]))
    updated_ids = {s["deviceId"]["id"] for s in admin.json(
        "GET", "/api/ota/devices?type=FIRMWARE&state=UPDATED&pageSize=2000&page=0")["data"]}
    check(updated_ids == {d.id for d in fleet.devices if d.completed},
          "the UPDATED devices are not the ones that completed")

    problems = []
    initiated_total = 0
    for d in fleet.devices:
        try:
            events = history(admin, d)
            status = admin.json("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % d.id)
            initiated = collections.Counter(
                e["packageId"]["id"] for e in events if e["state"] == "INITIATED")
            initiated_total += sum(initiated.values())
            renotified = [e for e in events if e["source"] == "server" and
                          re.search(r"; notice sent again \(\d+ of \d+\)$", e["note"] or "")]
            server_failed = [e for e in events if e["state"] == "FAILED" and e["source"] == "server"]
            summary = "; ".join("+%.1fs %s %s %s %s" % ((e["createdTime"] - events[0]["createdTime"]) / 1000,
                                                       e["source"], e["state"], e["version"], e["note"] or "")
                                for e in events)
            expected_initiated = {d.target["id"]: 1} if d.target else {}
            if d.role == "reassign":
                expected_initiated = {fw1["id"]: 1, fw2["id"]: 1}
            elif d.role == "stall":
                expected_initiated = {fw1["id"]: 1 + STALL_RENOTIFY}
            elif d.role == "unassign":
                expected_initiated = {solo_fw["id"]: 1}
            if dict(initiated) != expected_initiated:
                problems.append("%s: INITIATED per package %s, expected %s; history: %s"
                                % (d.name, dict(initiated), expected_initiated, summary))
                continue
            if d.role == "unassign":
                check(status["state"] is None and status["targetPackageId"] is None,
                      "status after the unassignment: %s" % status)
                check(events[-1]["state"] is None and "unassigned through the device" in events[-1]["note"],
                      "last event after the unassignment: %s" % events[-1])
                code, out = admin.request("GET", "/api/v1/%s/attributes?sharedKeys=%s"
                                          % (d.token, ATTRIBUTE_KEYS))
                check(code == 200 and json.loads(out) == {}, "attributes after the unassignment: %s" % out)
                check(d.abandoned, "the unassigned device did not see its download end")
                continue
            if d.role == "stall":
                check(status["state"] == "FAILED", "%s: %s" % (d.name, status))
                check(re.search(r"^stalled: no report or download for .* in (INITIATED|DOWNLOADING)",
                                status["error"] or ""), "%s: error %r" % (d.name, status["error"]))
                # Re-notified once per silence, at once (not behind the rollout's queue),
                # from the state it went silent in.
                check(len(renotified) == STALL_RENOTIFY and renotified[0]["state"] == "INITIATED" and
                      "in DOWNLOADING; notice sent again (1 of %d)" % STALL_RENOTIFY
                      in renotified[0]["note"],
                      "%s: %d re-notifications in the history, expected %d: %s"
                      % (d.name, len(renotified), STALL_RENOTIFY, summary))
                check(len(server_failed) == 1 and server_failed[0] is events[-1],
                      "%s: the stall detector's FAILED: %s" % (d.name, summary))
                continue
            check(not renotified and not server_failed,
                  "%s: stall detector acted on a healthy device: %s" % (d.name, summary))
            if d.role == "fail":
                check(status["state"] == "FAILED" and status["error"] == d.failed,
                      "%s: status %s, reported %r" % (d.name, status, d.failed))
                continue
            t = d.target
            check(status["state"] == "UPDATED" and status["targetPackageId"]["id"] == t["id"] and
                  status["currentTitle"] == t["title"] and status["currentVersion"] == t["version"],
                  "%s: status %s, expected UPDATED on %s %s" % (d.name, status, t["title"], t["version"]))
            check(d.completed == (t["title"], t["version"]) and (t["title"], t["version"]) in d.verified,
                  "%s: completed %s, verified %s" % (d.name, d.completed, d.verified))
            if d.role == "reassign":
                check(d.abandoned and d.abandoned[0][0] == "1.0" and fw2 is t,
                      "%s: abandoned %s" % (d.name, d.abandoned))
                states = [(e["state"], e["version"]) for e in events if e["source"] == "device"]
                check(states[0] == ("DOWNLOADING", "1.0") and states[-1] == ("UPDATED", "2.0") and
                      ("DOWNLOADED", "1.0") not in states, "%s: device reports %s" % (d.name, states))
            if d.role == "override":
                check(t is special, "%s: target %s" % (d.name, t["version"]))
                queued = [e["note"] for e in events if e["state"] == "QUEUED"]
                want = (["assigned through the device"] if d.index == OVERRIDE_BEFORE else
                        ["assigned through the profile", "assigned through the device"])
                check(queued == want, "%s: QUEUED events %s, expected %s" % (d.name, queued, want))
        except TestFailure as e:
            problems.append(str(e))
    check(not problems, "%d devices with wrong histories or statuses:\n  %s"
          % (len(problems), "\n  ".join(problems[:40])))
    fleet.initiated_total = initiated_total

    # fwotad said nothing alarming.
    with open(fleet.server.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    bad = [l for l in log.splitlines() if "level=error" in l]
    check(not bad, "fwotad logged errors:\n" + "\n".join(bad[:10]))


def main():
    # Killed by Bazel's timeout: still stop fwotad and clean up (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("fleet_test: SIGTERM"))
    fleet = Fleet()
    ok = False
    try:
        result = run(fleet)
        n_failed = len(FAILING) + len(STALLING)
        print("\nfleet test passed: %d devices + 1 solo; UPDATED %d, FAILED %d (%d reported, %d "
              "stalled), %d INITIATED events in all; restart after %.1f s with %d queued; "
              "setup %.1f s, rollout %.1f s, total %.1f s"
              % (DEVICES, DEVICES - n_failed, n_failed, len(FAILING), len(STALLING),
                 fleet.initiated_total, result["restart_after"], result["queued_at_kill"],
                 result["setup"], result["rollout"], result["total"]), flush=True)
        ok = True
    except Exception as e:
        print("\nFLEET TEST FAILED: %s" % e, flush=True)
        if not isinstance(e, TestFailure):
            traceback.print_exc()
        if fleet.server is not None:
            print("---- fwotad log (last lines) ----\n" + fleet.server.log_tail(60), flush=True)
        out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if out_dir and fleet.server is not None and os.path.exists(fleet.server.log_path):
            shutil.copy(fleet.server.log_path, os.path.join(out_dir, "fwotad.log"))
    finally:
        fleet.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
