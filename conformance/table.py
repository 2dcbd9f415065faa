#!/usr/bin/env python3
"""The README's conformance table, from a run of run.sh.

    conformance/table.py [results.tsv]   # default: target/conformance/results/results.tsv

Reads the run's results (file, test, status, reason), out-of-scope.txt (scope.py) and
known-failures.txt (why each in-scope test that does not pass does not: `file test #
reason`, written by hand), and prints a markdown table: each file's passes, over all
and in scope, then every test that does not pass with its reason. A test that does not
pass, is in scope and has no line in known-failures.txt is shown with the run's own
first line of failure, marked `(no known reason)`, and makes the script exit 1.
"""
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def annotated(name):
    """`file test # text` lines -> {(file, test): text}."""
    out = {}
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return out
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        key, _, text = line.partition(" # ")
        file, test = key.split()
        out[(file, test)] = text.strip()
    return out


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "..", "target", "conformance", "results", "results.tsv")
    scope = annotated("out-of-scope.txt")
    known = annotated("known-failures.txt")
    files = collections.OrderedDict()
    for line in open(results):
        file, test, status, reason = (line.rstrip("\n").split("\t") + [""])[:4]
        files.setdefault(file, []).append((test, status, reason))
    unknown = 0
    print("| file | passes | in scope | the others, and why |")
    print("| --- | --- | --- | --- |")
    for file, tests in files.items():
        passed = sum(status == "pass" for _, status, _ in tests)
        in_scope = [(t, s) for t, s, _ in tests if (file, t) not in scope]
        scoped_pass = sum(s == "pass" for _, s in in_scope)
        why = collections.OrderedDict()
        for test, status, reason in tests:
            if status == "pass":
                continue
            if (file, test) in scope:
                text = "out of scope: " + scope[(file, test)]
            elif (file, test) in known:
                text = known[(file, test)]
            else:
                unknown += 1
                text = f"{reason} (no known reason)"
            if status == "hang":
                text = "hangs: " + text
            elif status == "compile-error":
                text = "does not compile: " + text
            why.setdefault(text, []).append(test)
        others = "; ".join(", ".join(f"`{t}`" for t in tests) + ": " + text.replace("|", "\\|")
                           for text, tests in why.items())
        print(f"| `{file}` | {passed} of {len(tests)} | {scoped_pass} of {len(in_scope)} | {others} |")
    if unknown:
        print(f"{unknown} in-scope tests fail with no line in known-failures.txt", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
