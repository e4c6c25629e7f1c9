# SPDX-License-Identifier: Apache-2.0
"""mignet tls-init and mignet doctor's TLS checks, through the binary.

The certificates tls-init writes are checked independently with the openssl command (the
chain, the purpose, the subject, the modes of the files); the doctor's TLS rows are read from
its JSON. The handshake and its refusals are the unit test's (tests/unit/migration/test_tls.c).
"""
import json
import os
import shutil
import subprocess

import pytest

from paths import MIGNET  # noqa: E402
SERVER_CN = "kubevirt.io:system:node:virt-handler"
CLIENT_CN = "kubevirt.io:system:client:virt-handler"
TLS_CHECKS = ["tls-files", "tls-key", "tls-chain", "tls-dates", "tls-name", "tls-path"]

pytestmark = [
    pytest.mark.skipif(not os.access(MIGNET, os.X_OK), reason="build/migration/mignet not built"),
    pytest.mark.skipif(not shutil.which("openssl"), reason="the openssl command is not installed"),
]


@pytest.fixture
def tmp(tmp_path):
    """The test's own directory (pytest's tmp_path), as a string."""
    return str(tmp_path)


def run(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def openssl(*args):
    return run("openssl", *args).stdout


def subject(path):
    return openssl("x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253").strip()


def tls_rows(out):
    rep = json.loads(out)
    return {c["name"]: c for c in rep["checks"] if c["name"].startswith("tls-")}, rep


def doctor(*args):
    r = run(MIGNET, "doctor", "--tls-only", "--json", *args, check=False)
    rows, rep = tls_rows(r.stdout)
    return r.returncode, rows, rep


def test_tls_init_layout_checked_by_openssl(tmp):
    d = os.path.join(tmp, "pki")
    run(MIGNET, "tls-init", d, "--days", "7")
    ca = os.path.join(d, "ca.crt")
    assert os.stat(os.path.join(d, "ca.key")).st_mode & 0o777 == 0o600
    for role, cn, purpose in (("server", SERVER_CN, "sslserver"), ("client", CLIENT_CN, "sslclient")):
        sub = os.path.join(d, role)
        assert sorted(os.listdir(sub)) == ["ca.crt", "tls.crt", "tls.key"]
        assert os.stat(os.path.join(sub, "tls.key")).st_mode & 0o777 == 0o600
        crt = os.path.join(sub, "tls.crt")
        assert subject(crt) == "subject=CN=" + cn
        out = openssl("verify", "-CAfile", ca, "-purpose", purpose, crt)
        assert out.strip() == crt + ": OK"
        # the other role's purpose is refused: one usage per certificate
        other = "sslclient" if purpose == "sslserver" else "sslserver"
        r = run("openssl", "verify", "-CAfile", ca, "-purpose", other, crt, check=False)
        assert r.returncode != 0
        assert open(os.path.join(sub, "ca.crt")).read() == open(ca).read()
        # the key is the certificate's: same public key
        pub_crt = openssl("x509", "-in", crt, "-noout", "-pubkey")
        pub_key = openssl("pkey", "-in", os.path.join(sub, "tls.key"), "-pubout")
        assert pub_crt == pub_key
        # 7 days from now: not expired in 6 days, expired in 8
        assert run("openssl", "x509", "-in", crt, "-noout", "-checkend", str(6 * 86400),
                   check=False).returncode == 0
        assert run("openssl", "x509", "-in", crt, "-noout", "-checkend", str(8 * 86400),
                   check=False).returncode == 1


def test_tls_init_again_keeps_the_ca_new_ca_replaces_it(tmp):
    d = os.path.join(tmp, "pki")
    run(MIGNET, "tls-init", d)
    ca1 = open(os.path.join(d, "ca.crt")).read()
    leaf1 = open(os.path.join(d, "server", "tls.crt")).read()
    run(MIGNET, "tls-init", d)
    assert open(os.path.join(d, "ca.crt")).read() == ca1
    leaf2 = open(os.path.join(d, "server", "tls.crt")).read()
    assert leaf2 != leaf1
    run("openssl", "verify", "-CAfile", os.path.join(d, "ca.crt"),
        os.path.join(d, "server", "tls.crt"))
    run(MIGNET, "tls-init", d, "--new-ca")
    assert open(os.path.join(d, "ca.crt")).read() != ca1


def test_doctor_tls_pass(tmp):
    d = os.path.join(tmp, "pki")
    run(MIGNET, "tls-init", d)
    for role, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        rc, rows, rep = doctor("--tls-dir", os.path.join(d, role))
        assert rc == 0, rows
        assert list(rows) == TLS_CHECKS
        assert all(r["status"] == "pass" for r in rows.values()), rows
        assert usage in rows["tls-name"]["detail"]
        assert rep["failed"] == 0
    # the path this kernel takes, and why
    ulps = open("/proc/sys/net/ipv4/tcp_available_ulp").read().split()
    detail = rows["tls-path"]["detail"]
    if "tls" in ulps:
        assert detail.startswith("kernel")
    else:
        assert detail.startswith("user space") and "tcp_available_ulp" in detail


def test_doctor_tls_failures(tmp):
    d = os.path.join(tmp, "pki")
    run(MIGNET, "tls-init", d)
    other = os.path.join(tmp, "other")
    run(MIGNET, "tls-init", other)
    srv, cli = os.path.join(d, "server"), os.path.join(d, "client")

    rc, rows, _ = doctor("--tls-dir", os.path.join(tmp, "nowhere"))
    assert rc == 1
    assert rows["tls-files"]["status"] == "fail" and "No such file" in rows["tls-files"]["detail"]
    assert [rows[n]["status"] for n in TLS_CHECKS[1:5]] == ["skip"] * 4

    rc, rows, _ = doctor("--tls-dir", cli, "--tls-key", os.path.join(srv, "tls.key"))
    assert rc == 1 and rows["tls-key"]["status"] == "fail"
    assert "does not match" in rows["tls-key"]["detail"]

    rc, rows, _ = doctor("--tls-dir", cli, "--tls-ca", os.path.join(other, "ca.crt"))
    assert rc == 1 and rows["tls-chain"]["status"] == "fail"
    assert rows["tls-key"]["status"] == "pass"

    # a client's certificate where the server's must be
    rc, rows, _ = doctor("--tls-dir", cli, "--tls-role", "server")
    assert rc == 1 and rows["tls-name"]["status"] == "fail"
    assert SERVER_CN in rows["tls-name"]["detail"]

    rc, rows, _ = doctor("--tls-dir", srv, "--tls-name", "kubevirt.io:system:node:other")
    assert rc == 1 and rows["tls-name"]["status"] == "fail"


def test_doctor_tls_usage_errors(tmp):
    r = run(MIGNET, "doctor", "--tls-only", check=False)
    assert r.returncode == 2 and "--tls-dir" in r.stderr
    r = run(MIGNET, "doctor", "--tls-only", "--tls-dir", tmp, "--tls-role", "peer", check=False)
    assert r.returncode == 2 and "--tls-role peer" in r.stderr
    r = run(MIGNET, "tls-init", check=False)
    assert r.returncode == 2


def test_migrate_incoming_tls_usage(tmp):
    """TLS is on by default: the commands refuse to start without its material, and say
    how to turn it off; disableTLS in the config file turns it off as --no-tls does."""
    env = dict(os.environ, MIGNET_LOCK_DIR=tmp)
    qmp = os.path.join(tmp, "no-such.qmp")
    base = {"migrate": [MIGNET, "migrate", "--qmp", qmp, "--target", "192.0.2.1"],
            "incoming": [MIGNET, "incoming", "--qmp", qmp]}
    for cmd, argv in base.items():
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 2, r.stderr
        assert "TLS is on" in r.stderr and "--tls-dir" in r.stderr and "--no-tls" in r.stderr
        r = subprocess.run(argv + ["--tls-dir", tmp, "--tls-min-version", "1.1"],
                           capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 2 and "--tls-min-version 1.1" in r.stderr, r.stderr
        # disableTLS: the TLS check passes; the command fails later, at QMP (exit 1)
        cfg = os.path.join(tmp, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"disableTLS": True}, f)
        r = subprocess.run(argv + ["--config", cfg], capture_output=True, text=True, timeout=30,
                           env=env)
        assert r.returncode == 1 and "TLS is on" not in r.stderr, r.stderr
        assert qmp in r.stderr or "QMP" in r.stderr or "qmp" in r.stderr, r.stderr
        # the TLS files are read at start: a missing one is named, nothing else happens
        r = subprocess.run(argv + ["--tls-dir", os.path.join(tmp, "nowhere"), "--json"],
                           capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 1, r.stderr
        rep = [json.loads(l) for l in r.stdout.splitlines() if '"report"' in l][-1]
        assert "nowhere/tls.crt: No such file" in rep["failureReason"], rep
        assert rep["tls"] == {}, rep  # on, but no connection got as far
    r = subprocess.run(base["migrate"] + ["--tls-dir", tmp, "--data-path", "fd", "--streams", "0"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2 and "--data-path fd" in r.stderr and "--no-tls" in r.stderr, r.stderr
