"""Where the gateway binary is, and how much slower than a release build it runs.

SCALEGATE_BIN        gateway binary (default: <repo>/build/src/app/scalegate)
SCALEGATE_TEST_SLOW  factor applied to every wait (default 1; 3 is detected for ASan builds)
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_BIN = os.path.join(REPO, "build", "src", "app", "scalegate")


def gateway_bin():
    return os.environ.get("SCALEGATE_BIN", DEFAULT_BIN)


def _detect_slow():
    env = os.environ.get("SCALEGATE_TEST_SLOW")
    if env:
        try:
            return max(1.0, float(env))
        except ValueError:
            return 1.0
    path = gateway_bin()
    try:
        with open(path, "rb") as f:
            data = f.read(64 * 1024 * 1024)
        if b"__asan_init" in data or b"libasan.so" in data:
            return 3.0
    except OSError:
        pass
    return 1.0


SLOW = _detect_slow()


def wait_s(seconds):
    """A wait bound scaled by SCALEGATE_TEST_SLOW (ASan builds are ~3x slower)."""
    return seconds * SLOW
