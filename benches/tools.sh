#!/usr/bin/env bash
# Whole-tool comparison: encap decode, tcpdump -nn -r and tshark -r on one generated capture of a
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
printf '%-40s %10s %14s %12s %10s\n' tool seconds frames/s "max RSS MB" lines
run() { # name command...
  local name=$1; shift
  local t; t=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$t" "$@" > "$t.out" 2>/dev/null || true
  read -r secs kb < "$t"
  local lines; lines=$(wc -l < "$t.out")
  printf '%-40s %10s %14.0f %12.1f %10s\n' "$name" "$secs" "$(echo "$frames / $secs" | bc -l)" "$(echo "$kb / 1024" | bc -l)" "$lines"
  rm -f "$t" "$t.out"
}
run "encap decode (one line per frame)" target/release/encap decode "$file"
run "TZ=UTC tcpdump -nn -r" env TZ=UTC tcpdump -nn -r "$file"
run "tshark -r" tshark -r "$file"
run "encap decode --json" target/release/encap decode --json "$file"
run "tshark -r -T ek" tshark -r "$file" -T ek
