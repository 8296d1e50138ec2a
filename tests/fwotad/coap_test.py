#!/usr/bin/python3
"""fwotad with its CoAP adapter on free UDP ports, and libcoap's own coap-client as the
device: a 1 MiB image block-wise at 16, 64, 256 and 1024 bytes (SHA-256 checked),
ThingsBoard chunks, observe delivering a notice and a deletion, telemetry reaching the
history, DTLS-PSK with the right key, a wrong key and an unknown identity. Then bad input
from a raw UDP socket: malformed options, unknown paths and tokens, blocks past the end,
block sizes changing mid-transfer, duplicate and reordered requests, garbage; each gets
a CoAP error (or a Reset where the datagram does not parse) and fwotad carries on."""

import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

FWOTAD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "bazel-bin/tools/fwotad/fwotad"
COAP_CLIENT = "/usr/bin/coap-client-openssl"
TOKEN = "COAP_DEVICE_TOKEN"
PSK_IDENTITY, PSK_KEY = "coap-device-1", "the right key"

CON, NON, ACK, RST = 0, 1, 2, 3
ETAG, OBSERVE, URI_PATH, CONTENT_FORMAT, URI_QUERY, BLOCK2, SIZE2 = 4, 6, 11, 12, 15, 23, 28


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_testlib import (check_clean_exit, free_port, free_udp_port, stop_fwotad,  # noqa: E402,F401
                            wait_for)


def uint(value):
    out = b""
    while value:
        out = bytes([value & 0xff]) + out
        value >>= 8
    return out


def encode(mid, token=b"", options=(), payload=b"", type_=CON, code=1):
    """A CoAP message (RFC 7252 3); options as (number, bytes), sorted here."""
    out = bytes([0x40 | type_ << 4 | len(token), code]) + struct.pack(">H", mid) + token
    last = 0

    def nibble(v):
        return (14, struct.pack(">H", v - 269)) if v >= 269 else (13, bytes([v - 13])) if v >= 13 else (v, b"")
    for number, value in sorted(options, key=lambda o: o[0]):
        (dn, dx), (ln, lx) = nibble(number - last), nibble(len(value))
        out += bytes([dn << 4 | ln]) + dx + lx + value
        last = number
    if payload:
        out += b"\xff" + payload
    return out


def decode(data):
    """(type, code, mid, token, {number: [values]}, payload)."""
    type_, tkl, code = (data[0] >> 4) & 3, data[0] & 0xf, data[1]
    mid = struct.unpack(">H", data[2:4])[0]
    token, i, number, options = data[4:4 + tkl], 4 + tkl, 0, {}
    while i < len(data) and data[i] != 0xff:
        delta, length = data[i] >> 4, data[i] & 0xf
        i += 1
        ext = []
        for v in (delta, length):
            if v == 13:
                v, i = 13 + data[i], i + 1
            elif v == 14:
                v, i = 269 + struct.unpack(">H", data[i:i + 2])[0], i + 2
            ext.append(v)
        number += ext[0]
        options.setdefault(number, []).append(data[i:i + ext[1]])
        i += ext[1]
    payload = data[i + 1:] if i < len(data) else b""
    return type_, code, mid, token, options, payload


def option_uint(options, number):
    return int.from_bytes(options[number][0], "big") if number in options else None


def path_options(path, query=()):
    return [(URI_PATH, p.encode()) for p in path.split("/")] + [(URI_QUERY, q.encode()) for q in query]


class RawClient:
    """A UDP socket speaking CoAP by hand, for what coap-client would never send."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(5)
        self.mid = random.randint(1, 30000)

    def close(self):
        self.sock.close()

    def exchange(self, options, token=b"tk", mid=None, payload=b"", code=1):
        if mid is None:
            self.mid += 1
            mid = self.mid
        self.sock.send(encode(mid, token, options, payload, code=code))
        while True:
            answer = decode(self.sock.recv(2048))
            if answer[2] == mid:
                break
        if answer[0] != ACK or answer[1] != 0:
            return answer
        # An empty ACK: the answer follows as a separate response with our token
        # (RFC 7252 5.2.2), acknowledged here when it is confirmable.
        while True:
            answer = decode(self.sock.recv(2048))
            if answer[3] == token and answer[1] != 0:
                if answer[0] == CON:
                    self.sock.send(encode(answer[2], type_=ACK, code=0))
                return answer

    def block(self, path, num, szx, query=()):
        return self.exchange(path_options(path, query) + [(BLOCK2, uint(num << 4 | szx))])


class CoapEndToEndTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(COAP_CLIENT, os.X_OK),
                        "coap-client-openssl is missing: run tools/scripts/install-deps.sh")
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.data_dir = os.path.join(self.tmp, "data")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "fwotad.log")
        self.log = open(self.log_path, "wb")
        psk_file = os.path.join(self.tmp, "psk")
        with open(psk_file, "w") as f:
            f.write("# identity:key, one device a line\n%s:%s\n" % (PSK_IDENTITY, PSK_KEY))
        # Free UDP ports picked here: fwotad's --coap_port=0 means "CoAP off".
        self.coap_port, self.dtls_port = free_udp_port(), free_udp_port()
        self.fwotad = subprocess.Popen(
            [FWOTAD, "--data_dir=" + self.data_dir, "--http_port=0", "--port_file=" + self.port_file,
             "--notices_per_minute=0", "--coap_port=%d" % self.coap_port,
             "--coap_dtls_port=%d" % self.dtls_port, "--coap_psk_file=" + psk_file],
            stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.port_file) or self.fwotad.poll() is not None, "fwotad")
        self.assertIsNone(self.fwotad.poll(), self._log())
        self.assertIn('msg="CoAP listening"', self._log())
        self.base = "http://127.0.0.1:%s" % open(self.port_file).read().strip()
        self.key = open(os.path.join(self.data_dir, "admin-api-key")).read().strip()
        self.children = []
        self.raw = RawClient(self.coap_port)
        self.profile = self.rest("POST", "/api/deviceProfile", {"name": "coap"})["id"]["id"]
        self.device = self.rest("POST", "/api/device?accessToken=" + TOKEN,
                                {"name": "coap-1", "deviceProfileId": {"id": self.profile}})["id"]["id"]
        self.image = random.Random(7).randbytes(1 << 20)
        self.package = self.upload("coap-fw", "1.0", self.image)
        self.assign(self.package)

    def tearDown(self):
        self.raw.close()
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait()
        stopped_here = stop_fwotad(self.fwotad)
        log = self._log()
        self.log.close()
        check_clean_exit(self, log, self.fwotad, stopped_here)

    def _log(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def rest(self, method, path, body=None):
        args = ["curl", "-sS", "-X", method, self.base + path, "-H", "X-Authorization: Bearer " + self.key]
        data = None
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
            data = json.dumps(body).encode()
        out = subprocess.run(args, input=data, capture_output=True, check=True).stdout
        return json.loads(out) if out else None

    def upload(self, title, version, data):
        package = self.rest("POST", "/api/otaPackage", {
            "title": title, "version": version, "type": "FIRMWARE",
            "deviceProfileId": {"id": self.profile}})["id"]["id"]
        path = os.path.join(self.tmp, "%s-%s.bin" % (title, version))
        with open(path, "wb") as f:
            f.write(data)
        subprocess.run(["curl", "-sS", "-X", "POST", "%s/api/otaPackage/%s?checksumAlgorithm=SHA256"
                        % (self.base, package), "-H", "X-Authorization: Bearer " + self.key,
                        "-F", "file=@" + path], check=True, capture_output=True)
        return package

    def assign(self, package):
        self.rest("POST", "/api/device", {"id": {"id": self.device},
                                          "firmwareId": None if package is None else {"id": package}})

    def coap_get(self, uri, *args, secure=False, wait=10):
        """coap-client's GET, waiting `wait` seconds at most: (bytes received, its stderr)."""
        out = os.path.join(self.tmp, "coap.out")
        if os.path.exists(out):
            os.remove(out)
        port = self.dtls_port if secure else self.coap_port
        scheme = "coaps" if secure else "coap"
        done = subprocess.run([COAP_CLIENT, "-B", str(wait), "-m", "get", "-o", out, *args,
                               "%s://127.0.0.1:%d/%s" % (scheme, port, uri)],
                              capture_output=True, timeout=wait + 30)
        data = open(out, "rb").read() if os.path.exists(out) else b""
        return data, done.stderr.decode(errors="replace") + done.stdout.decode(errors="replace")

    def test_whole_image_blockwise_at_16_64_256_and_1024_bytes(self):
        want = hashlib.sha256(self.image).hexdigest()
        for size in (1024, 256, 64, 16):
            # 65,536 round trips at 16 bytes: seconds on an idle machine, far more on a
            # busy 2-core one.
            data, err = self.coap_get("fw/%s?title=coap-fw&version=1.0" % TOKEN, "-b", str(size),
                                      wait=150)
            self.assertEqual(len(data), len(self.image), "block size %d: %s" % (size, err))
            self.assertEqual(hashlib.sha256(data).hexdigest(), want, "block size %d" % size)

    def test_thingsboard_chunks(self):
        got, n = b"", 0
        while True:
            data, err = self.coap_get("fw/%s?title=coap-fw&version=1.0&size=100000&chunk=%d" % (TOKEN, n))
            if not data:
                self.assertNotIn("4.", err)
                break
            self.assertLessEqual(len(data), 100000)
            got += data
            n += 1
        self.assertEqual(n, 11)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(self.image).hexdigest())
        # The errors ThingsBoard's devices expect.
        self.assertIn("4.00", self.coap_get("fw/%s?title=coap-fw&version=9" % TOKEN)[1])
        self.assertIn("4.01", self.coap_get("fw/no-such-token")[1])
        self.assertIn("4.04", self.coap_get("sw/%s" % TOKEN)[1])

    def test_observe_delivers_the_notice_and_the_deletion(self):
        out_path = os.path.join(self.tmp, "observe.out")
        observer = subprocess.Popen(
            [COAP_CLIENT, "-s", "60", "-m", "get",
             "coap://127.0.0.1:%d/api/v1/%s/attributes?sharedKeys=fw_title,fw_version" % (self.coap_port, TOKEN)],
            stdout=open(out_path, "wb"), stderr=subprocess.DEVNULL)
        self.children.append(observer)
        seen = lambda text: text in open(out_path, errors="replace").read()
        wait_for(lambda: seen('{"fw_title":"coap-fw","fw_version":"1.0"}'), "the current attributes")
        # A sleeping device that wakes and observes gets what is sent from now on.
        self.assign(self.upload("coap-fw", "2.0", b"version two"))
        wait_for(lambda: seen('{"fw_title":"coap-fw","fw_version":"2.0"}'), "the notice of 2.0")
        self.assign(None)
        wait_for(lambda: seen('{"deleted":["fw_title","fw_version"]}'), "the deletion notice")

    def test_telemetry_reaches_the_history(self):
        # The assignment's notice (INITIATED) is sent by fwotad's worker in the background:
        # wait for it, so that the device's reports come after it in the history.
        wait_for(lambda: self.rest("GET", "/api/device/%s/otaStatus?type=FIRMWARE"
                                   % self.device)["state"] == "INITIATED", "the notice")
        for state in ("DOWNLOADING", "DOWNLOADED"):
            done = subprocess.run([COAP_CLIENT, "-B", "10", "-m", "post", "-e", '{"fw_state":"%s"}' % state,
                                   "coap://127.0.0.1:%d/api/v1/%s/telemetry" % (self.coap_port, TOKEN)],
                                  capture_output=True, timeout=30)
            self.assertNotIn(b"4.", done.stdout + done.stderr)
        status = self.rest("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % self.device)
        self.assertEqual(status["state"], "DOWNLOADED")
        history = self.rest("GET", "/api/device/%s/otaHistory?type=FIRMWARE&pageSize=10&page=0" % self.device)
        states = [e["state"] for e in history["data"]]
        self.assertEqual(states[:2], ["DOWNLOADED", "DOWNLOADING"])
        # Bad telemetry: a CoAP error, nothing recorded.
        # It comes as a separate response (recorded off the CoAP thread).
        type_, code, _, _, _, payload = self.raw.exchange(path_options("api/v1/%s/telemetry" % TOKEN),
                                                          code=2, payload=b'{"fw_state":"NAPPING"}')
        self.assertEqual(code, 0x80, payload)
        self.assertEqual(type_, CON)

    def test_dtls_psk_right_key_wrong_key_unknown_identity(self):
        data, err = self.coap_get("fw/%s" % TOKEN, "-b", "1024", "-u", PSK_IDENTITY, "-k", PSK_KEY, secure=True)
        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(self.image).hexdigest(), err)
        data, err = self.coap_get("fw/%s" % TOKEN, "-B", "3", "-u", PSK_IDENTITY, "-k", "a wrong key",
                                  secure=True)
        self.assertEqual(data, b"", err)
        data, err = self.coap_get("fw/%s" % TOKEN, "-B", "3", "-u", "stranger", "-k", PSK_KEY, secure=True)
        self.assertEqual(data, b"", err)
        self.assertIn('unknown PSK identity \\"stranger\\"', self._log())
        # Plain CoAP on the DTLS port gets nothing; fwotad carries on.
        self.raw.sock.close()
        self.raw = RawClient(self.dtls_port)
        self.raw.sock.settimeout(1)
        with self.assertRaises(socket.timeout):
            self.raw.exchange(path_options("fw/" + TOKEN))
        self.assertIsNone(self.fwotad.poll())

    def test_bad_input_gets_coap_errors_and_no_crash(self):
        raw = self.raw
        # Unknown paths and tokens, wrong methods.
        self.assertEqual(raw.exchange(path_options("nothing/here"))[1], 0x84)
        self.assertEqual(raw.exchange(path_options("fw/unknown-token"))[1], 0x81)
        self.assertEqual(raw.exchange(path_options("fw"))[1], 0x81)
        self.assertEqual(raw.exchange(path_options("api/v1/unknown-token/attributes"))[1], 0x81)
        self.assertEqual(raw.exchange(path_options("fw/" + TOKEN), code=3)[1], 0x85)
        self.assertEqual(raw.exchange(path_options("fw/" + TOKEN, ["size=x"]))[1], 0x80)
        # Malformed options: Block2 twice (4.02), an unknown critical option (4.02), a
        # Block2 of 4 bytes (libcoap cannot parse it: Reset).
        self.assertEqual(raw.exchange(path_options("fw/" + TOKEN) + [(BLOCK2, b"\x06"), (BLOCK2, b"\x16")])[1], 0x82)
        self.assertEqual(raw.exchange(path_options("fw/" + TOKEN) + [(9, b"x")])[1], 0x82)
        type_, code = raw.exchange(path_options("fw/" + TOKEN) + [(BLOCK2, b"\x00\x00\x00\x06")])[:2]
        self.assertEqual((type_, code), (RST, 0))
        # Blocks past the end (1 MiB = 1024 blocks of 1024: 0..1023) and BERT.
        self.assertEqual(raw.block("fw/" + TOKEN, 1023, 6)[1], 0x45)
        _, code, _, _, _, payload = raw.block("fw/" + TOKEN, 1024, 6)
        self.assertEqual(code, 0x82)
        self.assertIn(b"past the end", payload)
        self.assertEqual(raw.block("fw/" + TOKEN, (1 << 20) - 1, 0)[1], 0x82)
        self.assertEqual(raw.block("fw/" + TOKEN, 0, 7)[1], 0x80)
        # Garbage: no answer expected, and no harm.
        for n in range(0, 16):
            raw.sock.send(bytes([0xfe]) * n)
        raw.sock.send(b"\x40\x01\x00\x09\xbd")  # an option cut short
        raw.sock.send(b"\x4f\x01\x00\x0a")  # a 15-byte token length
        # Block size changing mid-transfer, blocks in random order, each asked twice
        # (the second time with the same message id, a duplicate): the right bytes.
        got = {}
        plan = [(n, 6) for n in range(0, 16)] + [(n, 4) for n in range(64, 512)] + \
               [(n, 2) for n in range(2048, 4096)] + [(n, 5) for n in range(512, 2048)]
        random.Random(3).shuffle(plan)
        for num, szx in plan[:400]:
            raw.mid += 1
            first = raw.exchange(path_options("fw/" + TOKEN) + [(BLOCK2, uint(num << 4 | szx))], mid=raw.mid)
            again = raw.exchange(path_options("fw/" + TOKEN) + [(BLOCK2, uint(num << 4 | szx))], mid=raw.mid)
            self.assertEqual(first[1], 0x45)
            self.assertEqual(first[5], again[5])
            block2 = option_uint(first[4], BLOCK2)
            self.assertEqual((block2 >> 4, block2 & 7), (num, szx))
            self.assertEqual(option_uint(first[4], SIZE2), len(self.image))
            size = 16 << szx
            got[num * size] = first[5]
        for offset, data in got.items():
            self.assertEqual(data, self.image[offset:offset + len(data)], "offset %d" % offset)
        # Still alive and serving.
        self.assertIsNone(self.fwotad.poll())
        data, _ = self.coap_get("fw/%s?size=1000&chunk=2" % TOKEN)
        self.assertEqual(data, self.image[2000:3000])

    def test_stops_cleanly(self):
        self.fwotad.send_signal(signal.SIGTERM)
        self.assertEqual(self.fwotad.wait(timeout=30), 0, self._log())


if __name__ == "__main__":
    unittest.main()
