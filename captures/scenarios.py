#!/usr/bin/env python3
"""Socket scenarios for captures/record.sh: what the model must know beyond the chat.

    python3 captures/scenarios.py NAME PORT

reset     the server reads nothing and closes with SO_LINGER 0: an RST from the socket
refused   a connect() to a port nobody listens on: the kernel's control socket answers
options   TCP_MAXSEG 1000, IP_TOS 0x10 and IP_TTL 32 on the client, a 5000-byte write
keepalive SO_KEEPALIVE with a 1 s idle time: probes at snd_una - 1, and their ACKs
nagle     no TCP_NODELAY, 20 small writes at once: several leave in one segment
latedata  the server closes first; the client sends after the server's FIN: the closed
          socket's stand-in answers with the control socket's RST
ecn       a short dialogue; record.sh runs it in a network namespace with net.ipv4.tcp_ecn = 1
zerowindow the server's receive buffer is small (SO_RCVBUF 4096) and it reads nothing for
          1.2 s: its window closes, the client probes it, the server's reads reopen it
fastopen  two connections with MSG_FASTOPEN: the first asks for a cookie, the second sends its
          data in the SYN with it; record.sh runs it with net.ipv4.tcp_fastopen = 3
"""
import socket
import struct
import sys
import threading
import time

name, port = sys.argv[1], int(sys.argv[2])
addr = ("127.0.0.1", port)


def serve(handle, options=()):
    """A listener (with these socket options) whose one connection goes to handle, on a thread."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for level, option, value in options:
        ls.setsockopt(level, option, value)
    ls.bind(addr)
    ls.listen(1)

    def run():
        conn, _ = ls.accept()
        handle(conn)
        ls.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def drain(conn):
    while conn.recv(65536):
        pass
    conn.close()


def client_with(options, data, wait):
    """A client with these socket options set before connect() sends data, waits, closes."""
    t = serve(drain)
    c = socket.socket()
    for level, option, value in options:
        c.setsockopt(level, option, value)
    c.connect(addr)
    c.sendall(data)
    time.sleep(wait)
    c.close()
    t.join()


if name == "reset":
    def abort(conn):
        time.sleep(0.3)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    t = serve(abort)
    c = socket.create_connection(addr)
    c.sendall(b"hello\n")
    time.sleep(0.6)
    c.close()
    t.join()
elif name == "refused":
    try:
        socket.create_connection(addr)
    except ConnectionRefusedError:
        pass
elif name == "options":
    client_with([(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000),
                 (socket.IPPROTO_IP, socket.IP_TOS, 0x10),
                 (socket.IPPROTO_IP, socket.IP_TTL, 32)], b"x" * 5000, 0.2)
elif name == "keepalive":
    client_with([(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
                 (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1),
                 (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)], b"hello\n", 2.6)
elif name == "nagle":
    t = serve(drain)
    c = socket.create_connection(addr)
    for i in range(20):
        c.send(b"msg%d;" % i)
    time.sleep(0.2)
    c.close()
    t.join()
elif name == "latedata":
    def close_first(conn):
        conn.recv(100)
        conn.close()
    t = serve(close_first)
    c = socket.create_connection(addr)
    c.sendall(b"hello\n")
    time.sleep(0.3)
    c.sendall(b"too late\n")
    time.sleep(0.3)
    c.close()
    t.join()
elif name == "ecn":
    def echo(conn):
        while True:
            d = conn.recv(100)
            if not d:
                break
            conn.sendall(d)
        conn.close()
    t = serve(echo)
    c = socket.create_connection(addr)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for line in (b"hello\n", b"hi\n", b"exit\n"):
        c.sendall(line)
        c.recv(100)
    c.close()
    t.join()
elif name == "zerowindow":
    def slow(conn):
        time.sleep(1.2)
        drain(conn)
    t = serve(slow, [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    c = socket.create_connection(addr)
    c.sendall(b"z" * 20000)
    time.sleep(0.2)
    c.close()
    t.join()
elif name == "fastopen":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
    ls.bind(addr)
    ls.listen(5)

    def run():
        for _ in range(2):
            conn, _ = ls.accept()
            conn.sendall(conn.recv(100))
            conn.close()
        ls.close()

    t = threading.Thread(target=run)
    t.start()
    for text in (b"first\n", b"with the cookie\n"):
        c = socket.socket()
        c.sendto(text, socket.MSG_FASTOPEN, addr)
        c.recv(100)
        c.close()
        time.sleep(0.2)
    t.join()
else:
    sys.exit(f"unknown scenario {name!r}")
