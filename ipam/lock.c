// SPDX-License-Identifier: Apache-2.0
/*
 * A bounded F_OFD_SETLKW. fcntl() has no timeout, so a periodic per-thread timer sends
 * SIGALRM to the waiting thread; the handler does nothing and is installed without
 * SA_RESTART, so the wait returns EINTR and the deadline is checked. The timer is periodic
 * because a single shot could fire in the instant between two fcntl() calls and be lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipam/lock.h"
#include "util/clock.h"

#define TICK_NS (20 * 1000 * 1000)

static void on_alarm(int sig)
{
	(void)sig;
}

static int setlk(int fd, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

	return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

int ipam_lock_wait(int fd, int64_t timeout_ms)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { 0, TICK_NS } };
	int64_t deadline = util_now_ms() + timeout_ms;
	sigset_t alrm, old_mask;
	timer_t timer;
	int r;

	r = setlk(fd, F_OFD_SETLK, F_WRLCK);
	if (r != -EAGAIN && r != -EACCES)
		return r;
	if (timeout_ms <= 0)
		return -ETIMEDOUT;
	sev._sigev_un._tid = gettid();
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, &old_sa) < 0)
		return -errno;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, &old_mask);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0) {
		r = -errno;
		goto restore;
	}
	timer_settime(timer, 0, &its, NULL);
	for (;;) {
		r = setlk(fd, F_OFD_SETLKW, F_WRLCK);
		if (r != -EINTR)
			break;
		if (util_now_ms() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
	}
	timer_delete(timer);
restore:
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	return r;
}

int ipam_unlock(int fd)
{
	return setlk(fd, F_OFD_SETLK, F_UNLCK);
}
