# D-Bus burst of large strings (1-32 MiB requests, and VmInfo answers as large) against a VMM on a
# bus; prints the VMM's RSS before, at the peak, right after and when idle.
# Usage (Debian's python3, which has python3-dbus): /usr/bin/python3 bench/dbus_memory.py BUS_ADDRESS NAME PATH PID [ROUNDS]
import dbus, sys, time, threading
address, name, path, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
bus = dbus.bus.BusConnection(address)
def call(method, *args):
    try:
        return bus.call_blocking(name, path, "org.cloudhypervisor.DBusApi1", method, "s" * len(args), list(args), timeout=120)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
print("before", rss(), "MB")
peak = [0]
done = threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss()); time.sleep(0.1)
threading.Thread(target=watch, daemon=True).start()
for r in range(rounds):
    for mib in (1, 2, 4, 8, 16, 32):
        call("VmCreate", '{"x":"' + "a" * (mib << 20) + '"}')            # refused: unknown field
        call("VmDelete")
        call("VmCreate", '{"payload":{"kernel":"/k","cmdline":"' + "a" * (mib << 20) + '"}}')
        call("VmInfo")                                                   # the answer carries it back
        call("VmDelete")
done.set()
print("peak", peak[0], "MB; after", rss(), "MB")
idle = 0
for w in (5, 10, 60):
    time.sleep(w); idle += w; print(f"after +{idle}s idle", rss(), "MB")
