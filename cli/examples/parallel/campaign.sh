#!/usr/bin/env bash
# A detsim campaign with GNU parallel: one shard per job over ssh hosts, each writing
# its records to a directory that --return copies back, then one merge here.
#
#   HOSTS=hosts.txt SHARDS=8 SEEDS=100000 cli/examples/parallel/campaign.sh
#
# HOSTS is a --sshloginfile (one `[N/]host` per line; `:` is this machine, the
# default); every host needs this repository at the same path, and a Rust toolchain.
# For your crate, change TEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
shards=${SHARDS:-4}
seeds=${SEEDS:-100}
results=${RESULTS:-target/detsim-parallel}
test_args=${TEST_ARGS:-"-p detsim-campaign-fixture -- --include-ignored"}
hosts_file=$(mktemp)
trap 'rm -f "$hosts_file"' EXIT
if [[ -n "${HOSTS:-}" ]]; then cp "$HOSTS" "$hosts_file"; else echo ":" >"$hosts_file"; fi

rm -rf "$results"
mkdir -p "$results"
# Build once per host before the shards start (cargo would otherwise build in each).
parallel --nonall --sshloginfile "$hosts_file" --workdir "$PWD" \
    "cargo test --release --no-run -q $test_args" >/dev/null
# Each shard writes to a directory of its own, relative to the repository, which
# --return brings back to the same path here. A shard that finds a failure fails its
# test; `; true` leaves judging to the merge.
seq 0 $((shards - 1)) | parallel --sshloginfile "$hosts_file" --workdir "$PWD" \
    --return "$results/shard-{}" \
    "DETSIM_SHARD={}/$shards DETSIM_SEEDS=$seeds DETSIM_RESULTS=\$PWD/$results/shard-{} \
     cargo test --release --no-fail-fast -q $test_args >/dev/null 2>&1; true"
cargo run -q --release -p cargo-detsim -- merge "$results" --junit "$results/junit.xml"
