#!/usr/bin/env bash
# tokio's own integration tests as the facade's conformance suite: copies the test
# files named in files.txt (or on the command line) from the package of the tokio
# version locked in ../Cargo.lock, builds them against detsim-tokio under --cfg detsim,
# and runs every test on its own (`--exact`, one thread) under a time limit, so a test
# that hangs is reported by name and the next one runs.
#
#   conformance/run.sh                       # every file of files.txt
#   conformance/run.sh sync_mutex time_sleep # some files
#   conformance/run.sh --real                # the same files on real tokio: writes
#                                            # tokio-passes.txt, the tests that pass there
#
# Output: one line per file, `file: P of N pass[, H hang][, compile error]`, where N
# counts the file's tests that pass on real tokio (tokio-passes.txt), then one line per
# such test that does not pass under --cfg detsim (`fail`, `hang`, `compile-error`) with
# the first line of its panic (and its class, if out of scope); then `total: P of N (X%)`
# and `in scope: P of N (X%)`, over the tests not in out-of-scope.txt (scope.py: those
# that use the operating system itself: OS threads, real files, sockets, signals). Every test's status and output
# are kept in $CARGO_TARGET_DIR/results/ (results.tsv: file, test, status, reason).
#
# Environment: DETSIM_SEEDS (default 16 seeds per #[tokio::test]), TEST_TIMEOUT (seconds
# per test, default 20), DETSIM_VERIFY (default off: a failing seed is not replayed in a
# fresh process), CARGO_TARGET_DIR (default target/conformance, target/conformance-real
# with --real).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mode=detsim
if [ "${1:-}" = --real ]; then mode=real; shift; fi
version=$(grep -A1 '^name = "tokio"$' ../Cargo.lock | sed -nE 's/^version = "(.*)"/\1/p' | head -1)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tokio-$version"/tests 2>/dev/null | head -1)
if [ -z "$src" ]; then
    echo "tokio $version's package is not in the cargo registry: build the workspace once (cargo build) and rerun" >&2
    exit 2
fi
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(sed 's/#.*//' files.txt | grep -oE '[a-z0-9_]+'); fi
# The workspace's lock file pins the versions the facade is built with; cargo adds the
# test-only packages to the copy.
cp ../Cargo.lock Cargo.lock
rm -rf tests && mkdir -p tests && cp -rp "$src/support" tests/
for f in "${files[@]}"; do
    [ -f "$src/$f.rs" ] || { echo "no file tests/$f.rs in tokio $version's package" >&2; exit 2; }
    cp -p "$src/$f.rs" tests/
done
if [ "$mode" = real ]; then
    unset RUSTFLAGS
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target/conformance-real}"
else
    export RUSTFLAGS="--cfg detsim"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target/conformance}"
fi
export DETSIM_SEEDS="${DETSIM_SEEDS:-16}" DETSIM_VERIFY="${DETSIM_VERIFY:-off}"
results="$CARGO_TARGET_DIR/results"
rm -rf "$results" && mkdir -p "$results/logs"
: >"$results/results.tsv"

# Compile every file first (errors do not stop the others), then run file by file.
cargo build -q --tests --keep-going >"$results/build.log" 2>&1

# The first line of what a failing test's log says went wrong: a `should_panic` that did
# not panic (as expected), detsim's failure message, or a panic's message.
reason() {
    local log=$1 line
    line=$(grep -m1 -E 'did not panic as expected|panic did not contain expected string' "$log")
    if [ -z "$line" ] && grep -q 'failed on seed' "$log"; then
        line=$(sed -n '/failed on seed/,$p' "$log" | sed 1d | grep -v '^\s*$' | head -2 | paste -sd' ')
    elif [ -z "$line" ]; then
        line=$(grep -m1 -A1 'panicked at' "$log" | paste -sd' ')
    fi
    # "… panicked at file:line:col: message" (or the message on the next line).
    sed -E 's/^.*panicked at [^ ]+:[0-9]+:[0-9]+:? *//; s/^ +//' <<<"$line" | cut -c1-200
}

# A test counts when it passes on real tokio; without tokio-passes.txt (or with --real),
# every test the binary lists counts.
counts() { # file test
    [ "$mode" = real ] || [ ! -f tokio-passes.txt ] || grep -qxF "$1 $2" tokio-passes.txt
}
# A test outside what the facade simulates (out-of-scope.txt, written by scope.py): its
# class, else nothing.
scope_of() { # file test
    [ -f out-of-scope.txt ] || return 0
    awk -v f="$1" -v t="$2" '$1 == f && $2 == t { sub(/^[^#]*# /, ""); sub(/:.*/, ""); print; exit }' out-of-scope.txt
}
total_pass=0 total=0 scoped_pass=0 scoped=0
for f in "${files[@]}"; do
    log="$results/logs/$f"
    mkdir -p "$log"
    bin=$(cargo test --no-run --test "$f" --message-format=json 2>/dev/null |
        jq -r 'select(.executable != null and .target.name == "'"$f"'") | .executable' | tail -1)
    if [ -z "$bin" ]; then
        out=$(cargo test -q --no-run --test "$f" 2>&1)
        if [ -f tokio-passes.txt ]; then
            mapfile -t names < <(sed -n "s/^$f //p" tokio-passes.txt)
        else
            names=()
        fi
        errors=$(grep -E '^error' <<<"$out" | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | paste -sd';')
        echo "$f: 0 of ${#names[@]} pass, compile error"
        echo "  $errors"
        for t in "${names[@]}"; do
            printf '%s\t%s\tcompile-error\t%s\n' "$f" "$t" "$errors" >>"$results/results.tsv"
            [ -n "$(scope_of "$f" "$t")" ] || scoped=$((scoped + 1))
        done
        total=$((total + ${#names[@]}))
        continue
    fi
    mapfile -t listed < <("$bin" --list --format terse 2>/dev/null | sed -n 's/: test$//p')
    ignored=$("$bin" --list --ignored --format terse 2>/dev/null | sed -n 's/: test$//p')
    pass=0 n=0 hangs=0 report=""
    for t in "${listed[@]}"; do
        grep -qxF "$t" <<<"$ignored" && continue
        counts "$f" "$t" || continue
        n=$((n + 1))
        timeout -k 5 "${TEST_TIMEOUT:-20}" "$bin" --exact "$t" --test-threads=1 >"$log/$t.log" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && grep -q '^test result: ok. 1 passed' "$log/$t.log"; then
            pass=$((pass + 1)); status=pass reason=""
        elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            hangs=$((hangs + 1)); status=hang reason="no result after ${TEST_TIMEOUT:-20} s"
        else
            status=fail
            reason=$(reason "$log/$t.log")
            [ -n "$reason" ] || reason="exit $rc"
        fi
        printf '%s\t%s\t%s\t%s\n' "$f" "$t" "$status" "$reason" >>"$results/results.tsv"
        scope=$(scope_of "$f" "$t")
        if [ -z "$scope" ]; then
            scoped=$((scoped + 1))
            [ "$status" = pass ] && scoped_pass=$((scoped_pass + 1))
        fi
        [ "$status" = pass ] || report+="  $status: $t: $reason${scope:+ (out of scope: $scope)}"$'\n'
    done
    line="$f: $pass of $n pass"
    [ $hangs -gt 0 ] && line+=", $hangs hang"
    echo "$line"
    printf '%s' "$report"
    total_pass=$((total_pass + pass)); total=$((total + n))
done
if [ "$mode" = real ]; then
    {
        echo "# tokio $version's tests (file test) that pass on real tokio: written by run.sh --real"
        awk -F'\t' '$3 == "pass" { print $1, $2 }' "$results/results.tsv" | sort
    } >tokio-passes.txt.new
    # Keep the lines of files not run this time.
    if [ -f tokio-passes.txt ]; then
        ran=$(printf '%s\n' "${files[@]}")
        grep -v '^#' tokio-passes.txt | awk 'NR == FNR { ran[$1] = 1; next } !($1 in ran)' <(echo "$ran") - >>tokio-passes.txt.new
        { head -1 tokio-passes.txt.new; tail -n +2 tokio-passes.txt.new | sort; } >tokio-passes.txt
        rm tokio-passes.txt.new
    else
        mv tokio-passes.txt.new tokio-passes.txt
    fi
fi
percent() { awk -v p="$1" -v t="$2" 'BEGIN { printf "%.1f", t ? 100 * p / t : 0 }'; }
echo "total: $total_pass of $total pass ($(percent $total_pass $total)%)"
[ "$mode" = real ] || echo "in scope: $scoped_pass of $scoped pass ($(percent $scoped_pass $scoped)%), leaving out the $((total - scoped)) tests of out-of-scope.txt, which use the operating system itself"
