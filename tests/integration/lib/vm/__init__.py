# SPDX-License-Identifier: Apache-2.0
"""The VM test harness: a real guest under QEMU (vm_guest) and the two-node topology."""
