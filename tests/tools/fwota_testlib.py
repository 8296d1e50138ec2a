"""Helpers for the fwota command-line integration tests: run the real binary on a
temporary data directory (under $TEST_TMPDIR) and look at what it left on disk."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

# The binary: the first command-line argument (Bazel passes $(rootpath //tools/fwota)).
FWOTA = None


def init_from_argv():
    """Takes the binary's path off sys.argv so that unittest does not see it."""
    global FWOTA
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH_TO_FWOTA [unittest args]" % sys.argv[0])
    FWOTA = os.path.abspath(sys.argv.pop(1))


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.stdout)

    def error_json(self):
        return json.loads(self.stderr)

    def __repr__(self):
        return "exit %s\nstdout: %s\nstderr: %s" % (self.code, self.out[:2000], self.err[:2000])


class FwotaTestCase(unittest.TestCase):
    """Each test gets a fresh scratch directory and data directory."""

    def setUp(self):
        base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        self.tmp = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=base)
        self.data_dir = os.path.join(self.tmp, "var")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_cli(self, *args, data_dir=None, env=None, stdin=None, input=None, timeout=120,
                stderr=subprocess.PIPE):
        full_env = dict(os.environ)
        full_env.pop("FWOTA_CRASH_AT", None)
        if env:
            full_env.update(env)
        cmd = [FWOTA, "--data_dir=" + (data_dir or self.data_dir)] + [str(a) for a in args]
        proc = subprocess.run(cmd, stdin=stdin, input=input, stdout=subprocess.PIPE,
                              stderr=stderr, env=full_env, timeout=timeout)
        return Result(proc)

    def ok(self, *args, **kwargs):
        r = self.run_cli(*args, **kwargs)
        self.assertEqual(r.code, 0, r)
        return r

    def ok_json(self, *args, **kwargs):
        return self.ok(*(args + ("--json",)), **kwargs).json()

    def fails(self, code, message, *args, **kwargs):
        """Runs a command that must fail with exit `code`, print `message` on stderr as
        `fwota: <message>` and nothing on stdout."""
        r = self.run_cli(*args, **kwargs)
        self.assertEqual(r.code, code, r)
        self.assertIn("fwota: " + message, r.err, r)
        self.assertEqual(r.stdout, b"", r)
        return r

    def write_random(self, name, size, seed=1):
        path = os.path.join(self.tmp, name)
        data = random_bytes(size, seed)
        with open(path, "wb") as f:
            f.write(data)
        return path, data

    def blob_files(self, data_dir=None):
        """Committed blob files (data and .crc sidecars) under DIR/blobs/??/."""
        root = os.path.join(data_dir or self.data_dir, "blobs")
        found = []
        if not os.path.isdir(root):
            return found
        for sub in sorted(os.listdir(root)):
            path = os.path.join(root, sub)
            if sub == "tmp" or not os.path.isdir(path):
                continue
            for name in sorted(os.listdir(path)):
                found.append(os.path.join(path, name))
        return found

    def tmp_files(self, data_dir=None):
        root = os.path.join(data_dir or self.data_dir, "blobs", "tmp")
        return sorted(os.listdir(root)) if os.path.isdir(root) else []


def random_bytes(size, seed=1):
    """Deterministic pseudo-random bytes (fast enough for a few MiB)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main():
    init_from_argv()
    unittest.main(verbosity=2)


def run_on_terminal(cmd, env=None, timeout=60):
    """Runs `cmd` with stderr on a pseudo-terminal (stdout a pipe); returns
    (exit code, what it wrote to the terminal as text)."""
    import pty
    import select
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        slave = -1
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen += chunk
        proc.communicate(timeout=timeout)
        return proc.returncode, seen.decode("utf-8", "replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
