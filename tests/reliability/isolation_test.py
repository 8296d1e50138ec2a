#!/usr/bin/python3
"""Tenant isolation: two tenants in one fwotad, each with profiles, devices and packages
(with data, info only, firmware and software). Tenant A's API key then tries every admin
route of fwotad's route table with tenant B's ids (reads, updates, deletes, uploads,
downloads, assignments of B's packages to A's devices and profiles, moves into B's
profiles, listings, status, history, stats, audit, explain), and A's device tokens ask the
device APIs (HTTP, MQTT through mosquitto, CoAP through coap-client-notls) for B's
packages. Every attempt must be refused with the documented code (403 for another
tenant's id), no answer may carry any of B's names, ids, tokens or checksums, and B's
whole state as B sees it must be the same afterwards.

The routes come from adapters/http/ota_http_api.cc's kRoutes table: a route without an
isolation case below fails the test, so a new route cannot be forgotten.

Usage: isolation_test.py <fwotad> <fwota> <ota_http_api.cc>"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402
from reliability_lib import check  # noqa: E402

FWOTAD, FWOTA, ROUTES_SOURCE = (os.path.abspath(p) for p in sys.argv[1:4])
IMAGE = 40 * 1024 + 3


def route_table(path):
    """[(method, pattern)] of kRoutes in the HTTP adapter's source."""
    text = open(path).read()
    table = text[text.index("const Route kRoutes[]"):]
    table = table[:table.index("};")]
    routes = re.findall(r'\{"([A-Z]+)",\s*"([^"]+)",\s*Auth::', table)
    check(len(routes) >= 20, "only %d routes found in %s" % (len(routes), path))
    return routes


class Tenant:
    """One tenant's entities, created through its own API key."""

    def __init__(self, name, rest, tag):
        self.name = name
        self.rest = rest
        self.tag = tag  # in every name, so a leak is easy to spot
        p = rest.profile("profile-" + tag)
        self.profile = p
        self.profile_name = "profile-" + tag
        self.spare_profile = rest.profile("spare-" + tag)
        self.token = "token-%s-1" % tag
        self.idle_token = "token-%s-idle" % tag
        self.device = rest.device("device-" + tag, p, self.token)
        self.idle_device = rest.device("idle-" + tag, p, self.idle_token)  # nothing assigned
        self.image = os.urandom(IMAGE)
        self.sw_image = os.urandom(IMAGE // 2)
        self.fw = rest.package(p, "fw-" + tag, "1.0-" + tag, self.image)
        self.sw = rest.package(p, "sw-" + tag, "1.0-" + tag, self.sw_image, "SOFTWARE")
        self.bare = rest.package_info(p, "bare-" + tag, "0.1-" + tag)  # no data
        self.spare_fw = rest.package(self.spare_profile, "spare-fw-" + tag, "2.0-" + tag,
                                     os.urandom(1000))
        rest.assign_device(self.device, self.fw)
        rest.assign_device(self.device, self.sw, "softwareId")
        # The device reports something, so it has a history.
        status, _ = rest.request("POST", "/api/v1/%s/telemetry" % self.token,
                                 {"fw_state": "DOWNLOADING"}, admin=False)
        check(status == 200, "telemetry: %d" % status)

    def secrets(self):
        """Strings that must never reach the other tenant."""
        return {self.profile, self.spare_profile, self.device, self.idle_device, self.fw, self.sw,
                self.bare, self.spare_fw, self.token, self.idle_token, self.tag,
                lib.sha256(self.image), lib.sha256(self.sw_image)}

    @staticmethod
    def without_timestamp(answer):
        status, body = answer
        value = json.loads(body)
        if status != 200:
            value.pop("timestamp", None)
        return status, value

    def snapshot(self):
        """Everything the tenant can see of its own data, as one comparable value."""
        r = self.rest
        snap = {
            "packages": r.all_pages("/api/otaPackages"),
            "profiles": r.all_pages("/api/deviceProfiles"),
            "devices": r.all_pages("/api/tenant/devices"),
            "statuses": r.all_pages("/api/ota/devices?type=FIRMWARE"),
            "stats": {t: r.json("GET", "/api/ota/stats?type=" + t) for t in ("FIRMWARE", "SOFTWARE")},
            "audit": len(r.all_pages("/api/audit/logs")),
        }
        for d in (self.device, self.idle_device):
            snap[d] = (r.json("GET", "/api/device/%s" % d), r.json("GET", "/api/device/%s/credentials" % d),
                       self.without_timestamp(r.request("GET", "/api/device/%s/otaStatus?type=FIRMWARE" % d)),
                       r.all_pages("/api/device/%s/otaHistory?type=FIRMWARE" % d),
                       r.json("GET", "/api/explain?deviceId=%s&type=FIRMWARE" % d))
        for p in (self.fw, self.sw, self.bare, self.spare_fw):
            snap[p] = r.json("GET", "/api/otaPackage/info/%s" % p)
        for p in (self.profile, self.spare_profile):
            snap[p] = (r.json("GET", "/api/deviceProfile/%s" % p),
                       r.json("GET", "/api/otaPackages/%s/FIRMWARE?pageSize=100&page=0" % p))
        status, body = r.request("GET", "/api/otaPackage/%s/download" % self.fw)
        check(status == 200 and body == self.image, "%s's own download: %d" % (self.name, status))
        return snap


class Isolation:
    def __init__(self):
        self.tmp = lib.scratch_dir("isolation")
        self.data_dir = os.path.join(self.tmp, "data")
        self.broker = None
        self.server = None
        self.attempts = 0
        self.covered = set()
        self.failures = []  # refusals that went wrong, reported together

    def run(self):
        # Tenant "default" and its key come with the first start; tenant "other" and a key
        # for it are made with the CLI while fwotad is stopped.
        first = lib.Fwotad(FWOTAD, self.data_dir, coap=False)
        first.stop()
        for args in (["tenant", "create", "other"],):
            subprocess.run([FWOTA, "--data_dir=" + self.data_dir, *args], check=True, capture_output=True)
        out = subprocess.run([FWOTA, "--data_dir=" + self.data_dir, "--tenant=other", "--json", "apikey",
                              "create", "--name=isolation"], check=True, capture_output=True).stdout
        key_b = json.loads(out)["secret"]

        self.broker = lib.Mosquitto(self.tmp)
        self.server = lib.Fwotad(FWOTAD, self.data_dir, ["--notices_per_minute=0"],
                                 mqtt_port=self.broker.port)
        a = Tenant("A", self.server.client(), "alpha")
        b = Tenant("B", self.server.client(key_b), "bravo")
        self.a, self.b = a, b
        self.forbidden = b.secrets()
        self.long_poll_isolation(a, b)
        before_b = b.snapshot()
        before_a = a.snapshot()
        self.admin_routes(a, b)
        self.http_device_api(a, b)
        self.mqtt_device_api(a, b)
        self.coap_device_api(a, b)
        self.route_coverage()
        check(not self.failures, "%d attempts not refused as documented:\n  %s"
              % (len(self.failures), "\n  ".join(self.failures)))
        # Nothing of B changed; A only by its own failed attempts in its audit log.
        after_b = b.snapshot()
        for k in before_b:
            check(before_b[k] == after_b[k], "tenant B's %s changed:\nbefore %s\nafter  %s"
                  % (k, json.dumps(before_b[k], default=repr)[:3000], json.dumps(after_b[k], default=repr)[:3000]))
        after_a = a.snapshot()
        # A's own devices downloaded and reported above: their statuses and histories
        # may change; A's entities may not.
        for k in before_a:
            if k not in ("audit", "statuses", "stats", a.device, a.idle_device):
                check(before_a[k] == after_a[k], "tenant A's %s changed" % k)
        check(after_a["audit"] > before_a["audit"], "A's refused attempts are not in A's audit log")
        log = self.server.log()
        check("level=error" not in log, "fwotad logged errors:\n" +
              "\n".join(l for l in log.splitlines() if "level=error" in l)[:2000])
        return self.attempts

    # ---- helpers ----

    def no_leak(self, what, body, sent=""):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        leaked = [s for s in self.forbidden if s in text and s not in sent]
        check(not leaked, "%s: the answer carries tenant B's %s: %s" % (what, leaked, text[:500]))

    def attempt(self, route, method, path, body=None, expect=(403,), message=None, headers=None):
        """A's key: `method path` must answer one of `expect` (and `message`), leak nothing."""
        self.covered.add(route)
        self.attempts += 1
        status, out = self.a.rest.request(method, path, body, headers)
        what = "A: %s %s %s" % (method, path, json.dumps(body)[:200] if isinstance(body, dict) else "")
        try:
            check(status in expect, "%s: HTTP %d, expected %s: %s" % (what, status, expect, out[:300]))
            if message is not None:
                check(json.loads(out)["message"] == message, "%s: message %s" % (what, out[:300]))
            self.no_leak(what, out, path + (json.dumps(body) if isinstance(body, dict) else ""))
        except lib.TestFailure as e:
            self.failures.append(str(e))
        return out

    def listing(self, route, path):
        """A's listing: answers 200 and names nothing of B."""
        out = self.attempt(route, "GET", path, expect=(200,))
        return json.loads(out)

    # ---- the admin REST API ----

    def admin_routes(self, a, b):
        denied = "You don't have permission to perform this operation!"
        other_fw = "Can't assign firmware from different tenant!"
        pkg_ref = lambda pid: {"entityType": "OTA_PACKAGE", "id": pid}  # noqa: E731
        prof_ref = lambda pid: {"entityType": "DEVICE_PROFILE", "id": pid}  # noqa: E731
        dev_ref = lambda did: {"entityType": "DEVICE", "id": did}  # noqa: E731

        # Packages.
        r = ("POST", "otaPackage")
        # ThingsBoard's answer to a package in another tenant's profile: as if it did not exist.
        self.attempt(r, "POST", "/api/otaPackage", {"title": "x", "version": "1", "type": "FIRMWARE",
                                                    "deviceProfileId": prof_ref(b.profile)}, expect=(400,),
                     message="OtaPackage is referencing to non-existent device profile!")
        self.attempt(r, "POST", "/api/otaPackage", {"id": pkg_ref(b.fw), "title": "fw-bravo",
                                                    "version": "1.0-bravo", "type": "FIRMWARE",
                                                    "deviceProfileId": prof_ref(b.profile),
                                                    "additionalInfo": {"description": "mine"}})
        for pattern in ("otaPackage/info/{id}", "otaPackage/{id}"):
            for p in (b.fw, b.sw, b.bare):
                self.attempt(("GET", pattern), "GET", "/api/" + pattern.replace("{id}", p),
                             message=denied)
        r = ("POST", "otaPackage/{id}")
        boundary = "isolation"
        body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\r\n"
                 % boundary).encode() + b"stolen" + ("\r\n--%s--\r\n" % boundary).encode())
        self.attempt(r, "POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256" % b.bare, body,
                     headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.attempt(r, "POST", "/api/otaPackage/%s?fileName=x.bin" % b.bare, b"stolen plain")
        self.attempt(r, "POST", "/api/otaPackage/%s?fileName=x.bin" % b.fw, b"replaced")
        for p in (b.bare, b.spare_fw, b.fw):
            self.attempt(("DELETE", "otaPackage/{id}"), "DELETE", "/api/otaPackage/" + p)
            self.attempt(("GET", "otaPackage/{id}/download"), "GET", "/api/otaPackage/%s/download" % p)
        self.attempt(("GET", "otaPackage/{id}/download"), "GET", "/api/otaPackage/%s/download" % b.fw,
                     headers={"Range": "bytes=0-9"})
        r = ("GET", "otaPackages")
        for q in ("", "&textSearch=bravo", "&textSearch=fw-bravo&sortProperty=title&sortOrder=DESC"):
            page = self.listing(r, "/api/otaPackages?pageSize=100&page=0" + q)
            check(page["totalElements"] == (0 if q else 4), "A's package listing%s: %s" % (q, page))
        r = ("GET", "otaPackages/{id}/{type}")
        for t in ("FIRMWARE", "SOFTWARE"):
            for p in (b.profile, b.spare_profile):
                self.attempt(r, "GET", "/api/otaPackages/%s/%s?pageSize=10&page=0" % (p, t))

        # Device profiles.
        r = ("POST", "deviceProfile")
        self.attempt(r, "POST", "/api/deviceProfile", {"id": prof_ref(b.profile), "name": b.profile_name,
                                                       "firmwareId": None}, message=denied)
        self.attempt(r, "POST", "/api/deviceProfile", {"id": prof_ref(b.spare_profile),
                                                       "name": "spare-bravo", "firmwareId": pkg_ref(b.spare_fw)})
        self.attempt(r, "POST", "/api/deviceProfile", {"id": prof_ref(a.profile), "name": a.profile_name,
                                                       "firmwareId": pkg_ref(b.fw)}, expect=(403,))
        self.attempt(r, "POST", "/api/deviceProfile", {"id": prof_ref(a.profile), "name": a.profile_name,
                                                       "softwareId": pkg_ref(b.sw)}, expect=(403,))
        # A new profile whose default would be B's package: refused, and not created.
        self.attempt(r, "POST", "/api/deviceProfile", {"name": "stealing", "firmwareId": pkg_ref(b.fw)},
                     expect=(403,))
        for p in (b.profile, b.spare_profile):
            self.attempt(("GET", "deviceProfile/{id}"), "GET", "/api/deviceProfile/" + p, message=denied)
            self.attempt(("DELETE", "deviceProfile/{id}"), "DELETE", "/api/deviceProfile/" + p)
        page = self.listing(("GET", "deviceProfiles"), "/api/deviceProfiles?pageSize=100&page=0")
        check(page["totalElements"] == 2, "A's profiles: %s" % page)
        page = self.listing(("GET", "deviceProfiles"),
                            "/api/deviceProfiles?pageSize=100&page=0&textSearch=bravo")
        check(page["totalElements"] == 0, "A's profiles matching bravo: %s" % page)

        # Devices.
        r = ("POST", "device")
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(b.device), "firmwareId": None}, message=denied)
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(b.idle_device), "firmwareId": pkg_ref(a.fw)})
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(b.device), "name": "device-bravo",
                                                "deviceProfileId": prof_ref(a.profile)})
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(a.idle_device), "firmwareId": pkg_ref(b.fw)},
                     message=other_fw)
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(a.idle_device), "softwareId": pkg_ref(b.sw)})
        # A's device moved into B's profile.
        self.attempt(r, "POST", "/api/device", {"id": dev_ref(a.idle_device), "name": "idle-alpha",
                                                "deviceProfileId": prof_ref(b.profile)})
        # A new device in B's profile, or with B's package.
        self.attempt(r, "POST", "/api/device?accessToken=new-in-b",
                     {"name": "new-in-b", "deviceProfileId": prof_ref(b.profile)})
        self.attempt(r, "POST", "/api/device?accessToken=new-with-b",
                     {"name": "new-with-b", "deviceProfileId": prof_ref(a.profile),
                      "firmwareId": pkg_ref(b.fw)})
        # B's access token taken by a device of A: refused (tokens are unique), never shared.
        self.attempt(r, "POST", "/api/device?accessToken=" + b.token,
                     {"name": "token-thief", "deviceProfileId": prof_ref(a.profile)}, expect=(400,))
        for d in (b.device, b.idle_device):
            for pattern, suffix in (("device/{id}", ""), ("device/{id}/credentials", "/credentials"),
                                    ("device/{id}/otaStatus", "/otaStatus?type=FIRMWARE"),
                                    ("device/{id}/otaHistory", "/otaHistory?type=FIRMWARE&pageSize=10&page=0")):
                self.attempt(("GET", pattern), "GET", "/api/device/%s%s" % (d, suffix), message=denied)
            self.attempt(("GET", "device/{id}/otaStatus"), "GET", "/api/device/%s/otaStatus?type=SOFTWARE" % d)
            self.attempt(("DELETE", "device/{id}"), "DELETE", "/api/device/" + d, message=denied)
            self.attempt(("GET", "explain"), "GET", "/api/explain?deviceId=%s&type=FIRMWARE" % d)
            self.attempt(("GET", "explain"), "GET", "/api/explain?deviceId=%s&type=SOFTWARE" % d)
        for q in ("", "&textSearch=bravo"):
            page = self.listing(("GET", "tenant/devices"), "/api/tenant/devices?pageSize=100&page=0" + q)
            check(page["totalElements"] == (0 if q else 2), "A's devices%s: %s" % (q, page))
        for t in ("FIRMWARE", "SOFTWARE"):
            stats = self.listing(("GET", "ota/stats"), "/api/ota/stats?type=" + t)
            total = sum(v for k, v in stats.items() if k.isupper())
            check(total <= 2, "A's %s stats count more devices than A has: %s" % (t, stats))
            for q in ("", "&textSearch=bravo", "&state=DOWNLOADING"):
                page = self.listing(("GET", "ota/devices"),
                                    "/api/ota/devices?type=%s&pageSize=100&page=0%s" % (t, q))
                check(all(s["deviceId"]["id"] in (a.device, a.idle_device) for s in page["data"]),
                      "A's update statuses list others: %s" % page)
        # A's audit log records A's refused attempts with the ids A sent in them, never
        # B's names, tokens or checksums.
        self.sent_ids = {b.profile, b.spare_profile, b.device, b.idle_device, b.fw, b.sw, b.bare,
                         b.spare_fw}
        for page_no in range(3):
            self.covered.add(("GET", "audit/logs"))
            out = self.a.rest.json("GET", "/api/audit/logs?pageSize=100&page=%d" % page_no)
            for entry in out["data"]:
                text = json.dumps(entry)
                check(entry["tenantId"]["id"] == out["data"][0]["tenantId"]["id"], "audit: %s" % text)
                self.no_leak("A's audit log", text, " ".join(b.secrets() & self.sent_ids))

        # Without a key, or with a wrong one: 401 on every admin route, before any id check.
        for method, pattern in route_table(ROUTES_SOURCE):
            if pattern.startswith("v1/"):
                continue
            path = "/api/" + pattern.replace("{id}", b.fw).replace("{type}", "FIRMWARE")
            for key in (None, "fwota_" + "0" * 40, self.b.rest.key[:-1]):
                rest = lib.Rest(self.server.port, key)
                status, out = rest.request(method, path, b"{}" if method == "POST" else None,
                                           {"Content-Type": "application/json"})
                rest.close()
                check(status == 401, "%s %s with key %r: HTTP %d" % (method, path, key, status))
                self.no_leak("%s %s without a valid key" % (method, path), out, path)

    # ---- the device APIs ----

    def http_device_api(self, a, b):
        # A's devices asking for B's packages by title and version.
        for kind, bp in (("firmware", ("fw-bravo", "1.0-bravo")), ("software", ("sw-bravo", "1.0-bravo"))):
            r = ("GET", "v1/{token}/" + kind)
            q = "title=%s&version=%s" % bp
            self.device_attempt(r, "/api/v1/%s/%s?%s" % (a.token, kind, q), (400,))
            self.device_attempt(r, "/api/v1/%s/%s?%s&size=1024&chunk=0" % (a.token, kind, q), (400,))
            self.device_attempt(r, "/api/v1/%s/%s?%s" % (a.idle_token, kind, q), (404,))
        # A's device gets exactly A's package.
        status, body = a.rest.request("GET", "/api/v1/%s/firmware?title=fw-alpha&version=1.0-alpha"
                                      % a.token, admin=False)
        check(status == 200 and body == a.image, "A's own firmware: %d" % status)
        r = ("GET", "v1/{token}/attributes")
        out = json.loads(self.device_attempt(r, "/api/v1/%s/attributes" % a.token, (200,)))
        check(out["shared"]["fw_title"] == "fw-alpha" and out["shared"]["sw_title"] == "sw-alpha",
              "A's attributes: %s" % out)
        out = json.loads(self.device_attempt(r, "/api/v1/%s/attributes?sharedKeys=fw_title" % a.idle_token,
                                             (200,)))
        check(out == {}, "A's idle device's attributes: %s" % out)
        # Telemetry of A's device names B's package: recorded for A's device alone.
        r = ("POST", "v1/{token}/telemetry")
        self.device_attempt(r, "/api/v1/%s/telemetry" % a.idle_token, (200,),
                            {"current_fw_title": "fw-bravo", "current_fw_version": "1.0-bravo"})
    def long_poll_isolation(self, a, b):
        # A long poll of A's device stays silent while B's assignments change.
        r = ("GET", "v1/{token}/attributes/updates")
        import threading
        result = {}

        def poll():
            result["out"] = lib.Rest(self.server.port, None).request(
                "GET", "/api/v1/%s/attributes/updates?timeout=3000" % a.idle_token, admin=False)
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        b.rest.assign_device(b.idle_device, b.fw)
        b.rest.assign_device(b.idle_device, None)
        t.join()
        self.covered.add(r)
        check(result["out"][0] == 408, "A's long poll answered while B's assignment changed: %s"
              % (result["out"],))

    def device_attempt(self, route, path, expect, body=None):
        self.covered.add(route)
        self.attempts += 1
        status, out = self.a.rest.request("POST" if body is not None else "GET", path, body, admin=False)
        check(status in expect, "device %s: HTTP %d, expected %s: %s" % (path, status, expect, out[:300]))
        self.no_leak("device " + path, out, path + (json.dumps(body) if body else ""))
        return out

    def mqtt_device_api(self, a, b):
        """A's devices over MQTT: the unassigned one gets NOT_FOUND, the assigned one A's
        bytes and attributes; neither ever sees B's."""
        out_path = os.path.join(self.tmp, "mqtt.out")
        port = str(self.broker.port)
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-v",
                                "-t", "fwota/%s/#" % a.token, "-t", "fwota/%s/#" % a.idle_token,
                                "-F", "%t %x"], stdout=open(out_path, "w"), stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)

            def pub(token, topic, payload):
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                                "fwota/%s/%s" % (token, topic), "-m", payload], check=True, timeout=10)
            pub(a.idle_token, "v2/fw/request/1/chunk/0", "4096")
            pub(a.idle_token, "v2/sw/request/1/chunk/0", "4096")
            pub(a.idle_token, "v1/devices/me/attributes/request/1", '{"sharedKeys":"fw_title,sw_title"}')
            pub(a.token, "v2/fw/request/2/chunk/0", str(IMAGE))
            pub(a.token, "v1/devices/me/attributes/request/2", "")

            def messages():
                got = {}
                for line in open(out_path).read().split("\n")[:-1]:
                    topic, _, payload = line.partition(" ")
                    got[topic] = bytes.fromhex(payload)
                return got
            want = ["fwota/%s/v2/fw/error" % a.idle_token, "fwota/%s/v2/sw/error" % a.idle_token,
                    "fwota/%s/v1/devices/me/attributes/response/1" % a.idle_token,
                    "fwota/%s/v2/fw/response/2/chunk/0" % a.token,
                    "fwota/%s/v1/devices/me/attributes/response/2" % a.token]
            got = lib.wait_for(lambda: (lambda m: m if all(w in m for w in want) else None)(messages()),
                               "the MQTT answers", timeout=20)
            check(got[want[0]].startswith(b"NOT_FOUND") and got[want[1]].startswith(b"NOT_FOUND"),
                  "A's idle device over MQTT: %s" % got)
            check(json.loads(got[want[2]]) == {}, "A's idle device's attributes: %s" % got[want[2]])
            check(got[want[3]] == a.image, "A's device over MQTT got other bytes")
            shared = json.loads(got[want[4]])["shared"]
            check(shared["fw_title"] == "fw-alpha", "A's attributes over MQTT: %s" % shared)
            for topic, payload in got.items():
                self.no_leak("MQTT " + topic, payload.decode(errors="replace"), topic)
            self.attempts += 5
        finally:
            sub.kill()
            sub.wait()

    def coap_device_api(self, a, b):
        check(os.access(lib.COAP_CLIENT, os.X_OK), "coap-client-notls is missing")
        base = "coap://127.0.0.1:%d/" % self.server.coap_port

        out_file = os.path.join(self.tmp, "coap.out")

        def coap(path, *extra):
            """(the payload, all coap-client said); -o: stdout would add a newline."""
            self.attempts += 1
            if os.path.exists(out_file):
                os.unlink(out_file)
            out = subprocess.run([lib.COAP_CLIENT, "-m", "get", "-B", "10", "-o", out_file, *extra,
                                  base + path], capture_output=True, timeout=30)
            payload = open(out_file, "rb").read() if os.path.exists(out_file) else b""
            text = (out.stdout + out.stderr + payload).decode(errors="replace")
            self.no_leak("CoAP " + path, text, path)
            return payload, text
        for kind, title, version in (("fw", "fw-bravo", "1.0-bravo"), ("sw", "sw-bravo", "1.0-bravo")):
            _, text = coap("%s/%s?title=%s&version=%s" % (kind, a.token, title, version))
            check("4.00" in text, "CoAP %s of A asking for B's package: %s" % (kind, text[:300]))
            _, text = coap("%s/%s?title=%s&version=%s" % (kind, a.idle_token, title, version))
            check("4.04" in text, "CoAP %s of A's idle device: %s" % (kind, text[:300]))
        out, _ = coap("fw/%s" % a.token, "-b", "1024")
        check(out == a.image, "A's device over CoAP got other bytes (%d)" % len(out))
        out, _ = coap("api/v1/%s/attributes" % a.token)
        check(json.loads(out)["shared"]["fw_title"] == "fw-alpha", "CoAP attributes: %s" % out[:300])

    def route_coverage(self):
        routes = set(route_table(ROUTES_SOURCE))
        missing = sorted(routes - self.covered)
        check(not missing, "routes without an isolation case: %s" % missing)
        stale = sorted(self.covered - routes)
        check(not stale, "isolation cases for routes that no longer exist: %s" % stale)

    def cleanup(self):
        lib.cleanup(self.server, self.broker)
        lib.remove(self.tmp)
        for suffix in (".log", ".port"):
            if os.path.exists(self.data_dir + suffix):
                os.unlink(self.data_dir + suffix)


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("isolation_test: SIGTERM"))
    t0 = time.time()
    test = Isolation()
    try:
        attempts = test.run()
        print("tenant isolation passed: %d routes, %d refused or confined attempts, %.1f s"
              % (len(route_table(ROUTES_SOURCE)), attempts, time.time() - t0))
        return 0
    except Exception as e:
        print("\nISOLATION TEST FAILED: %s" % e, flush=True)
        if not isinstance(e, lib.TestFailure):
            traceback.print_exc()
        if test.server is not None:
            print("---- fwotad log ----\n" + test.server.log_tail(40))
        return 1
    finally:
        test.cleanup()


if __name__ == "__main__":
    sys.exit(main())
