#!/usr/bin/env python3
"""Which of tokio's tests are outside what the facade simulates: writes out-of-scope.txt.

The facade simulates tokio on one thread, with a simulated network and disk. A test of
tokio's whose body (or a function of its file that the body calls) uses the operating
system itself is outside that: it starts an OS thread or hands work between OS threads
(`std::thread`, a `std::sync` channel, barrier or condvar between threads,
`block_in_place`, a runtime's thread hooks), makes real files (`tempfile`, `std::fs`),
uses real sockets or descriptors (`std::net` sockets, `socket2`, raw fds,
`into_std`), Unix domain sockets, or real signals. This script reads each test that
passes on real tokio (tokio-passes.txt) in tokio's package and lists those, with the
class and the marker found, one a line: `file test # class: marker`; BY_HAND adds the
few whose OS threads no marker shows, each with what it does.

    conformance/scope.py        # rewrites conformance/out-of-scope.txt

run.sh counts every test, and also gives the figure over the tests not listed here.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CLASSES = [
    ("OS threads", r"\bthread::(spawn|Builder|scope)\b|std::sync::(mpsc|Barrier|Condvar)\b"
     r"|on_thread_(start|stop|park|unpark)\b|executor::block_on\b|\bthread_local!"),
    ("real files", r"\btempfile\b|NamedTempFile|\btempdir\b|std::fs::"),
    ("real sockets or descriptors", r"std::net::(TcpStream|TcpListener|UdpSocket)\b|\bsocket2\b"
     r"|\bSockRef\b|\binto_std\b|\bas_raw_fd\b|\bAsRawFd\b|\bfrom_raw_fd\b|\bAsFd\b|\bas_fd\("),
    ("Unix domain sockets", r"\bUnix(Stream|Listener|Datagram)\b"),
    ("real signals", r"\blibc::(kill|raise)\b|\bsend_signal\("),
]

# Tests whose use of OS threads no marker shows: each read by hand, with what it does.
BY_HAND = {
    ("rt_threaded", "test_tuning"):
        "a multi-thread runtime's worker runs its tasks while the test's own thread "
        "loops outside block_on",
    ("rt_threaded", "wake_deferred_tasks_before_block_in_place"):
        "the test's thread waits in blocking_recv until a worker thread runs a task",
    ("rt_spawn_blocking", "issue_8056_regression_test"):
        "spawn_blocking closures wait in blocking_recv on blocking-pool threads while "
        "a task sends",
}


def tokio_tests_dir():
    lock = open(os.path.join(HERE, "..", "Cargo.lock")).read()
    version = re.search(r'name = "tokio"\nversion = "([^"]+)"', lock).group(1)
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = glob.glob(f"{home}/registry/src/*/tokio-{version}/tests")
    if not found:
        sys.exit(f"tokio {version}'s package is not in the cargo registry: build once first")
    return found[0]


def functions(text):
    """Each `fn name` of a file that is not a test: name -> list of bodies (a name may
    be defined in several modules of one file); and each test's bodies."""
    bodies, tests = {}, {}
    for m in re.finditer(r"\bfn\s+(\w+)\s*(<[^>{]*>)?\s*\(", text):
        attributes = text[max(0, m.start() - 300):m.start()].split("}")[-1]
        is_test = re.search(r"#\[(tokio::)?test\b", attributes) is not None
        start = text.find("{", m.end())
        depth = 0
        for end in range(start, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    break
        into = tests if is_test else bodies
        into.setdefault(m.group(1), []).append(text[m.start():end + 1])
    return bodies, tests


def reach(text, bodies, depth=2, seen=None):
    """`text` and the bodies of the file's functions it calls (not methods), `depth`
    deep."""
    seen = set() if seen is None else seen
    if depth > 0:
        for called in set(re.findall(r"(?<![.\w])(\w+)\s*\(", text)) - seen:
            seen.add(called)
            for body in bodies.get(called, []):
                text += reach(body, bodies, depth - 1, seen)
    return text


def main():
    src = tokio_tests_dir()
    tests = [line.split() for line in open(os.path.join(HERE, "tokio-passes.txt"))
             if line.strip() and not line.startswith("#")]
    files = {}
    std_imports = {}
    out = ["# tokio's tests outside what the facade simulates (they use the operating system",
           "# itself): written by conformance/scope.py. `file test # class: marker`."]
    for file, test in tests:
        if file not in files:
            source = open(f"{src}/{file}.rs").read()
            files[file] = functions(source)
            std_imports[file] = [m for m in ("mpsc", "Barrier", "Condvar")
                                 if re.search(rf"use std::sync::(\{{[^}}]*)?\b{m}\b", source)]
        name = test.split("::")[-1]
        bodies, test_bodies = files[file]
        text = reach("\n".join(test_bodies.get(name, [])), bodies)
        text += "".join(f"\nstd::sync::{m}" for m in std_imports[file]
                        if re.search(rf"\b{m}::(channel|sync_channel|new)\b", text))
        if (file, test) in BY_HAND:
            out.append(f"{file} {test} # OS threads: {BY_HAND[(file, test)]} (read by hand)")
            continue
        for label, pattern in CLASSES:
            m = re.search(pattern, text)
            if m:
                out.append(f"{file} {test} # {label}: {m.group(0)}")
                break
    open(os.path.join(HERE, "out-of-scope.txt"), "w").write("\n".join(out) + "\n")
    print(f"{len(out) - 2} of {len(tests)} tests are out of scope", file=sys.stderr)


if __name__ == "__main__":
    main()
