#!/usr/bin/python3
"""Crash tests of the fwota command line: kill it (SIGKILL) in the middle of an upload or
a delete, then check that the next start recovers: a package exists with its exact data
or not at all, and the blob directory holds nothing that no package refers to.

The kill points are the library's named crash points, reached through the CLI's test hook
FWOTA_CRASH_AT=<point>, and a kill -9 from outside while the data still streams in from a
FIFO. Run by Bazel as `crash_test.py <path to fwota>`."""

import os
import signal
import subprocess
import time

import fwota_testlib as lib
from fwota_testlib import sha256

SIZE = 6 * 1024 * 1024 + 5


class CrashTest(lib.FwotaTestCase):
    def setUp(self):
        super().setUp()
        self.ok("profile", "create", "--name=p")
        self.path, self.data = self.write_random("fw.bin", SIZE, seed=7)
        self.create_args = ["package", "create", "--title=fw", "--version=1",
                            "--type=FIRMWARE", "--profile=p"]

    def assert_recovered(self, allow_package):
        """Runs `package list` (a start of the CLI, which recovers the data directory)
        and checks the outcome is all or nothing, with no orphan blobs."""
        listed = self.ok_json("package", "list")
        packages = listed["data"]
        if packages:
            self.assertTrue(allow_package, packages)
            self.assertEqual(len(packages), 1, packages)
            p = packages[0]
            self.assertEqual(p["dataSize"], SIZE)
            self.assertEqual(p["checksum"], sha256(self.data))
            out = os.path.join(self.tmp, "out.bin")
            self.ok("package", "download", p["id"]["id"], "--output=" + out)
            subprocess.run(["cmp", self.path, out], check=True)
            os.unlink(out)
        # Every blob file belongs to a package (SHA256 packages: checksum = blob key).
        keys = {p["checksum"] for p in packages}
        for f in self.blob_files():
            name = os.path.basename(f)
            key = name[:-len(".crc")] if name.endswith(".crc") else name
            self.assertIn(key, keys, "orphan blob file %s" % f)
            self.assertEqual(os.path.basename(os.path.dirname(f)), key[:2])
        self.assertEqual(self.tmp_files(), [])
        return packages

    def assert_killed(self, result):
        self.assertEqual(result.code, -signal.SIGKILL, result)

    def crash_during_create(self, point):
        r = self.run_cli(*self.create_args, "--file=" + self.path,
                         env={"FWOTA_CRASH_AT": point})
        self.assert_killed(r)
        return self.assert_recovered(allow_package=True)

    def test_crash_after_blob_written(self):
        # Before the blob is committed: the temporary file must go, the package never was.
        self.assertEqual(self.crash_during_create("upload.blob_written"), [])
        # And the same package can be created afterwards.
        self.ok(*self.create_args, "--file=" + self.path)
        self.assertEqual(len(self.assert_recovered(allow_package=True)), 1)

    def test_crash_after_blob_committed(self):
        # The blob is in place but no metadata refers to it: the next start removes it.
        self.assertEqual(self.crash_during_create("upload.blob_committed"), [])
        self.ok(*self.create_args, "--file=" + self.path)
        self.assertEqual(len(self.assert_recovered(allow_package=True)), 1)

    def test_crash_after_blob_committed_keeps_a_shared_blob(self):
        # Another package with the same bytes already owns the blob: it must survive.
        self.ok("package", "create", "--title=first", "--version=1", "--type=FIRMWARE",
                "--profile=p", "--file=" + self.path)
        r = self.run_cli(*self.create_args, "--file=" + self.path,
                         env={"FWOTA_CRASH_AT": "upload.blob_committed"})
        self.assert_killed(r)
        packages = self.assert_recovered(allow_package=True)
        self.assertEqual([p["title"] for p in packages], ["first"])
        self.assertEqual(len([f for f in self.blob_files() if not f.endswith(".crc")]), 1)

    def test_kill_mid_stream(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        proc = subprocess.Popen(
            [lib.FWOTA, "--data_dir=" + self.data_dir] + self.create_args + ["--file=" + fifo],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            with open(fifo, "wb") as w:
                w.write(self.data[:SIZE // 2])
                w.flush()
                # Wait until the upload has written into its temporary blob file.
                tmp_dir = os.path.join(self.data_dir, "blobs", "tmp")
                deadline = time.time() + 30
                while time.time() < deadline:
                    sizes = [os.path.getsize(os.path.join(tmp_dir, f))
                             for f in self.tmp_files()]
                    if sizes and max(sizes) > 0:
                        break
                    time.sleep(0.02)
                else:
                    self.fail("the upload never wrote a temporary blob")
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
        except BrokenPipeError:
            pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.assertNotEqual(self.tmp_files(), [])  # what the crash left behind
        self.assertEqual(self.assert_recovered(allow_package=False), [])

    def test_crash_after_delete_metadata(self):
        self.ok(*self.create_args, "--file=" + self.path)
        self.assertEqual(len([f for f in self.blob_files() if not f.endswith(".crc")]), 1)
        r = self.run_cli("package", "delete", "fw@1",
                         env={"FWOTA_CRASH_AT": "delete.metadata_deleted"})
        self.assert_killed(r)
        # The metadata is gone; the blob stays until the next start, which removes it.
        self.assertNotEqual(self.blob_files(), [])
        self.assertEqual(self.assert_recovered(allow_package=False), [])
        self.assertEqual(self.blob_files(), [])

    def test_unrelated_crash_point_does_nothing(self):
        r = self.run_cli(*self.create_args, "--file=" + self.path,
                         env={"FWOTA_CRASH_AT": "no.such.point"})
        self.assertEqual(r.code, 0, r)
        self.assertEqual(len(self.assert_recovered(allow_package=True)), 1)


if __name__ == "__main__":
    lib.main()
