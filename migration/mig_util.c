// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mig.h"

int mig_error_set(struct mig_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

double mig_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double mig_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *mig_zc_mode_name(enum mig_zc_mode mode)
{
	switch (mode) {
	case MIG_ZC_AUTO:
		return "auto";
	case MIG_ZC_ALWAYS:
		return "always";
	case MIG_ZC_NEVER:
		return "never";
	}
	return "?";
}

int mig_zc_mode_parse(const char *text, enum mig_zc_mode *ret)
{
	if (!text)
		return -EINVAL;
	if (strcmp(text, "auto") == 0)
		*ret = MIG_ZC_AUTO;
	else if (strcmp(text, "always") == 0)
		*ret = MIG_ZC_ALWAYS;
	else if (strcmp(text, "never") == 0)
		*ret = MIG_ZC_NEVER;
	else
		return -EINVAL;
	return 0;
}
