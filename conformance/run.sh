#!/usr/bin/env bash
# tokio's own integration tests as the facade's conformance suite: copies the test
# files named in files.txt (or on the command line) from the package of the tokio
# version locked in ../Cargo.lock, runs each against detsim-tokio under --cfg detsim,
# and prints one line per file: `file passed failed status`, then the failing tests.
#
#   conformance/run.sh                      # every file of files.txt
#   conformance/run.sh sync_mutex time_sleep # some files
#
# Environment: DETSIM_SEEDS (default 16 seeds per #[tokio::test]), FILE_TIMEOUT
# (seconds per file, default 300), CARGO_TARGET_DIR (default target/conformance).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
version=$(grep -A1 '^name = "tokio"$' ../Cargo.lock | sed -nE 's/^version = "(.*)"/\1/p' | head -1)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tokio-$version"/tests 2>/dev/null | head -1)
if [ -z "$src" ]; then
    echo "tokio $version's package is not in the cargo registry: build the workspace once (cargo build) and rerun" >&2
    exit 2
fi
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(grep -v '^#' files.txt | grep .); fi
rm -rf tests && mkdir -p tests && cp -r "$src/support" tests/
for f in "${files[@]}"; do cp "$src/$f.rs" tests/; done
export RUSTFLAGS="--cfg detsim" DETSIM_SEEDS="${DETSIM_SEEDS:-16}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target/conformance}"
total_pass=0 total=0
for f in "${files[@]}"; do
    tests=$(grep -cE '^ *#\[(tokio::)?test|^ *#\[maybe_tokio_test' "tests/$f.rs")
    # Build first (no time limit), then run under the timeout.
    out=$(cargo test -q --no-run --test "$f" 2>&1) &&
        out=$(timeout "${FILE_TIMEOUT:-300}" cargo test -q --test "$f" -- --test-threads=1 2>&1)
    rc=$?
    result=$(grep -E '^test result:' <<<"$out" | tail -1)
    if [ -n "$result" ]; then
        passed=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$result")
        failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$result")
        tests=$((passed + failed))
        echo "$f $passed $failed ran"
        grep -E '^    [A-Za-z_0-9:]+$' <<<"$out" | sed "s/^ */  failed: /"
    elif [ "$rc" -eq 124 ]; then
        passed=0; echo "$f 0 $tests timeout"
    else
        passed=0; echo "$f 0 $tests compile-error"
        grep -E '^error' <<<"$out" | sort | uniq -c | head -8 | sed "s/^ */  /"
    fi
    total_pass=$((total_pass + passed)); total=$((total + tests))
done
echo "total: $total_pass of $total tests pass"
