#!/usr/bin/env bash
# fuzz/run.sh TARGET SECONDS [LIBFUZZER_FLAG...]
#
# Fuzzes one target of rumor for SECONDS seconds on one core, with libFuzzer
# through cargo-fuzz. The target's body is a plain function of the
# `rumor-fuzz` crate (crates/rumor-fuzz); `cargo fuzz list` names them all.
#
# - Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) if it is missing.
# - Builds on the stable toolchain with RUSTC_BOOTSTRAP=1: cargo-fuzz needs the
#   nightly-only `-Zsanitizer` and `-C passes=sancov` flags, and stable rustc
#   accepts them with that variable set. No nightly toolchain is installed.
# - Starts from the checked-in seed corpus (fuzz/corpus/TARGET) and grows a
#   working copy in fuzz/target/corpus/TARGET (git-ignored), so a long run does
#   not turn the committed corpus into megabytes. `cargo fuzz cmin` and
#   README.md say how to fold new finds back into the seeds.
# - Sanitizer: the decode_* targets and open_envelope (whose plaintext
#   envelopes reach the message decoder) run under AddressSanitizer, because
#   libFuzzer enforces -malloc_limit_mb only through the sanitizer's malloc
#   hooks. The others check safe Rust logic (the workspace forbids unsafe
#   code) and run about 3x faster without one, built in target/nosan-none.
#   FUZZ_SANITIZER=address|none overrides the choice.
# - libFuzzer flags: one process on one core (libFuzzer's default; -jobs=1
#   would add a supervising process and move the output to fuzz-0.log, so it is
#   not passed); -malloc_limit_mb=64 turns any single
#   allocation over 64 MiB into a crash (a decoder must not allocate what the
#   input cannot back), -rss_limit_mb=1024 does the same for the whole process,
#   -timeout=10 catches hangs, -max_len=4096 bounds inputs. Extra arguments are
#   passed on to libFuzzer and override these.
# - A crash is written to fuzz/artifacts/TARGET/ (git-ignored) and the script
#   exits non-zero. Minimize it with `cargo fuzz tmin TARGET ARTIFACT`, commit
#   the result to fuzz/regressions/TARGET/ with a line in the README.md there
#   naming the bug, and fix it: tests/fuzz_corpus.rs then replays it forever.
#
# The final "#N DONE" line of libFuzzer's output is the number of executions.
set -euo pipefail

usage() {
    # This header, up to the first line that is not a comment.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

if [[ $# -lt 2 || $1 == -h || $1 == --help ]]; then
    usage
    [[ $# -ge 1 && ($1 == -h || $1 == --help) ]] && exit 0
    exit 2
fi
target=$1
seconds=$2
shift 2
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
    echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2
    exit 2
fi

cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)
if ! grep -qx "$target" <<<"$targets"; then
    printf "run.sh: no target '%s'; the targets are:\n%s\n" "$target" "$targets" >&2
    exit 2
fi

case $target in
    decode_* | open_envelope) sanitizer=${FUZZ_SANITIZER:-address} ;;
    *) sanitizer=${FUZZ_SANITIZER:-none} ;;
esac
# One build directory per sanitizer, so that switching does not rebuild all.
build=(--sanitizer "$sanitizer")
[[ $sanitizer == address ]] || build+=(--target-dir "target/nosan-$sanitizer")

export RUSTC_BOOTSTRAP=1
work="target/corpus/$target"
mkdir -p "$work" "corpus/$target"

# The working corpus first (libFuzzer writes new inputs there), the seeds second
# (read only).
exec cargo fuzz run "${build[@]}" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" \
    -malloc_limit_mb=64 -rss_limit_mb=1024 \
    -timeout=10 -max_len=4096 \
    -print_final_stats=1 \
    "$@"
