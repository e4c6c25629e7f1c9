// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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

bool mig_error_set_first(_Atomic int *aborted, pthread_mutex_t *lock, pthread_cond_t *cond,
			 struct mig_error *err, int code, const char *fmt, va_list ap)
{
	int expect = 0;

	if (!atomic_compare_exchange_strong(aborted, &expect, 1))
		return false;
	pthread_mutex_lock(lock);
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (cond)
		pthread_cond_broadcast(cond);
	pthread_mutex_unlock(lock);
	return true;
}

double mig_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mig_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int r;

	r = pthread_condattr_init(&attr);
	if (r)
		return -r;
	r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -r;
}

void mig_deadline(struct timespec *ret, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ret);
	if (ms < 0)
		ms = 0;
	ret->tv_sec += (time_t)(ms / 1000);
	ret->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ret->tv_nsec >= 1000000000L) {
		ret->tv_sec++;
		ret->tv_nsec -= 1000000000L;
	}
}

double mig_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *mig_listen_hint(int errnum, unsigned int port)
{
	return errnum == EACCES && port < 1024 ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)"
					       : "";
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
