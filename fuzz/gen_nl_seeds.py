#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerate fuzz/corpus/nl_attrs/: real kernel replies captured in a throw-away netns.

Each seed is in fuzz_nl_attrs.c's input format: an operation byte, then datagrams
(control byte 1 = "patch seq/portid", 2-byte little-endian length, bytes). The replies come
from the running kernel for the same request the operation makes, so the fuzzer starts from
real RTM_NEWLINK (macvlan linkinfo), RTM_NEWADDR, RTM_NEWROUTE (metrics, table) messages and
real extended ACKs. Run as root: fuzz/gen_nl_seeds.py
"""
import os
import socket
import struct
import subprocess
import sys

NETLINK_ROUTE, SOL_NETLINK, NETLINK_EXT_ACK, NETLINK_CAP_ACK = 0, 270, 11, 10
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE, NLM_F_EXCL = 1, 4, 0x300, 0x400, 0x200
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 16, 18, 22, 26
IFLA_MTU, IFLA_IFNAME, IFLA_EXT_MASK, IFLA_LINK, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 4, 3, 29, 5, 18, 1, 2
RTA_DST, RTA_TABLE = 1, 15
AF_INET, AF_INET6 = 2, 10


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def msg(t, flags, body, seq):
    return struct.pack("IHHII", 16 + len(body), t, flags, seq, 0) + body


def ifinfo(index=0):
    return struct.pack("BxHiII", 0, 0, index, 0, 0)


def exchange(sock, req, dump):
    sock.send(req)
    grams = []
    while True:
        d = sock.recv(65536)
        grams.append(d)
        off, done = 0, False
        while off + 16 <= len(d):
            ln, t = struct.unpack_from("IH", d, off)
            if t == NLMSG_ERROR or (dump and t == NLMSG_DONE):
                done = True
            off += (ln + 3) & ~3
        if done:
            return grams


def seed(op, grams):
    out = bytes([op])
    for g in grams:
        out += bytes([1]) + struct.pack("<H", len(g)) + g
    return out


def inside(outdir):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    s.bind((0, 0))
    idx = {n: socket.if_nametoindex(n) for n in ("eth1", "mv0")}
    seeds = {}
    getlink = lambda body: msg(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, body, 1)
    seeds["link-get-macvlan"] = seed(0, exchange(s, getlink(ifinfo() + attr(IFLA_IFNAME, b"mv0\0") + attr(IFLA_EXT_MASK, struct.pack("I", 8))), False))
    seeds["link-get-veth"] = seed(0, exchange(s, getlink(ifinfo() + attr(IFLA_IFNAME, b"eth1\0") + attr(IFLA_EXT_MASK, struct.pack("I", 8))), False))
    seeds["link-get-enodev"] = seed(1, exchange(s, getlink(ifinfo(999)), False))
    dump = lambda t, fam, extra=b"": msg(t, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, extra, 1)
    seeds["addr-dump"] = seed(2, exchange(s, dump(RTM_GETADDR, 0, struct.pack("BBBBI", 0, 0, 0, 0, 0)), True))
    seeds["addr-dump-v4"] = seed(3, exchange(s, dump(RTM_GETADDR, 0, struct.pack("BBBBI", AF_INET, 0, 0, 0, 0)), True))
    rtmsg = lambda fam, dl=0: struct.pack("BBBBBBBBI", fam, dl, 0, 0, 0, 0, 0, 0, 0)
    seeds["route-dump"] = seed(4, exchange(s, dump(RTM_GETROUTE, 0, rtmsg(0)), True))
    seeds["route-dump-v6"] = seed(5, exchange(s, dump(RTM_GETROUTE, 0, rtmsg(AF_INET6)), True))
    dst = socket.inet_pton(AF_INET6, "fd00:200::1")
    seeds["route-get-v6"] = seed(6, exchange(s, msg(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, rtmsg(AF_INET6, 128) + attr(RTA_DST, dst), 1), False))
    seeds["default-route"] = seed(7, exchange(s, dump(RTM_GETROUTE, 0, rtmsg(AF_INET)), True))
    seeds["dad-v6-dump"] = seed(8, exchange(s, dump(RTM_GETADDR, 0, struct.pack("BBBBI", AF_INET6, 0, 0, 0, 0)), True))
    # a create that the kernel refuses with an extended ACK (the name is taken)
    body = ifinfo() + attr(IFLA_IFNAME, b"mv0\0") + attr(IFLA_LINK, struct.pack("I", idx["eth1"])) + \
        attr(IFLA_LINKINFO | 0x8000, attr(IFLA_INFO_KIND, b"macvlan\0") + attr(IFLA_INFO_DATA | 0x8000, attr(1, struct.pack("I", 4))))
    seeds["macvlan-create-eexist"] = seed(9, exchange(s, msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, 1), False))
    body = ifinfo() + attr(IFLA_IFNAME, b"mvx\0") + attr(IFLA_LINK, struct.pack("I", 12345)) + \
        attr(IFLA_LINKINFO | 0x8000, attr(IFLA_INFO_KIND, b"macvlan\0"))
    ack = exchange(s, msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, 1), False)
    seeds["macvlan-create-badmaster"] = seed(9, ack)
    body = ifinfo() + attr(IFLA_IFNAME, b"mvy\0") + attr(IFLA_LINK, struct.pack("I", idx["eth1"])) + \
        attr(IFLA_MTU, struct.pack("I", 100000)) + attr(IFLA_LINKINFO | 0x8000, attr(IFLA_INFO_KIND, b"macvlan\0"))
    ack = exchange(s, msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, 1), False)
    seeds["macvlan-create-badmtu-extack"] = seed(9, ack)
    seeds["ext-ack-direct"] = bytes([0xFF]) + ack[0]
    for name, data in seeds.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {outdir}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        return inside(sys.argv[2])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "nl_attrs")
    os.makedirs(out, exist_ok=True)
    ns = f"mgfz{os.getpid()}"
    sh = lambda *a: subprocess.run(["ip", "-n", ns, *a], check=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        sh("link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
        sh("link", "add", "mv0", "link", "eth1", "type", "macvlan", "mode", "bridge")
        for l in ("lo", "eth1", "peer1", "mv0"):
            sh("link", "set", l, "up")
        sh("addr", "add", "192.168.200.5/24", "dev", "mv0")
        sh("addr", "add", "fd00:200::5/64", "dev", "mv0", "nodad")
        sh("route", "add", "default", "via", "192.168.200.1", "dev", "mv0")
        sh("route", "add", "10.9.0.0/16", "via", "192.168.200.254", "dev", "mv0", "mtu", "1400", "metric", "50")
        sh("-6", "route", "add", "fd00:99::/64", "via", "fd00:200::1", "dev", "mv0", "table", "1000")
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside", out], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
