#!/usr/bin/env python3
# 20 clients at once against a server with listen(1) (captures/record.sh, part 11): each sends
# a line, waits half a second, says exit and reads until the server closes.
import socket, sys, threading, time
port = int(sys.argv[1]); n = int(sys.argv[2])
def one(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"hello %d\n" % i)
        time.sleep(0.5)
        s.sendall(b"exit\n")
        s.settimeout(10)
        try:
            while s.recv(4096): pass
        except Exception: pass
        s.close()
    except Exception as e:
        print("client", i, e)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
