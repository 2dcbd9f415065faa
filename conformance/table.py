#!/usr/bin/env python3
"""The README's conformance table, from a run of run.sh.

    conformance/table.py [results.tsv]            # default: target/conformance/results/results.tsv
    conformance/table.py --readme [results.tsv]   # writes the table into README.md

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
    args = sys.argv[1:]
    readme = "--readme" in args
    args = [a for a in args if a != "--readme"]
    results = args[0] if args else os.path.join(
        HERE, "..", "target", "conformance", "results", "results.tsv")
    lines, unknown = table(results)
    if readme:
        write_readme(lines)
    else:
        print("\n".join(lines))
    if unknown:
        print(f"{unknown} in-scope tests fail with no line in known-failures.txt", file=sys.stderr)
        sys.exit(1)


def write_readme(lines):
    """Replaces the README's table (from its header row to the first line that is not a
    row) with `lines`."""
    path = os.path.join(HERE, "..", "README.md")
    old = open(path).read().split("\n")
    start = old.index(lines[0]) if lines[0] in old else next(
        i for i, line in enumerate(old) if line.startswith("| file | passes"))
    end = start
    while end < len(old) and old[end].startswith("|"):
        end += 1
    open(path, "w").write("\n".join(old[:start] + lines + old[end:]))


def table(results):
    """The table's lines, and how many in-scope failures have no known reason."""
    scope = annotated("out-of-scope.txt")
    known = annotated("known-failures.txt")
    files = collections.OrderedDict()
    for line in open(results):
        file, test, status, reason = (line.rstrip("\n").split("\t") + [""])[:4]
        files.setdefault(file, []).append((test, status, reason))
    unknown = 0
    lines = ["| file | passes | in scope | the others, and why |", "| --- | --- | --- | --- |"]
    for file, tests in files.items():
        passed = sum(status == "pass" for _, status, _ in tests)
        in_scope = [(t, s) for t, s, _ in tests if (file, t) not in scope]
        scoped_pass = sum(s == "pass" for _, s in in_scope)
        why = collections.OrderedDict()
        for test, status, reason in tests:
            if status == "pass":
                continue
            if (file, test) in scope:
                label, _, marker = scope[(file, test)].partition(": ")
                if marker.endswith("(read by hand)"):
                    text = f"out of scope ({label}): {marker}"
                else:
                    text = f"out of scope ({label}): uses `{marker}`"
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
        lines.append(f"| `{file}` | {passed} of {len(tests)} | {scoped_pass} of {len(in_scope)} "
                     f"| {others} |")
    return lines, unknown


if __name__ == "__main__":
    main()
