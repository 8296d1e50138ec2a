#!/usr/bin/python3
"""Load on loopback, bounded in time: one fwotad (HTTP, MQTT through mosquitto, CoAP)
serves, one phase after another,
  - 1,000 HTTP devices downloading their 256 KiB firmware at once (1,000 connections
    opened first, then every request released together),
  - 1,000 MQTT devices downloading it in 64 KiB chunks (bench/mqtt_devices, libmosquitto),
  - 200 CoAP devices (coap-client-notls processes, 50 at a time) fetching a 64 KiB image
    block-wise (1024-byte blocks),
while an administrator uploads, assigns, lists and deletes packages all along. Every
device checks the SHA-256 of what it got; the test wants zero errors (devices and admin)
and fwotad's peak resident memory (VmHWM) under PEAK_RSS_LIMIT_MIB.

Usage: load_test.py <fwotad> <mqtt_devices>"""

import json
import os
import random
import subprocess
import sys
import threading
import time
import traceback
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402
from reliability_lib import check  # noqa: E402

FWOTAD = os.path.abspath(sys.argv[1])
MQTT_DEVICES = os.path.abspath(sys.argv[2])

HTTP_DEVICES = 1000  # also the MQTT devices (tokens dev0 ... dev999, as mqtt_devices names them)
COAP_DEVICES = 200
COAP_BATCH = 50
IMAGE_SIZE = 256 * 1024
COAP_IMAGE_SIZE = 64 * 1024
MQTT_CHUNK = 64 * 1024
PEAK_RSS_LIMIT_MIB = 128
PHASE_LIMIT_S = 90 * lib.TIME_SCALE


class Admin(threading.Thread):
    """Administrator traffic beside the devices: a cycle of create, upload, assign to a
    small profile of its own, list packages, devices and update statuses, delete the
    previous package. Never touches the profiles the load devices use."""

    def __init__(self, server, profile):
        super().__init__(daemon=True)
        self.rest = server.client()
        self.profile = profile
        self.stop = threading.Event()
        self.cycles = 0
        self.requests = 0
        self.errors = []
        self.rng = random.Random(7)

    def call(self, method, path, body=None):
        self.requests += 1
        return self.rest.json(method, path, body)

    def run(self):
        previous = None
        try:
            while not self.stop.is_set():
                n = self.cycles
                data = self.rng.randbytes(512 * 1024 + n)
                pid = self.call("POST", "/api/otaPackage", {
                    "title": "admin-fw", "version": "%d" % n, "type": "FIRMWARE",
                    "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": self.profile}})["id"]["id"]
                self.requests += 1
                info = self.rest.upload(pid, data)
                check(info["dataSize"] == len(data), "admin upload: %s" % info)
                self.requests += 1
                self.rest.assign_profile(self.profile, "admin", pid)
                page = self.call("GET", "/api/otaPackages?pageSize=20&page=0&sortProperty=createdTime&sortOrder=DESC")
                check(any(p["id"]["id"] == pid for p in page["data"]), "the new package is not listed")
                self.call("GET", "/api/tenant/devices?pageSize=100&page=%d" % (n % 10))
                self.call("GET", "/api/ota/stats?type=FIRMWARE")
                self.call("GET", "/api/ota/devices?type=FIRMWARE&state=INITIATED&pageSize=50&page=0")
                self.call("GET", "/api/audit/logs?pageSize=20&page=0")
                if previous:
                    self.call("DELETE", "/api/otaPackage/" + previous)
                previous = pid
                self.cycles += 1
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            self.rest.close()

    def finish(self):
        self.stop.set()
        self.join(timeout=60)
        check(not self.is_alive(), "the admin thread hangs")
        check(not self.errors, "admin errors: %s" % self.errors)
        check(self.cycles > 0, "no admin cycle completed")


def http_phase(server, image, title, version):
    """HTTP_DEVICES connections opened, then all requests released at once."""
    threading.stack_size(256 * 1024)
    sha = lib.sha256(image)
    barrier = threading.Barrier(HTTP_DEVICES + 1, timeout=120)
    errors, started, done = [], [], []

    def device(i):
        conn = None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            conn.connect()
            barrier.wait()
            started.append(time.time())
            conn.request("GET", "/api/v1/dev%d/firmware?title=%s&version=%s" % (i, title, version))
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or lib.sha256(body) != sha:
                errors.append("dev%d: HTTP %d, %d bytes" % (i, r.status, len(body)))
            else:
                done.append(time.time())
        except Exception as e:
            errors.append("dev%d: %r" % (i, e))
            barrier.abort()
        finally:
            if conn is not None:
                conn.close()
    threads = [threading.Thread(target=device, args=(i,)) for i in range(HTTP_DEVICES)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(timeout=PHASE_LIMIT_S)
    check(not any(t.is_alive() for t in threads), "HTTP devices still running after %d s" % PHASE_LIMIT_S)
    check(not errors, "%d HTTP device errors, e.g. %s" % (len(errors), errors[:5]))
    check(len(done) == HTTP_DEVICES, "HTTP devices done: %d" % len(done))
    return max(done) - min(started)  # from the first request sent to the last answer read


def mqtt_phase(broker, image):
    t0 = time.time()
    out = subprocess.run([MQTT_DEVICES, "--port=%d" % broker.port, "--devices=%d" % HTTP_DEVICES,
                          "--mode=download", "--chunk=%d" % MQTT_CHUNK, "--size=%d" % len(image),
                          "--sha256=" + lib.sha256(image), "--timeout=60"],
                         capture_output=True, timeout=PHASE_LIMIT_S)
    elapsed = time.time() - t0
    lines = out.stdout.decode().strip().splitlines()
    check(out.returncode == 0 and lines, "mqtt_devices: exit %d\n%s\n%s" % (
        out.returncode, out.stdout.decode()[-2000:], out.stderr.decode()[-2000:]))
    result = json.loads(lines[-1])
    check(result["errors"] == 0 and result["devices"] == HTTP_DEVICES, "mqtt_devices: %s" % result)
    return elapsed, result


def coap_phase(server, image, tmp, title, version):
    sha = lib.sha256(image)
    t0 = time.time()
    errors = []
    for start in range(0, COAP_DEVICES, COAP_BATCH):
        procs = []
        for i in range(start, min(start + COAP_BATCH, COAP_DEVICES)):
            path = os.path.join(tmp, "coap%d.bin" % i)
            procs.append((i, path, subprocess.Popen(
                [lib.COAP_CLIENT, "-m", "get", "-b", "1024", "-B", "60", "-o", path,
                 "coap://127.0.0.1:%d/fw/coap%d?title=%s&version=%s" % (server.coap_port, i, title, version)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        for i, path, p in procs:
            try:
                _, err = p.communicate(timeout=PHASE_LIMIT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                errors.append("coap%d: timed out" % i)
                continue
            data = open(path, "rb").read() if os.path.exists(path) else b""
            if p.returncode != 0 or lib.sha256(data) != sha:
                errors.append("coap%d: exit %d, %d bytes: %s" % (i, p.returncode, len(data),
                                                                  err.decode(errors="replace")[:200]))
            if os.path.exists(path):
                os.unlink(path)
    elapsed = time.time() - t0
    check(not errors, "%d CoAP device errors, e.g. %s" % (len(errors), errors[:5]))
    return elapsed


def run(tmp):
    broker = lib.Mosquitto(tmp)
    server = None
    try:
        server = lib.Fwotad(FWOTAD, os.path.join(tmp, "data"), ["--notices_per_minute=0"],
                            mqtt_port=broker.port)
        rest = server.client()
        t0 = time.time()
        rng = random.Random(1)
        fleet = rest.profile("fleet")
        coap = rest.profile("coap")
        admin_profile = rest.profile("admin")
        lib.create_devices(server.port, server.key, fleet,
                           [("dev%d" % i, "dev%d" % i) for i in range(HTTP_DEVICES)])
        lib.create_devices(server.port, server.key, coap,
                           [("coap%d" % i, "coap%d" % i) for i in range(COAP_DEVICES)])
        lib.create_devices(server.port, server.key, admin_profile,
                           [("admin%d" % i, "admin%d" % i) for i in range(20)])
        image = rng.randbytes(IMAGE_SIZE)
        coap_image = rng.randbytes(COAP_IMAGE_SIZE)
        fw = rest.package(fleet, "fleet-fw", "1.0", image)
        rest.assign_profile(fleet, "fleet", fw)
        cfw = rest.package(coap, "coap-fw", "1.0", coap_image)
        rest.assign_profile(coap, "coap", cfw)
        setup = time.time() - t0
        rss_start = lib.peak_rss_kib(server.pid)
        print("setup: %d devices in %.1f s; fwotad peak RSS so far %.1f MiB"
              % (HTTP_DEVICES + COAP_DEVICES + 20, setup, rss_start / 1024), flush=True)

        admin = Admin(server, admin_profile)
        admin.start()
        t_http = http_phase(server, image, "fleet-fw", "1.0")
        rss_http = lib.peak_rss_kib(server.pid)
        print("HTTP: %d devices x %d KiB at once, SHA-256 verified, in %.1f s; peak RSS %.1f MiB"
              % (HTTP_DEVICES, IMAGE_SIZE // 1024, t_http, rss_http / 1024), flush=True)
        t_mqtt, mqtt = mqtt_phase(broker, image)
        rss_mqtt = lib.peak_rss_kib(server.pid)
        print("MQTT: %d devices x %d KiB in %d KiB chunks, SHA-256 verified, in %.1f s (%s); peak RSS "
              "%.1f MiB" % (HTTP_DEVICES, IMAGE_SIZE // 1024, MQTT_CHUNK // 1024, t_mqtt,
                            json.dumps(mqtt), rss_mqtt / 1024), flush=True)
        t_coap = coap_phase(server, coap_image, tmp, "coap-fw", "1.0")
        admin.finish()
        rss = lib.peak_rss_kib(server.pid)
        print("CoAP: %d devices x %d KiB block-wise (1024), %d at a time, SHA-256 verified, in %.1f s"
              % (COAP_DEVICES, COAP_IMAGE_SIZE // 1024, COAP_BATCH, t_coap), flush=True)
        print("admin beside them: %d cycles, %d requests, 0 errors" % (admin.cycles, admin.requests))
        # The load changed nothing it should not have: the fleet's assignment and stats.
        check(rest.json("GET", "/api/explain?deviceId=%s&type=FIRMWARE"
                        % rest.json("GET", "/api/tenant/devices?pageSize=1&page=0&textSearch=dev999")
                        ["data"][0]["id"]["id"])["package"]["id"]["id"] == fw, "dev999's package")
        log = server.log()
        bad = [l for l in log.splitlines() if "level=error" in l]
        check(not bad, "fwotad logged errors:\n" + "\n".join(bad[:10]))
        code = server.stop()
        check(code == 0, "fwotad exited with %s" % code)
        if lib.SANITIZER:
            # The memory target holds for the normal build, which this same test checks.
            print("peak RSS not checked against %d MiB under the %s sanitizer build"
                  % (PEAK_RSS_LIMIT_MIB, lib.SANITIZER), flush=True)
        else:
            check(rss <= PEAK_RSS_LIMIT_MIB * 1024, "fwotad's peak RSS %.1f MiB is over %d MiB"
                  % (rss / 1024, PEAK_RSS_LIMIT_MIB))
        limit = "not checked" if lib.SANITIZER else "limit %d MiB" % PEAK_RSS_LIMIT_MIB
        print("\nload test passed: HTTP %.1f s, MQTT %.1f s, CoAP %.1f s; fwotad peak RSS (VmHWM) "
              "%.1f MiB (%s); total %.1f s"
              % (t_http, t_mqtt, t_coap, rss / 1024, limit, time.time() - t0), flush=True)
    finally:
        if server is not None and server.proc.poll() is not None and server.proc.returncode != 0:
            print("---- fwotad log ----\n" + server.log_tail(30))
        lib.cleanup(server, broker)


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("load_test: SIGTERM"))
    tmp = lib.scratch_dir("load")
    try:
        run(tmp)
        return 0
    except Exception as e:
        print("\nLOAD TEST FAILED: %s" % e, flush=True)
        if not isinstance(e, lib.TestFailure):
            traceback.print_exc()
        return 1
    finally:
        lib.remove(tmp)


if __name__ == "__main__":
    sys.exit(main())
