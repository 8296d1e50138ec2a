#!/usr/bin/python3
"""The fwota command line in remote mode (--server): a real fwotad on a free port with a
temporary data directory, driven by the real fwota binary over its REST API, and compared
with embedded mode. Run by Bazel as `remote_cli_test.py <fwota> <fwotad>`."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import fwota_testlib as lib
from fwota_testlib import sha256

EXIT_GENERIC = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_PERMISSION = 4
EXIT_CONFLICT = 5
EXIT_TOO_LARGE = 6
EXIT_DATA_LOSS = 7

NOT_FOUND = "Requested item wasn't found!"

# The fwotad binary: the second argument (taken off before fwota_testlib takes the first).
FWOTAD = os.path.abspath(sys.argv.pop(2)) if len(sys.argv) > 2 else None


class Fwotad:
    """A running fwotad on a free port (--http_port=0 --port_file). stop() ends it."""

    def __init__(self, data_dir, *extra):
        self.data_dir = data_dir
        self.port_file = data_dir + ".port"
        self.log_path = data_dir + ".log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [FWOTAD, "--data_dir=" + data_dir, "--http_port=0", "--coap_port=0", "--port_file=" + self.port_file,
             *extra], stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while not read_file(self.port_file).strip():
            if self.proc.poll() is not None:
                raise RuntimeError("fwotad exited with %s: %s" % (self.proc.returncode,
                                                                  self.read_log()))
            if time.time() > deadline:
                raise RuntimeError("fwotad did not start: " + self.read_log())
            time.sleep(0.05)
        self.port = int(read_file(self.port_file))
        self.key = read_file(os.path.join(data_dir, "admin-api-key")).strip()
        self.tls = any(a.startswith("--http_tls_cert") for a in extra)
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def read_log(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()
        return self.proc.returncode


def read_file(path):
    """The text of `path`, or "" when it does not exist (yet)."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def free_port():
    """A port nobody listens on (bound and released; good enough on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def normalize_text(text):
    """Human output without what differs between two runs: ids and times."""
    return TIME.sub("<time>", UUID.sub("<uuid>", text))


def normalize_json(value):
    """JSON without ids, times and the acting user."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("createdTime", "timestamp"):
                out[k] = 0 if isinstance(v, int) else v
            elif k == "userName":
                out[k] = "<user>"
            else:
                out[k] = normalize_json(v)
        return out
    if isinstance(value, list):
        return [normalize_json(v) for v in value]
    if isinstance(value, str):
        return UUID.sub("<uuid>", value)
    return value


def shape(value):
    """The keys of a JSON value, recursively (lists: the shape of their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


class RemoteTestBase(lib.FwotaTestCase):
    """A fwotad per test class; each test uses names of its own."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        cls.server_tmp = tempfile.mkdtemp(prefix=cls.__name__ + "-", dir=base)
        cls.server = Fwotad(os.path.join(cls.server_tmp, "data"), *cls.server_args)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "fwotad exited with %s: %s" % (code, cls.server.read_log())

    def remote(self, *args, server=None, key=None, env=None, **kwargs):
        """Runs fwota against `server` (default: the class's) with its API key in
        FWOTA_API_KEY unless `key` is given."""
        server = server or self.server
        full_env = {"FWOTA_API_KEY": server.key if key is None else key}
        full_env.update(env or {})
        return self.run_cli("--server=" + server.url, *args, env=full_env, **kwargs)

    def run_cli(self, *args, env=None, input=None, timeout=300, stderr=subprocess.PIPE,
                data_dir=None):
        full_env = dict(os.environ)
        full_env.pop("FWOTA_API_KEY", None)
        full_env.update(env or {})
        cmd = [lib.FWOTA] + [str(a) for a in args]
        if data_dir is not None:
            cmd.insert(1, "--data_dir=" + data_dir)
        proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=stderr,
                              env=full_env, timeout=timeout)
        return lib.Result(proc)

    def rok(self, *args, **kwargs):
        r = self.remote(*args, **kwargs)
        self.assertEqual(r.code, 0, r)
        return r

    def rjson(self, *args, **kwargs):
        return self.rok(*(args + ("--json",)), **kwargs).json()

    def rfails(self, code, message, *args, **kwargs):
        r = self.remote(*args, **kwargs)
        self.assertEqual(r.code, code, r)
        self.assertIn("fwota: " + message, r.err, r)
        self.assertEqual(r.stdout, b"", r)
        return r

    def server_blob_files(self, server=None):
        root = os.path.join((server or self.server).data_dir, "blobs")
        found = []
        for sub in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, sub)
            if sub != "tmp" and os.path.isdir(path):
                found += [os.path.join(path, n) for n in sorted(os.listdir(path))]
        return found


class FlowTest(RemoteTestBase):
    def test_rest_flow(self):
        profile = self.rjson("profile", "create", "--name=flow-profile", "--description=lab")
        self.assertEqual(profile["name"], "flow-profile")
        self.assertEqual(profile["description"], "lab")
        pid = profile["id"]["id"]
        created = self.rjson("device", "create", "--name=flow-device", "--profile=flow-profile",
                             "--token=FLOW_TOKEN_1")
        self.assertEqual(created["credentials"]["credentialsId"], "FLOW_TOKEN_1")
        self.assertEqual(created["device"]["deviceProfileId"]["id"], pid)
        did = created["device"]["id"]["id"]

        path, data = self.write_random("flow.bin", 3 * 1024 * 1024 + 17, seed=5)
        p = self.rjson("package", "create", "--title=flow-fw", "--version=1.0",
                       "--type=FIRMWARE", "--profile=flow-profile", "--file=" + path,
                       "--description=first build")
        pkg = p["id"]["id"]
        self.assertTrue(p["hasData"])
        self.assertEqual(p["dataSize"], len(data))
        self.assertEqual(p["checksum"], sha256(data))
        self.assertEqual(p["checksumAlgorithm"], "SHA256")
        self.assertEqual(p["fileName"], "flow.bin")
        self.assertEqual(p["contentType"], "application/octet-stream")
        self.assertEqual(p["additionalInfo"], {"description": "first build"})
        self.assertEqual(self.rjson("package", "get", "flow-fw@1.0"), p)
        self.assertEqual(self.rjson("package", "get", pkg), p)

        # List and search.
        self.rok("package", "create", "--title=flow-other", "--version=2", "--type=SOFTWARE",
                 "--profile=" + pid, "--url=https://example.com/x.bin")
        found = self.rjson("package", "list", "--search=FLOW-FW")
        self.assertEqual([x["title"] for x in found["data"]], ["flow-fw"])
        page = self.rjson("package", "list", "--search=flow", "--page_size=1", "--page=0",
                          "--sort=title", "--order=ASC")
        self.assertEqual([x["title"] for x in page["data"]], ["flow-fw"])
        self.assertTrue(page["hasNext"])
        self.assertEqual(page["totalElements"], 2)
        self.assertIn("page 0 (numbered from 0) of 2, 2 packages",
                      self.rok("package", "list", "--search=flow", "--page_size=1").out)
        self.assertEqual(self.rjson("device", "get", "flow-device")["id"]["id"], did)
        self.assertEqual(self.rok("device", "credentials", "flow-device").out, "FLOW_TOKEN_1\n")
        self.assertIn("FLOW_TOKEN_1", self.rok("device", "get", did).out)

        # Assign, explain.
        dev = self.rjson("assign", "--package=flow-fw@1.0", "--device=flow-device")
        self.assertEqual(dev["firmwareId"]["id"], pkg)
        why = self.rjson("explain", "--device=flow-device")
        self.assertEqual(why["source"], "device_override")
        self.assertEqual(why["package"]["id"]["id"], pkg)
        self.assertIn("device_override", self.rok("explain", "--device=" + did).out)

        # Move the device to another profile (its own package must stay in its profile).
        self.rok("profile", "create", "--name=flow-other-profile")
        self.rfails(EXIT_CONFLICT, "Can't assign firmware with different deviceProfile!",
                    "device", "move", "flow-device", "--profile=flow-other-profile")
        self.rjson("unassign", "--type=FIRMWARE", "--device=flow-device")
        moved = self.rjson("device", "move", "flow-device", "--profile=flow-other-profile")
        self.assertNotEqual(moved["deviceProfileId"]["id"], pid)
        self.rjson("device", "move", "flow-device", "--profile=flow-profile")
        self.rjson("assign", "--package=flow-fw@1.0", "--device=flow-device")

        # Download: identical bytes, to a file and to stdout; verify.
        out = os.path.join(self.tmp, "out.bin")
        r = self.rok("package", "download", "flow-fw@1.0", "--output=" + out)
        self.assertIn("SHA256 verified", r.out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertFalse(os.path.exists(out + ".part"))
        self.assertEqual(self.rok("package", "download", pkg, "--output=-").stdout, data)
        self.assertIn("ok: flow-fw 1.0", self.rok("package", "verify", "flow-fw@1.0").out)

        # The deletion guard: exit 5 with ThingsBoard's message, as JSON too.
        self.rfails(EXIT_CONFLICT, "The otaPackage referenced by the devices cannot be deleted!",
                    "package", "delete", "flow-fw@1.0")
        r = self.remote("--json", "package", "delete", pkg)
        self.assertEqual(r.code, EXIT_CONFLICT, r)
        e = r.error_json()
        self.assertEqual((e["status"], e["errorCode"]), (400, 31))
        self.assertEqual(e["message"],
                         "The otaPackage referenced by the devices cannot be deleted!")

        # Unassign, delete everything.
        self.assertIsNone(self.rjson("unassign", "--type=FIRMWARE", "--device=flow-device")
                          ["firmwareId"])
        self.assertEqual(self.rjson("explain", "--device=flow-device")["source"], "none")
        self.assertEqual(self.rjson("package", "delete", "flow-fw@1.0")["id"]["id"], pkg)
        self.rfails(EXIT_NOT_FOUND, NOT_FOUND, "package", "get", "flow-fw@1.0")
        self.rfails(EXIT_CONFLICT, "The device profile referenced by the devices cannot be",
                    "profile", "delete", "flow-profile")
        self.rok("device", "delete", "flow-device")
        self.rok("package", "delete", "flow-other@2")
        self.rok("profile", "delete", "flow-profile")
        self.rok("profile", "delete", "flow-other-profile")
        self.rfails(EXIT_NOT_FOUND, NOT_FOUND, "profile", "get", "flow-profile")

        # The audit log saw it all, under the API key's name.
        log = self.rjson("audit")
        mine = [e for e in log["data"] if (e["entityName"] or "").startswith("flow")]
        actions = {(e["entityId"]["entityType"], e["actionType"], e["actionStatus"])
                   for e in mine}
        for expected in [("DEVICE_PROFILE", "ADDED", "SUCCESS"),
                         ("DEVICE", "ASSIGNED", "SUCCESS"),
                         ("OTA_PACKAGE", "DELETED", "FAILURE"),
                         ("OTA_PACKAGE", "DELETED", "SUCCESS"),
                         ("DEVICE_PROFILE", "DELETED", "SUCCESS")]:
            self.assertIn(expected, actions)
        self.assertTrue(all(e["userName"] == "apikey:admin" for e in mine), mine)
        self.assertIn("DELETED", self.rok("audit", "--page_size=5", "--page=0").out)

    def test_create_is_all_or_nothing(self):
        self.rok("profile", "create", "--name=aon")
        path, data = self.write_random("aon.bin", 200000, seed=6)
        self.rfails(EXIT_USAGE, "Wrong otaPackage file!", "package", "create", "--title=aon",
                    "--version=1", "--type=FIRMWARE", "--profile=aon", "--file=" + path,
                    "--checksum=" + "0" * 64)
        self.rfails(EXIT_USAGE, "File can't be saved if URL present!", "package", "create",
                    "--title=aon", "--version=2", "--type=FIRMWARE", "--profile=aon",
                    "--file=" + path, "--url=https://example.com/x")
        self.rfails(EXIT_USAGE, "OtaPackage is referencing to non-existent device profile!",
                    "package", "create", "--title=aon", "--version=3", "--type=FIRMWARE",
                    "--profile=nope", "--file=" + path)
        self.assertEqual(self.rjson("package", "list", "--search=aon")["data"], [])
        # Two steps: info, then upload (from a pipe: sent chunked).
        info = self.rjson("package", "create", "--title=aon", "--version=4", "--type=FIRMWARE",
                          "--profile=aon")
        self.assertFalse(info["hasData"])
        up = self.rjson("package", "upload", "aon@4", "--file=-", "--checksum_algorithm=MD5",
                        input=data)
        self.assertEqual(up["dataSize"], len(data))
        self.assertEqual(up["fileName"], "stdin")
        self.assertEqual(up["checksumAlgorithm"], "MD5")
        self.rfails(EXIT_CONFLICT, "Updating otaPackage data is prohibited!", "package",
                    "upload", "aon@4", "--file=" + path)
        self.assertEqual(self.rok("package", "download", "aon@4", "--output=-").stdout, data)
        self.rok("package", "delete", "aon@4")

    def test_errors_and_exit_codes(self):
        self.rok("profile", "create", "--name=err")
        self.rok("device", "create", "--name=err-dev", "--profile=err", "--token=ERR_T")
        self.rfails(EXIT_CONFLICT, "Device profile with such name already exists!", "profile",
                    "create", "--name=err")
        self.rfails(EXIT_CONFLICT, "Device credentials are already assigned to another device!",
                    "device", "create", "--name=err-dev2", "--profile=err", "--token=ERR_T")
        self.rfails(EXIT_USAGE, "Device is referencing to non-existent device profile!",
                    "device", "create", "--name=e", "--profile=nope")
        self.rfails(EXIT_NOT_FOUND, NOT_FOUND, "device", "get", "ghost")
        self.rfails(EXIT_NOT_FOUND, NOT_FOUND, "package", "get",
                    "00000000-0000-0000-0000-000000000000")
        self.rfails(EXIT_NOT_FOUND, "Can't assign non-existent software!", "assign",
                    "--package=nope@1", "--device=err-dev", "--type=SOFTWARE")
        self.rfails(EXIT_USAGE, "assign needs exactly one of --device and --profile", "assign",
                    "--package=x@1")
        r = self.remote("--json", "package", "get", "nope@1")
        self.assertEqual(r.code, EXIT_NOT_FOUND, r)
        self.assertEqual((r.error_json()["status"], r.error_json()["errorCode"]), (404, 32))

        # The API key: wrong, from a file, from the environment, missing.
        self.rfails(EXIT_PERMISSION, "", "profile", "list", key="fwota_" + "x" * 40)
        r = self.remote("--json", "profile", "list", key="wrong")
        self.assertEqual(r.code, EXIT_PERMISSION, r)
        self.assertEqual(r.error_json()["status"], 401)
        key_file = os.path.join(self.tmp, "key")
        with open(key_file, "w") as f:
            f.write(self.server.key + "\n")
        self.assertIn("err", self.run_cli("--server=" + self.server.url,
                                          "--api_key_file=" + key_file, "profile", "list").out)
        self.assertIn("err", self.run_cli("--server=" + self.server.url,
                                          "--api_key=" + self.server.key, "profile", "list").out)
        r = self.run_cli("--server=" + self.server.url, "profile", "list")
        self.assertEqual(r.code, EXIT_USAGE, r)
        self.assertIn("--server needs an API key", r.err)

        # Embedded-only commands; the local checksum needs no server at all.
        for args in (("tenant", "list"), ("tenant", "create", "acme"),
                     ("apikey", "create", "--name=k"), ("apikey", "list")):
            r = self.remote(*args)
            self.assertEqual(r.code, EXIT_USAGE, (args, r))
            self.assertIn("works on a data directory only, not with --server", r.err)
        path, data = self.write_random("sum.bin", 1000)
        r = self.run_cli("--server=http://127.0.0.1:%d" % free_port(), "checksum", path)
        self.assertEqual(r.out, sha256(data) + "\n")
        self.rfails(EXIT_USAGE, "--tenant does not apply with --server", "--tenant=acme",
                    "profile", "list")
        r = self.run_cli("--server=ftp://example.com", "--api_key=k", "profile", "list")
        self.assertEqual(r.code, EXIT_USAGE, r)
        self.assertIn("fwota: invalid --server \"ftp://example.com\"", r.err)

    def test_server_not_running(self):
        url = "http://127.0.0.1:%d" % free_port()
        r = self.run_cli("--server=" + url, "--api_key=k", "profile", "list")
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn("fwota: cannot connect to " + url, r.err)
        r = self.run_cli("--server=" + url, "--api_key=k", "--json", "package", "list")
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn("cannot connect to " + url, r.error_json()["message"])

    def test_damaged_stored_data_exits_7(self):
        self.rok("profile", "create", "--name=dmg")
        path, data = self.write_random("dmg.bin", 300000, seed=7)
        self.rok("package", "create", "--title=dmg", "--version=1", "--type=FIRMWARE",
                 "--profile=dmg", "--file=" + path)
        blob = [f for f in self.server_blob_files() if not f.endswith(".crc")
                and os.path.getsize(f) == len(data)][0]
        os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
        with open(blob, "r+b") as f:
            f.seek(150000)
            b = f.read(1)
            f.seek(150000)
            f.write(bytes([b[0] ^ 0xFF]))
        out = os.path.join(self.tmp, "dmg.out")
        r = self.remote("package", "download", "dmg@1", "--output=" + out)
        self.assertEqual(r.code, EXIT_DATA_LOSS, r)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(out + ".part"))
        r = self.remote("package", "verify", "dmg@1")
        self.assertEqual(r.code, EXIT_DATA_LOSS, r)
        self.rok("package", "delete", "dmg@1")


class ProgressAndMemoryTest(RemoteTestBase):
    def test_no_progress_bar_when_stderr_is_not_a_terminal(self):
        self.rok("profile", "create", "--name=quiet")
        path, _ = self.write_random("quiet.bin", 6 * 1024 * 1024)
        r = self.rok("package", "create", "--title=quiet", "--version=1", "--type=FIRMWARE",
                     "--profile=quiet", "--file=" + path)
        self.assertEqual(r.stderr, b"")
        r = self.rok("package", "download", "quiet@1", "--output=" + path + ".out")
        self.assertEqual(r.stderr, b"")

    def test_progress_bar_on_a_terminal(self):
        self.rok("profile", "create", "--name=tty")
        path, _ = self.write_random("tty.bin", 6 * 1024 * 1024)
        env = dict(os.environ, FWOTA_API_KEY=self.server.key)
        for args in (["package", "create", "--title=tty", "--version=1", "--type=FIRMWARE",
                      "--profile=tty", "--file=" + path],
                     ["package", "download", "tty@1", "--output=" + path + ".out"]):
            code, text = lib.run_on_terminal([lib.FWOTA, "--server=" + self.server.url] + args,
                                              env=env, timeout=60)
            self.assertEqual(code, 0, text)
            self.assertIn("\r", text)
            self.assertIn("100%", text)
            self.assertIn("6.3 MB / 6.3 MB", text)

    def test_large_upload_streams_in_little_memory(self):
        self.rok("profile", "create", "--name=big")
        path = os.path.join(self.tmp, "big.bin")
        size = 256 * 1024 * 1024
        with open(path, "wb") as f:
            for _ in range(size // (16 * 1024 * 1024)):
                f.write(os.urandom(16 * 1024 * 1024))
        for args in (["package", "create", "--title=big", "--version=1", "--type=FIRMWARE",
                      "--profile=big", "--file=" + path],
                     ["package", "download", "big@1", "--output=" + path + ".out"]):
            proc = subprocess.run(
                ["/usr/bin/time", "-v", lib.FWOTA, "--server=" + self.server.url] + args,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                env=dict(os.environ, FWOTA_API_KEY=self.server.key))
            err = proc.stderr.decode(errors="replace")
            self.assertEqual(proc.returncode, 0, err)
            rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
            self.assertLess(rss_kb, 64 * 1024, (args[:2], err))
        self.assertEqual(os.path.getsize(path + ".out"), size)
        subprocess.run(["cmp", path, path + ".out"], check=True)
        self.rok("package", "delete", "big@1")


class ServerLimitsTest(RemoteTestBase):
    server_args = ("--max_package_size=1000",)

    def test_too_large_exits_6_and_keeps_nothing(self):
        self.rok("profile", "create", "--name=lim")
        path, data = self.write_random("lim.bin", 2000)
        self.rfails(EXIT_TOO_LARGE, "", "package", "create", "--title=lim", "--version=1",
                    "--type=FIRMWARE", "--profile=lim", "--file=" + path)
        r = self.remote("--json", "package", "create", "--title=lim", "--version=1",
                        "--type=FIRMWARE", "--profile=lim", "--file=-", input=data)
        self.assertEqual(r.code, EXIT_TOO_LARGE, r)
        self.assertEqual(r.error_json()["status"], 413)
        self.assertEqual(self.rjson("package", "list")["data"], [])
        fits, _ = self.write_random("fits.bin", 1000)
        self.rok("package", "create", "--title=lim", "--version=2", "--type=FIRMWARE",
                 "--profile=lim", "--file=" + fits)


class StallingProxy:
    """A TCP proxy on a free port in front of `upstream_port` that, on every connection,
    passes the first `up_limit` bytes from the client and the first `down_limit` bytes from
    the server and then goes silent in that direction (stops reading, sends nothing more)
    while keeping the connection open: a server that stalls in the middle of a request or
    an answer. None: no limit."""

    def __init__(self, upstream_port, up_limit=None, down_limit=None):
        self.upstream_port = upstream_port
        self.limits = (up_limit, down_limit)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.stopped = threading.Event()
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, self.limits[0]),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.limits[1]),
                             daemon=True).start()

    def _pump(self, source, sink, limit):
        passed = 0
        try:
            while limit is None or passed < limit:
                want = 65536 if limit is None else min(65536, limit - passed)
                data = source.recv(want)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
                passed += len(data)
            self.stopped.wait()  # silent from here on, the connection stays open
        except OSError:
            pass

    def close(self):
        self.stopped.set()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


class TimeoutTest(RemoteTestBase):
    """A server that goes silent ends the command after --timeout seconds with a message
    that says so, instead of hanging it."""

    TIMED_OUT = "no answer from the server for 2 s (--timeout sets the limit)"

    def timed(self, proxy, *args, **kwargs):
        start = time.monotonic()
        r = self.remote("--timeout=2", *args, server=proxy, key=self.server.key, **kwargs)
        return r, time.monotonic() - start

    def test_silent_server(self):
        # Accepts, reads the request, answers nothing.
        proxy = StallingProxy(self.server.port, down_limit=0)
        self.addCleanup(proxy.close)
        r, took = self.timed(proxy, "profile", "list")
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn("fwota: GET %s/api/deviceProfiles failed: %s" % (proxy.url,
                                                                         self.TIMED_OUT), r.err)
        self.assertLess(took, 30, r)
        self.assertGreaterEqual(took, 2, r)

    def test_download_stalled_in_the_middle(self):
        self.rok("profile", "create", "--name=stall")
        path, data = self.write_random("stall.bin", 4 * 1024 * 1024, seed=11)
        self.rok("package", "create", "--title=stall", "--version=1", "--type=FIRMWARE",
                 "--profile=stall", "--file=" + path)
        # JSON answers are small; the download's own connection stops after 1 MiB.
        proxy = StallingProxy(self.server.port, down_limit=1024 * 1024)
        self.addCleanup(proxy.close)
        out = os.path.join(self.tmp, "stall.out")
        r, took = self.timed(proxy, "package", "download", "stall@1", "--output=" + out)
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn(self.TIMED_OUT, r.err, r)
        self.assertLess(took, 30, r)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(out + ".part"))
        # Through the server directly the same download works.
        self.rok("package", "download", "stall@1", "--output=" + out)
        with open(out, "rb") as f:
            self.assertEqual(sha256(f.read()), sha256(data))

    def test_upload_stalled_in_the_middle_keeps_nothing(self):
        self.rok("profile", "create", "--name=upstall")
        path, _ = self.write_random("upstall.bin", 48 * 1024 * 1024, seed=12)
        # Every connection stops reading the client after 1 MiB: only the upload's body
        # is that long, and the command's clean-up call (delete the half-made package)
        # goes through on a new connection.
        proxy = StallingProxy(self.server.port, up_limit=1024 * 1024)
        self.addCleanup(proxy.close)
        r, took = self.timed(proxy, "package", "create", "--title=upstall", "--version=1",
                             "--type=FIRMWARE", "--profile=upstall", "--file=" + path)
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn(self.TIMED_OUT, r.err, r)
        self.assertLess(took, 60, r)
        self.assertEqual(self.rjson("package", "list", "--search=upstall")["data"], [])

    def test_connect_timeout(self):
        # A listener whose accept queue is full drops further SYNs: connecting hangs.
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(listener.getsockname())
            fillers.append(f)
            self.addCleanup(f.close)
        time.sleep(0.2)
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        start = time.monotonic()
        r = self.run_cli("--server=" + url, "--api_key=k", "--timeout=2", "profile", "list")
        took = time.monotonic() - start
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn("fwota: cannot connect to %s: %s" % (url, self.TIMED_OUT), r.err)
        self.assertLess(took, 30, r)

    def test_bad_timeout_is_a_usage_error(self):
        self.rfails(EXIT_USAGE, "invalid --timeout -1: seconds, 0 or more (0: no limit)",
                    "--timeout=-1", "profile", "list")
        # 0 is no limit, and a working server answers as always.
        self.rok("--timeout=0", "profile", "list")


class TlsTest(RemoteTestBase):
    @classmethod
    def setUpClass(cls):
        base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        cls.server_tmp = tempfile.mkdtemp(prefix="tls-", dir=base)
        cert = os.path.join(cls.server_tmp, "cert.pem")
        key = os.path.join(cls.server_tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        cls.server = Fwotad(os.path.join(cls.server_tmp, "data"), "--http_tls_cert=" + cert,
                            "--http_tls_key=" + key)

    def test_insecure_accepts_a_self_signed_certificate(self):
        self.assertTrue(self.server.url.startswith("https://"))
        r = self.remote("profile", "list")
        self.assertEqual(r.code, EXIT_GENERIC, r)
        self.assertIn("cannot connect to " + self.server.url, r.err)
        self.assertIn("certificate", r.err)
        self.rok("--insecure", "profile", "create", "--name=tls")
        path, data = self.write_random("tls.bin", 2 * 1024 * 1024 + 5, seed=8)
        p = self.rjson("--insecure", "package", "create", "--title=tls", "--version=1",
                       "--type=FIRMWARE", "--profile=tls", "--file=" + path)
        self.assertEqual(p["checksum"], sha256(data))
        self.assertEqual(self.rok("--insecure", "package", "download", "tls@1",
                                  "--output=-").stdout, data)
        self.rok("--insecure", "package", "verify", "tls@1")


class RolloutTest(RemoteTestBase):
    """rollout stats / devices and device status / history against fwotad while devices
    report over the HTTP device API: --json prints exactly what the REST route answers,
    and the tables show the states."""

    def rest_get(self, path):
        req = urllib.request.Request(self.server.url + path,
                                     headers={"X-Authorization": "Bearer " + self.server.key})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def report(self, token, telemetry):
        req = urllib.request.Request("%s/api/v1/%s/telemetry" % (self.server.url, token),
                                     data=json.dumps(telemetry).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)

    def test_rollout_as_devices_report(self):
        image, _ = self.write_random("roll.bin", 50000, seed=4)
        self.rok("profile", "create", "--name=roll")
        ids = {}
        for n in (1, 2):
            ids[n] = self.rjson("device", "create", "--name=roll-%d" % n, "--profile=roll",
                                "--token=ROLL_%d" % n)["device"]["id"]["id"]
        self.rok("package", "create", "--title=roll-fw", "--version=1", "--type=FIRMWARE",
                 "--profile=roll", "--file=" + image)
        self.rok("assign", "--package=roll-fw@1", "--profile=roll")
        # fwotad's worker sends both notices at once (a burst of 100).
        deadline = time.time() + 30
        while self.rjson("rollout", "stats")["INITIATED"] != 2:
            self.assertLess(time.time(), deadline, "the notices were not sent")
            time.sleep(0.1)
        self.report("ROLL_1", {"fw_state": "DOWNLOADING"})
        self.report("ROLL_2", {"fw_state": "FAILED", "fw_error": "flash write failed"})

        stats = self.rjson("rollout", "stats", "--type=FIRMWARE")
        self.assertEqual(stats, self.rest_get("/api/ota/stats?type=FIRMWARE"))
        self.assertEqual((stats["DOWNLOADING"], stats["FAILED"], stats["updating"]), (1, 1, 1))
        self.assertEqual(self.rjson("rollout", "stats", "--type=SOFTWARE"),
                         self.rest_get("/api/ota/stats?type=SOFTWARE"))
        text = self.rok("rollout", "stats").out
        self.assertTrue(text.startswith("FIRMWARE: waiting 0, updating 1, updated 0, failed 1\n"),
                        text)

        listing = "/api/ota/devices?type=FIRMWARE&pageSize=1000&page=0"
        self.assertEqual(self.rjson("rollout", "devices"), self.rest_get(listing))
        failed = self.rjson("rollout", "devices", "--state=FAILED")
        self.assertEqual(failed, self.rest_get(listing + "&state=FAILED"))
        self.assertEqual([(d["deviceName"], d["error"]) for d in failed["data"]],
                         [("roll-2", "flash write failed")])
        self.assertEqual(self.rjson("rollout", "devices", "--search=LL-1", "--page_size=1"),
                         self.rest_get("/api/ota/devices?type=FIRMWARE&pageSize=1&page=0"
                                       "&textSearch=LL-1"))
        row = self.rok("rollout", "devices", "--state=DOWNLOADING").out.split("\n")[1]
        self.assertEqual(row.split()[:2], ["roll-1", "DOWNLOADING"])
        self.assertIn("10%", row)

        status = self.rjson("device", "status", "roll-2")
        self.assertEqual(status, self.rest_get("/api/device/%s/otaStatus?type=FIRMWARE" % ids[2]))
        self.assertEqual((status["state"], status["error"]), ("FAILED", "flash write failed"))
        self.assertIn("error:         flash write failed\n", self.rok("device", "status",
                                                                       "roll-2").out)
        history = self.rjson("device", "history", "roll-1")
        self.assertEqual(history, self.rest_get(
            "/api/device/%s/otaHistory?type=FIRMWARE&pageSize=1000&page=0" % ids[1]))
        self.assertEqual([(e["state"], e["source"]) for e in history["data"]],
                         [("DOWNLOADING", "device"), ("INITIATED", "server"),
                          ("QUEUED", "server")])
        lines = self.rok("device", "history", "roll-1").out.split("\n")
        self.assertIn("DOWNLOADING  roll-fw 1  device  yes", lines[1])

        self.rfails(EXIT_NOT_FOUND, "Device roll-1 has no SOFTWARE update status", "device",
                    "status", "roll-1", "--type=SOFTWARE")
        self.rfails(EXIT_NOT_FOUND, NOT_FOUND, "device", "history", "roll-9")
        self.rfails(EXIT_USAGE, "invalid --state done", "rollout", "devices", "--state=done")


class SameAsEmbeddedTest(RemoteTestBase):
    """The same commands on a data directory and on a fresh fwotad print the same, apart
    from ids, times and the acting user: human output and --json."""

    def steps(self, image, out):
        return [
            ("profile", "create", "--name=cmp", "--description=bench"),
            ("profile", "get", "cmp"),
            ("profile", "list"),
            ("device", "create", "--name=cmp-dev", "--profile=cmp", "--token=CMP_TOKEN"),
            ("device", "get", "cmp-dev"),
            ("device", "list"),
            ("device", "credentials", "cmp-dev"),
            ("package", "create", "--title=cmp-fw", "--version=1", "--type=FIRMWARE",
             "--profile=cmp", "--file=" + image, "--description=first"),
            ("package", "create", "--title=cmp-sw", "--version=1", "--type=SOFTWARE",
             "--profile=cmp", "--url=https://example.com/x.bin", "--tag=ext"),
            ("package", "create", "--title=cmp-fw", "--version=1", "--type=FIRMWARE",
             "--profile=cmp", "--url=https://example.com/dup"),
            ("package", "get", "cmp-fw@1"),
            ("package", "list"),
            ("package", "list", "--page_size=1", "--page=1", "--sort=title", "--order=ASC"),
            ("package", "profile-list", "--profile=cmp", "--type=FIRMWARE"),
            ("assign", "--package=cmp-fw@1", "--device=cmp-dev"),
            ("assign", "--package=cmp-fw@1", "--profile=cmp"),
            ("assign", "--package=cmp-sw@1", "--profile=cmp"),
            ("explain", "--device=cmp-dev"),
            ("explain", "--device=cmp-dev", "--type=SOFTWARE"),
            ("package", "verify", "cmp-fw@1"),
            ("package", "download", "cmp-fw@1", "--output=" + out),
            ("package", "delete", "cmp-fw@1"),
            ("unassign", "--type=FIRMWARE", "--device=cmp-dev"),
            ("unassign", "--type=FIRMWARE", "--profile=cmp"),
            ("package", "delete", "cmp-fw@1"),
            ("device", "delete", "cmp-dev"),
            ("profile", "delete", "cmp"),
            ("package", "delete", "cmp-sw@1"),
            ("device", "get", "cmp-dev"),
            ("audit", "--page_size=3"),
        ]

    def run_steps(self, mode, json_output, image, out):
        """Each step's (exit code, stdout, stderr) in `mode` ("embedded" or "remote"),
        each run on fresh state."""
        results = []
        extra = ("--json",) if json_output else ()
        if mode == "remote":
            server = Fwotad(os.path.join(self.tmp, "srv-%d" % json_output))
            run = lambda *a: self.remote(*a, server=server)
        else:
            data_dir = os.path.join(self.tmp, "var-%d" % json_output)
            run = lambda *a: self.run_cli(*a, data_dir=data_dir)
        try:
            for step in self.steps(image, out):
                r = run(*(step + extra))
                results.append((step, r))
                if os.path.exists(out):
                    os.unlink(out)
        finally:
            if mode == "remote":
                self.assertEqual(server.stop(), 0)
        return results

    def test_human_and_json_output_match(self):
        image, _ = self.write_random("cmp.bin", 1024 * 1024 + 3, seed=9)
        out = os.path.join(self.tmp, "cmp.out")
        for json_output in (False, True):
            embedded = self.run_steps("embedded", json_output, image, out)
            remote = self.run_steps("remote", json_output, image, out)
            for (step, e), (_, r) in zip(embedded, remote):
                what = (step, json_output, e, r)
                self.assertEqual(e.code, r.code, what)
                if step[0] == "audit":
                    # Who acted differs (cli:USER, apikey:admin), and so does the number
                    # of events (the remote create is info + upload): compare the shape.
                    if json_output:
                        self.assertEqual(shape(e.json()), shape(r.json()), what)
                    else:
                        self.assertEqual(e.out.split("\n")[0].split(),
                                         r.out.split("\n")[0].split(), what)
                    continue
                if json_output and e.code == 0:
                    self.assertEqual(normalize_json(e.json()), normalize_json(r.json()), what)
                elif json_output:
                    ee, re_ = e.error_json(), r.error_json()
                    self.assertEqual((ee["status"], ee["errorCode"], ee["message"]),
                                     (re_["status"], re_["errorCode"], re_["message"]), what)
                else:
                    self.assertEqual(normalize_text(e.out), normalize_text(r.out), what)
                    self.assertEqual(normalize_text(e.err), normalize_text(r.err), what)


if __name__ == "__main__":
    lib.main()
