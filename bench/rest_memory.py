# REST burst of large, chunked, oversized and abandoned bodies (T threads x N rounds); prints the
# VMM RSS before, at peak, right after and when idle. Usage: T=32 python3 bench/rest_memory.py SOCKET PID [ROUNDS]
import socket, sys, os, time, threading
S, PID = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 40
def rss():
    for l in open(f"/proc/{PID}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
def req(data, read=True):
    s = socket.socket(socket.AF_UNIX); s.connect(S); s.settimeout(30)
    try:
        s.sendall(data)
        if read:
            while s.recv(65536): pass
    except Exception: pass
    s.close()
big = b'{"x":"' + b'a' * (3 << 20) + b'"}'
over = b'{' + b' ' * (4 << 20) + b'}'
def cl(body): return b'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n' % len(body) + body
def chunked(body):
    out = b'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n'
    for i in range(0, len(body), 65536):
        c = body[i:i+65536]; out += b'%x\r\n' % len(c) + c + b'\r\n'
    return out + b'0\r\n\r\n'
print("before", rss(), "MB")
def worker():
    for i in range(rounds):
        req(cl(big)); req(cl(over)); req(chunked(over)); req(chunked(big))
        req(b'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n' + b'a' * (2 << 20), read=False)
        req(b'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + b'100000\r\n' + b'a' * (1 << 20), read=False)
ts = [threading.Thread(target=worker) for _ in range(int(os.environ.get("T","4")))]
[t.start() for t in ts]; peak = 0
while any(t.is_alive() for t in ts):
    peak = max(peak, rss()); time.sleep(0.2)
print("peak", peak, "MB; after", rss(), "MB")
for w in (5, 15):
    time.sleep(w); print(f"after +{w}s idle", rss(), "MB")
