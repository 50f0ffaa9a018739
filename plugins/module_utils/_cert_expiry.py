# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private code of the cert_expiry module: find the kubeadm certificates and read notAfter.

Not a public API. Three parsers give the same answer: the ``cryptography`` library when the
node has it, else the ``openssl`` command, else a small DER reader of our own (enough of X.509
to reach the subject and the validity; Debian's minimal images have neither of the others).
"""

import base64
import binascii
import calendar
import datetime
import glob
import os
import re
import time

try:
    from cryptography import x509
except ImportError:  # the openssl command or the builtin reader then
    x509 = None

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
KUBECONFIG_CERT = re.compile(r"^\s*client-certificate-data:\s*(\S+)\s*$", re.M)

# Short names of the attributes kubeadm's certificates use (the rest print as dotted OIDs).
OID_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU"}


class CertError(Exception):
    pass


def _utc(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def _epoch(naive_utc):
    return calendar.timegm(naive_utc.timetuple())


def pem_blocks(text):
    """The DER bytes of every CERTIFICATE block in a text (private-key blocks are never read)."""
    out = []
    for match in PEM_CERT.finditer(text):
        try:
            out.append(base64.b64decode("".join(match.group(1).split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise CertError("a CERTIFICATE block is not valid base64: %s" % exc) from exc
    return out


def kubeconfig_pems(text):
    """The PEM text of every client-certificate-data of a kubeconfig."""
    out = []
    for match in KUBECONFIG_CERT.finditer(text):
        try:
            out.append(base64.b64decode(match.group(1), validate=True).decode("ascii"))
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise CertError("client-certificate-data is not base64 PEM: %s" % exc) from exc
    return out


# ---------------------------------------------------------------------------- builtin DER reader

def _tlv(data, pos):
    """(tag, start of content, end of content) of the DER element at pos."""
    if pos + 2 > len(data):
        raise CertError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not count or count > 4 or pos + count > len(data):
            raise CertError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertError("truncated DER")
    return tag, pos, pos + length


def _children(data, start, end):
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(data, pos)
        out.append((tag, cstart, cend))
        pos = cend
    return out


def _oid(raw):
    first = raw[0]
    parts = [first // 40, first % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _der_time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ: years 50-99 are 19xx (RFC 5280)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise CertError("unexpected time tag 0x%02x" % tag)
    return _epoch(datetime.datetime.strptime(text[:14], "%Y%m%d%H%M%S"))


def _der_name(data, start, end):
    parts = []
    for _set_tag, sstart, send in _children(data, start, end):
        for _seq_tag, astart, aend in _children(data, sstart, send):
            (otag, ostart, oend), (_vtag, vstart, vend) = _children(data, astart, aend)[:2]
            if otag != 0x06:
                raise CertError("bad attribute in a name")
            oid = _oid(data[ostart:oend])
            parts.append("%s=%s" % (OID_NAMES.get(oid, oid), data[vstart:vend].decode("utf-8", "replace")))
    return ", ".join(parts)


def parse_builtin(der):
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise CertError("not a DER certificate")
    _tbs_tag, tstart, tend = _children(der, start, end)[0]
    fields = _children(der, tstart, tend)
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    if len(fields) < 5 or fields[3][0] != 0x30:
        raise CertError("not an X.509 TBSCertificate")
    times = _children(der, fields[3][1], fields[3][2])
    not_after = _der_time(times[1][0], der[times[1][1]:times[1][2]])
    return {"not_after": not_after, "subject": _der_name(der, fields[4][1], fields[4][2])}


# ---------------------------------------------------------------------------- other parsers

def cryptography_available():
    return x509 is not None


def parse_cryptography(der):
    cert = x509.load_der_x509_certificate(der)
    after = getattr(cert, "not_valid_after_utc", None)
    epoch = after.timestamp() if after is not None else _epoch(cert.not_valid_after)
    parts = []
    for rdn in cert.subject.rdns:
        for attr in rdn:
            parts.append("%s=%s" % (OID_NAMES.get(attr.oid.dotted_string, attr.oid.dotted_string), attr.value))
    return {"not_after": epoch, "subject": ", ".join(parts)}


def parse_openssl(der, run_command, openssl):
    body = base64.encodebytes(der).decode("ascii").strip()
    pem = "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % body
    command = [openssl, "x509", "-noout", "-enddate", "-subject", "-nameopt", "sep_comma_plus_space,sname,utf8"]
    rc, out, err = run_command(command, data=pem, binary_data=True)
    if rc != 0:
        raise CertError("openssl x509 failed: %s" % err.strip())
    end = re.search(r"^notAfter=(.+)$", out, re.M)
    subject = re.search(r"^subject=\s*(.*)$", out, re.M)
    if not end:
        raise CertError("openssl printed no notAfter: %s" % out.strip())
    when = datetime.datetime.strptime(end.group(1).strip().replace(" GMT", ""), "%b %d %H:%M:%S %Y")
    text = subject.group(1).strip() if subject else ""
    return {"not_after": _epoch(when), "subject": re.sub(r"\s*=\s*", "=", text)}


# ---------------------------------------------------------------------------- the scan

def expand(patterns):
    out = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        for path in matches:
            if path not in out:
                out.append(path)
    return out


def scan(files, kubeconfigs, parse, *, now, warn_days, fail_days):
    """One entry per certificate: {path, source, index, subject, not_after, days_left, status}
    or {path, source, error}; absent files are listed in the second return value."""
    found = []
    missing = []
    sources = [(p, "file") for p in expand(files)] + [(p, "kubeconfig") for p in expand(kubeconfigs)]
    for path, source in sources:
        if not os.path.exists(path):
            missing.append(path)
            continue
        try:
            with open(path) as handle:
                text = handle.read()
            pems = [text] if source == "file" else kubeconfig_pems(text)
            ders = [der for pem in pems for der in pem_blocks(pem)]
            if not ders:
                raise CertError("no certificate in the file")
        except (CertError, OSError, UnicodeDecodeError) as exc:
            found.append({"path": path, "source": source, "error": str(exc), "status": "fail"})
            continue
        for index, der in enumerate(ders):
            try:
                parsed = parse(der)
            except Exception as exc:  # pylint: disable=broad-except
                found.append({"path": path, "source": source, "index": index, "error": str(exc), "status": "fail"})
                continue
            days = round((parsed["not_after"] - now) / 86400.0, 2)
            status = "fail" if days < fail_days else "warn" if days < warn_days else "ok"
            found.append({"path": path, "source": source, "index": index, "subject": parsed["subject"],
                          "not_after": _utc(parsed["not_after"]), "days_left": days, "expired": days < 0,
                          "status": status})
    return found, missing
