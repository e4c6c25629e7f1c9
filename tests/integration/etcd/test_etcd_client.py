# SPDX-License-Identifier: Apache-2.0
"""The etcd client (etcd/) against real etcd clusters: one member, three members
(also with one member killed), TLS with a test CA and client certificates, and user/password
authentication. The C side is tests/unit/etcd/test_etcd_client.c, run with the cluster's
endpoints in its environment."""
import os
import subprocess

import pytest

from etcd_cluster import BUILD, EtcdCluster, etcd1, etcd3, etcd_tls  # noqa: F401 (fixtures)

CLIENT_TEST = os.path.join(BUILD, "tests", "unit", "etcd", "test_etcd_client")

pytestmark = pytest.mark.skipif(not os.path.exists(CLIENT_TEST),
                                reason=f"{CLIENT_TEST} not built")


def run_client_test(endpoints, **env):
    e = dict(os.environ, MIGNET_ETCD_ENDPOINTS=endpoints)
    e.update({k: v for k, v in env.items() if v is not None})
    r = subprocess.run([CLIENT_TEST], env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_offline():
    r = subprocess.run([CLIENT_TEST], env={k: v for k, v in os.environ.items()
                                           if not k.startswith("MIGNET_ETCD")},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_single_member(etcd1):
    run_client_test(etcd1.endpoints)


def test_three_members_and_one_killed(etcd3):
    run_client_test(etcd3.endpoints)
    etcd3.kill(0)
    # the dead member stays first in the list: every call fails over
    run_client_test(etcd3.endpoints)


def test_tls_client_certificates(etcd_tls):
    p = etcd_tls.pki
    run_client_test(etcd_tls.endpoints, MIGNET_ETCD_CA=p["ca"], MIGNET_ETCD_CERT=p["cert"],
                    MIGNET_ETCD_KEY=p["key"])
    # without the CA the server is not trusted: the client fails (and does not hang)
    e = dict(os.environ, MIGNET_ETCD_ENDPOINTS=etcd_tls.endpoints, MIGNET_ETCD_CERT=p["cert"],
             MIGNET_ETCD_KEY=p["key"])
    e.pop("MIGNET_ETCD_CA", None)
    r = subprocess.run([CLIENT_TEST], env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0


def test_password_auth(etcd1):
    etcd1.etcdctl("user", "add", "root:rootpw")
    etcd1.etcdctl("user", "add", "mignet:s3cret")
    etcd1.etcdctl("role", "add", "mignet")
    etcd1.etcdctl("role", "grant-permission", "mignet", "--prefix=true", "readwrite", "/")
    etcd1.etcdctl("user", "grant-role", "mignet", "mignet")
    etcd1.etcdctl("auth", "enable")
    run_client_test(etcd1.endpoints, MIGNET_ETCD_USER="mignet", MIGNET_ETCD_PASSWORD="s3cret")
    # a wrong password is refused, not retried until the deadline
    e = dict(os.environ, MIGNET_ETCD_ENDPOINTS=etcd1.endpoints, MIGNET_ETCD_USER="mignet",
             MIGNET_ETCD_PASSWORD="wrong")
    r = subprocess.run([CLIENT_TEST], env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
