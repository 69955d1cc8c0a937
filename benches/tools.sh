#!/usr/bin/env bash
# Whole-tool comparison: encap decode and verify, tcpdump -nn -r and tshark -r on one generated capture of a
# million chat frames, side by side in one run, with wall time and peak memory (max RSS).
#   benches/tools.sh [FRAMES]      (default 1000000; needs tcpdump, tshark, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-1000000}
file=${TMPDIR:-/tmp}/encap-chat-$frames.pcap
cargo build --release --quiet --bin encap --example chat_capture
[ -f "$file" ] || target/release/examples/chat_capture "$frames" "$file"
echo "file: $file, $frames frames, $(du -h "$file" | cut -f1)"
echo "machine: $(nproc) cores, $(uname -r), $(tcpdump --version 2>&1 | head -1), $(tshark --version 2>/dev/null | head -1)"
printf '%-34s %9s %12s %11s %12s %9s\n' tool "s (null)" "frames/s" "s (to file)" "max RSS MB" lines
run() { # name command...
  local name=$1; shift
  local t; t=$(mktemp)
  # Timed twice: output to /dev/null (the tool alone, as hyperfine measures), and to a file on
  # this disk (the tool plus the kernel writing its output), which also counts the lines.
  /usr/bin/time -f '%e %M' -o "$t" "$@" > /dev/null 2>&1 || true
  read -r null_secs kb < "$t"
  /usr/bin/time -f '%e %M' -o "$t" "$@" > "$t.out" 2>/dev/null || true
  read -r file_secs _ < "$t"
  local lines; lines=$(wc -l < "$t.out")
  printf '%-34s %9s %12.0f %11s %12.1f %9s\n' "$name" "$null_secs" "$(echo "$frames / $null_secs" | bc -l)" "$file_secs" "$(echo "$kb / 1024" | bc -l)" "$lines"
  rm -f "$t" "$t.out"
}
run "encap decode (one line per frame)" target/release/encap decode "$file"
run "TZ=UTC tcpdump -nn -r" env TZ=UTC tcpdump -nn -r "$file"
run "tshark -r" tshark -r "$file"
run "encap decode --json" target/release/encap decode --json "$file"
run "tshark -r -T ek" tshark -r "$file" -T ek
run "encap verify (one line per frame)" target/release/encap verify "$file"
