# SPDX-License-Identifier: Apache-2.0
"""What is under test: the plugins' paths, whether the macvlan is the reference one, the CNI
versions the tests walk through, and the per-run prefix every created name carries."""
import os
import secrets

import pytest

from paths import BUILD, ROOT  # noqa: F401 (re-exported)

REF_DIR = "/usr/lib/cni"
REF_MACVLAN = os.path.join(REF_DIR, "macvlan")
MACVLAN = os.path.abspath(os.environ.get("MIGNET_MACVLAN")
                          or os.path.join(BUILD, "plugins", "macvlan", "macvlan"))
WHEREABOUTS = os.path.join(BUILD, "plugins", "whereabouts", "whereabouts")
IS_REFERENCE = (os.path.exists(MACVLAN)
                and os.path.realpath(MACVLAN) == os.path.realpath(REF_MACVLAN))

PREFIX = "mn" + secrets.token_hex(3)[:5]
MARKER_DIR = "/run/mignet-tests"
PLUGIN_TIMEOUT = 60  # seconds; guards against a hang only, nothing asserts on time

ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
VERB_VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def ours_if(cond):
    """Mark a parametrized case `ours` when cond holds (e.g. cniVersion 1.1.0)."""
    return [pytest.mark.ours] if cond else []


def versions_param(versions, ours_versions=("1.1.0",)):
    return [pytest.param(v, marks=ours_if(v in ours_versions), id=v) for v in versions]
