#!/usr/bin/python3
"""Integration tests of the fwota command line: the real binary on a temporary data
directory. Run by Bazel as `cli_test.py <path to fwota>`."""

import json
import os
import stat
import subprocess
import threading
import time
import zlib

import fwota_testlib as lib
from fwota_testlib import sha256

EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_PERMISSION = 4
EXIT_CONFLICT = 5
EXIT_TOO_LARGE = 6
EXIT_DATA_LOSS = 7

NOT_FOUND = "Requested item wasn't found!"
NO_PERMISSION = "You don't have permission to perform this operation!"


def entity_id(obj, entity_type):
    assert obj["entityType"] == entity_type, obj
    return obj["id"]


class CliTestBase(lib.FwotaTestCase):
    def make_profile(self, name="thermostats", *extra):
        p = self.ok_json("profile", "create", "--name=" + name, *extra)
        return entity_id(p["id"], "DEVICE_PROFILE")

    def make_package(self, title="fw", version="1.0", type_="FIRMWARE", profile="thermostats",
                     size=4096, seed=1, extra=()):
        path, data = self.write_random("%s-%s.bin" % (title, version), size, seed)
        p = self.ok_json("package", "create", "--title=" + title, "--version=" + version,
                         "--type=" + type_, "--profile=" + profile, "--file=" + path, *extra)
        return p, path, data


class TenantTest(CliTestBase):
    def test_default_tenant_is_created_on_first_use(self):
        self.assertEqual(self.ok_json("tenant", "list")["data"], [])
        self.assertEqual(self.ok_json("profile", "list")["totalElements"], 0)
        tenants = self.ok_json("tenant", "list")
        self.assertEqual([t["name"] for t in tenants["data"]], ["default"])
        self.assertEqual(tenants["data"][0]["title"], "default")
        entity_id(tenants["data"][0]["id"], "TENANT")

    def test_other_tenants_must_be_created(self):
        self.fails(EXIT_NOT_FOUND, 'tenant "acme" does not exist', "--tenant=acme", "profile",
                   "list")
        t = self.ok_json("tenant", "create", "acme")
        self.assertEqual(t["name"], "acme")
        self.ok("--tenant=acme", "profile", "create", "--name=p")
        # By id too.
        self.assertEqual(len(self.ok_json("--tenant=" + t["id"]["id"], "profile", "list")["data"]),
                         1)
        self.fails(EXIT_CONFLICT, "Tenant with such name already exists!", "tenant", "create",
                   "acme")
        # Tenants do not see each other's profiles.
        self.assertEqual(self.ok_json("profile", "list")["data"], [])
        human = self.ok("tenant", "list").out
        self.assertIn("acme", human)
        self.assertTrue(human.startswith("ID"))


class ApiKeyTest(CliTestBase):
    def test_create_list_delete(self):
        k = self.ok_json("apikey", "create", "--name=ci")
        self.assertTrue(k["secret"].startswith("fwota_"))
        self.assertEqual(len(k["secret"]), 46)
        listed = self.ok_json("apikey", "list")["data"]
        self.assertEqual([x["name"] for x in listed], ["ci"])
        self.assertNotIn("secret", listed[0])
        # The secret is not stored anywhere in the data directory.
        for root, _, files in os.walk(self.data_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(k["secret"].encode(), f.read(), name)
        self.fails(EXIT_CONFLICT, "API key with such name already exists!", "apikey", "create",
                   "--name=ci")
        self.ok("apikey", "delete", "ci")
        self.assertEqual(self.ok_json("apikey", "list")["data"], [])
        self.fails(EXIT_NOT_FOUND, "Requested item wasn't found!", "apikey", "delete", "ci")
        # Keys are per tenant.
        self.ok("tenant", "create", "acme")
        self.ok("--tenant=acme", "apikey", "create", "--name=ci")
        self.assertEqual(self.ok_json("apikey", "list")["data"], [])


class ProfileTest(CliTestBase):
    def test_create_list_get_delete(self):
        pid = self.make_profile("thermostats", "--description=living room")
        self.make_profile("meters")
        listed = self.ok_json("profile", "list")
        self.assertEqual([p["name"] for p in listed["data"]], ["meters", "thermostats"])
        self.assertEqual(listed["totalElements"], 2)
        self.assertFalse(listed["hasNext"])
        p = self.ok_json("profile", "get", "thermostats")
        self.assertEqual(p["description"], "living room")
        self.assertEqual(p["type"], "DEFAULT")
        self.assertEqual(p["transportType"], "DEFAULT")
        self.assertEqual(p["provisionType"], "DISABLED")
        self.assertIsNone(p["firmwareId"])
        self.assertEqual(self.ok_json("profile", "get", pid)["name"], "thermostats")
        self.assertIn("thermostats", self.ok("profile", "list").out)
        deleted = self.ok_json("profile", "delete", "thermostats")
        self.assertEqual(deleted["id"]["id"], pid)
        self.ok("profile", "delete", self.ok_json("profile", "get", "meters")["id"]["id"])
        self.assertEqual(self.ok_json("profile", "list")["data"], [])

    def test_errors(self):
        self.make_profile("p")
        self.fails(EXIT_CONFLICT, "Device profile with such name already exists!", "profile",
                   "create", "--name=p")
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "profile", "delete", "nope")
        self.ok("device", "create", "--name=d", "--profile=p")
        self.fails(EXIT_CONFLICT, "The device profile referenced by the devices cannot be deleted!",
                   "profile", "delete", "p")
        self.fails(EXIT_USAGE, "flag --name is required", "profile", "create")


class DeviceTest(CliTestBase):
    def test_create_list_get_delete(self):
        pid = self.make_profile("p")
        created = self.ok_json("device", "create", "--name=dev-1", "--profile=p",
                               "--token=TOKEN_1")
        device = created["device"]
        did = entity_id(device["id"], "DEVICE")
        self.assertEqual(device["name"], "dev-1")
        self.assertEqual(entity_id(device["deviceProfileId"], "DEVICE_PROFILE"), pid)
        self.assertIsNone(device["firmwareId"])
        creds = created["credentials"]
        self.assertEqual(creds["credentialsType"], "ACCESS_TOKEN")
        self.assertEqual(creds["credentialsId"], "TOKEN_1")
        self.assertIsNone(creds["credentialsValue"])
        self.assertEqual(entity_id(creds["deviceId"], "DEVICE"), did)

        human = self.ok("device", "create", "--name=dev-2", "--profile", pid).out
        self.assertRegex(human, r"access token: [A-Za-z0-9]{20}\n")

        listed = self.ok_json("device", "list")
        self.assertEqual([d["name"] for d in listed["data"]], ["dev-1", "dev-2"])
        self.assertEqual(self.ok_json("device", "get", "dev-1")["id"]["id"], did)
        self.assertEqual(self.ok_json("device", "get", did)["name"], "dev-1")
        self.assertEqual(self.ok("device", "credentials", "dev-1").out, "TOKEN_1\n")
        self.assertIn("TOKEN_1", self.ok("device", "get", "dev-1").out)
        self.assertEqual(self.ok_json("device", "delete", "dev-1")["id"]["id"], did)
        self.ok("device", "delete", "dev-2")
        self.assertEqual(self.ok_json("device", "list")["data"], [])
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "device", "get", "dev-1")

    def test_errors(self):
        self.make_profile("p")
        self.ok("device", "create", "--name=d", "--profile=p", "--token=T1")
        self.fails(EXIT_CONFLICT, "Device with such name already exists!", "device", "create",
                   "--name=d", "--profile=p")
        self.fails(EXIT_CONFLICT, "Device credentials are already assigned to another device!",
                   "device", "create", "--name=e", "--profile=p", "--token=T1")
        self.fails(EXIT_USAGE, "Device is referencing to non-existent device profile!", "device",
                   "create", "--name=e", "--profile=nope")
        self.fails(EXIT_USAGE, "flag --profile is required", "device", "create", "--name=e")


class PackageTest(CliTestBase):
    def setUp(self):
        super().setUp()
        self.profile_id = self.make_profile("thermostats")

    def test_create_with_file_get_download_verify(self):
        p, path, data = self.make_package(size=3 * 1024 * 1024 + 17,
                                          extra=["--description=first build"])
        pkg_id = entity_id(p["id"], "OTA_PACKAGE")
        self.assertEqual(p["title"], "fw")
        self.assertEqual(p["version"], "1.0")
        self.assertEqual(p["type"], "FIRMWARE")
        self.assertEqual(p["tag"], "fw 1.0")
        self.assertEqual(p["name"], "fw 1.0")
        self.assertIsNone(p["url"])
        self.assertTrue(p["hasData"])
        self.assertEqual(p["fileName"], "fw-1.0.bin")
        self.assertEqual(p["contentType"], "application/octet-stream")
        self.assertEqual(p["checksumAlgorithm"], "SHA256")
        self.assertEqual(p["checksum"], sha256(data))
        self.assertEqual(p["dataSize"], len(data))
        self.assertEqual(p["additionalInfo"], {"description": "first build"})
        self.assertEqual(entity_id(p["deviceProfileId"], "DEVICE_PROFILE"), self.profile_id)
        entity_id(p["tenantId"], "TENANT")

        self.assertEqual(self.ok_json("package", "get", pkg_id), p)
        self.assertEqual(self.ok_json("package", "get", "fw@1.0"), p)

        out = os.path.join(self.tmp, "out.bin")
        r = self.ok("package", "download", pkg_id, "--output=" + out)
        self.assertEqual(r.stderr, b"")  # no progress bar: stderr is not a terminal
        self.assertIn("SHA256 verified", r.out)
        subprocess.run(["cmp", path, out], check=True)
        self.assertFalse(os.path.exists(out + ".part"))
        # To standard output: the bytes only.
        r = self.ok("package", "download", "fw@1.0", "--output=-")
        self.assertEqual(r.stdout, data)
        self.assertIn("ok:", self.ok("package", "verify", pkg_id).out)
        self.assertEqual(self.ok_json("package", "verify", pkg_id)["id"]["id"], pkg_id)

        human = self.ok("package", "get", pkg_id).out
        self.assertIn(sha256(data), human)
        self.assertIn("thermostats", human)

        self.assertEqual(self.ok_json("package", "delete", pkg_id)["id"]["id"], pkg_id)
        self.assertEqual(self.ok_json("package", "list")["data"], [])
        self.assertEqual(self.blob_files(), [])

    def test_other_checksum_algorithms(self):
        path, data = self.write_random("a.bin", 100000, seed=3)
        md5 = subprocess.run(["openssl", "dgst", "-md5", "-r", path], check=True,
                             stdout=subprocess.PIPE).stdout.split()[0].decode()
        p = self.ok_json("package", "create", "--title=a", "--version=1", "--type=SOFTWARE",
                         "--profile=thermostats", "--file=" + path, "--checksum_algorithm=md5",
                         "--checksum=" + md5.upper())
        self.assertEqual(p["checksumAlgorithm"], "MD5")
        self.assertEqual(p["checksum"], md5)
        # CRC32 given the way zlib prints it (big-endian) is accepted and answered in
        # ThingsBoard's little-endian form.
        crc = zlib.crc32(data)
        p = self.ok_json("package", "create", "--title=a", "--version=2", "--type=SOFTWARE",
                         "--profile=thermostats", "--file=" + path, "--checksum_algorithm=CRC32",
                         "--checksum=%x" % crc)
        self.assertEqual(p["checksum"], crc.to_bytes(4, "little").hex())
        self.ok("package", "verify", "a@2")
        out = os.path.join(self.tmp, "a2.bin")
        self.ok("package", "download", "a@2", "--output=" + out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_url_package_and_info_then_upload(self):
        p = self.ok_json("package", "create", "--title=ext", "--version=1", "--type=FIRMWARE",
                         "--profile=thermostats", "--url=https://example.com/fw.bin",
                         "--tag=release")
        self.assertEqual(p["url"], "https://example.com/fw.bin")
        self.assertFalse(p["hasData"])
        self.assertIsNone(p["checksum"])
        self.assertIsNone(p["dataSize"])
        self.assertEqual(p["tag"], "release")
        path, data = self.write_random("up.bin", 5000)
        self.fails(EXIT_USAGE, "File can't be saved if URL present!", "package", "upload",
                   p["id"]["id"], "--file=" + path)
        self.fails(EXIT_NOT_FOUND, "OtaPackage has no data", "package", "download", "ext@1",
                   "--output=" + os.path.join(self.tmp, "x"))

        info = self.ok_json("package", "create", "--title=later", "--version=1",
                            "--type=FIRMWARE", "--profile=thermostats")
        self.assertFalse(info["hasData"])
        up = self.ok_json("package", "upload", "later@1", "--file=" + path,
                          "--checksum_algorithm=SHA512")
        self.assertTrue(up["hasData"])
        self.assertEqual(up["checksumAlgorithm"], "SHA512")
        self.assertEqual(up["dataSize"], len(data))
        self.assertEqual(up["id"], info["id"])
        self.fails(EXIT_CONFLICT, "Updating otaPackage data is prohibited!", "package", "upload",
                   info["id"]["id"], "--file=" + path)
        r = self.ok("package", "download", "later@1", "--output=-")
        self.assertEqual(r.stdout, data)

    def test_error_messages(self):
        p, path, data = self.make_package()
        self.fails(EXIT_CONFLICT, "OtaPackage with such title and version already exists!",
                   "package", "create", "--title=fw", "--version=1.0", "--type=FIRMWARE",
                   "--profile=thermostats", "--file=" + path)
        self.fails(EXIT_USAGE, "Wrong otaPackage file!", "package", "create", "--title=fw",
                   "--version=2", "--type=FIRMWARE", "--profile=thermostats", "--file=" + path,
                   "--checksum=" + "0" * 64)
        self.fails(EXIT_USAGE, "File can't be saved if URL present!", "package", "create",
                   "--title=fw", "--version=3", "--type=FIRMWARE", "--profile=thermostats",
                   "--file=" + path, "--url=https://example.com/x")
        self.fails(EXIT_USAGE, "OtaPackage is referencing to non-existent device profile!",
                   "package", "create", "--title=fw", "--version=4", "--type=FIRMWARE",
                   "--profile=nope", "--file=" + path)
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "package", "get",
                   "00000000-0000-0000-0000-000000000000")
        self.fails(EXIT_NOT_FOUND, "cannot open", "package", "create", "--title=fw",
                   "--version=5", "--type=FIRMWARE", "--profile=thermostats",
                   "--file=" + os.path.join(self.tmp, "missing.bin"))
        self.fails(EXIT_USAGE, "Unknown OTA package type", "package", "create", "--title=fw",
                   "--version=6", "--type=BOOT", "--profile=thermostats")
        # Only the first package exists, with one blob.
        listed = self.ok_json("package", "list")
        self.assertEqual([x["version"] for x in listed["data"]], ["1.0"])
        self.assertEqual(len([f for f in self.blob_files() if not f.endswith(".crc")]), 1)
        self.assertEqual(self.tmp_files(), [])

    def test_error_json_on_stderr(self):
        self.make_package()
        r = self.run_cli("--json", "package", "create", "--title=fw", "--version=1.0",
                         "--type=FIRMWARE", "--profile=thermostats", "--url=http://x")
        self.assertEqual(r.code, EXIT_CONFLICT, r)
        self.assertEqual(r.stdout, b"")
        e = r.error_json()
        self.assertEqual(e["status"], 400)
        self.assertEqual(e["message"], "OtaPackage with such title and version already exists!")
        self.assertEqual(e["errorCode"], 31)
        self.assertIsInstance(e["timestamp"], int)
        r = self.run_cli("package", "get", "nope", "--json")
        self.assertEqual(r.code, EXIT_NOT_FOUND, r)
        self.assertEqual(r.error_json()["status"], 404)
        self.assertEqual(r.error_json()["errorCode"], 32)
        self.assertEqual(r.error_json()["message"], NOT_FOUND)
        r = self.run_cli("--json", "bogus")
        self.assertEqual(r.code, EXIT_USAGE, r)
        self.assertEqual(r.error_json()["status"], 400)

    def test_deletion_guards(self):
        p, _, _ = self.make_package()
        self.ok("device", "create", "--name=d", "--profile=thermostats")
        self.ok("assign", "--package=fw@1.0", "--device=d")
        self.fails(EXIT_CONFLICT, "The otaPackage referenced by the devices cannot be deleted!",
                   "package", "delete", p["id"]["id"])
        self.ok("unassign", "--type=FIRMWARE", "--device=d")
        self.ok("assign", "--package=fw@1.0", "--profile=thermostats")
        self.fails(EXIT_CONFLICT,
                   "The otaPackage referenced by the device profile cannot be deleted!",
                   "package", "delete", "fw@1.0")
        s, _, _ = self.make_package("app", "1", "SOFTWARE")
        self.ok("assign", "--package=app@1", "--device=d")
        self.fails(EXIT_CONFLICT, "The software referenced by the devices cannot be deleted!",
                   "package", "delete", "app@1")
        self.fails(EXIT_CONFLICT,
                   "The device profile referenced by the devices cannot be deleted!",
                   "profile", "delete", "thermostats")
        self.ok("unassign", "--type=FIRMWARE", "--profile=thermostats")
        self.ok("package", "delete", "fw@1.0")

    def test_list_paging_sorting_search(self):
        for i, title in enumerate(["delta", "alpha", "echo", "charlie", "bravo"]):
            self.ok("package", "create", "--title=" + title, "--version=1",
                    "--type=FIRMWARE", "--profile=thermostats")
        page = self.ok_json("package", "list", "--page_size=2", "--page=1", "--sort=title",
                            "--order=ASC")
        self.assertEqual([p["title"] for p in page["data"]], ["charlie", "delta"])
        self.assertEqual(page["totalPages"], 3)
        self.assertEqual(page["totalElements"], 5)
        self.assertTrue(page["hasNext"])
        last = self.ok_json("package", "list", "--page_size=2", "--page=2", "--sort=title",
                            "--order=ASC")
        self.assertEqual([p["title"] for p in last["data"]], ["echo"])
        self.assertFalse(last["hasNext"])
        desc = self.ok_json("package", "list", "--sort=title", "--order=DESC")
        self.assertEqual([p["title"] for p in desc["data"]],
                         ["echo", "delta", "charlie", "bravo", "alpha"])
        newest_first = self.ok_json("package", "list")
        self.assertEqual(newest_first["data"][0]["title"], "bravo")
        found = self.ok_json("package", "list", "--search=HAR")
        self.assertEqual([p["title"] for p in found["data"]], ["charlie"])
        human = self.ok("package", "list", "--page_size=2").out
        self.assertIn("5 packages", human)
        self.fails(EXIT_USAGE, "unknown --sort", "package", "list", "--sort=size")
        self.fails(EXIT_USAGE, "unknown --order", "package", "list", "--order=UP")

    def test_profile_list(self):
        self.make_package("fw", "1")
        self.make_package("app", "1", "SOFTWARE")
        self.ok("package", "create", "--title=empty", "--version=1", "--type=FIRMWARE",
                "--profile=thermostats")
        self.make_profile("other")
        self.make_package("fw-other", "1", "FIRMWARE", "other")
        fw = self.ok_json("package", "profile-list", "--profile=thermostats", "--type=FIRMWARE")
        self.assertEqual([p["title"] for p in fw["data"]], ["fw"])
        sw = self.ok_json("package", "profile-list", "--profile=thermostats", "--type=software")
        self.assertEqual([p["title"] for p in sw["data"]], ["app"])
        self.fails(EXIT_USAGE, "flag --type is required", "package", "profile-list",
                   "--profile=thermostats")

    def test_corrupted_blob_fails_download_and_verify(self):
        p, path, data = self.make_package(size=300000)
        blob = [f for f in self.blob_files() if not f.endswith(".crc")][0]
        os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
        with open(blob, "r+b") as f:
            f.seek(150000)
            b = f.read(1)
            f.seek(150000)
            f.write(bytes([b[0] ^ 0xFF]))
        out = os.path.join(self.tmp, "out.bin")
        r = self.run_cli("package", "download", "fw@1.0", "--output=" + out)
        self.assertEqual(r.code, EXIT_DATA_LOSS, r)
        self.assertTrue(r.err.startswith("fwota: "), r)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(out + ".part"))
        r = self.run_cli("package", "verify", "fw@1.0")
        self.assertEqual(r.code, EXIT_DATA_LOSS, r)


class AssignmentTest(CliTestBase):
    def setUp(self):
        super().setUp()
        self.make_profile("p")
        self.make_profile("q")
        self.ok("device", "create", "--name=d", "--profile=p")

    def test_assign_explain_unassign(self):
        e = self.ok_json("explain", "--device=d")
        self.assertEqual(e["source"], "none")
        self.assertIsNone(e["package"])
        self.assertEqual(e["type"], "FIRMWARE")
        self.assertEqual(e["deviceName"], "d")
        entity_id(e["deviceId"], "DEVICE")

        p1, _, _ = self.make_package("fw", "1", "FIRMWARE", "p")
        p2, _, _ = self.make_package("fw", "2", "FIRMWARE", "p", seed=2)
        prof = self.ok_json("assign", "--package=" + p1["id"]["id"], "--profile=p")
        self.assertEqual(prof["firmwareId"], p1["id"])
        e = self.ok_json("explain", "--device=d", "--type=FIRMWARE")
        self.assertEqual(e["source"], "profile_default")
        self.assertEqual(e["package"]["id"], p1["id"])
        dev = self.ok_json("assign", "--package=fw@2", "--device=d")
        self.assertEqual(dev["firmwareId"], p2["id"])
        e = self.ok_json("explain", "--device=d")
        self.assertEqual(e["source"], "device_override")
        self.assertEqual(e["package"]["version"], "2")
        self.assertIn("own firmware", e["reason"])
        self.assertIn("device_override", self.ok("explain", "--device=d").out)
        self.assertIsNone(self.ok_json("unassign", "--type=FIRMWARE", "--device=d")["firmwareId"])
        self.assertEqual(self.ok_json("explain", "--device=d")["source"], "profile_default")
        self.ok("unassign", "--type=FIRMWARE", "--profile=p")
        self.assertEqual(self.ok_json("explain", "--device=d")["source"], "none")
        self.assertEqual(self.ok_json("explain", "--device=d", "--type=SOFTWARE")["source"],
                         "none")

    def test_device_move(self):
        p1, _, _ = self.make_package("fw", "1", "FIRMWARE", "p")
        q1, _, _ = self.make_package("gw", "1", "FIRMWARE", "q", seed=3)
        self.ok("assign", "--package=gw@1", "--profile=q")
        moved = self.ok_json("device", "move", "d", "--profile=q")
        self.assertEqual(moved["deviceProfileId"]["id"],
                         self.ok_json("profile", "get", "q")["id"]["id"])
        e = self.ok_json("explain", "--device=d")
        self.assertEqual((e["source"], e["package"]["id"]), ("profile_default", q1["id"]))
        self.assertIn("moved device d to profile p",
                      self.ok("device", "move", "d", "--profile=p").out)
        # Its own package belongs to p: it cannot leave p with it.
        self.ok("assign", "--package=fw@1", "--device=d")
        self.fails(EXIT_CONFLICT, "Can't assign firmware with different deviceProfile!",
                   "device", "move", "d", "--profile=q")
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "device", "move", "d", "--profile=nope")
        self.fails(EXIT_USAGE, "flag --profile is required", "device", "move", "d")
        self.assertEqual(self.ok_json("explain", "--device=d")["package"]["id"], p1["id"])

    def test_assignment_messages(self):
        self.make_package("sw", "1", "SOFTWARE", "p")
        self.ok("package", "create", "--title=empty", "--version=1", "--type=FIRMWARE",
                "--profile=p")
        self.make_package("other", "1", "FIRMWARE", "q")
        self.fails(EXIT_NOT_FOUND, "Can't assign non-existent firmware!", "assign",
                   "--package=00000000-0000-0000-0000-000000000000", "--device=d")
        self.fails(EXIT_NOT_FOUND, "Can't assign non-existent software!", "assign",
                   "--package=nope@1", "--device=d", "--type=SOFTWARE")
        self.fails(EXIT_USAGE, "Can't assign firmware with type: SOFTWARE", "assign",
                   "--package=sw@1", "--device=d", "--type=FIRMWARE")
        self.fails(EXIT_CONFLICT, "Can't assign firmware with empty data!", "assign",
                   "--package=empty@1", "--device=d")
        self.fails(EXIT_CONFLICT, "Can't assign firmware with different deviceProfile!",
                   "assign", "--package=other@1", "--device=d")
        self.fails(EXIT_CONFLICT, "Can't assign firmware with different deviceProfile!",
                   "assign", "--package=other@1", "--profile=p")
        # Another tenant's package.
        self.ok("tenant", "create", "acme")
        self.ok("--tenant=acme", "profile", "create", "--name=p")
        path, _ = self.write_random("acme.bin", 1000)
        theirs = self.ok_json("--tenant=acme", "package", "create", "--title=x", "--version=1",
                              "--type=FIRMWARE", "--profile=p", "--file=" + path)
        self.fails(EXIT_PERMISSION, "Can't assign firmware from different tenant!", "assign",
                   "--package=" + theirs["id"]["id"], "--device=d")
        self.fails(EXIT_PERMISSION, NO_PERMISSION, "package", "get", theirs["id"]["id"])
        self.fails(EXIT_PERMISSION, NO_PERMISSION, "package", "delete", theirs["id"]["id"])
        self.fails(EXIT_USAGE, "assign needs exactly one of --device and --profile", "assign",
                   "--package=sw@1")
        self.fails(EXIT_USAGE, "assign needs exactly one of --device and --profile", "assign",
                   "--package=sw@1", "--device=d", "--profile=p")
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "assign", "--package=sw@1", "--device=ghost")


class AuditTest(CliTestBase):
    def test_audit_log(self):
        self.make_profile("p")
        self.ok("device", "create", "--name=d", "--profile=p")
        self.run_cli("device", "create", "--name=d", "--profile=p")  # fails: recorded too
        log = self.ok_json("audit")
        self.assertEqual(log["totalElements"], 3)
        newest = log["data"][0]
        self.assertEqual(newest["actionType"], "ADDED")
        self.assertEqual(newest["actionStatus"], "FAILURE")
        self.assertEqual(newest["actionFailureDetails"], "Device with such name already exists!")
        self.assertEqual(newest["entityId"]["entityType"], "DEVICE")
        self.assertTrue(newest["userName"].startswith("cli:"))
        self.assertEqual(log["data"][-1]["entityName"], "p")
        page = self.ok_json("audit", "--page_size=2", "--page=1")
        self.assertEqual(len(page["data"]), 1)
        self.assertEqual(page["totalPages"], 2)
        self.assertIn("FAILURE", self.ok("audit").out)


class RolloutTest(CliTestBase):
    """rollout stats / devices and device status / history: the update process as the
    administrator watches it (on a data directory: assignments queue the devices)."""

    def setUp(self):
        super().setUp()
        self.make_profile("p")
        for name in ("alpha", "beta", "gamma"):
            self.ok("device", "create", "--name=" + name, "--profile=p")

    def test_a_rollout_counts_and_lists_its_devices(self):
        stats = self.ok_json("rollout", "stats")
        self.assertEqual((stats["type"], stats["waiting"], stats["QUEUED"]), ("FIRMWARE", 0, 0))
        self.make_package("fw", "1", "FIRMWARE", "p")
        self.make_package("fw", "2", "FIRMWARE", "p", seed=2)
        self.ok("assign", "--package=fw@1", "--profile=p")
        self.ok("assign", "--package=fw@2", "--device=beta")
        stats = self.ok_json("rollout", "stats", "--type=FIRMWARE")
        self.assertEqual((stats["QUEUED"], stats["waiting"], stats["updating"], stats["updated"],
                          stats["failed"]), (3, 3, 0, 0, 0))
        self.assertEqual(self.ok_json("rollout", "stats", "--type=SOFTWARE")["QUEUED"], 0)
        text = self.ok("rollout", "stats").out
        self.assertTrue(text.startswith("FIRMWARE: waiting 3, updating 0, updated 0, failed 0\n"),
                        text)
        self.assertEqual(text.split("\n")[2].split(), ["3", "0", "0", "0", "0", "0", "0", "0"])

        devices = self.ok_json("rollout", "devices")
        self.assertEqual(devices["totalElements"], 3)
        by_name = {d["deviceName"]: d for d in devices["data"]}
        self.assertEqual(sorted(by_name), ["alpha", "beta", "gamma"])
        self.assertEqual((by_name["beta"]["state"], by_name["beta"]["targetVersion"]),
                         ("QUEUED", "2"))
        self.assertEqual(by_name["alpha"]["targetVersion"], "1")
        self.assertEqual(by_name["alpha"]["progress"], 0)
        # Name search, state filter, paging.
        found = self.ok_json("rollout", "devices", "--search=AMM", "--state=QUEUED")
        self.assertEqual([d["deviceName"] for d in found["data"]], ["gamma"])
        self.assertEqual(self.ok_json("rollout", "devices", "--state=FAILED")["data"], [])
        page = self.ok_json("rollout", "devices", "--page_size=2", "--page=1")
        self.assertEqual((len(page["data"]), page["totalPages"], page["hasNext"]), (1, 2, False))
        table = self.ok("rollout", "devices", "--search=beta").out.split("\n")
        self.assertEqual(table[0].split(), ["DEVICE", "STATE", "SINCE", "PROGRESS", "CURRENT",
                                            "TARGET", "NOTICES", "ERROR"])
        self.assertEqual(table[1].split()[:2], ["beta", "QUEUED"])
        self.assertIn("fw 2", table[1])
        self.assertEqual(len(table), 3)  # header, beta, and the final newline

        self.fails(EXIT_USAGE, "invalid --state DONE: QUEUED, INITIATED", "rollout", "devices",
                   "--state=DONE")
        self.fails(EXIT_USAGE, "Unknown OTA package type \"BOOT\"", "rollout", "stats",
                   "--type=BOOT")
        self.fails(EXIT_USAGE, "--page_size and --page must not be negative", "rollout",
                   "devices", "--page_size=-1")

    def test_device_status_and_history(self):
        self.fails(EXIT_NOT_FOUND, "Device alpha has no FIRMWARE update status: no package was "
                   "ever assigned to it", "device", "status", "alpha")
        self.make_package("fw", "1", "FIRMWARE", "p")
        self.make_package("fw", "2", "FIRMWARE", "p", seed=2)
        self.ok("assign", "--package=fw@1", "--profile=p")
        self.ok("assign", "--package=fw@2", "--device=alpha")
        status = self.ok_json("device", "status", "alpha")
        self.assertEqual((status["state"], status["targetTitle"], status["targetVersion"]),
                         ("QUEUED", "fw", "2"))
        self.assertEqual(status["deviceId"]["id"],
                         self.ok_json("device", "get", "alpha")["id"]["id"])
        text = self.ok("device", "status", "alpha").out
        self.assertIn("state:         QUEUED since ", text)
        self.assertIn("target:        fw 2 (", text)

        history = self.ok_json("device", "history", "alpha")
        self.assertEqual([(e["state"], e["version"], e["source"]) for e in history["data"]],
                         [("QUEUED", "2", "server"), ("QUEUED", "1", "server")])
        self.assertEqual(history["data"][1]["note"], "assigned through the profile")
        one = self.ok_json("device", "history", "alpha", "--page_size=1", "--page=1")
        self.assertEqual([e["version"] for e in one["data"]], ["1"])
        self.assertEqual(self.ok_json("device", "history", "alpha", "--type=SOFTWARE")["data"], [])
        lines = self.ok("device", "history", "alpha").out.split("\n")
        self.assertEqual(lines[0].split(), ["TIME", "STATE", "PACKAGE", "SOURCE", "ACCEPTED",
                                            "ERROR", "NOTE"])
        self.assertIn("QUEUED  fw 2", lines[1])

        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "device", "history", "ghost")
        self.fails(EXIT_NOT_FOUND, NOT_FOUND, "device", "status", "ghost")
        self.fails(EXIT_USAGE, "missing argument; usage: fwota device status D", "device",
                   "status")
        self.fails(EXIT_USAGE, "device history takes no --search", "device", "history", "alpha",
                   "--search=x")


class ChecksumTest(CliTestBase):
    def openssl(self, algorithm, path):
        out = subprocess.run(["openssl", "dgst", "-" + algorithm, "-r", path], check=True,
                             stdout=subprocess.PIPE).stdout
        return out.split()[0].decode()

    def test_against_openssl(self):
        path, data = self.write_random("r.bin", 5 * 1024 * 1024 + 3, seed=9)
        self.assertEqual(self.ok("checksum", path).out, self.openssl("sha256", path) + "\n")
        self.assertEqual(self.ok("checksum", "--algorithm=MD5", path).out,
                         self.openssl("md5", path) + "\n")
        both = self.ok("checksum", "--algorithm=SHA256,MD5", path).out
        self.assertEqual(both, "SHA256  %s\nMD5  %s\n" % (self.openssl("sha256", path),
                                                          self.openssl("md5", path)))
        repeated = self.ok("checksum", "--algorithm=SHA256", path, "--algorithm", "MD5").out
        self.assertEqual(repeated, both)
        many = self.ok("checksum", "--algorithm=sha512,SHA384", "--algorithm=CRC32", path).out
        self.assertEqual(many.splitlines(), [
            "SHA512  " + self.openssl("sha512", path),
            "SHA384  " + self.openssl("sha384", path),
            "CRC32  " + zlib.crc32(data).to_bytes(4, "little").hex(),
        ])
        j = self.ok_json("checksum", "--algorithm=ALL", path)
        self.assertEqual(j["dataSize"], len(data))
        self.assertEqual(set(j["checksums"]), {"MD5", "SHA256", "SHA384", "SHA512", "CRC32",
                                               "MURMUR3_32", "MURMUR3_128"})
        self.assertEqual(j["checksums"]["MD5"], self.openssl("md5", path))
        # Standard input, and no data directory needed.
        r = self.run_cli("checksum", "-", input=b"123456789", data_dir="/nonexistent/dir")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225\n")
        r = self.run_cli("checksum", "--algorithm=CRC32,MURMUR3_32,MURMUR3_128", "-",
                         input=b"123456789")
        self.assertEqual(r.out, "CRC32  2639f4cb\nMURMUR3_32  82f3feb4\n"
                                "MURMUR3_128  a4cc66db5e64843c05a11e3ac7faf899\n")
        self.assertFalse(os.path.exists(self.data_dir))

    def test_errors(self):
        path, _ = self.write_random("r.bin", 10)
        self.fails(EXIT_USAGE, "", "checksum", "--algorithm=SHA1", path)
        self.fails(EXIT_NOT_FOUND, "cannot open", "checksum", os.path.join(self.tmp, "nope"))
        self.fails(EXIT_USAGE, "missing argument", "checksum")


class UsageTest(CliTestBase):
    def test_usage_errors_exit_2_with_usage_text(self):
        for args, message in [
            ((), "no command given"),
            (("frobnicate",), "unknown command: frobnicate"),
            (("package", "frob"), "unknown command: package frob"),
            (("package",), "command package needs a subcommand"),
            (("--bogus", "package", "list"), "unknown flag --bogus"),
            (("package", "list", "--page_size=many"), "invalid value"),
            (("package", "create", "--title=x"), "flag --version is required"),
            (("device", "get"), "missing argument"),
            (("device", "get", "a", "b"), 'unexpected argument "b"'),
        ]:
            r = self.run_cli(*args)
            self.assertEqual(r.code, EXIT_USAGE, (args, r))
            self.assertIn("fwota: " + message, r.err, (args, r))
            self.assertIn("usage: fwota", r.err, (args, r))
            self.assertEqual(r.stdout, b"")
        self.assertFalse(os.path.exists(self.data_dir))  # nothing was opened

    def test_help(self):
        r = self.ok("--help")
        self.assertIn("package create", r.out)
        self.assertIn("FWOTA_CRASH_AT", r.out)

    def test_flags_anywhere(self):
        self.ok("profile", "create", "--name=p")
        a = self.run_cli("--json", "profile", "list")
        b = self.run_cli("profile", "--json", "list")
        c = self.run_cli("profile", "list", "--json")
        self.assertEqual(a.json(), b.json())
        self.assertEqual(b.json(), c.json())


class DataDirTest(CliTestBase):
    def test_second_cli_fails_while_first_holds_the_data_dir(self):
        self.ok("profile", "create", "--name=p")
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        first = subprocess.Popen(
            [lib.FWOTA, "--data_dir=" + self.data_dir, "package", "create", "--title=fw",
             "--version=1", "--type=FIRMWARE", "--profile=p", "--file=" + fifo],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The first holds the lock once its pid is in LOCK (it then blocks opening the
            # FIFO until we write).
            lock = os.path.join(self.data_dir, "LOCK")
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    with open(lock) as f:
                        if f.read().strip() == str(first.pid):
                            break
                except FileNotFoundError:
                    pass
                time.sleep(0.02)
            else:
                self.fail("the first fwota never took the lock")
            r = self.run_cli("package", "list")
            self.assertEqual(r.code, EXIT_CONFLICT, r)
            self.assertIn("in use by another process (pid %d)" % first.pid, r.err)
            r = self.run_cli("--json", "package", "list")
            self.assertIn("in use", r.error_json()["message"])
            data = lib.random_bytes(200000)
            with open(fifo, "wb") as w:
                w.write(data)
            out, err = first.communicate(timeout=60)
            self.assertEqual(first.returncode, 0, err)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        listed = self.ok_json("package", "list")
        self.assertEqual(listed["data"][0]["dataSize"], 200000)
        self.assertEqual(listed["data"][0]["checksum"], sha256(data))


class ProgressTest(CliTestBase):
    def test_no_progress_bar_when_stderr_is_not_a_terminal(self):
        self.ok("profile", "create", "--name=p")
        path, data = self.write_random("big.bin", 6 * 1024 * 1024)
        r = self.ok("package", "create", "--title=fw", "--version=1", "--type=FIRMWARE",
                    "--profile=p", "--file=" + path)
        self.assertEqual(r.stderr, b"")
        r = self.ok("package", "download", "fw@1", "--output=" + path + ".out")
        self.assertEqual(r.stderr, b"")

    def test_progress_bar_on_a_terminal(self):
        self.ok("profile", "create", "--name=p")
        path, data = self.write_random("big.bin", 6 * 1024 * 1024)
        for args in (["package", "create", "--title=fw", "--version=1", "--type=FIRMWARE",
                      "--profile=p", "--file=" + path],
                     ["package", "download", "fw@1", "--output=" + path + ".out"]):
            code, text = lib.run_on_terminal([lib.FWOTA, "--data_dir=" + self.data_dir] + args,
                                              timeout=30)
            self.assertEqual(code, 0, text)
            self.assertIn("\r", text)
            self.assertIn("100%", text)
            self.assertIn("6.3 MB / 6.3 MB", text)
            self.assertIn("MB/s", text)


class SizeLimitTest(CliTestBase):
    def test_max_package_size(self):
        self.ok("profile", "create", "--name=p")
        path, data = self.write_random("two-k.bin", 2000)
        r = self.run_cli("--max_package_size=1000", "package", "create", "--title=fw",
                         "--version=1", "--type=FIRMWARE", "--profile=p", "--file=" + path)
        self.assertEqual(r.code, EXIT_TOO_LARGE, r)
        self.assertIn("fwota: OtaPackage data size exceeds the limit of 1000 bytes", r.err)
        # From a pipe: the size is not known in advance.
        r = self.run_cli("--max_package_size=1000", "package", "create", "--title=fw",
                         "--version=1", "--type=FIRMWARE", "--profile=p", "--file=-",
                         input=data)
        self.assertEqual(r.code, EXIT_TOO_LARGE, r)
        r = self.run_cli("--max_package_size=1000", "--json", "package", "create", "--title=fw",
                         "--version=1", "--type=FIRMWARE", "--profile=p", "--file=" + path)
        self.assertEqual(r.error_json()["status"], 413)
        self.assertEqual(self.blob_files(), [])
        self.assertEqual(self.tmp_files(), [])
        self.assertEqual(self.ok_json("package", "list")["data"], [])
        # At the limit it fits.
        self.ok("--max_package_size=2000", "package", "create", "--title=fw", "--version=1",
                "--type=FIRMWARE", "--profile=p", "--file=" + path)


if __name__ == "__main__":
    lib.main()
