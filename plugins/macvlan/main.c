// SPDX-License-Identifier: Apache-2.0
/* macvlan: a CNI plugin that gives a container a macvlan interface on a host NIC. */
#include <stdio.h>

#include "plugins/macvlan/macvlan.h"

static const struct cni_plugin macvlan_plugin = {
	.name = "macvlan",
	.add = macvlan_add,
	.del = macvlan_del,
	.check = macvlan_check,
	.status = macvlan_status,
	.gc = macvlan_gc,
};

int main(void)
{
	return cni_plugin_run(&macvlan_plugin, stdin, stdout, stderr);
}
