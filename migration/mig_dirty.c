// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mig_compat.h"
#include "mig_dirty.h"

#define VEC_LEN 4096

static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL) /* kernels before 5.11 lack UFFD_USER_MODE_ONLY */
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int mig_dirty_start(struct mig_dirty *d, void *base, uint64_t len, struct mig_error *err)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg = { .range = { (uintptr_t)base, len },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .range = { (uintptr_t)base, len },
					  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	struct mig_dirty t = { .uffd = -1, .pagemap = -1, .base = base, .len = len };
	int r;

	t.page_size = (size_t)sysconf(_SC_PAGESIZE);
	r = open_uffd();
	if (r < 0) {
		/* no userfaultfd at all (ENOSYS), or not for us (EPERM): same as an old kernel */
		mig_error_set(err, -EOPNOTSUPP, "userfaultfd() fails (%s): no dirty tracking",
			      strerror(-r));
		r = -EOPNOTSUPP;
		goto out;
	}
	t.uffd = r;
	if (ioctl(t.uffd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
		r = -EOPNOTSUPP;
		mig_error_set(err, r,
			      "this kernel lacks userfaultfd UFFD_FEATURE_WP_ASYNC "
			      "(Linux >= 6.7): no dirty tracking");
		goto out;
	}
	if (ioctl(t.uffd, UFFDIO_REGISTER, &reg) < 0) {
		r = -errno;
		mig_error_set(err, r, "UFFDIO_REGISTER (write-protect): %s", strerror(-r));
		goto out;
	}
	if (ioctl(t.uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		r = -errno;
		mig_error_set(err, r, "UFFDIO_WRITEPROTECT: %s", strerror(-r));
		goto out;
	}
	t.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (t.pagemap < 0) {
		r = -errno;
		mig_error_set(err, r, "/proc/self/pagemap: %s", strerror(-r));
		goto out;
	}
	t.vec_len = VEC_LEN;
	t.vec = calloc(t.vec_len, sizeof(struct page_region));
	if (!t.vec) {
		r = mig_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*d = t;
	/* a first scan: proves PAGEMAP_SCAN exists and finds nothing written yet */
	{
		struct mig_ranges probe = { 0 };

		r = mig_dirty_collect(d, &probe);
		mig_ranges_free(&probe);
		if (r < 0) {
			if (r == -ENOTTY || r == -EINVAL)
				mig_error_set(err, -EOPNOTSUPP,
					      "this kernel lacks the PAGEMAP_SCAN "
					      "ioctl (Linux >= 6.7): no dirty tracking");
			else
				mig_error_set(err, r, "PAGEMAP_SCAN: %s", strerror(-r));
			mig_dirty_stop(d);
			return r == -ENOTTY || r == -EINVAL ? -EOPNOTSUPP : r;
		}
	}
	return 0;
out:
	t.vec = NULL;
	mig_dirty_stop(&t);
	return r;
}

static int range_cmp(const void *a, const void *b)
{
	const struct mig_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The regions of one collect are not always ascending and disjoint: when the vector fills, the
 * next scan resumes at walk_end, and a page written again meanwhile can come back, before or
 * inside what was reported already (seen on Linux 6.18, about one live migration in ten).
 * So gather them all, sort, and merge.
 */
static int merge_into(struct mig_range *v, size_t n, struct mig_ranges *out)
{
	if (!n)
		return 0; /* v may be NULL then, which qsort() does not accept */
	qsort(v, n, sizeof(*v), range_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t first = v[i].start, last = v[i].end;
		int r;

		if (out->n && first < out->v[out->n - 1].end) {
			struct mig_range *tail = &out->v[out->n - 1];

			if (last > tail->end) {
				out->pages += last - tail->end;
				tail->end = last;
			}
			continue;
		}
		r = mig_ranges_add(out, first, last);
		if (r < 0)
			return r;
	}
	return 0;
}

int mig_dirty_collect(struct mig_dirty *d, struct mig_ranges *out)
{
	struct page_region *vec = d->vec;
	uint64_t start = (uintptr_t)d->base, end = start + d->len;
	struct mig_range *found = NULL;
	size_t n_found = 0, cap = 0;
	struct pm_scan_arg arg;
	long n, i;
	int r = 0;

	while (start < end) {
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)vec;
		arg.vec_len = d->vec_len;
		arg.category_mask = PAGE_IS_WRITTEN;
		arg.return_mask = PAGE_IS_WRITTEN;
		n = ioctl(d->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n_found + (size_t)n > cap) {
			size_t want = (n_found + (size_t)n) * 2;
			struct mig_range *grown = realloc(found, want * sizeof(*found));

			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			found = grown;
			cap = want;
		}
		for (i = 0; i < n; i++) {
			found[n_found].start = (vec[i].start - (uintptr_t)d->base) / d->page_size;
			found[n_found].end = (vec[i].end - (uintptr_t)d->base) / d->page_size;
			n_found++;
		}
		if (arg.walk_end <= start) {
			r = -EIO;
			goto out;
		}
		start = arg.walk_end;
	}
	r = merge_into(found, n_found, out);
out:
	free(found);
	return r;
}

void mig_dirty_stop(struct mig_dirty *d)
{
	if (d->pagemap > 0)
		close(d->pagemap);
	if (d->uffd > 0)
		close(d->uffd);
	free(d->vec);
	d->vec = NULL;
	d->pagemap = d->uffd = -1;
}
