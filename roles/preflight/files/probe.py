# Read-only probe of one node for preflight: prints one JSON object and changes nothing.
# Run by `ansible.builtin.raw` with one JSON argument (one round trip per node, no module transfer):
#   {"names": [node names to resolve], "disk_paths": [paths whose filesystem to measure],
#    "mirror_index": "<URL of the apt repository directory, or empty>", "timeout": <seconds>}
# Needs only python3 (Linux: /proc/net/route, /proc/net/tcp, /proc/mounts, /sys/class/net, two
# read-only ioctls, statvfs; and one bounded read-only GET of the mirror's package index).
import fcntl
import gzip
import json
import lzma
import os
import socket
import struct
import sys
import urllib.error
import urllib.request

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


def cgroup_mode():
    """v2 (cgroup2 on /sys/fs/cgroup), hybrid (tmpfs with a cgroup2 'unified' mount) or v1."""
    fstype = ""
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "/sys/fs/cgroup":
                    fstype = fields[2]
    except OSError:
        return "unknown", ""
    if fstype == "cgroup2":
        return "v2", fstype
    if os.path.isdir("/sys/fs/cgroup/unified") and os.listdir("/sys/fs/cgroup/unified"):
        return "hybrid", fstype
    return ("v1" if fstype else "unknown"), fstype


def disk(path):
    """Free space of the filesystem that holds path (or will: its nearest existing parent)."""
    checked = path
    while not os.path.exists(checked) and checked != "/":
        checked = os.path.dirname(checked) or "/"
    stats = os.statvfs(checked)
    return {
        "path": path,
        "checked": checked,
        "dev": os.stat(checked).st_dev,
        "free_mb": stats.f_bavail * stats.f_frsize // (1024 * 1024),
    }


def listening_tcp_ports():
    """Local TCP ports in state LISTEN (what `ss -ltnH` shows), from /proc/net/tcp and tcp6."""
    ports = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle.readlines()[1:]:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return sorted(ports)


def package_versions(text, package):
    """Versions of one package in an apt Packages index."""
    versions = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key.strip()] = value.strip()
        if fields.get("Package") == package and fields.get("Version"):
            versions.append(fields["Version"])
    return versions


def mirror(base, timeout):
    """Read the Packages index of the flat apt repository at base (http(s):// or file://).

    reachable: the location answered (an HTTP status, or an existing directory); index: the index
    found (Packages, .gz or .xz); kubeadm: the kubeadm versions it lists; error: why not.
    """
    base = base if base.endswith("/") else base + "/"
    found = {"url": base, "reachable": False, "index": "", "kubeadm": [], "error": ""}
    if base.startswith("file://") and not os.path.isdir(base[len("file://"):]):
        found["error"] = "no such directory"
        return found
    for name, unpack in (("Packages", bytes), ("Packages.gz", gzip.decompress), ("Packages.xz", lzma.decompress)):
        try:
            with urllib.request.urlopen(base + name, timeout=timeout) as answer:  # noqa: S310 (read-only GET)
                text = unpack(answer.read()).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            found["reachable"] = True
            found["error"] = "HTTP %s for %s" % (error.code, base + name)
            continue
        except (urllib.error.URLError, OSError, ValueError, EOFError, lzma.LZMAError) as error:
            if base.startswith("file://") and isinstance(getattr(error, "reason", error), FileNotFoundError):
                found["reachable"] = True
                found["error"] = "no %s in %s" % (name, base)
                continue
            found["error"] = str(getattr(error, "reason", error))
            return found
        found.update(reachable=True, index=base + name, kubeadm=package_versions(text, "kubeadm"), error="")
        return found
    return found


args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
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
    "resolved": {name: resolve(name) for name in args.get("names", [])},
    "cgroup": dict(zip(("mode", "fstype"), cgroup_mode(), strict=True)),
    "disks": [disk(path) for path in args.get("disk_paths", [])],
    "listening_tcp": listening_tcp_ports(),
    "kubelet_conf": os.path.exists("/etc/kubernetes/kubelet.conf"),
    "mirror": mirror(args["mirror_index"], args.get("timeout", 5)) if args.get("mirror_index") else {},
}))
