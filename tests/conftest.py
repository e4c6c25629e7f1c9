# SPDX-License-Identifier: Apache-2.0
"""The shared fixtures and helpers of every test. They live in tests/integration/lib/ (put on
sys.path here): plugin_env (what is under test), kernel_state (`ip -j -d` readers), topology
(namespaces, bridge, nodes, pods), cni_run (running a plugin, configs, error checks),
fake_ipam, libcni, and the helpers of each area (mignet_net, whereabouts_helpers,
etcd_cluster, valgrind_helpers, die_with_test). Test modules import what they use from
those modules; the fixtures are registered here.

Topology, all of it throw-away and named with one random per-run prefix P = "mn" + 5 hex:

    root netns:   bridge  P"br"   (the switch / VLAN the nodes share)
                    |  veth  P"vK" (root end, enslaved to the bridge)
    node netns    P"-nK":  eth1  (the other veth end: the macvlan master; dummy/vlan are not
                                  built into this kernel)
    pod netns     P"-pK":  where the plugin puts its interface (CNI_NETNS)

The plugin under test runs *inside a node netns* (`ip netns exec`), so "the root namespace"
from its point of view is the node, and its master eth1 lives there.

Which macvlan is under test: $MIGNET_MACVLAN (a path) or build/plugins/macvlan/macvlan.
Tests marked `ours` check what ours does beyond the reference plugin (CNI 1.1.0, GC,
STATUS, stricter validation): they are skipped when $MIGNET_MACVLAN is the reference
/usr/lib/cni/macvlan, which is how the tests themselves are validated.

Kernel state is always read back independently (`ip -j -d ...` in the netns); the plugin's
own output is never taken as evidence of what it did.

Every namespace and link is removed in teardown, even when a test fails. A session-start
sweep removes leftovers of an earlier crashed run, but only those that carry our marker: a
file /run/mignet-tests/<prefix> naming the pid of the run that made them, which is dead.
"""
import os
import sys

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration", "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)

import pytest  # noqa: E402

from plugin_env import *  # noqa: E402,F401,F403
from kernel_state import *  # noqa: E402,F401,F403
from topology import *  # noqa: E402,F401,F403
from fake_ipam import *  # noqa: E402,F401,F403
from cni_run import *  # noqa: E402,F401,F403
from libcni import *  # noqa: E402,F401,F403
from plugin_env import IS_REFERENCE  # noqa: E402

# Test modules written against the one-file conftest import its helpers as `mignet_conftest`,
# a name no other conftest.py can take over (pytest may load several modules named "conftest").
sys.modules.setdefault("mignet_conftest", sys.modules[__name__])


# ----------------------------------------------------------------------------------------------
# pytest hooks: the `ours` marker
# ----------------------------------------------------------------------------------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ours: checks mignet's extensions beyond the reference macvlan (CNI 1.1.0, "
        "GC/STATUS, stricter validation); skipped when MIGNET_MACVLAN is the reference plugin")


def pytest_collection_modifyitems(config, items):
    if not IS_REFERENCE:
        return
    skip = pytest.mark.skip(reason="mignet extension beyond the reference macvlan "
                            "(MIGNET_MACVLAN is the reference plugin)")
    for item in items:
        if item.get_closest_marker("ours"):
            item.add_marker(skip)
