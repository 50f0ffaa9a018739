"""Helpers of the day-2 report tests: real certificates, running our module, running playbooks."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "day2"


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """A kubeadm-shaped PKI tree under `root`, signed by one test CA (EC keys: fast)."""

    def __init__(self, root: Path):
        self.root = root
        self.now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._cert(_name("kubernetes"), self.ca_key.public_key(), days=3650, ca=True)

    def _cert(self, subject, public_key, *, days=None, not_after=None, ca=False, ips=()):
        not_after = not_after or self.now + datetime.timedelta(days=days)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self.ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(self.now - datetime.timedelta(days=400), not_after - datetime.timedelta(days=1)))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ips:
            names = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def leaf(self, cn: str, org: str | None = None, days: float = 365, ips: tuple[str, ...] = ()):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._cert(_name(cn, org), key.public_key(), not_after=self.now + datetime.timedelta(days=days), ips=ips)
        return cert, key

    @staticmethod
    def pem(cert) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    @staticmethod
    def key_pem(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def kubeconfig(self, rel: str, cert, key) -> Path:
        data = base64.b64encode(self.pem(cert).encode()).decode()
        key_data = base64.b64encode(self.key_pem(key).encode()).decode()
        ca_data = base64.b64encode(self.pem(self.ca).encode()).decode()
        return self.write(
            rel,
            f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca_data}
    server: https://10.89.100.100:8443
  name: orchestrator
contexts:
- context:
    cluster: orchestrator
    user: kubernetes-admin
  name: kubernetes-admin@orchestrator
current-context: kubernetes-admin@orchestrator
kind: Config
preferences: {{}}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: {data}
    client-key-data: {key_data}
""",
        )


def localhost_inventory(tmp: Path) -> Path:
    inv = tmp / "inventory.yml"
    inv.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
    )
    return inv


def playbook(path: str, tmp: Path, extra: dict, inventory: Path | None = None) -> subprocess.Popen:
    """Start ansible-playbook on a playbook of ours (the caller waits)."""
    extra_file = tmp / f"extra-{time.monotonic_ns()}.json"
    extra_file.write_text(json.dumps(extra))
    log = open(tmp / f"{Path(path).stem}-{time.monotonic_ns()}.log", "w")  # noqa: SIM115 - closed by the caller
    proc = subprocess.Popen(
        [
            "ansible-playbook",
            "-i",
            str(inventory or localhost_inventory(tmp)),
            str(ROOT / path),
            "-e",
            f"@{extra_file}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        text=True,
    )
    proc.log_path = log.name
    proc.log_file = log
    return proc
