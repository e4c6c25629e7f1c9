# SPDX-License-Identifier: Apache-2.0
"""Hostile input to the macvlan plugin: what a confused or malicious caller (runtime, NAD
author, IPAM plugin) can pass. Each case must end with its error code from the README's table,
an exit status of 1, stdout that is one valid JSON error object ({"cniVersion","code","msg"}),
and no link left behind in the "host" (node) netns or the pod netns.

The plugin runs inside a throw-away node netns (its "root" netns: the master eth1, a veth end,
lives there) with a throw-away pod netns; both are uniquely named per test and removed in a
finally block. Every run has a generous timeout that only guards against a hang; nothing
asserts on time.

Bugs these tests found are fixed; the tests keep them fixed (docs/reliability.md).
"""
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile

import pytest

from paths import ROOT  # noqa: E402
PLUGIN = os.environ.get("MIGNET_MACVLAN") or os.path.join(
    os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build")), "plugins", "macvlan", "macvlan")
HANG_GUARD = 60  # seconds; a run that takes this long is a hang, not a slow answer

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(os.path.realpath(PLUGIN) == "/usr/lib/cni/macvlan",
                       reason="mignet's error codes and checks; MIGNET_MACVLAN is the reference"),
    pytest.mark.skipif(not os.access(PLUGIN, os.X_OK), reason=f"{PLUGIN} is not built"),
]


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def links(ns):
    out = sh("ip", "-n", ns, "-j", "link", "show").stdout
    return sorted((link["ifindex"], link["ifname"]) for link in json.loads(out))


@pytest.fixture
def net():
    tag = "mgho" + secrets.token_hex(3)
    n = type("Net", (), {})()
    n.node, n.pod = tag + "-n", tag + "-p"
    n.tmp = tempfile.mkdtemp(prefix=tag)
    n.netns = "/run/netns/" + n.pod
    try:
        sh("ip", "netns", "add", n.node)
        sh("ip", "netns", "add", n.pod)
        sh("ip", "-n", n.node, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
        sh("ip", "-n", n.node, "link", "set", "eth1", "up")
        sh("ip", "-n", n.node, "link", "set", "peer1", "up")
        n.before = (links(n.node), links(n.pod))
        yield n
    finally:
        sh("ip", "netns", "del", n.pod, check=False)
        sh("ip", "netns", "del", n.node, check=False)
        shutil.rmtree(n.tmp, ignore_errors=True)


BASE = {"cniVersion": "1.0.0", "name": "mig-hostile", "type": "macvlan", "master": "eth1",
        "mode": "bridge"}


def run(net, conf=BASE, stdin=None, timeout=HANG_GUARD, **env):
    """Run one ADD (unless CNI_COMMAND is given); return (exit status, raw stdout bytes)."""
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": "ADD",
         "CNI_CONTAINERID": "ctr-hostile", "CNI_NETNS": net.netns, "CNI_IFNAME": "net1",
         "CNI_PATH": "/usr/lib/cni"}
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    data = stdin if stdin is not None else json.dumps(conf).encode()
    p = subprocess.run(["ip", "netns", "exec", net.node, PLUGIN], input=data,
                       capture_output=True, env=e, timeout=timeout)
    return p.returncode, p.stdout


def assert_error(net, rc, out, code):
    assert rc == 1, out
    text = out.decode("utf-8")  # strict: the answer must be UTF-8 JSON
    err = json.loads(text)
    assert isinstance(err, dict) and set(err) >= {"cniVersion", "code", "msg"}, err
    assert err["code"] == code, err
    assert isinstance(err["msg"], str) and err["msg"]
    assert (links(net.node), links(net.pod)) == net.before, "a link was left behind"
    return err


# --- container IDs and interface names -------------------------------------------------------

@pytest.mark.parametrize("cid", ["a/b", "../../etc/passwd", "..", ".hidden", "-rf", "a b",
                                 "a;b", "ctr\n1", "é"])
def test_bad_container_id(net, cid):
    assert_error(net, *run(net, CNI_CONTAINERID=cid), 4)


@pytest.mark.parametrize("ifname", ["a/b", "..", ".", "x" * 16, "x" * 4000, "a:b", "a b",
                                    "tab\tx", "nl\nx"])
def test_bad_ifname(net, ifname):
    assert_error(net, *run(net, CNI_IFNAME=ifname), 4)


@pytest.mark.parametrize("var", ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_PATH"])
def test_missing_or_empty_variable(net, var):
    # the environment cannot hold a NUL: the closest a caller gets is an empty value
    assert_error(net, *run(net, **{var: ""}), 4)
    assert_error(net, *run(net, **{var: None}), 4)


def test_over_long_container_id_is_accepted_and_cleaned(net):
    # the spec puts no bound on the ID; 100 KiB (close to the kernel's 128 KiB per string)
    cid = "c" * (100 * 1024)
    rc, out = run(net, CNI_CONTAINERID=cid)
    assert rc == 0, out
    assert json.loads(out)["interfaces"][0]["name"] == "net1"
    rc, out = run(net, CNI_COMMAND="DEL", CNI_CONTAINERID=cid)
    assert rc == 0, out
    assert (links(net.node), links(net.pod)) == net.before


def test_unknown_command_and_huge_cni_args(net):
    assert_error(net, *run(net, CNI_COMMAND="ADD;rm"), 4)
    assert_error(net, *run(net, CNI_ARGS="X=" + "y" * (100 * 1024)), 2)
    assert_error(net, *run(net, CNI_ARGS=";;=;"), 4)


def test_dotted_ifname_fails_cleanly(net):
    # "a..b" is a valid Linux name, but its sysctl path holds "..", which netlink/ refuses:
    # ADD fails (code 5) and must unwind the link it had created and renamed
    rc, out = run(net, CNI_IFNAME="a..b")
    if rc == 0:
        assert run(net, CNI_COMMAND="DEL", CNI_IFNAME="a..b")[0] == 0
        assert (links(net.node), links(net.pod)) == net.before
    else:
        assert_error(net, rc, out, 5)


def test_non_utf8_ifname(net):
    ifname = os.fsdecode(b"n\xffx")
    rc, out = run(net, CNI_IFNAME=ifname)
    if rc == 0:
        run(net, CNI_COMMAND="DEL", CNI_IFNAME=ifname)
        pytest.fail(f"accepted a non-UTF-8 interface name; answer: {out[:200]!r}")
    assert_error(net, rc, out, 4)


# --- stdin -----------------------------------------------------------------------------------

def test_16_mib_stdin(net):
    assert_error(net, *run(net, stdin=b" " * (16 << 20)), 5)


def test_just_over_the_cap(net):
    conf = json.dumps(dict(BASE, pad="x" * (1 << 20))).encode()
    assert_error(net, *run(net, stdin=conf), 5)


@pytest.mark.parametrize("doc", [b"[" * 100000 + b"]" * 100000,
                                 b'{"a":' * 100000 + b"1" + b"}" * 100000,
                                 b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","ipam":'
                                 + b'{"a":' * 100000 + b"1" + b"}" * 100001],
                         ids=["arrays", "objects", "inside-ipam"])
def test_json_nested_100000_deep(net, doc):
    assert_error(net, *run(net, stdin=doc), 6)


@pytest.mark.parametrize("doc", [b"", b"null", b"[]", b'"x"', b"{", b'{"a":1} {"b":2}',
                                 b"\xef\xbb\xbf{}", b"\x00{}", b'{"a":"\x01"'],
                         ids=["empty", "null", "array", "string", "truncated", "two-objects",
                              "bom", "nul", "control-char"])
def test_not_a_json_object(net, doc):
    assert_error(net, *run(net, stdin=doc), 6)


LENIENT = {
    "single-quotes": b"{'cniVersion':'1.0.0','name':'n','type':'macvlan','master':'eth1'}",
    "trailing-comma": b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth1",}',
    "comment": b'/* hi */{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth1"}',
    "nan": b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth1","x":NaN}',
    "leading-zero": b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth1","x":01}',
}


@pytest.mark.parametrize("doc", LENIENT.values(), ids=LENIENT.keys())
def test_not_rfc8259_json(net, doc):
    rc, out = run(net, stdin=doc)
    if rc == 0:
        run(net, CNI_COMMAND="DEL")
    assert_error(net, rc, out, 6)


@pytest.mark.parametrize("key,value", [("mtu", "9223372036854775808"), ("mtu", "-1"),
                                       ("mtu", "1e400"), ("mtu", "-1e400"), ("mtu", "1.5"),
                                       ("mtu", "18446744073709551616"), ("mtu", "65536"),
                                       ("mtu", '"1500"'), ("mtu", "true"),
                                       ("bcqueuelen", "4294967296"), ("bcqueuelen", "-1")])
def test_numbers_out_of_range(net, key, value):
    doc = json.dumps(BASE)[:-1] + f', "{key}": {value}}}'
    err = assert_error(net, *run(net, stdin=doc.encode()), 7)
    assert key in err["msg"]


def test_mtu_above_master(net):
    err = assert_error(net, *run(net, dict(BASE, mtu=9000)), 7)
    assert "mtu" in err["msg"]


def test_unicode_keys_and_values(net):
    # unknown keys are skipped, whatever their script
    conf = dict(BASE, **{"mäster": "x", "名前": "网络", "emoji🙂": ["✓"]}, name="网络-mig")
    rc, out = run(net, conf)
    assert rc == 0, out
    assert run(net, conf, CNI_COMMAND="DEL")[0] == 0
    # a value in another script names an interface that does not exist
    err = assert_error(net, *run(net, dict(BASE, master="éth1")), 7)
    assert "éth1" in err["msg"]
    assert_error(net, *run(net, dict(BASE, mode="brïdge")), 7)
    assert_error(net, *run(net, dict(BASE, mac="０2:00:00:00:00:01")), 7)
    assert_error(net, *run(net, dict(BASE, ipam={"type": "hôst-local"})), 5)


def test_embedded_nul_in_values(net):
    doc = b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth1\\u0000evil"}'
    rc, out = run(net, stdin=doc)
    if rc == 0:
        run(net, CNI_COMMAND="DEL")
    assert_error(net, rc, out, 7)


def test_non_utf8_in_config(net):
    doc = b'{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"e\xff\xfe"}'
    rc, out = run(net, stdin=doc)
    err = assert_error(net, rc, out, 6)
    assert "\ufffd" not in err["msg"]


# --- CNI_NETNS -------------------------------------------------------------------------------

def test_netns_regular_file(net):
    path = os.path.join(net.tmp, "file")
    with open(path, "w") as f:
        f.write("not a netns\n")
    assert_error(net, *run(net, CNI_NETNS=path), 4)


def test_netns_directory(net):
    assert_error(net, *run(net, CNI_NETNS=net.tmp), 4)


@pytest.mark.parametrize("path", ["/proc/self/ns/mnt", "/proc/self/ns/uts", "/proc/self/ns/user",
                                  "/proc/self/ns/pid"])
def test_netns_other_namespace_type(net, path):
    assert_error(net, *run(net, CNI_NETNS=path), 4)


def test_netns_missing_relative_and_symlink(net):
    assert_error(net, *run(net, CNI_NETNS=net.netns + "-gone"), 3)
    assert_error(net, *run(net, CNI_NETNS="relative/netns"), 3)
    loop = os.path.join(net.tmp, "loop")
    os.symlink(loop, loop)
    rc, out = run(net, CNI_NETNS=loop)
    assert rc == 1 and json.loads(out)["code"] in (3, 4, 5)
    assert (links(net.node), links(net.pod)) == net.before
    # a symlink to a real netns file is a netns
    link = os.path.join(net.tmp, "ns-link")
    os.symlink(net.netns, link)
    rc, out = run(net, CNI_NETNS=link)
    assert rc == 0, out
    assert run(net, CNI_COMMAND="DEL", CNI_NETNS=link)[0] == 0


def test_netns_dev_null(net):
    assert_error(net, *run(net, CNI_NETNS="/dev/null"), 4)


def test_netns_fifo_does_not_hang(net):
    fifo = os.path.join(net.tmp, "fifo")
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert_error(net, *run(net, CNI_NETNS=fifo, timeout=5), 4)


# --- a hostile IPAM plugin -------------------------------------------------------------------

def fake_ipam(net, body):
    d = os.path.join(net.tmp, "cni-bin")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "evil")
    with open(path, "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\n" + body + "\n")
    os.chmod(path, 0o755)
    return d


@pytest.mark.parametrize("body,code", [
    ("python3 -c 'print(\"[\" * 100000 + \"]\" * 100000)'", 6),
    ("echo 'not json'", 6),
    ("echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.1.1/99\"}]}'", 6),
    ("echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.1.1/24\",\"interface\":"
     "9223372036854775807}]}'", 6),
    ("echo '{\"cniVersion\":\"9.9.9\",\"ips\":[]}'", 1),
    ("echo '{\"cniVersion\":\"1.0.0\",\"code\":42,\"msg\":\"no\"}'; exit 1", 42),
    ("kill -9 $$", 999),
], ids=["deep", "not-json", "bad-prefix", "bad-interface-index", "bad-version",
        "plugin-error", "killed"])
def test_hostile_ipam_output(net, body, code):
    path = fake_ipam(net, body)
    conf = dict(BASE, ipam={"type": "evil"})
    assert_error(net, *run(net, conf, CNI_PATH=path), code)


def test_ipam_printing_16_mib_does_not_hang(net):
    path = fake_ipam(net, "head -c 16777216 /dev/zero | tr '\\0' ' '")
    assert_error(net, *run(net, dict(BASE, ipam={"type": "evil"}), CNI_PATH=path, timeout=10), 5)


@pytest.mark.parametrize("body,del_owed", [
    ("kill -9 $$", True),
    ("head -c 16777216 /dev/zero | tr '\\0' ' '", True),
    ("echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.1.1/99\"}]}'", True),
    ("echo '{\"cniVersion\":\"1.0.0\",\"code\":42,\"msg\":\"no\"}'; exit 1", False),
], ids=["killed", "16-mib", "unusable-result", "own-error"])
def test_ipam_that_may_hold_an_allocation_is_given_its_del(net, body, del_owed):
    """An IPAM plugin that ran its ADD but whose answer we cannot use (killed, flooding, a
    result we refuse) may hold an address: the unwind runs its DEL. One that answered its own
    error holds nothing (the spec): no DEL."""
    log = os.path.join(net.tmp, "ipam-calls")
    path = fake_ipam(net, f'echo "$CNI_COMMAND" >> {log}\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
                          + body)
    rc, _ = run(net, dict(BASE, ipam={"type": "evil"}), CNI_PATH=path, timeout=10)
    assert rc != 0
    with open(log) as f:
        calls = f.read().split()
    assert calls == (["ADD", "DEL"] if del_owed else ["ADD"]), calls


# --- log_file: what a NetworkAttachmentDefinition author controls ---------------------------

def test_log_lines_cannot_be_forged(net):
    log = os.path.join(net.tmp, "macvlan.log")
    conf = dict(BASE, log_file=log, mode="x\n* * * * * root id>/tmp/forged\n")
    assert_error(net, *run(net, conf), 7)
    with open(log, "rb") as f:
        lines = f.read().decode().splitlines()
    assert lines, "nothing was logged"
    for line in lines:
        assert line[:4].isdigit() and "T" in line[:11], f"forged log line: {line!r}"


@pytest.mark.parametrize("where", ["/root/.bashrc", "/etc/cron.d/mignet", "relative.log",
                                   "/tmp/../etc/mignet.log", "symlink-out", "dir"])
def test_log_file_only_in_log_dirs(net, where):
    """The NAD author names log_file; root must not append to files outside /var/log and /tmp."""
    if where == "symlink-out":
        target = "/etc/mignet-log-target"
        where = os.path.join(net.tmp, "link.log")
        os.symlink(target, where)
    elif where == "dir":
        where = net.tmp
    else:
        target = where
    before = os.path.exists(target) if where != net.tmp else True
    err = assert_error(net, *run(net, dict(BASE, log_file=where)), 7)
    assert "log_file" in err["msg"]
    if where != net.tmp:
        assert os.path.exists(target) == before, "the plugin created a file outside the log dirs"
