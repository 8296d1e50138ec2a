#!/usr/bin/python3
"""fwotad with its MQTT adapter on: a real mosquitto on a free port, fwotad connected to
it, and a device made of mosquitto_sub / mosquitto_pub. The device gets its notice on the
attributes topic, downloads its firmware in 64 KiB chunks (SHA-256 checked), asks with
an empty payload (the last size), hits the size limit, and reports telemetry that
reaches the history; fwotad stops cleanly."""

import hashlib
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

FWOTAD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "bazel-bin/tools/fwotad/fwotad"
# The simulated devices of bench/mqtt_devices.cc (libmosquitto clients, SHA-256 checked).
MQTT_DEVICES = (os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1
                else "bazel-bin/bench/mqtt_devices")
MOSQUITTO = "/usr/sbin/mosquitto"
TOKEN = "MQTT_DEVICE_TOKEN"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_testlib import (check_clean_exit, free_port, free_udp_port, stop_fwotad,  # noqa: E402,F401
                            wait_for)


class MqttEndToEndTest(unittest.TestCase):
    def setUp(self):
        for tool in (MOSQUITTO, shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")):
            self.assertTrue(tool and os.access(tool, os.X_OK),
                            "mosquitto is missing: run tools/scripts/install-deps.sh")
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.broker_port = free_port()
        conf = os.path.join(self.tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "set_tcp_nodelay true\n" % self.broker_port)
        self.broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        wait_for(lambda: self._connectable(self.broker_port), "mosquitto")
        self.data_dir = os.path.join(self.tmp, "data")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "fwotad.log")
        self.log = open(self.log_path, "ab")
        self.sub = None
        self.fwotad = None

    def start_fwotad(self, *extra):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.fwotad = subprocess.Popen(
            [FWOTAD, "--data_dir=" + self.data_dir, "--http_port=0", "--coap_port=0",
             "--port_file=" + self.port_file, "--notices_per_minute=0",
             "--mqtt_broker=tcp://127.0.0.1:%d" % self.broker_port, *extra],
            stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.port_file) or self.fwotad.poll() is not None, "fwotad")
        self.assertIsNone(self.fwotad.poll(), self._log())
        self.base = "http://127.0.0.1:%s" % open(self.port_file).read().strip()
        self.key = open(os.path.join(self.data_dir, "admin-api-key")).read().strip()

    def tearDown(self):
        if self.sub is not None:
            self.sub.kill()
            self.sub.wait()
        stopped_here = stop_fwotad(self.fwotad)
        self.broker.kill()
        self.broker.wait()
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            log = f.read()
        self.log.close()
        check_clean_exit(self, log, self.fwotad, stopped_here)

    @staticmethod
    def _connectable(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def _log(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def rest(self, method, path, body=None):
        args = ["curl", "-sS", "-X", method, self.base + path,
                "-H", "X-Authorization: Bearer " + self.key]
        data = None
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
            data = json.dumps(body).encode()
        out = subprocess.run(args, input=data, capture_output=True, check=True).stdout
        return json.loads(out) if out else None

    def pub(self, topic, payload=None):
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1",
                "-t", "fwota/%s/%s" % (TOKEN, topic)]
        args += ["-n"] if payload is None else ["-m", payload]
        subprocess.run(args, check=True, timeout=10)

    def received(self):
        """Messages the device got so far: [(topic, bytes)]."""
        out = []
        with open(self.sub_out) as f:
            text = f.read()
        # Only whole lines: mosquitto_sub may be in the middle of writing the last one.
        for line in text.split("\n")[:-1]:
            topic, _, payload = line.partition(" ")
            out.append((topic, bytes.fromhex(payload)))
        return out

    def await_message(self, topic, seen):
        full = "fwota/%s/%s" % (TOKEN, topic)

        def find():
            for i, (t, p) in enumerate(self.received()):
                if t == full and i not in seen:
                    seen.add(i)
                    return [p]
            return None
        return wait_for(find, topic)[0]

    def subscribe_device(self):
        self.sub_out = os.path.join(self.tmp, "sub.out")
        self.sub = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1",
             "-t", "fwota/%s/#" % TOKEN, "-F", "%t %x"],
            stdout=open(self.sub_out, "w"), stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # the subscription is in place

    def provision(self, size):
        """A profile, the device, a firmware package of `size` random bytes assigned to
        the device; returns (device id, image)."""
        profile = self.rest("POST", "/api/deviceProfile", {"name": "mqtt"})["id"]["id"]
        device = self.rest("POST", "/api/device?accessToken=" + TOKEN,
                           {"name": "mqtt-1", "deviceProfileId": {"id": profile}})["id"]["id"]
        image = os.urandom(size)
        path = os.path.join(self.tmp, "image.bin")
        with open(path, "wb") as f:
            f.write(image)
        package = self.rest("POST", "/api/otaPackage", {
            "title": "mqtt-fw", "version": "1.0", "type": "FIRMWARE",
            "deviceProfileId": {"id": profile}})["id"]["id"]
        subprocess.run(["curl", "-sS", "-X", "POST", "%s/api/otaPackage/%s?checksumAlgorithm=SHA256"
                        % (self.base, package), "-H", "X-Authorization: Bearer " + self.key,
                        "-F", "file=@" + path], check=True, capture_output=True)
        self.rest("POST", "/api/device", {"id": {"id": device}, "firmwareId": {"id": package}})
        return device, image

    def test_notice_chunks_limit_and_telemetry_through_mosquitto(self):
        self.start_fwotad()
        wait_for(lambda: "MQTT connected" in self._log(), "fwotad's MQTT connection")
        self.subscribe_device()
        seen = set()
        device, image = self.provision(300 * 1024 + 7)

        # The notice arrives on the attributes topic.
        notice = json.loads(self.await_message("v1/devices/me/attributes", seen))
        self.assertEqual((notice["fw_title"], notice["fw_version"], notice["fw_size"]),
                         ("mqtt-fw", "1.0", len(image)))
        self.assertEqual(notice["fw_checksum"], hashlib.sha256(image).hexdigest())

        # 64 KiB chunks; after the first ask the empty payload reuses the size.
        got = b""
        n = 0
        while True:
            self.pub("v2/fw/request/1/chunk/%d" % n, "65536" if n == 0 else None)
            part = self.await_message("v2/fw/response/1/chunk/%d" % n, seen)
            if not part:
                break
            got += part
            n += 1
        self.assertEqual(n, 5)
        self.assertEqual(hashlib.sha256(got).hexdigest(), notice["fw_checksum"])

        # Over the limit: an error payload naming it, no disconnect.
        self.pub("v2/fw/request/2/chunk/0", str(2 * 1024 * 1024))
        error = self.await_message("v2/fw/error", seen).decode()
        self.assertTrue(error.startswith("PAYLOAD_TOO_LARGE: a chunk of 2097152 bytes exceeds "
                                         "the limit of 1048576"), error)

        # Telemetry reaches the history.
        self.pub("v1/devices/me/telemetry", '{"fw_state":"DOWNLOADING"}')
        wait_for(lambda: self.rest("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % device)
                 ["state"] == "DOWNLOADING", "the DOWNLOADING state")

        self.fwotad.send_signal(signal.SIGTERM)
        self.assertEqual(self.fwotad.wait(timeout=30), 0, self._log())

    def test_killed_mid_transfer_with_a_persistent_session(self):
        """fwotad SIGKILLed in the middle of a download: the broker keeps its persistent
        session and queues what the device asks meanwhile; the restarted fwotad answers it
        and the download completes with the right SHA-256."""
        self.start_fwotad("--mqtt_persistent_session")
        wait_for(lambda: "MQTT connected" in self._log(), "fwotad's MQTT connection")
        self.subscribe_device()
        seen = set()
        _, image = self.provision(5 * 64 * 1024 + 99)
        got = b""
        for n in range(2):
            self.pub("v2/fw/request/7/chunk/%d" % n, "65536")
            got += self.await_message("v2/fw/response/7/chunk/%d" % n, seen)
        self.fwotad.send_signal(signal.SIGKILL)
        self.fwotad.wait()
        self.pub("v2/fw/request/7/chunk/2", "65536")
        time.sleep(0.5)
        self.assertFalse(any(t.endswith("/response/7/chunk/2") for t, _ in self.received()),
                         "answered while fwotad was down")
        self.start_fwotad("--mqtt_persistent_session")
        got += self.await_message("v2/fw/response/7/chunk/2", seen)
        n = 3
        while True:
            self.pub("v2/fw/request/7/chunk/%d" % n, "65536")
            part = self.await_message("v2/fw/response/7/chunk/%d" % n, seen)
            if not part:
                break
            got += part
            n += 1
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(image).hexdigest())
        # Each chunk was answered once.
        answers = [t for t, _ in self.received() if "/response/7/" in t]
        self.assertEqual(len(answers), len(set(answers)), answers)
        self.fwotad.send_signal(signal.SIGTERM)
        self.assertEqual(self.fwotad.wait(timeout=30), 0, self._log())

    def test_two_fwotad_processes_share_the_requests(self):
        """Two fwotad processes on one shared subscription ($share/fwota/...), each with
        its own copy of the same data directory: 10 devices download 1,000 chunks each
        (10,000 requests); every chunk is answered exactly once, by one process or the
        other, both take part, and every device's SHA-256 checks out."""
        devices, chunk, chunks = 10, 1024, 1000
        self.start_fwotad("--mqtt_client_id=fwotad-a")
        profile = self.rest("POST", "/api/deviceProfile", {"name": "shared"})["id"]["id"]
        tokens = ["SHARED_%d" % i for i in range(devices)]
        for token in tokens:
            self.rest("POST", "/api/device?accessToken=" + token,
                      {"name": token.lower(), "deviceProfileId": {"id": profile}})
        image = os.urandom(chunk * chunks)
        path = os.path.join(self.tmp, "image.bin")
        with open(path, "wb") as f:
            f.write(image)
        package = self.rest("POST", "/api/otaPackage", {
            "title": "shared-fw", "version": "1.0", "type": "FIRMWARE",
            "deviceProfileId": {"id": profile}})["id"]["id"]
        subprocess.run(["curl", "-sS", "-f", "-X", "POST",
                        "%s/api/otaPackage/%s" % (self.base, package),
                        "-H", "X-Authorization: Bearer " + self.key, "-F", "file=@" + path],
                       check=True, capture_output=True)
        self.rest("POST", "/api/deviceProfile", {"id": {"id": profile}, "name": "shared",
                                                  "firmwareId": {"id": package}})
        self.assertEqual(stop_fwotad(self.fwotad), True)
        self.assertEqual(self.fwotad.returncode, 0, self._log())

        # The second process gets a copy of the first one's data (a data directory is
        # locked by the process that has it open).
        data_b = os.path.join(self.tmp, "data-b")
        shutil.copytree(self.data_dir, data_b)
        self.start_fwotad("--mqtt_client_id=fwotad-a")
        log_b = open(os.path.join(self.tmp, "fwotad-b.log"), "ab")
        port_file_b = os.path.join(self.tmp, "port-b")
        fwotad_b = subprocess.Popen(
            [FWOTAD, "--data_dir=" + data_b, "--http_port=0", "--coap_port=0",
             "--port_file=" + port_file_b, "--notices_per_minute=0",
             "--mqtt_broker=tcp://127.0.0.1:%d" % self.broker_port,
             "--mqtt_client_id=fwotad-b"], stdout=log_b, stderr=log_b)
        read_b = lambda: open(log_b.name, errors="replace").read()  # noqa: E731
        try:
            # (a's log holds its first run too)
            wait_for(lambda: self._log().count("MQTT connected") == 2, "fwotad a's MQTT connection")
            wait_for(lambda: "MQTT connected" in read_b(), "fwotad b's MQTT connection")

            # An observer sees every answer the broker passes on.
            observed = os.path.join(self.tmp, "observed")
            self.sub = subprocess.Popen(
                ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1",
                 "-t", "fwota/+/v2/fw/response/#", "-F", "%t"],
                stdout=open(observed, "w"), stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            token_file = os.path.join(self.tmp, "tokens")
            with open(token_file, "w") as f:
                f.write("\n".join(tokens) + "\n")
            run = subprocess.run(
                [MQTT_DEVICES, "--port=%d" % self.broker_port, "--tokens=" + token_file,
                 "--mode=download", "--chunk=%d" % chunk, "--size=%d" % len(image),
                 "--sha256=" + hashlib.sha256(image).hexdigest(), "--timeout=60"],
                capture_output=True, text=True, timeout=240)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            self.assertEqual((figures["round_trips"], figures["errors"]), (devices * chunks, 0))

            def answers():
                with open(observed) as f:
                    return f.read().split("\n")[:-1]
            wait_for(lambda: len(answers()) >= devices * chunks, "the observer")
            time.sleep(1)  # an answer given twice would arrive by now
            counts = collections.Counter(answers())
            self.assertEqual(len(counts), devices * chunks)
            self.assertEqual([t for t, n in counts.items() if n != 1], [])
        finally:
            stop_fwotad(fwotad_b)
            log_b.close()
        self.assertEqual(fwotad_b.returncode, 0, read_b()[-2000:])
        self.assertEqual(stop_fwotad(self.fwotad), True)
        check_clean_exit(self, read_b(), fwotad_b, True)

        def handled(log):
            found = re.findall(
                r'msg="mqtt stopping" messages_handled=(\d+) duplicates_dropped=(\d+)', log)
            self.assertTrue(found, log[-2000:])
            return int(found[-1][0]), int(found[-1][1])
        (a, dup_a), (b, dup_b) = handled(self._log()), handled(read_b())
        self.assertEqual((dup_a, dup_b), (0, 0))
        self.assertGreater(a, 0)
        self.assertGreater(b, 0)
        self.assertEqual(a + b, devices * chunks)
        print("shared subscription: fwotad a answered %d, b %d of %d" % (a, b, devices * chunks))


if __name__ == "__main__":
    unittest.main()
