# SPDX-License-Identifier: Apache-2.0
"""The fixtures of the mignet tests: the two-node migration network (lib/mignet_net.py)."""
import pytest

from mignet_net import mignet_up


@pytest.fixture(scope="module")
def net():
    """One pair of nodes joined by migration0 for a whole test module."""
    with mignet_up() as n:
        yield n


@pytest.fixture
def mignet_pair():
    """A pair of its own for one test (tests that change the nodes' state)."""
    with mignet_up() as n:
        yield n
