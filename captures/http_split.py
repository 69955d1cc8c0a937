"""A GET request written in two send() calls, so it leaves as two TCP segments (TCP_NODELAY), to
the http.server on 127.0.0.1:PORT; the response is read to the end. For captures/record.sh."""
import socket
import sys

port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b"GET /index.html HTTP/1.1\r\nHo")
# Wait for the server's ACK of the first part's bytes (TCP_INFO would tell; a short read
# timeout that expires is simpler): the second part is then its own segment for sure.
s.settimeout(0.2)
try:
    s.recv(1)
except socket.timeout:
    pass
s.settimeout(None)
s.sendall(b"st: 127.0.0.1\r\nUser-Agent: split/1\r\nAccept: */*\r\n\r\n")
while s.recv(65536):
    pass
s.close()
