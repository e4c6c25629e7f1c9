# SPDX-License-Identifier: Apache-2.0
"""Where things are: the repository, the build under test, this helper folder."""
import os

LIB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(LIB)))
BUILD = os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build"))
# the mignet command under test (MIGNET_BIN: another build of it)
MIGNET = os.environ.get("MIGNET_BIN", os.path.join(ROOT, "build", "migration", "mignet"))
