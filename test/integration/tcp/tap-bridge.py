# Bridges a TAP device (created here, inside the caller's network namespace) to stdio:
# frames are length-prefixed (u32 big-endian) on stdout (from the TAP) and stdin (to the TAP).
# "ready" on stderr once the device exists. Test helper for linux-guest.test.ts.
import fcntl, os, struct, sys, threading

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

name = sys.argv[1]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
sys.stderr.write("ready\n")
sys.stderr.flush()

def tap_to_stdout():
    out = sys.stdout.buffer
    while True:
        frame = os.read(fd, 70000)
        out.write(struct.pack(">I", len(frame)) + frame)
        out.flush()

def read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            os._exit(0)
        buf += chunk
    return buf

def stdin_to_tap():
    inp = sys.stdin.buffer
    while True:
        (n,) = struct.unpack(">I", read_exact(inp, 4))
        os.write(fd, read_exact(inp, n))

threading.Thread(target=tap_to_stdout, daemon=True).start()
stdin_to_tap()
