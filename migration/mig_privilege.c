// SPDX-License-Identifier: Apache-2.0
/* Least privilege for mignet, per subcommand: see mig_privilege.h for what was measured. */
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "cni/caps.h"
#include "mig_privilege.h"

static bool have(cap_value_t cap)
{
	cap_t cur = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (cur) {
		cap_get_flag(cur, cap, CAP_EFFECTIVE, &v);
		cap_free(cur);
	}
	return v == CAP_SET;
}

int mig_privilege_send(bool zerocopy)
{
	static const struct cni_cap ipc_lock = {
		CAP_IPC_LOCK, "to pin the pages of zero-copy sends beyond RLIMIT_MEMLOCK"
	};

	if (zerocopy && !have(CAP_IPC_LOCK))
		fprintf(stderr, "mignet send: warning: no CAP_IPC_LOCK: the pages pinned by "
			"zero-copy sends count against RLIMIT_MEMLOCK, expect ENOBUFS retries\n");
	return cni_caps_drop(&ipc_lock, zerocopy ? 1 : 0);
}

int mig_privilege_receive(uint16_t port)
{
	/* CAP_SETPCAP only so that the drop once listening can still empty the bounding set */
	static const struct cni_cap bind_low[] = {
		{ CAP_NET_BIND_SERVICE, "to listen on a port below 1024" },
		{ CAP_SETPCAP, "to drop CAP_NET_BIND_SERVICE from the bounding set once listening" },
	};

	return cni_caps_drop(bind_low, port < 1024 ? 2 : 0);
}

int mig_privilege_doctor(const char *master_netns)
{
	static const struct cni_cap keep[] = {
		{ CAP_NET_RAW, "for a raw ICMP socket when ping sockets are off" },
		{ CAP_SYS_ADMIN, "to enter --master-netns" },
		{ CAP_SYS_PTRACE, "to open another process's /proc/PID/ns/net" },
	};
	size_t n = 1;

	if (master_netns)
		n = strncmp(master_netns, "/proc/", 6) == 0 ? 3 : 2;
	return cni_caps_drop(keep, n);
}

int mig_privilege_none(void)
{
	return cni_caps_drop(NULL, 0);
}
