"""cert_expiry on real certificates made by the test, with each of its three parsers.

The tree imitates a control plane: pki/*.crt, pki/etcd/*.crt, kubeconfigs with embedded client
certificates, and the kubelet's client PEM that holds the certificate and its private key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from day2_support import Pki
from standin_client import run_module

PARSERS = ("cryptography", "openssl", "builtin")


@pytest.fixture(scope="module")
def pki():
    tmp = Path(tempfile.mkdtemp(prefix="orch-rp-cert-", dir="/tmp"))
    tree = Pki(tmp / "etc")
    tree.write("kubernetes/pki/ca.crt", tree.pem(tree.ca))
    soon, _ = tree.leaf("kube-apiserver", days=3)
    tree.write("kubernetes/pki/apiserver.crt", tree.pem(soon))
    expired, _ = tree.leaf("kube-etcd-peer", days=-2)
    tree.write("kubernetes/pki/etcd/peer.crt", tree.pem(expired))
    fine, _ = tree.leaf("kube-etcd-healthcheck-client", days=200)
    tree.write("kubernetes/pki/etcd/healthcheck-client.crt", tree.pem(fine))
    near, _ = tree.leaf("front-proxy-client", days=20)
    tree.write("kubernetes/pki/front-proxy-client.crt", tree.pem(near))
    admin, admin_key = tree.leaf("kubernetes-admin", org="kubeadm:cluster-admins", days=300)
    tree.kubeconfig("kubernetes/admin.conf", admin, admin_key)
    kubelet, kubelet_key = tree.leaf("system:node:cp1", org="system:nodes", days=250)
    tree.write("kubelet/pki/kubelet-client-current.pem", tree.pem(kubelet) + tree.key_pem(kubelet_key))
    tree.write("kubernetes/pki/broken.crt", "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
    yield tree, tmp
    shutil.rmtree(tmp)


def _args(tree, parser):
    etc = tree.root
    return {
        "paths": [
            f"{etc}/kubernetes/pki/*.crt",
            f"{etc}/kubernetes/pki/etcd/*.crt",
            f"{etc}/kubelet/pki/kubelet-client-current.pem",
        ],
        "kubeconfigs": [f"{etc}/kubernetes/admin.conf", f"{etc}/kubernetes/super-admin.conf"],
        "warn_days": 30,
        "fail_days": 7,
        "parser": parser,
    }


@pytest.mark.parametrize("parser", PARSERS)
def test_each_certificate_gets_its_expiry_and_status(pki, parser):
    tree, tmp = pki
    result = run_module("cert_expiry", _args(tree, parser), tmp)
    assert not result.get("failed"), result
    assert result["parser"] == parser
    by_path = {Path(c["path"]).relative_to(tree.root).as_posix(): c for c in result["certificates"]}
    assert set(by_path) == {
        "kubernetes/pki/ca.crt",
        "kubernetes/pki/apiserver.crt",
        "kubernetes/pki/etcd/peer.crt",
        "kubernetes/pki/etcd/healthcheck-client.crt",
        "kubernetes/pki/front-proxy-client.crt",
        "kubernetes/pki/broken.crt",
        "kubernetes/admin.conf",
        "kubelet/pki/kubelet-client-current.pem",
    }
    expect = {  # path: (days, status, subject)
        "kubernetes/pki/ca.crt": (3650, "ok", "CN=kubernetes"),
        "kubernetes/pki/apiserver.crt": (3, "fail", "CN=kube-apiserver"),
        "kubernetes/pki/etcd/peer.crt": (-2, "fail", "CN=kube-etcd-peer"),
        "kubernetes/pki/etcd/healthcheck-client.crt": (200, "ok", "CN=kube-etcd-healthcheck-client"),
        "kubernetes/pki/front-proxy-client.crt": (20, "warn", "CN=front-proxy-client"),
        "kubernetes/admin.conf": (300, "ok", "O=kubeadm:cluster-admins, CN=kubernetes-admin"),
        "kubelet/pki/kubelet-client-current.pem": (250, "ok", "O=system:nodes, CN=system:node:cp1"),
    }
    for rel, (days, status, subject) in expect.items():
        cert = by_path[rel]
        assert abs(cert["days_left"] - days) < 0.02, (rel, cert)
        assert cert["status"] == status, (rel, cert)
        assert cert["subject"] == subject, (rel, cert)
        assert cert["expired"] is (days < 0)
    assert by_path["kubernetes/pki/broken.crt"]["status"] == "fail"
    assert "base64" in by_path["kubernetes/pki/broken.crt"]["error"]
    assert result["missing"] == [f"{tree.root}/kubernetes/super-admin.conf"]
    assert result["status"] == "fail"
    assert -2.01 < result["soonest_days"] < -1.99


def test_parsers_agree_to_the_second(pki):
    tree, tmp = pki
    results = [run_module("cert_expiry", _args(tree, p), tmp)["certificates"] for p in PARSERS]
    shapes = [sorted((c["path"], c.get("not_after"), c.get("subject")) for c in r) for r in results]
    assert shapes[0] == shapes[1] == shapes[2]


def test_private_keys_never_reach_the_result(pki):
    tree, tmp = pki
    result = run_module("cert_expiry", _args(tree, "builtin"), tmp)
    text = repr(result)
    assert "PRIVATE KEY" not in text and "client-key-data" not in text
    kubelet = [c for c in result["certificates"] if c["path"].endswith("kubelet-client-current.pem")]
    assert len(kubelet) == 1  # the certificate only, not the key block


def test_all_fine_is_ok(pki):
    tree, tmp = pki
    args = _args(tree, "auto")
    args.update(paths=[f"{tree.root}/kubernetes/pki/ca.crt"], kubeconfigs=[f"{tree.root}/kubernetes/admin.conf"])
    result = run_module("cert_expiry", args, tmp)
    assert result["status"] == "ok" and result["parser"] == "cryptography"
    assert [c["status"] for c in result["certificates"]] == ["ok", "ok"]


def test_auto_falls_back_to_the_builtin_reader_on_a_bare_node(pki):
    """A node like the test node image: no cryptography library, no openssl command."""
    tree, tmp = pki
    args_file = tmp / "bare-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": _args(tree, "auto")}))
    collections = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
    bare = tmp / "bare-bin"
    bare.mkdir(exist_ok=True)
    code = ("import runpy, sys; sys.modules['cryptography'] = None; "
            "runpy.run_module('ansible_collections.orchestrator.platform.plugins.modules.cert_expiry', "
            "run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, str(args_file)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=collections, PATH=str(bare)), check=False)
    result = json.loads(proc.stdout)
    assert result["parser"] == "builtin", result
    reference = run_module("cert_expiry", _args(tree, "cryptography"), tmp)
    def shape(certs):  # days_left is left out: the two runs are seconds apart
        return sorted((c["path"], c.get("not_after"), c.get("subject"), c["status"]) for c in certs)

    assert shape(result["certificates"]) == shape(reference["certificates"])
    assert result["status"] == "fail" and result["missing"] == reference["missing"]


def test_fail_days_above_warn_days_is_refused(pki):
    """fail_days is the nearer horizon: 30/60 would call a certificate with 40 days 'fail' and never 'warn'."""
    tree, tmp = pki
    args = _args(tree, "builtin")
    args.update(warn_days=30, fail_days=60)
    result = run_module("cert_expiry", args, tmp)
    assert result.get("failed") is True and "fail_days" in result["msg"] and "warn_days" in result["msg"], result
    args.update(warn_days=30, fail_days=30)  # equal horizons: no warn band, but consistent
    assert not run_module("cert_expiry", args, tmp).get("failed")


def test_no_certificate_found_is_fail_not_ok(pki):
    """Patterns that match nothing and files that do not exist: nothing was checked, which is not 'ok'."""
    tree, tmp = pki
    args = _args(tree, "builtin")
    args.update(paths=[f"{tree.root}/nowhere/*.crt", f"{tree.root}/nowhere/one.crt"],
                kubeconfigs=[f"{tree.root}/nowhere/*.conf"])
    result = run_module("cert_expiry", args, tmp)
    assert not result.get("failed"), result  # a status, so a report still gets the node's other checks
    assert result["status"] == "fail" and result["certificates"] == []
    assert "no certificate" in result["msg"]
    assert result["missing"] == [f"{tree.root}/nowhere/one.crt"] and result["soonest_days"] is None
