# Read-only probe of one node for preflight: prints one JSON object and changes nothing.
# Run by `ansible.builtin.raw` with the node names as arguments (one round trip per node, no module
# transfer). Needs only python3 (Linux: /proc/net/route, /sys/class/net and two read-only ioctls).
import fcntl
import json
import os
import socket
import struct
import sys

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B


def os_release():
    values = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    key, sep, value = line.strip().partition("=")
                    if sep:
                        values[key] = value.strip().strip('"')
            return values
        except OSError:
            continue
    return values


def default_interface():
    """The interface of the IPv4 default route (destination 0.0.0.0/0), from /proc/net/route."""
    try:
        with open("/proc/net/route", encoding="utf-8") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def interface_ipv4(sock, name):
    """(address, prefix length) of an interface's primary IPv4 address, or None."""
    request = struct.pack("256s", name.encode()[:15])
    try:
        address = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24])
        netmask = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, request)[20:24])
    except OSError:
        return None
    return address, bin(struct.unpack("!I", socket.inet_aton(netmask))[0]).count("1")


def memtotal_mb():
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def resolve(name):
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)})
    except OSError:
        return []


release = os_release()
addresses = []
default = {}
default_dev = default_interface()
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
    for interface in sorted(os.listdir("/sys/class/net")):
        found = interface_ipv4(probe_socket, interface)
        if not found or found[0].startswith("127."):
            continue
        addresses.append(found[0])
        if interface == default_dev:
            default = {"address": found[0], "prefix": found[1], "interface": interface}

print(json.dumps({
    "os_id": release.get("ID", ""),
    "os_version_id": release.get("VERSION_ID", ""),
    "os_name": release.get("PRETTY_NAME", ""),
    "architecture": os.uname().machine,
    "nodename": os.uname().nodename,
    "cpus": os.cpu_count() or 0,
    "memtotal_mb": memtotal_mb(),
    "default_ipv4": default,
    "ipv4_addresses": addresses,
    "resolved": {name: resolve(name) for name in sys.argv[1:]},
}))
