"""What the end-to-end tests of fwotad share: free loopback ports, waiting, and
a clean stop of fwotad checked for sanitizer reports."""

import signal
import socket
import subprocess
import time


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


def wait_for(condition, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def stop_fwotad(proc):
    """Stops a running fwotad cleanly (SIGTERM), so that a sanitizer build reports leaks,
    and fails, at exit; killed after 30 s. Returns whether it was still running."""
    if proc is None or proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return True


def check_clean_exit(test, log, proc, stopped_here):
    """Fails `test` on a sanitizer report in fwotad's log, or on a non-zero exit after a
    stop by stop_fwotad."""
    test.assertNotIn("Sanitizer", log)
    test.assertNotIn("runtime error:", log)
    if stopped_here:
        test.assertEqual(proc.returncode, 0, log[-2000:])
