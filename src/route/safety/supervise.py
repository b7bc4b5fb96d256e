"""The supervisor verify runs under: ``python -I -S supervise.py [--loopback] -- COMMAND...``.

Run as a script by path (isolated mode, no ``site``: nothing of the project's environment can
change it), never imported by route. It runs COMMAND, waits for it, then kills every process
COMMAND left behind, and exits with COMMAND's status (128 + N when a signal N ended it):

- on Linux it makes itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so processes
  that detach (double fork, ``setsid``, ``nohup ... &``) are re-parented to it instead of to
  init; after COMMAND ends it kills all of its descendants and reaps them;
- inside route's sandbox it is process 1 of a new PID namespace: when it exits the kernel kills
  every process left in the namespace, whatever it did;
- ``--loopback`` first brings the loopback interface up (the sandbox's new network namespace
  starts with it down), so a project's own tests can listen on 127.0.0.1;
- SIGTERM and SIGINT kill COMMAND's whole tree the same way, then exit.

Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (read from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree() -> None:
    """SIGKILL every descendant of this process, again until none is left; reap them all."""
    for _ in range(50):
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        # As process 1 of the sandbox's PID namespace, /proc still shows the host's numbering:
        # the kernel kills what is left in the namespace when this process exits.
        remaining = descendants(os.getpid()) if os.getpid() != 1 and os.path.isdir("/proc") else []
        if not remaining:
            return
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def main(arguments: list[str]) -> int:
    loopback = False
    while arguments and arguments[0] != "--":
        option = arguments.pop(0)
        if option == "--loopback":
            loopback = True
    command = arguments[1:]
    if not command:
        print("supervise: no command given", file=sys.stderr)
        return 2
    if loopback:
        try:
            bring_loopback_up()
        except OSError as error:
            print(f"[route] sandbox: cannot bring loopback up: {error}", file=sys.stderr)
            return 125
    become_subreaper()
    process = subprocess.Popen(command)

    def stop(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        kill_tree()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = process.wait()
    kill_tree()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
