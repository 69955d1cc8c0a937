#!/usr/bin/env bash
# Records the captures in this folder on lo (needs root, tcpdump, tshark, nc, curl, python3).
# Each capture is filtered to one port, so nothing else on the machine lands in it.
#   captures/record.sh            # from the repo root, after `cargo build --release`
set -euo pipefail
cd "$(dirname "$0")/.."
ENCAP=${ENCAP:-target/release/encap}
out=captures
port=46666

start_tcpdump() { # file port
  tcpdump -i lo -nn -U -w "$1" "tcp port $2" 2>/dev/null & echo $! > /tmp/encap-rec-tcpdump.pid
  sleep 1
}
stop_tcpdump() { sleep 1; kill -INT "$(cat /tmp/encap-rec-tcpdump.pid)"; wait "$(cat /tmp/encap-rec-tcpdump.pid)" 2>/dev/null || true; }

# 10. The lab (`encap lab`): programs nobody here wrote, in host a and host b, across router r,
#     each link recorded by tcpdump inside r (r-a is link a-r, r-b is link r-b), so the frames
#     have real MACs, ARP first, and TTL 63 on the far side of r. Offloads on (veth's default:
#     partial TCP checksums, a 5000-byte write as one GSO frame) and off (full checksums, 1448-byte
#     segments). Only this part: `captures/record.sh lab`. (curl to a python server in b is not
#     recorded yet: `python3 -m http.server` looks its own name up in DNS as it binds, a query
#     that would leave for the machine's resolver.)
#     Over IPv6 too (`lab-ipv6-offload-*`): neighbour solicitation and advertisement instead of
#     ARP, the hop limit instead of TTL. Only the IPv6 part: `captures/record.sh lab6`.
lab_capture() { # offload-mode prefix server-address [-6 or ""] [lab up options] [file name]
  local mode=$1 name=$out/$2-offload-$1 server=$3 family=${4:-} opts=${5:-}
  [ -n "${6:-}" ] && name=$out/$6
  "$ENCAP" lab up --offload $mode $opts > /dev/null
  "$ENCAP" lab exec r -- tcpdump -i r-a -nn -U -w $name-nc-a-r.pcap 2>/dev/null & local ta=$!
  "$ENCAP" lab exec r -- tcpdump -i r-b -nn -U -w $name-nc-r-b.pcap 2>/dev/null & local tb=$!
  sleep 1
  ( printf 'hello from nc in b\n'; sleep 0.5 ) | "$ENCAP" lab exec b -- nc $family -l 6666 > /dev/null & local lpid=$!
  sleep 0.5
  ( printf 'hi from nc in a\n'; head -c 4999 /dev/zero | tr '\0' a; echo; sleep 1 ) |
    "$ENCAP" lab exec a -- nc -N $server 6666 > /dev/null || true
  wait $lpid || true
  sleep 1; kill -INT $ta $tb; wait $ta $tb 2>/dev/null || true
  "$ENCAP" lab down > /dev/null
}
lab_captures() {
  local mode
  for mode in on off; do lab_capture $mode lab 198.51.100.10; done
}
lab6_captures() {
  local mode
  for mode in on off; do lab_capture $mode lab-ipv6 2001:db8:b::10 -6; done
  # A connection held open 9 s, link a-r only: past the neighbour entries' reachable time, so r
  # confirms a's entry with a unicast solicitation (answered without override or option), and a
  # sends a router solicitation as its interface settles.
  "$ENCAP" lab up > /dev/null
  "$ENCAP" lab exec r -- tcpdump -i r-a -nn -U -w $out/lab-ipv6-probe-nc-a-r.pcap 2>/dev/null & local ta=$!
  sleep 1
  ( printf 'hello\n'; sleep 9 ) | "$ENCAP" lab exec b -- nc -6 -l 6666 > /dev/null & local lpid=$!
  sleep 0.5
  ( printf 'hi\n'; sleep 9 ) | "$ENCAP" lab exec a -- nc -6 -N 2001:db8:b::10 6666 > /dev/null || true
  wait $lpid || true
  sleep 1; kill -INT $ta; wait $ta 2>/dev/null || true
  "$ENCAP" lab down > /dev/null
}
# 10b. r's end of r-b at MTU 1400 (`lab up --mtu-b 1400`; b's end keeps 1500, so b announces MSS
#     1460): a's 5000-byte write leaves as one GSO packet of 5082 bytes that r cannot forward with
#     DF set; r drops it and answers with ICMP fragmentation needed (ICMPv6 packet too big), next-hop
#     MTU 1400, and a sends the bytes again, cut at 1348 (1400 - 40 - 12). Only this
#     part: `captures/record.sh lab-mtu`.
#     With offloads off (`lab-mtu1400-offload-off-*`) the write leaves cut at the MSS: r refuses
#     each full-size segment, forwards the rest, and a sends the refused bytes again in 1348-byte
#     segments (IPv6 1328) while b's ACKs carry what it holds out of order as SACK blocks.
lab_mtu_captures() {
  lab_capture on lab 198.51.100.10 "" "--mtu-b 1400" lab-mtu1400
  lab_capture on lab 2001:db8:b::10 -6 "--mtu-b 1400" lab-mtu1400-ipv6
  lab_capture off lab 198.51.100.10 "" "--mtu-b 1400" lab-mtu1400-offload-off
  lab_capture off lab 2001:db8:b::10 -6 "--mtu-b 1400" lab-mtu1400-ipv6-offload-off
}
if [ "${1:-}" = lab-mtu ]; then lab_mtu_captures; ls -l $out/lab-mtu1400-*; exit 0; fi
if [ "${1:-}" = lab ]; then lab_captures; lab6_captures; ls -l $out/lab-*; exit 0; fi
if [ "${1:-}" = lab6 ]; then lab6_captures; ls -l $out/lab-ipv6-*; exit 0; fi

# 13. The lab captured as `tcpdump -i any` writes it (Linux cooked captures): inside r (both
#     links in one file, LINUX_SLL2 with each packet's interface index and direction, so every
#     forwarded packet twice: in on one interface, out on the other), inside r again as SLL v1
#     (`-y LINUX_SLL`: no interface index), and inside a and b (their own frames OUTGOING).
#     The same nc dialogue as the lab's, offloads on. Then an HTTP fetch across the lab: curl in
#     a from a python server in b (socketserver, not `http.server`, whose bind looks its own name
#     up in DNS), captured with -i any in b. Then GRO: offloads off (a sends 1448-byte segments,
#     full checksums) and `ethtool -K b-r gro on` in b, so b's stack receives merged packets
#     larger than the MTU; captured with -i any in a and in b. Only this part:
#     `captures/record.sh lab-any`.
any_tcpdump() { # host file [tcpdump options...]
  local host=$1 file=$2; shift 2
  "$ENCAP" lab exec $host -- tcpdump -i any -nn -U "$@" -w $file 2>/dev/null &
}
nc_dialogue() { # bytes
  ( printf 'hello from nc in b\n'; sleep 0.5 ) | "$ENCAP" lab exec b -- nc -l 6666 > /dev/null & local lpid=$!
  sleep 0.5
  ( printf 'hi from nc in a\n'; head -c $1 /dev/zero | tr '\0' a; echo; sleep 1 ) |
    "$ENCAP" lab exec a -- nc -N 198.51.100.10 6666 > /dev/null || true
  wait $lpid || true
}
lab_any_captures() {
  "$ENCAP" lab up > /dev/null
  any_tcpdump r $out/lab-any-nc-r.pcap; local tr=$!
  any_tcpdump r $out/lab-any-sll-nc-r.pcap -y LINUX_SLL; local ts=$!
  any_tcpdump a $out/lab-any-nc-a.pcap; local ta=$!
  any_tcpdump b $out/lab-any-nc-b.pcap; local tb=$!
  sleep 1
  nc_dialogue 4999
  sleep 1; kill -INT $tr $ts $ta $tb; wait $tr $ts $ta $tb 2>/dev/null || true
  any_tcpdump b $out/lab-any-http-b.pcap tcp port 8000; tb=$!
  mkdir -p /tmp/encap-www && echo '<h1>hello from a python server in b</h1>' > /tmp/encap-www/index.html
  "$ENCAP" lab exec b -- python3 -c 'import http.server as h, socketserver as s, functools as f, os
os.chdir("/tmp/encap-www"); s.TCPServer.allow_reuse_address = True
s.TCPServer(("198.51.100.10", 8000), h.SimpleHTTPRequestHandler).handle_request()' > /dev/null 2>&1 & local hpid=$!
  sleep 1
  "$ENCAP" lab exec a -- curl -s http://198.51.100.10:8000/ > /dev/null || true
  wait $hpid || true
  sleep 1; kill -INT $tb; wait $tb 2>/dev/null || true
  "$ENCAP" lab down > /dev/null
  "$ENCAP" lab up --offload off > /dev/null
  "$ENCAP" lab exec b -- ethtool -K b-r gro on
  any_tcpdump a $out/lab-gro-nc-a.pcap tcp; ta=$!
  any_tcpdump b $out/lab-gro-nc-b.pcap tcp; tb=$!
  sleep 1
  nc_dialogue 30000
  sleep 1; kill -INT $ta $tb; wait $ta $tb 2>/dev/null || true
  "$ENCAP" lab down > /dev/null
}
# The same dialogue over IPv6 (nc -6, 2001:db8:a::10 to 2001:db8:b::10), -i any inside r only.
# Only this part: `captures/record.sh lab-any6`.
lab_any6_captures() {
  "$ENCAP" lab up > /dev/null
  any_tcpdump r $out/lab-any-ipv6-nc-r.pcap; local tr=$!
  sleep 1
  ( printf 'hello from nc in b\n'; sleep 0.5 ) | "$ENCAP" lab exec b -- nc -6 -l 6666 > /dev/null & local lpid=$!
  sleep 0.5
  ( printf 'hi from nc in a\n'; head -c 4999 /dev/zero | tr '\0' a; echo; sleep 1 ) |
    "$ENCAP" lab exec a -- nc -6 -N 2001:db8:b::10 6666 > /dev/null || true
  wait $lpid || true
  sleep 1; kill -INT $tr; wait $tr 2>/dev/null || true
  "$ENCAP" lab down > /dev/null
}
if [ "${1:-}" = lab-any ]; then lab_any_captures; lab_any6_captures; ls -l $out/lab-any-* $out/lab-gro-*; exit 0; fi
if [ "${1:-}" = lab-any6 ]; then lab_any6_captures; ls -l $out/lab-any-ipv6-*; exit 0; fi
# An HTTP fetch on lo captured with `tcpdump -i any` (SLL2: each packet twice on lo, out and in).
curl_any() {
  local p=$((port+30))
  mkdir -p /tmp/encap-www && echo '<h1>hello from http.server</h1>' > /tmp/encap-www/index.html
  python3 -m http.server $p --bind 127.0.0.1 --directory /tmp/encap-www > /dev/null 2>&1 & local hpid=$!
  sleep 1
  tcpdump -i any -nn -U -w $out/any-curl-http.pcap "tcp port $p" 2>/dev/null & local td=$!
  sleep 1
  curl -s http://127.0.0.1:$p/ > /dev/null
  sleep 1; kill -INT $td; wait $td 2>/dev/null || true
  kill $hpid
}
# The blog's dialogue between encap server and encap client (chat, below) captured with
# `tcpdump -i any` on this host: SLL2, lo's interface index, the frames the kernel delivered.
chat_any() {
  local p=$((port+31))
  tcpdump -i any -nn -U -w $out/any-chat-hello-hi.pcap "tcp port $p" 2>/dev/null & local td=$!
  sleep 1
  chat $out/any-chat-hello-hi.pcap $p
  sleep 1; kill -INT $td; wait $td 2>/dev/null || true
}

# 11. A GET request written in two send() calls (captures/http_split.py), so its bytes arrive in
#     two segments, to http.server: `encap decode` must reassemble it, as tshark does. Only this
#     part: `captures/record.sh http-split`.
http_split() {
  local p=$((port+24))
  mkdir -p /tmp/encap-www && echo '<h1>hello from http.server</h1>' > /tmp/encap-www/index.html
  python3 -m http.server $p --bind 127.0.0.1 --directory /tmp/encap-www > /dev/null 2>&1 & local hpid=$!
  sleep 1
  start_tcpdump $out/http-split-request.pcap $p
  python3 captures/http_split.py $p
  stop_tcpdump
  kill $hpid
}
if [ "${1:-}" = http-split ]; then http_split; ls -l $out/http-split-*; exit 0; fi

# 12. UDP: nc -u -l and nc -u exchanging lines (one datagram each), then a datagram from nc -u to
#     a port nobody listens on, answered by the kernel's ICMP port unreachable.
#     Only this part: `captures/record.sh udp`.
udp_captures() {
  local p=$((port+25))
  tcpdump -i lo -nn -U -w $out/nc-udp.pcap "udp port $p or udp port $((p+1)) or icmp" 2>/dev/null & local td=$!
  sleep 1
  ( sleep 0.6; printf 'hi from nc -u -l\n'; sleep 1 ) | timeout 3 nc -u -l 127.0.0.1 $p > /dev/null & local lpid=$!
  sleep 0.3
  ( printf 'hello from nc -u\n'; sleep 0.6; printf 'second datagram\n'; sleep 1 ) | timeout 3 nc -u 127.0.0.1 $p > /dev/null || true
  wait $lpid || true
  ( printf 'anyone there?\n'; sleep 0.5 ) | timeout 2 nc -u 127.0.0.1 $((p+1)) > /dev/null || true
  sleep 1; kill -INT $td; wait $td 2>/dev/null || true
}
# The same over IPv6 (::1): the port unreachable is ICMPv6's.
udp6_captures() {
  local p=$((port+27))
  tcpdump -i lo -nn -U -w $out/nc-udp-ipv6.pcap "udp port $p or udp port $((p+1)) or icmp6" 2>/dev/null & local td=$!
  sleep 1
  ( sleep 0.6; printf 'hi from nc -u -l\n'; sleep 1 ) | timeout 3 nc -6 -u -l ::1 $p > /dev/null & local lpid=$!
  sleep 0.3
  ( printf 'hello from nc -u\n'; sleep 0.6; printf 'second datagram\n'; sleep 1 ) | timeout 3 nc -6 -u ::1 $p > /dev/null || true
  wait $lpid || true
  ( printf 'anyone there?\n'; sleep 0.5 ) | timeout 2 nc -6 -u ::1 $((p+1)) > /dev/null || true
  sleep 1; kill -INT $td; wait $td 2>/dev/null || true
}
if [ "${1:-}" = udp ]; then udp_captures; udp6_captures; ls -l $out/nc-udp*.pcap; exit 0; fi

# 13. The scripted peer (`encap lab peer SCENARIO`, issue 16): a TCP peer that is not Linux (no DF,
#     IP ID 0, full checksums, its own SYN options) in host a of the lab, driving one behaviour of
#     the Linux kernel in host b on purpose (a Python server there answers its request), recorded
#     by encap's own capture on b's veth b-r inside b, both directions, offloads off.
#     Only this part: `captures/record.sh peer [SCENARIO...]`.
peer_scenarios="nooptions mss536 slowstart sack-fastretransmit rto-backoff zerowindow rst-synrecv rst-established fin-established fin-finwait delayed-ack fin-closing rst-finwait1 rst-lastack rst-closewait timewait-fin timewait-syn rst-synsent"
peer_captures() {
  local s
  for s in "$@"; do "$ENCAP" lab peer "$s" -w "$out/peer-$s.pcap" > /dev/null; done
}
# Over IPv6 (`encap lab peer --ipv6`: the peer's neighbour discovery its own), a few of them.
#     Only this part: `captures/record.sh peer6 [SCENARIO...]`.
peer6_scenarios="sack-fastretransmit rto-backoff rst-established nooptions slowstart fin-finwait"
peer6_captures() {
  local s
  for s in "$@"; do "$ENCAP" lab peer --ipv6 "$s" -w "$out/peer-ipv6-$s.pcap" > /dev/null; done
}
if [ "${1:-}" = peer ]; then shift; peer_captures ${@:-$peer_scenarios}; ls -l $out/peer-*; exit 0; fi
if [ "${1:-}" = peer6 ]; then shift; peer6_captures ${@:-$peer6_scenarios}; ls -l $out/peer-ipv6-*; exit 0; fi

# 1. The blog's dialogue between encap server and encap client: handshake, hello, hi, a Chinese
#    line both ways, exit, teardown.
chat() { # file port
  local file=$1 p=$2
  rm -f /tmp/encap-srv.in /tmp/encap-cli.in; mkfifo /tmp/encap-srv.in /tmp/encap-cli.in
  "$ENCAP" server --listen 127.0.0.1:$p --view none < /tmp/encap-srv.in > /dev/null & local srv=$!
  exec 7> /tmp/encap-srv.in; sleep 0.5
  "$ENCAP" client --connect 127.0.0.1:$p --view none < /tmp/encap-cli.in > /dev/null & local cli=$!
  exec 8> /tmp/encap-cli.in; sleep 0.5
  echo "hello" >&8; sleep 0.3
  echo "hi" >&7; sleep 0.3
  echo "你好，服务器！" >&8; sleep 0.3
  echo "你好，客户端 👋" >&7; sleep 0.3
  echo "exit" >&8; sleep 0.5
  exec 8>&-; sleep 0.3; exec 7>&-
  wait $cli || true
  # (The server keeps serving once its input ends, until a signal: SIGTERM ends it cleanly.)
  kill -TERM $srv 2>/dev/null || true; wait $srv || true
}
if [ "${1:-}" = curl-any ]; then curl_any; chat_any; ls -l $out/any-curl-http.pcap $out/any-chat-hello-hi.pcap; exit 0; fi
# The host's receive-buffer settings, which fix the SYN windows and window scales in every
# capture here (`encap verify --tcp-rmem ... --rmem-max ...` predicts them from these).
sysctl net.ipv4.tcp_rmem net.core.rmem_max > $out/host-tcp-settings.txt

start_tcpdump $out/chat-hello-hi.pcap $port; chat $out/chat-hello-hi.pcap $port; stop_tcpdump

# 2. The same dialogue captured by tshark into pcapng (nanosecond if_tsresol).
tshark -i lo -f "tcp port $((port+1))" -w $out/chat-hello-hi.pcapng -q 2>/dev/null & tpid=$!; sleep 2
chat $out/chat-hello-hi.pcapng $((port+1)); sleep 1; kill -INT $tpid; wait $tpid 2>/dev/null || true

# 3. Programs nobody here wrote: nc talking to nc.
start_tcpdump $out/nc-nc.pcap $((port+2))
( printf 'hello from nc\n'; sleep 0.5; printf 'second line\n'; sleep 0.5 ) | nc -l 127.0.0.1 $((port+2)) > /dev/null & lpid=$!
sleep 0.5
( printf 'hi from the client\n'; sleep 1.5 ) | nc -N 127.0.0.1 $((port+2)) > /dev/null || true
wait $lpid || true
stop_tcpdump

# 4. curl fetching a page from python's http.server (HTTP/1.0: the server closes first).
mkdir -p /tmp/encap-www && echo '<h1>hello from http.server</h1>' > /tmp/encap-www/index.html
python3 -m http.server $((port+3)) --bind 127.0.0.1 --directory /tmp/encap-www > /dev/null 2>&1 & hpid=$!
sleep 1
start_tcpdump $out/curl-http.pcap $((port+3))
curl -s http://127.0.0.1:$((port+3))/ > /dev/null
stop_tcpdump
kill $hpid

# 5. The blog's own python programs, with the port changed: raw text with no newline.
sed "s/6666/$((port+4))/" ../shared/seed/server.py > /tmp/encap-server.py
sed "s/6666/$((port+4))/" ../shared/seed/client.py > /tmp/encap-client.py
start_tcpdump $out/blog-python.pcap $((port+4))
( sleep 1; echo hi; sleep 1; echo exit ) | python3 /tmp/encap-server.py > /dev/null & spid=$!
sleep 0.5
( echo hello; sleep 1.5; echo bye; sleep 1 ) | python3 /tmp/encap-client.py > /dev/null || true
wait $spid || true
stop_tcpdump

# 6. Over IPv6 (::1): curl fetching the page from http.server bound to ::1, and nc to nc.
python3 -m http.server $((port+5)) --bind ::1 --directory /tmp/encap-www > /dev/null 2>&1 & hpid=$!
sleep 1
start_tcpdump $out/curl-http-ipv6.pcap $((port+5))
curl -s -g "http://[::1]:$((port+5))/" > /dev/null
stop_tcpdump
kill $hpid
start_tcpdump $out/nc-nc-ipv6.pcap $((port+6))
( printf 'hello over IPv6\n'; sleep 0.5 ) | nc -6 -l ::1 $((port+6)) > /dev/null & lpid=$!
sleep 0.5
( printf 'hi from ::1\n'; sleep 1 ) | nc -6 -N ::1 $((port+6)) > /dev/null || true
wait $lpid || true
stop_tcpdump

# 7. What the model must know beyond the chat (captures/scenarios.py): an RST from a socket
#    (SO_LINGER 0), a refused connect answered by the control socket, TCP_MAXSEG / IP_TOS /
#    IP_TTL with a write cut into 988-byte segments, keepalive probes, Nagle coalescing, data
#    sent after the peer closed (the control socket's RST), a zero window and its probes.
p=$((port+7))
for s in reset refused options keepalive nagle latedata zerowindow; do
  start_tcpdump $out/scenario-$s.pcap $p
  python3 captures/scenarios.py $s $p
  stop_tcpdump
  p=$((p+1))
done
# 8. ECN: in a network namespace of its own (only lo, up) with net.ipv4.tcp_ecn = 1, so the
#    SYN asks for ECN, the SYN-ACK agrees, and data segments go out ECT(0).
unshare -n bash -c "ip link set lo up; sysctl -qw net.ipv4.tcp_ecn=1;
  tcpdump -i lo -nn -U -w $out/scenario-ecn.pcap 'tcp port $p' 2>/dev/null & td=\$!; sleep 1;
  python3 captures/scenarios.py ecn $p; sleep 1; kill -INT \$td; wait \$td 2>/dev/null || true"
# 9. TCP Fast Open, in a namespace with net.ipv4.tcp_fastopen = 3 (client and server): a cookie
#    request, the server's cookie, then data in the SYN.
unshare -n bash -c "ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=3;
  tcpdump -i lo -nn -U -w $out/scenario-fastopen.pcap 'tcp port $((p+1))' 2>/dev/null & td=\$!; sleep 1;
  python3 captures/scenarios.py fastopen $((p+1)); sleep 1; kill -INT \$td; wait \$td 2>/dev/null || true"
# 11. A listen queue overflowing: `encap server --verify` (listen(1), as the blog's server; its
#     capture thread makes it slow to accept) and 20 clients connecting at once. SYNs dropped
#     and sent again, SYN cookies (their TSval the clock rounded down to 64 ms), handshake ACKs
#     and data dropped and sent again with backoff, the control socket's bare RST at the end.
p=$((port+20))
start_tcpdump $out/scenario-overflow.pcap $p
"$ENCAP" server --listen 127.0.0.1:$p --verify --view none > /dev/null 2>&1 & spid=$!
sleep 1
python3 captures/overflow.py $p 20 || true
sleep 2; kill -INT $spid; sleep 2; kill -INT $spid 2>/dev/null || true; wait $spid 2>/dev/null || true
stop_tcpdump
lab_captures
lab6_captures
http_split
udp_captures
udp6_captures
peer_captures $peer_scenarios
peer6_captures $peer6_scenarios
lab_any_captures
lab_any6_captures
curl_any
chat_any
ls -l $out
