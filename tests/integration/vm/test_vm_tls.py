# SPDX-License-Identifier: Apache-2.0
"""A real VM migrates through mignet with mutual TLS, and without it when told to.

The wire: the guest writes a marker string into its working set (`mignet.marker=` on its
kernel command line); tcpdump on the migration VLAN's switch (the bridge in the root
namespace, promiscuous, so it sees the frames it forwards between the nodes) captures every
TCP frame of the migration, with no drop (checked). With --no-tls the marker is on the wire; with TLS it never is, while
the capture saw at least as many bytes as QEMU says it transferred (so a capture that saw
nothing cannot pass).

The refusals: a client certificate from another CA, a server certificate with the wrong
name, an expired client certificate (made here with python3-cryptography, not our code) and
a plaintext source are each refused with their message, and the target QEMU received
nothing: it still waits for its migration, and a good migration to the same QEMU then
completes (a QEMU that had read a byte of garbage would have failed its incoming migration).

Rotation: the certificates are re-issued between two migrations; the second one presents
the new certificate (its SHA-256 in the report), without restarting anything but the
per-migration mignet processes, which is what happens in KubeVirt too.
"""
import datetime
import os
import re
import secrets
import subprocess

import pytest

from vm.mignet_vm import config_file, incoming, migrate, token_file
from vm.topology import mignet_bin, mignet_help, vm_cluster  # noqa: F401 (the fixture)
from vm.vm_guest import check_continues, wait_status

SERVER_CN = "kubevirt.io:system:node:virt-handler"
CLIENT_CN = "kubevirt.io:system:client:virt-handler"


def _has_tls_migrate():
    out = mignet_help("migrate") or ""
    return "--qmp" in out and "--tls-dir" in out


pytestmark = pytest.mark.skipif(not _has_tls_migrate(),
                                reason="this mignet has no `migrate --qmp --tls-dir`")


# ---- certificates ----

def tls_init(c, name, *args):
    d = os.path.join(c.tmp, name)
    subprocess.run([mignet_bin(), "tls-init", d, *args], check=True, capture_output=True)
    return d


def issue_with_cryptography(ca_dir, out_dir, cn, server, not_before, not_after):
    """A leaf signed by @ca_dir's CA, by another implementation than ours."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(open(os.path.join(ca_dir, "ca.crt"), "rb").read())
    ca_key = serialization.load_pem_private_key(open(os.path.join(ca_dir, "ca.key"), "rb").read(),
                                                None)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tls.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(out_dir, "tls.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(out_dir, "ca.crt"), "wb") as f:
        f.write(open(os.path.join(ca_dir, "ca.crt"), "rb").read())
    return out_dir


# ---- the capture on the switch ----

class SwitchCapture:
    """tcpdump on the bridge @ifname (promiscuous: it sees the frames forwarded between the
    nodes) into @path; after close(), .found counts the frames holding @needle, .bytes the
    bytes captured, and the kernel must have dropped none (else a "never" proves nothing)."""

    def __init__(self, ifname, needle, path):
        self.needle, self.path = needle, path
        self.p = subprocess.Popen(["tcpdump", "-i", ifname, "-s", "0", "-B", "262144", "-U",
                                   "-n", "-w", path, "tcp"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        assert "listening on" in line, line + self.p.stderr.read()

    def close(self):
        self.p.send_signal(2)
        err = self.p.communicate(timeout=60)[1]
        m = re.search(r"(\d+) packets? dropped by kernel", err)
        assert m and m.group(1) == "0", err
        data = open(self.path, "rb").read()
        self.bytes = len(data)
        self.found = data.count(self.needle)
        os.unlink(self.path)


# ---- the migrations ----

def start_pair(c, name, marker=None, mem="32M"):
    src = c.guest("a", f"src{name}", mem=mem, marker=marker).start()
    dst = c.guest("b", f"dst{name}", mem=mem, incoming=True).start()
    src.wait_heartbeat(3)
    assert dst.qmp.status() == "inmigrate"
    return src, dst


def tls_args(d):
    return ("--no-tls",) if d is None else ("--tls-dir", d)


def run_migration(c, src, dst, tok, server_dir, client_dir, inc=None):
    """One migration; returns (migrate's rc, its proc, the incoming proc)."""
    if inc is None:
        inc = incoming(c, dst, tok, *tls_args(server_dir))
    port = inc.wait_event("listening")["port"]
    mig = migrate(c, src, port, tok, "--streams", "2", "--config", config_file(c),
                  *tls_args(client_dir))
    return mig.finish(), mig, inc


def completed(c, src, dst, mig, inc):
    assert inc.finish() == 0, inc.said()
    m = src.qmp.migration()
    assert m["status"] == "completed", m
    assert wait_status(dst.qmp, "running") == "running"
    check_continues(src, dst)
    return m


@pytest.mark.parametrize("tls", [False, True], ids=["no-tls", "tls"])
def test_marker_on_the_wire_only_without_tls(vm_cluster, tls):
    c = vm_cluster
    pki = tls_init(c, "pki")
    marker = "MIGNET-SECRET-" + secrets.token_hex(8)
    src, dst = start_pair(c, "m", marker=marker)
    tok = token_file(c)
    cap = SwitchCapture(c.mig_switch, marker.encode(), os.path.join(c.tmp, "switch.pcap"))
    try:
        rc, mig, inc = run_migration(c, src, dst, tok, os.path.join(pki, "server") if tls else None,
                                     os.path.join(pki, "client") if tls else None)
    finally:
        cap.close()
    assert rc == 0, mig.said()
    m = completed(c, src, dst, mig, inc)
    assert cap.bytes >= m["ram"]["transferred"], (cap.bytes, m["ram"])
    report = mig.report()
    if tls:
        assert cap.found == 0, f"the marker crossed the switch {cap.found} times with TLS"
        t = report["tls"]
        assert t["version"] == "TLSv1.3" and "GCM" in t["cipher"], t
        assert t["peerName"] == SERVER_CN, t
        ulps = open("/proc/sys/net/ipv4/tcp_available_ulp").read().split()
        assert t["path"].startswith("kernel" if "tls" in ulps else "user space"), t
        assert inc.report()["tls"]["peerName"] == CLIENT_CN, inc.said()
    else:
        assert cap.found > 0, "the marker never crossed the switch without TLS: the capture " \
                              "does not see the migration"
        assert report.get("tls") in (None, False), report


def refusal_case(c, name, server_dir, client_dir, want_target, want_source):
    """A refused migration: both sides say why, the target QEMU got nothing."""
    src, dst = start_pair(c, name)
    tok = token_file(c, f"token-{name}")
    inc = incoming(c, dst, tok, *tls_args(server_dir))
    rc, mig, inc = run_migration(c, src, dst, tok, server_dir, client_dir, inc=inc)
    assert rc == 1, mig.said()
    if want_source:
        assert want_source in mig.stderr() + str(mig.report()), mig.said()
    rejected = inc.find("rejected")
    assert rejected, inc.said()
    assert any(want_target in r.get("reason", "") for r in rejected), inc.said()
    # the target QEMU received nothing: it waits still, and takes a good migration
    assert dst.alive() and dst.qmp.status() == "inmigrate", dst.diagnostics()
    assert src.qmp.status() == "running"
    return src, dst, tok, inc


@pytest.mark.parametrize("case", ["other-ca-client", "wrong-name-server", "expired-client",
                                  "plaintext-client"])
def test_refused_before_qemu(vm_cluster, case):
    c = vm_cluster
    pki = tls_init(c, "pki")
    server, client = os.path.join(pki, "server"), os.path.join(pki, "client")
    now = datetime.datetime.now(datetime.timezone.utc)
    if case == "other-ca-client":
        other = tls_init(c, "other")
        bad = os.path.join(c.tmp, "bad-client")
        os.makedirs(bad)
        for f in ("tls.crt", "tls.key"):
            os.link(os.path.join(other, "client", f), os.path.join(bad, f))
        os.link(os.path.join(pki, "ca.crt"), os.path.join(bad, "ca.crt"))
        args = (server, bad, "is not from our CA", "unknown CA")
    elif case == "wrong-name-server":
        bad = issue_with_cryptography(pki, os.path.join(c.tmp, "bad-server"),
                                      "kubevirt.io:system:node:someone-else", True,
                                      now - datetime.timedelta(hours=1),
                                      now + datetime.timedelta(days=1))
        args = (bad, client, "bad certificate",
                "names CN kubevirt.io:system:node:someone-else, not " + SERVER_CN)
    elif case == "expired-client":
        bad = issue_with_cryptography(pki, os.path.join(c.tmp, "bad-client"), CLIENT_CN, False,
                                      now - datetime.timedelta(days=3),
                                      now - datetime.timedelta(days=1))
        args = (server, bad, "expired on", "certificate expired")
    else:
        args = (server, None, "plaintext peer", None)
    src, dst, tok, inc = refusal_case(c, "r", *args)

    # the same target QEMU takes a good migration: through the same incoming, still
    # listening, when it refused; a new one when it held the bad certificate itself
    if case == "wrong-name-server":
        inc.kill()
        inc = None
    rc, mig, inc = run_migration(c, src, dst, tok, server, client, inc=inc)
    assert rc == 0, mig.said()
    completed(c, src, dst, mig, inc)


def test_rotation_between_two_migrations(vm_cluster):
    c = vm_cluster
    pki = tls_init(c, "pki")
    server, client = os.path.join(pki, "server"), os.path.join(pki, "client")
    seen = []
    for i in range(2):
        src, dst = start_pair(c, f"rot{i}")
        tok = token_file(c, f"token-rot{i}")
        rc, mig, inc = run_migration(c, src, dst, tok, server, client)
        assert rc == 0, mig.said()
        completed(c, src, dst, mig, inc)
        seen.append((mig.report()["tls"]["peerSha256"], inc.report()["tls"]["peerSha256"]))
        src.close()
        dst.close()
        if i == 0:  # rotate in place, as the cluster does: same CA, new node certificates
            tls_init(c, "pki")
    assert seen[0][0] != seen[1][0] and seen[0][1] != seen[1][1], seen
