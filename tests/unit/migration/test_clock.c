// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the timed-wait helpers: mig_cond_init() makes condition variables whose
 * deadlines are CLOCK_MONOTONIC times, and mig_deadline() computes such times. A condition
 * variable left on the default CLOCK_REALTIME reads a monotonic deadline (seconds since
 * boot) as decades ago and times out at once; one on CLOCK_MONOTONIC waits the full time.
 * So the wait below proves the pairing, without stepping the machine's clock.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "../check.h"
#include "mig.h"

static double ts_sec(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_sec(&ts);
}

static void test_deadline(void)
{
	struct timespec ts;
	double before, after;

	before = mono();
	mig_deadline(&ts, 0);
	after = mono();
	CHECK(ts_sec(&ts) >= before && ts_sec(&ts) <= after);

	before = mono();
	mig_deadline(&ts, 1999); /* carries into tv_sec */
	after = mono();
	CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	CHECK(ts_sec(&ts) >= before + 1.998 && ts_sec(&ts) <= after + 1.9991);

	before = mono();
	mig_deadline(&ts, -5000); /* never in the past */
	CHECK(ts_sec(&ts) >= before);
}

static void test_cond_waits_on_the_monotonic_clock(void)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec until;
	double t0, waited;
	int r;

	CHECK(mig_cond_init(&cv) == 0);
	pthread_mutex_lock(&mu);
	t0 = mono();
	mig_deadline(&until, 300);
	do /* nobody signals: only the deadline ends it */
		r = pthread_cond_timedwait(&cv, &mu, &until);
	while (r == 0);
	waited = mono() - t0;
	pthread_mutex_unlock(&mu);
	CHECK(r == ETIMEDOUT);
	/* a lower bound only: a timed wait never ends before its deadline on its own clock */
	CHECK(waited >= 0.299);
	if (waited < 0.299)
		fprintf(stderr,
			"the wait ended after %.3f s: the condvar is not on "
			"CLOCK_MONOTONIC\n",
			waited);
	pthread_cond_destroy(&cv);
}

int main(void)
{
	test_deadline();
	test_cond_waits_on_the_monotonic_clock();
	return check_summary();
}
