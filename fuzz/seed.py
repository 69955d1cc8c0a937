#!/usr/bin/env python3
"""Seeds for the fuzz corpora, from captures/ and a few crafted inputs, into fuzz/seeds/<target>/.
The committed corpus (fuzz/corpus/) is these seeds and what fuzzing found, minimized with -merge=1,
then cut to 40 files a target (the seeds that survived the merge, then the smallest others)."""
import glob, os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out = os.path.join(root, "fuzz", "seeds")

def frames(path):
    b = open(path, "rb").read()
    end = "<" if b[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    at, got = 24, []
    while at + 16 <= len(b):
        incl = struct.unpack(end + "I", b[at + 8:at + 12])[0]
        got.append(b[at + 16:at + 16 + incl])
        at += 16 + incl
    return got

def write(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    open(os.path.join(out, target, name), "wb").write(data)

for path in sorted(glob.glob(os.path.join(root, "captures", "*.pcap*"))):
    name = os.path.basename(path)
    write("capfile", name, open(path, "rb").read())
    if not name.endswith(".pcap"):
        continue
    fs = frames(path)
    for i, f in enumerate(fs[:3]):
        write("dissect", f"{name}-{i + 1}", f)
    recs = b"".join(struct.pack(">BH", 1, len(f)) + f for f in fs)
    write("verify", name, b"\x00" + recs)
    settings = struct.pack(">4I", 4096, 131072, 6291456, 212992)
    transcript = b"".join(struct.pack(">H", len(t)) + t for t in (b"hello\nbye", b"hi"))
    write("verify", name + "-settings", b"\x03" + settings + transcript + recs)

write("framing", "lines", b"\x01" + bytes([12]) + b"hello\nworld\n" + bytes([3]) + b"abc")
write("framing", "idle", b"\x10" + bytes([4]) + b"raw " + b"\x00" + bytes([5]) + b"text\n")
write("framing", "long-utf8", b"\x00" + bytes([20]) + "ééééééééé\n".encode() + bytes([6]) + b"exit\r\n")
