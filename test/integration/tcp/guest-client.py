# Guest-side TCP client for linux-guest.test.ts, run inside the namespace.
#   upload HOST PORT NBYTES SEED   -> sends NBYTES of seeded random data, then half-closes, prints sha256 of what it sent and the reply
#   download HOST PORT             -> reads until EOF, prints byte count and sha256
#   many HOST PORT N               -> N short connections, each sends "ping N" and expects "pong N"
#   refused HOST PORT              -> prints the connect error name
import hashlib, random, socket, sys

cmd = sys.argv[1]
host, port = sys.argv[2], int(sys.argv[3])
if cmd == "upload":
    n, seed = int(sys.argv[4]), int(sys.argv[5])
    rnd = random.Random(seed)
    data = rnd.randbytes(n)
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        reply += b
    print(hashlib.sha256(data).hexdigest(), reply.decode())
elif cmd == "download":
    s = socket.create_connection((host, port), timeout=60)
    h = hashlib.sha256()
    total = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        total += len(b)
    print(total, h.hexdigest())
elif cmd == "many":
    for i in range(int(sys.argv[4])):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"ping %d" % i)
        s.shutdown(socket.SHUT_WR)
        r = b""
        while True:
            b = s.recv(100)
            if not b:
                break
            r += b
        assert r == b"pong %d" % i, r
        s.close()
    print("ok")
elif cmd == "refused":
    try:
        socket.create_connection((host, port), timeout=10)
        print("connected")
    except OSError as e:
        print(type(e).__name__)
