#!/usr/bin/python3
"""Fault tests of fwotad on a real data directory.

- SIGKILL at random points (seeded; the seed is printed, FWOTA_FAULT_SEED=N repeats a
  run) during uploads (several at once, streamed slowly, with deletes beside them),
  during assignment changes, and while the notice queue drains (paced, with MQTT devices
  counting what reaches them). After each restart: a package has its exact bytes with
  the right checksum or no data at all; every blob file belongs to a package; blobs/tmp is
  empty; assignments are the last acknowledged ones or the one in flight; each device got
  exactly one INITIATED event per notice, none lost and none doubled, and its history is
  intact.
- The disk filling up during an upload (a loop-mounted 32 MiB ext4 image, else a tmpfs
  with size=, as the data directory): a clear error, nothing half-written, fwotad keeps
  serving, and once something is deleted a small upload works.
- A blob damaged on disk (bytes flipped in the blob file, also after it has been served
  once): the damage is detected over the admin download, the HTTP device API, MQTT and
  CoAP, reported (error answer and log line), and the damaged bytes are never served.

Usage: fault_test.py <fwotad> [test names]"""

import hashlib
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402

FWOTAD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "bazel-bin/tools/fwotad/fwotad"
SEED = int(os.environ.get("FWOTA_FAULT_SEED", str(int(time.time() * 1000) % 1000000)))
print("fault_test seed: FWOTA_FAULT_SEED=%d" % SEED, flush=True)


def system_tool(name):
    """An administration tool by its full path (Bazel's test PATH has no sbin)."""
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin") or name


class FaultTestBase(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random("%d-%s" % (SEED, self.id()))
        self.tmp = lib.scratch_dir(self.id().rsplit(".", 1)[-1] + "-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.server = None
        self.broker = None
        self.extra = ["--notices_per_minute=0"]

    def tearDown(self):
        lib.cleanup(self.server, self.broker)
        if self.server is not None and hasattr(self, "_outcome"):
            failed = any(e for _, e in getattr(self._outcome, "errors", []) if e)
            if failed or not getattr(self._outcome, "success", True):
                print("---- fwotad log ----\n" + self.server.log_tail(30))
        self.doCleanups()  # unmounts a size-limited directory before it is removed
        lib.remove(self.tmp)

    def start(self, data_dir=None):
        self.server = lib.Fwotad(FWOTAD, data_dir or self.data_dir, self.extra,
                                 mqtt_port=self.broker.port if self.broker else None,
                                 side=os.path.join(self.tmp, "fwotad"))
        self.rest = self.server.client()
        return self.server

    def restart_after_kill(self):
        self.rest.close()
        self.server.kill()
        return self.start()


def stream_upload(port, key, package_id, data, piece, pause, outcome):
    """A plain-body upload sent `piece` bytes at a time with `pause` seconds between; the
    answer (or the exception) goes to outcome[package_id]."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256&checksum=%s&fileName=fw.bin"
                        % (package_id, lib.sha256(data)))
        conn.putheader("X-Authorization", "Bearer " + key)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        for i in range(0, len(data), piece):
            conn.send(data[i:i + piece])
            time.sleep(pause)
        r = conn.getresponse()
        outcome[package_id] = (r.status, r.read())
    except Exception as e:  # the server was killed: expected
        outcome[package_id] = e
    finally:
        conn.close()


class KillTest(FaultTestBase):
    def test_kill_during_uploads_and_deletes(self):
        """Rounds of concurrent streamed uploads and deletes, fwotad SIGKILLed at a random
        moment of each; the storage must be consistent after every restart."""
        self.start()
        profile = self.rest.profile("p")
        contents = {}  # package id -> the bytes uploaded to it
        acknowledged = set()  # packages whose upload got its 200
        rounds = 6
        for n in range(rounds):
            uploads = {}
            for k in range(3):
                size = self.rng.randint(256 * 1024, 6 * 1024 * 1024)
                pid = self.rest.package_info(profile, "fw", "%d.%d" % (n, k))
                # Round 2's second upload repeats the first's bytes: a shared blob.
                data = (contents[next(iter(uploads))] if (n == 2 and k == 1)
                        else self.rng.randbytes(size))
                contents[pid] = data
                uploads[pid] = data
            deletable = [p for p in acknowledged if self.rng.random() < 0.5]
            outcome = {}
            threads = [threading.Thread(target=stream_upload, args=(
                self.server.port, self.server.key, pid, data, 64 * 1024, 0.01, outcome))
                for pid, data in uploads.items()]

            def deleter():
                rest = self.server.client()
                for p in deletable:
                    try:
                        rest.request("DELETE", "/api/otaPackage/" + p)
                    except Exception:
                        return
            threads.append(threading.Thread(target=deleter))
            for t in threads:
                t.start()
            delay = self.rng.uniform(0.05, 1.2)
            time.sleep(delay)
            self.restart_after_kill()
            for t in threads:
                t.join(timeout=60)
            answered = sum(1 for o in outcome.values() if isinstance(o, tuple) and o[0] == 200)
            for pid, o in outcome.items():
                if isinstance(o, tuple) and o[0] == 200:
                    acknowledged.add(pid)
            packages = {p["id"]["id"]: p for p in lib.check_storage(self.rest, self.data_dir, contents)}
            # An acknowledged upload survives (unless deleted), with its data.
            for pid in acknowledged:
                if pid in packages:
                    self.assertTrue(packages[pid]["hasData"], pid)
                else:
                    self.assertIn(pid, deletable, "acknowledged package %s is gone" % pid)
            acknowledged &= set(packages)
            print("upload round %d: killed after %.3f s, %d of %d uploads answered, %d packages "
                  "with data" % (n, delay, answered, len(uploads),
                                 sum(1 for p in packages.values() if p["hasData"])), flush=True)
        # The packages that lost their data in a kill can be uploaded again.
        for p in self.rest.all_pages("/api/otaPackages"):
            if not p["hasData"]:
                self.rest.upload(p["id"]["id"], contents[p["id"]["id"]])
        lib.check_storage(self.rest, self.data_dir, contents)

    def test_kill_during_assignment_changes(self):
        """Assignments changed in a loop from two clients, fwotad SIGKILLed in the middle;
        each assignment is the last acknowledged or the one in flight, and once the queue
        is drained every device's status targets its effective package."""
        self.start()
        profiles = [self.rest.profile("p0"), self.rest.profile("p1")]
        packages = {p: [self.rest.package(p, "fw-%s" % p[:8], "v%d" % i, self.rng.randbytes(4096))
                        for i in range(3)] for p in profiles}
        devices = {}
        for i in range(30):
            p = profiles[i % 2]
            devices[self.rest.device("d%d" % i, p, "tok-%d" % i)] = p
        names = {profiles[0]: "p0", profiles[1]: "p1"}
        entities = sorted(devices) + profiles
        for rnd in range(3):
            # Each entity has one writer: its value afterwards is the last acknowledged
            # one or the one in flight at the kill.
            acked, in_flight = {}, {}
            for e in entities:
                got = self.rest.json("GET", ("/api/device/" if e in devices else "/api/deviceProfile/") + e)
                acked[e] = (got.get("firmwareId") or {}).get("id")
            stop = threading.Event()

            def changer(k):
                rest = self.server.client()
                rng = random.Random("%d-%d-%d" % (SEED, rnd, k))
                mine = entities[k::2]
                while not stop.is_set():
                    entity = rng.choice(mine)
                    owner = devices.get(entity, entity)
                    pkg = rng.choice(packages[owner] + [None])
                    in_flight[entity] = pkg
                    try:
                        if entity in devices:
                            rest.assign_device(entity, pkg)
                        else:
                            rest.assign_profile(entity, names[entity], pkg)
                    except Exception:
                        return
                    acked[entity] = pkg
                    del in_flight[entity]
            threads = [threading.Thread(target=changer, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            delay = self.rng.uniform(0.2, 1.5)
            time.sleep(delay)
            self.restart_after_kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            for e in entities:
                got = self.rest.json("GET", ("/api/device/" if e in devices else "/api/deviceProfile/") + e)
                value = (got.get("firmwareId") or {}).get("id")
                allowed = {acked[e]} | ({in_flight[e]} if e in in_flight else set())
                self.assertIn(value, allowed, "%s after the kill" % e)
            lib.wait_for(lambda: self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")["QUEUED"] == 0,
                         "the notice queue to drain")
            for d in devices:
                explain = self.rest.json("GET", "/api/explain?deviceId=%s&type=FIRMWARE" % d)
                code, body = self.rest.request("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % d)
                self.assertIn(code, (200, 404), body)  # 404: never had a target
                status = json.loads(body) if code == 200 else {}
                effective = (explain.get("package") or {}).get("id", {}).get("id") \
                    if isinstance(explain.get("package"), dict) else None
                target = (status.get("targetPackageId") or {}).get("id")
                self.assertEqual(target, effective, "device %s: status %s, explain %s" % (d, status, explain))
                if target:
                    self.assertEqual(status["state"], "INITIATED", status)
            lib.check_storage(self.rest, self.data_dir)
            print("assignment round %d: killed after %.2f s" % (rnd, delay), flush=True)


class NoticeDrainTest(FaultTestBase):
    DEVICES = 300

    def test_kill_while_notices_drain(self):
        """A profile assignment queues a notice per device, sent at 60 a second to MQTT
        devices; fwotad is SIGKILLed twice while they drain. Afterwards every device has
        exactly one INITIATED event and noticesSent 1, and no device got a notice twice."""
        self.broker = lib.Mosquitto(self.tmp)
        self.extra = ["--notices_per_minute=3600", "--notice_burst=30"]
        self.start()
        profile = self.rest.profile("fleet")
        tokens = ["drain-%03d" % i for i in range(self.DEVICES)]
        ids = lib.create_devices(self.server.port, self.server.key, profile,
                                 [(t, t) for t in tokens])
        image = self.rng.randbytes(10000)
        pkg = self.rest.package(profile, "fw", "1.0", image)
        out_path = os.path.join(self.tmp, "notices.out")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
                                "-t", "fwota/+/v1/devices/me/attributes", "-F", "%t %p"],
                               stdout=open(out_path, "w"), stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            self.rest.assign_profile(profile, "fleet", pkg)
            kills = []
            for _ in range(2):
                delay = self.rng.uniform(0.3, 1.5)
                time.sleep(delay)
                queued = self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")["QUEUED"]
                self.restart_after_kill()
                kills.append((round(delay, 2), queued))
            self.assertGreater(kills[-1][1], 0, "the queue was empty at the last kill: %s" % kills)
            lib.wait_for(lambda: self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")["QUEUED"] == 0,
                         "the notice queue to drain", timeout=60)
            time.sleep(1.0)  # a stray second notice would show now
            stats = self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")
            self.assertEqual(stats["INITIATED"], self.DEVICES, stats)
            problems = []
            for token, did in ids.items():
                status = self.rest.json("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % did)
                events = self.rest.all_pages("/api/device/%s/otaHistory?type=FIRMWARE" % did)
                states = [e["state"] for e in reversed(events)]
                if states != ["QUEUED", "INITIATED"] or status["noticesSent"] != 1 or \
                        status["targetPackageId"]["id"] != pkg:
                    problems.append("%s: history %s, status %s" % (token, states, status))
            self.assertEqual(problems, [], "%d devices" % len(problems))
        finally:
            sub.kill()
            sub.wait()
        per_device = {}
        for line in open(out_path).read().split("\n")[:-1]:
            topic, _, payload = line.partition(" ")
            token = topic.split("/")[1]
            self.assertEqual(json.loads(payload)["fw_version"], "1.0", line)
            per_device[token] = per_device.get(token, 0) + 1
        doubled = {t: n for t, n in per_device.items() if n > 1}
        self.assertEqual(doubled, {}, "devices notified twice over MQTT")
        self.assertTrue(set(per_device) <= set(tokens))
        # At most the batch in flight at each kill (committed, not yet published) is lost.
        lost = self.DEVICES - len(per_device)
        self.assertLessEqual(lost, len(kills) * 30, "MQTT notices lost in %d kills" % len(kills))
        # A notice is committed before it is published: a kill between the two loses the
        # push (never the INITIATED record); the device learns of it from the stall
        # detector's re-notification or its next attribute request.
        print("notice drain: kills after %s (delay s, queued); %d of %d devices got their "
              "notice over MQTT, %d pushes lost in the kills, none twice"
              % (kills, len(per_device), self.DEVICES, self.DEVICES - len(per_device)), flush=True)


    def test_notices_queued_across_a_restart_reach_mqtt_devices(self):
        """Notices still queued when fwotad stops go out at the next start, unpaced here,
        and reach the MQTT devices: the update process starts sending only once every
        device adapter listens."""
        self.broker = lib.Mosquitto(self.tmp)
        self.extra = ["--notices_per_minute=1", "--notice_burst=1"]
        self.start()
        profile = self.rest.profile("fleet")
        tokens = ["queued-%02d" % i for i in range(40)]
        lib.create_devices(self.server.port, self.server.key, profile, [(t, t) for t in tokens])
        pkg = self.rest.package(profile, "fw", "1.0", self.rng.randbytes(5000))
        self.rest.assign_profile(profile, "fleet", pkg)
        stats = self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")
        self.assertGreaterEqual(stats["QUEUED"], 30, stats)
        self.rest.close()
        self.assertEqual(self.server.stop(), 0)
        out_path = os.path.join(self.tmp, "queued.out")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
                                "-t", "fwota/+/v1/devices/me/attributes", "-F", "%t"],
                               stdout=open(out_path, "w"), stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            self.extra = ["--notices_per_minute=0"]
            self.start()
            lib.wait_for(lambda: self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")["QUEUED"] == 0,
                         "the notice queue to drain")
            # Sent before the restart (paced: one or two) reached no subscriber.
            initiated = self.rest.json("GET", "/api/ota/stats?type=FIRMWARE")["INITIATED"] - \
                stats["INITIATED"]
            self.assertEqual(initiated, stats["QUEUED"])

            def notified():
                with open(out_path) as f:
                    return {line.split("/")[1] for line in f.read().split("\n")[:-1]}
            try:
                lib.wait_for(lambda: len(notified()) >= initiated, "the MQTT notices", timeout=10)
            except lib.TestFailure:
                pass
            self.assertEqual(len(notified()), initiated,
                             "devices notified over MQTT after the restart, of %d sent" % initiated)
        finally:
            sub.kill()
            sub.wait()


class DiskFullTest(FaultTestBase):
    def mount_small_dir(self, mb):
        """A `mb` MiB file system at self.tmp/small: a loop-mounted ext4 image, else a
        tmpfs. Returns its kind, or None with the reason when neither can be mounted."""
        point = os.path.join(self.tmp, "small")
        os.mkdir(point)
        reasons = []
        if os.geteuid() != 0:
            return None, "not root: cannot mount a size-limited file system"
        image = os.path.join(self.tmp, "small.img")
        try:
            with open(image, "wb") as f:
                f.truncate(mb * 1024 * 1024)
            subprocess.run([system_tool("mkfs.ext4"), "-q", "-F", "-m", "0", image], check=True, capture_output=True)
            subprocess.run([system_tool("mount"), "-o", "loop", image, point], check=True, capture_output=True)
            self.addCleanup(subprocess.run, [system_tool("umount"), "-l", point], capture_output=True)
            return point, "ext4 (loop)"
        except (subprocess.CalledProcessError, OSError) as e:
            reasons.append("loop ext4: %s" % (getattr(e, "stderr", b"") or str(e).encode()).decode(errors="replace").strip())
        try:
            subprocess.run([system_tool("mount"), "-t", "tmpfs", "-o", "size=%dm" % mb, "tmpfs", point], check=True,
                           capture_output=True)
            self.addCleanup(subprocess.run, [system_tool("umount"), "-l", point], capture_output=True)
            return point, "tmpfs (%s)" % reasons[0]
        except (subprocess.CalledProcessError, OSError) as e:
            reasons.append("tmpfs: %s" % (getattr(e, "stderr", b"") or str(e).encode()).decode(errors="replace").strip())
        return None, "; ".join(reasons)

    def test_disk_full_during_upload(self):
        point, kind = self.mount_small_dir(32)
        if point is None:
            self.skipTest("no size-limited directory: " + kind)
        data_dir = os.path.join(point, "data")
        self.start(data_dir)
        rest = self.rest
        profile = rest.profile("p")
        small = self.rng.randbytes(6 * 1024 * 1024)
        first = rest.package(profile, "fw", "small", small)
        device = rest.device("d", profile, "disk-token")
        rest.assign_device(device, first)
        # 40 MiB does not fit in what is left of 32 MiB.
        big = self.rng.randbytes(40 * 1024 * 1024)
        big_id = rest.package_info(profile, "fw", "big")
        status, out = rest.request("POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256" % big_id, big,
                                   {"Content-Type": "application/octet-stream", "x-filename": "big.bin"})
        body = json.loads(out)
        self.assertEqual(status, 503, out)
        self.assertIn("No space left on device", body["message"])
        info = rest.json("GET", "/api/otaPackage/info/" + big_id)
        self.assertFalse(info["hasData"], info)
        # Nothing half-written: the temporary file is gone, no orphan blob.
        lib.check_storage(rest, data_dir, {first: small})
        # fwotad keeps serving: the device downloads its firmware, listings work.
        st, got = rest.request("GET", "/api/v1/disk-token/firmware?title=fw&version=small", admin=False)
        self.assertEqual((st, lib.sha256(got)), (200, lib.sha256(small)))
        # A second big upload fails the same way; after deleting something, uploads fit.
        status, _ = rest.request("POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256" % big_id, big,
                                 {"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 503)
        filler = rest.package(profile, "fw", "filler", self.rng.randbytes(14 * 1024 * 1024))
        status, out = rest.request("POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256" % big_id,
                                   self.rng.randbytes(12 * 1024 * 1024),
                                   {"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 503, out)
        rest.json("DELETE", "/api/otaPackage/" + filler)
        medium = self.rng.randbytes(12 * 1024 * 1024)
        rest.upload(big_id, medium)
        lib.check_storage(rest, data_dir, {first: small, big_id: medium})
        # The log says why, as a server failure.
        line = [l for l in self.server.log().splitlines() if "status=503" in l][0]
        self.assertIn("level=warn", line)
        self.assertIn("No space left on device", line)
        print("disk full on %s: 503 %r; served on; an upload after a delete worked"
              % (kind, body["message"]), flush=True)
        self.server.stop()


class DamagedBlobTest(FaultTestBase):
    SIZE = 300 * 1024 + 17
    DAMAGE_AT = 200 * 1024 + 5  # in the fourth 64 KiB integrity block

    def test_damaged_blob_never_served(self):
        self.broker = lib.Mosquitto(self.tmp)
        self.start()
        rest = self.rest
        profile = rest.profile("p")
        image = self.rng.randbytes(self.SIZE)
        pkg = rest.package(profile, "fw", "1.0", image)
        rest.device("d", profile, "damaged-token")
        rest.assign_profile(profile, "p", pkg)
        sha = lib.sha256(image)
        # Served once whole before the damage, over every transport (warms any cache).
        self.assertEqual(self.fetch_all(image), ["ok"] * 5)
        path = lib.blob_path(self.data_dir, sha)
        with open(path, "r+b") as f:
            f.seek(self.DAMAGE_AT)
            byte = f.read(1)
            f.seek(self.DAMAGE_AT)
            f.write(bytes([byte[0] ^ 0x5a]))
        # At once: the reader the service still keeps open sees that the file changed
        # and checks its blocks again before anything goes out with sendfile.
        outcomes = self.fetch_all(image)
        self.assertNotIn("ok", outcomes, "damaged bytes served: %s" % outcomes)
        log = self.server.log()
        self.assertIn("is damaged: integrity check failed", log)
        # A restart does not hide it either.
        self.server.stop()
        self.start()
        outcomes2 = self.fetch_all(image)
        self.assertNotIn("ok", outcomes2, "after a restart: %s" % outcomes2)
        print("damaged blob: %s; after a restart %s" % (outcomes, outcomes2), flush=True)

    def fetch_all(self, image):
        """The whole image over admin download, the HTTP device API (whole and chunked),
        MQTT and CoAP: 'ok' when the exact image came, else what was refused. Bytes that
        came must be a prefix of the image (never damaged bytes)."""
        out = []
        st, body = self.rest.request("GET", "/api/otaPackage/%s/download" % self.pkg_id(), admin=True)
        out.append(self.judge("admin", st == 200, body, image))
        st, body = self.rest.request("GET", "/api/v1/damaged-token/firmware?title=fw&version=1.0", admin=False)
        out.append(self.judge("http", st == 200, body, image))
        got = b""
        for n in range(0, self.SIZE // 65536 + 2):
            st, part = self.rest.request("GET", "/api/v1/damaged-token/firmware?title=fw&version=1.0"
                                         "&size=65536&chunk=%d" % n, admin=False)
            if st != 200:
                break
            got += part
            if not part:
                break
        out.append(self.judge("http chunks", st == 200, got, image))
        out.append(self.judge("mqtt", *self.mqtt_fetch(), image))
        path = os.path.join(self.tmp, "coap.bin")
        if os.path.exists(path):
            os.unlink(path)
        cp = subprocess.run([lib.COAP_CLIENT, "-m", "get", "-b", "1024", "-B", "20", "-o", path,
                             "coap://127.0.0.1:%d/fw/damaged-token" % self.server.coap_port],
                            capture_output=True, timeout=60)
        got = open(path, "rb").read() if os.path.exists(path) else b""
        # coap-client exits 0 after an error response too; the code is on its output.
        refused = re.search(rb"\b[45]\.\d\d\b", cp.stdout + cp.stderr)
        out.append(self.judge("coap", cp.returncode == 0 and not refused, got, image))
        return out

    def judge(self, what, ok, body, image):
        if ok and body == image:
            return "ok"
        if ok:
            # A success carrying other bytes than the image: damaged data served.
            self.assertTrue(image.startswith(body) and len(body) < len(image) and
                            len(body) <= self.DAMAGE_AT,
                            "%s: %d bytes served as valid, SHA-256 %s" % (what, len(body), lib.sha256(body)))
            return "%s cut at %d" % (what, len(body))
        return "%s refused" % what

    def pkg_id(self):
        return self.rest.all_pages("/api/otaPackages")[0]["id"]["id"]

    def mqtt_fetch(self):
        """Chunks of 64 KiB over MQTT until an error or the end: (completed, bytes)."""
        port = str(self.broker.port)
        rid = str(self.rng.randint(1, 10 ** 6))
        out_path = os.path.join(self.tmp, "mqtt-%s.out" % rid)
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                                "-t", "fwota/damaged-token/v2/fw/#", "-F", "%t %x"],
                               stdout=open(out_path, "w"), stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.4)
            got = b""
            for n in range(self.SIZE // 65536 + 2):
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                                "fwota/damaged-token/v2/fw/request/%s/chunk/%d" % (rid, n), "-m", "65536"],
                               check=True, timeout=10)

                def answer():
                    for line in open(out_path).read().split("\n")[:-1]:
                        topic, _, payload = line.partition(" ")
                        if topic.endswith("/response/%s/chunk/%d" % (rid, n)):
                            return ("chunk", bytes.fromhex(payload))
                        if topic.endswith("/v2/fw/error"):
                            return ("error", bytes.fromhex(payload))
                    return None
                kind, payload = lib.wait_for(answer, "an MQTT answer to chunk %d" % n, timeout=15)
                if kind == "error":
                    self.assertIn(b"damaged", payload)
                    return False, got
                if not payload:
                    return True, got
                got += payload
            return True, got
        finally:
            sub.kill()
            sub.wait()


if __name__ == "__main__":
    unittest.main(verbosity=2)
