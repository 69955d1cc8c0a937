#!/usr/bin/env bash
# Regenerates the pictures README.md shows, from a real demo run on lo (root, or the capability
# to capture): the ladder (encap demo --svg), the encapsulation boxes (encap show --svg), and a
# screenshot of the demo's page (encap demo --html) with frame 4 open and its TTL selected, taken by Debian's headless Chromium through tests/browser/check.mjs
# (npm ci --prefix tests/browser first).
set -euo pipefail
cd "$(dirname "$0")/.."
encap=${ENCAP:-target/release/encap}
[ -x "$encap" ] || cargo build --release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$encap" demo --view summary --svg docs/demo-ladder.svg --html "$tmp/demo.html" >"$tmp/demo.txt"
tail -1 "$tmp/demo.txt"
"$encap" show hello --wire --view summary --svg docs/encapsulation-hello.svg >/dev/null
cat >"$tmp/job.json" <<JOB
{"pages": [{"file": "$tmp/demo.html", "screenshot": "$PWD/docs/demo-page-frame-4.png",
  "viewport": {"width": 1280, "height": 1250},
  "scrollTo": "#frame-4 > summary", "thenClick": "#frame-4 tr.f[data-key=\"ip.ttl\"]"}]}
JOB
node tests/browser/check.mjs "$tmp/job.json" >/dev/null
ls -l docs/demo-ladder.svg docs/encapsulation-hello.svg docs/demo-page-frame-4.png
