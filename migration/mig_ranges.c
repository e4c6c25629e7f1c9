// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>

#include "mig_ranges.h"
#include "util/array.h"

int mig_ranges_add(struct mig_ranges *r, uint64_t start, uint64_t end)
{
	struct mig_range *last = r->n ? &r->v[r->n - 1] : NULL, *v;

	if (end <= start || (last && start < last->end))
		return -EINVAL;
	if (last && start == last->end) {
		last->end = end;
		r->pages += end - start;
		return 0;
	}
	v = util_array_room(r->v, &r->cap, r->n, sizeof(*v), 64);
	if (!v)
		return -ENOMEM;
	r->v = v;
	r->v[r->n++] = (struct mig_range){ start, end };
	r->pages += end - start;
	return 0;
}

void mig_ranges_clear(struct mig_ranges *r)
{
	r->n = 0;
	r->pages = 0;
}

void mig_ranges_free(struct mig_ranges *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
	r->pages = 0;
}

int mig_ranges_batches(const struct mig_ranges *r, uint64_t max_pages, struct mig_ranges *out)
{
	size_t i;
	int err;

	if (!max_pages)
		return -EINVAL;
	mig_ranges_clear(out);
	for (i = 0; i < r->n; i++) {
		uint64_t p = r->v[i].start, n;
		struct mig_range *v;

		for (; p < r->v[i].end; p += n) {
			n = r->v[i].end - p < max_pages ? r->v[i].end - p : max_pages;
			/* no merge: each batch stays its own entry */
			v = util_array_room(out->v, &out->cap, out->n, sizeof(*v), 64);
			if (!v)
				return -ENOMEM;
			out->v = v;
			out->v[out->n++] = (struct mig_range){ p, p + n };
			out->pages += n;
		}
	}
	err = out->n > 0x7fffffff ? -ENOMEM : (int)out->n;
	return err;
}

/* Appends [start, end) to @out, merging with the last range when they overlap or touch. */
static int push_merge(struct mig_ranges *out, uint64_t start, uint64_t end)
{
	struct mig_range *last = out->n ? &out->v[out->n - 1] : NULL;

	if (last && start <= last->end) {
		if (end > last->end) {
			out->pages += end - last->end;
			last->end = end;
		}
		return 0;
	}
	return mig_ranges_add(out, start, end);
}

int mig_ranges_union(const struct mig_ranges *a, const struct mig_ranges *b, struct mig_ranges *out)
{
	size_t i = 0, j = 0;
	int r = 0;

	mig_ranges_clear(out);
	while (r == 0 && (i < a->n || j < b->n)) {
		const struct mig_range *x;

		if (j >= b->n || (i < a->n && a->v[i].start <= b->v[j].start))
			x = &a->v[i++];
		else
			x = &b->v[j++];
		r = push_merge(out, x->start, x->end);
	}
	return r;
}
