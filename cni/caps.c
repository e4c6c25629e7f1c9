// SPDX-License-Identifier: Apache-2.0
/*
 * Capability checks and dropping through libcap; see caps.h for the policy.
 *
 * Order matters when dropping: the bounding set can only shrink while CAP_SETPCAP is
 * effective, so it goes first; cutting the process's own sets down to @keep then removes
 * CAP_SETPCAP itself. The kernel clears an ambient capability once it is no longer both
 * permitted and inheritable, so the ambient set needs no call of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cni/caps.h"

const char *cni_caps_name(cap_value_t cap, char *buf, size_t size)
{
	char *name = cap_to_name(cap);

	snprintf(buf, size, "%s", name ? name : "CAP_?");
	for (char *p = buf; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	cap_free(name);
	return buf;
}

static bool in(cap_value_t cap, const struct cni_cap *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].cap == cap)
			return true;
	return false;
}

int cni_caps_check(const char *what, const struct cni_cap *need, size_t n, struct cni_error *err)
{
	char needs[256] = "", missing[160] = "", name[40];
	size_t nn = 0, nm = 0;
	cap_t cur = cap_get_proc();
	char *text;

	if (!cur)
		return cni_err_errno(err, CNI_ERR_IO, errno, "reading the process's capabilities");
	for (size_t i = 0; i < n; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		cni_caps_name(need[i].cap, name, sizeof(name));
		nn += snprintf(needs + nn, nn < sizeof(needs) ? sizeof(needs) - nn : 0, "%s%s (%s)",
			       i == 0	    ? ""
			       : i + 1 == n ? " and "
					    : ", ",
			       name, need[i].why);
		if (cap_get_flag(cur, need[i].cap, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
			continue;
		nm += snprintf(missing + nm, nm < sizeof(missing) ? sizeof(missing) - nm : 0,
			       "%s%s", nm ? ", " : "", name);
	}
	if (!nm) {
		cap_free(cur);
		return 0;
	}
	cni_err(err, CNI_ERR_IO, "%s needs %s: missing %s", what, needs, missing);
	text = cap_to_text(cur, NULL);
	cni_err_details(err,
			"effective capabilities: \"%s\"; run it as root with the full set, as a "
			"container runtime does",
			text ? text : "?");
	cap_free(text);
	cap_free(cur);
	return -1;
}

int cni_caps_drop(const struct cni_cap *keep, size_t n)
{
	cap_t cur = cap_get_proc(), want = NULL;
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_value_t max = cap_max_bits();
	int r = 0;

	if (!cur)
		return -errno;
	want = cap_init();
	if (!want) {
		r = -errno;
		goto out;
	}
	cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	if (setpcap == CAP_SET) {
		for (cap_value_t c = 0; c < max; c++) {
			if (in(c, keep, n) || CAP_IS_SUPPORTED(c) == 0)
				continue;
			if (cap_drop_bound(c) < 0 && errno != EINVAL) {
				r = -errno;
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		static const cap_flag_t flags[] = { CAP_PERMITTED, CAP_INHERITABLE };

		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			cap_flag_value_t v = CAP_CLEAR;

			if (cap_get_flag(cur, keep[i].cap, flags[f], &v) == 0 && v == CAP_SET) {
				cap_set_flag(want, flags[f], 1, &keep[i].cap, CAP_SET);
				/* a kept permitted capability is made effective: it is kept to be
				 * used */
				if (flags[f] == CAP_PERMITTED)
					cap_set_flag(want, CAP_EFFECTIVE, 1, &keep[i].cap, CAP_SET);
			}
		}
	}
	if (cap_set_proc(want) < 0)
		r = -errno;
out:
	cap_free(want);
	cap_free(cur);
	return r;
}
