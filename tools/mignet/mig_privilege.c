// SPDX-License-Identifier: Apache-2.0
/* Least privilege for mignet, per subcommand: see mig_privilege.h for what was measured. */
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "cni/caps.h"
#include "mig_privilege.h"

/* A failed drop leaves the process with more than it needs, not less: say so, go on. */
static void drop(const char *who, const struct cni_cap *keep, size_t n)
{
	int r = cni_caps_drop(keep, n);

	if (r < 0)
		fprintf(stderr, "%s: warning: could not drop capabilities: %s\n", who,
			strerror(-r));
}

void mig_privilege_send(bool zerocopy)
{
	static const struct cni_cap ipc_lock = {
		CAP_IPC_LOCK, "to pin the pages of zero-copy sends beyond RLIMIT_MEMLOCK"
	};
	struct cni_error missing = { 0 };

	if (zerocopy && cni_caps_check("mignet send", &ipc_lock, 1, &missing) < 0)
		fprintf(stderr,
			"mignet send: warning: no CAP_IPC_LOCK: the pages pinned by "
			"zero-copy sends count against RLIMIT_MEMLOCK, expect ENOBUFS retries\n");
	drop("mignet send", &ipc_lock, zerocopy ? 1 : 0);
}

void mig_privilege_receive(const char *who, uint16_t port)
{
	/* CAP_SETPCAP only so that the drop once listening can still empty the bounding set */
	static const struct cni_cap bind_low[] = {
		{ CAP_NET_BIND_SERVICE, "to listen on a port below 1024" },
		{ CAP_SETPCAP,
		  "to drop CAP_NET_BIND_SERVICE from the bounding set once listening" },
	};

	drop(who, bind_low, port < 1024 ? 2 : 0);
}

void mig_privilege_vm(const char *who, uint16_t port)
{
	static const struct cni_cap keep[] = {
		{ CAP_DAC_OVERRIDE, "to reach QEMU's sockets when QEMU runs as another user" },
		{ CAP_NET_BIND_SERVICE, "to listen on a port below 1024" },
		{ CAP_SETPCAP,
		  "to drop CAP_NET_BIND_SERVICE from the bounding set once listening" },
	};

	drop(who, keep, port && port < 1024 ? 3 : 1);
}

void mig_privilege_vm_listening(const char *who)
{
	static const struct cni_cap keep = {
		CAP_DAC_OVERRIDE, "to reach QEMU's sockets when QEMU runs as another user"
	};

	drop(who, &keep, 1);
}

void mig_privilege_doctor(const char *master_netns)
{
	static const struct cni_cap keep[] = {
		{ CAP_NET_RAW, "for a raw ICMP socket when ping sockets are off" },
		{ CAP_SYS_ADMIN, "to enter --master-netns" },
		{ CAP_SYS_PTRACE, "to open another process's /proc/PID/ns/net" },
	};
	size_t n = 1;

	if (master_netns)
		n = strncmp(master_netns, "/proc/", 6) == 0 ? 3 : 2;
	drop("mignet doctor", keep, n);
}

void mig_privilege_none(const char *who)
{
	drop(who, NULL, 0);
}
