// SPDX-License-Identifier: Apache-2.0
/* Unit tests of the dirty-page range lists: merging, unions and batching. */
#include <errno.h>

#include "../check.h"
#include "mig_ranges.h"

static void test_add(void)
{
	struct mig_ranges r = { 0 };

	CHECK(mig_ranges_add(&r, 0, 4) == 0);
	CHECK(mig_ranges_add(&r, 4, 8) == 0); /* touches: merged */
	CHECK(r.n == 1 && r.v[0].start == 0 && r.v[0].end == 8 && r.pages == 8);
	CHECK(mig_ranges_add(&r, 10, 11) == 0);
	CHECK(r.n == 2 && r.pages == 9);
	CHECK(mig_ranges_add(&r, 9, 12) == -EINVAL);  /* overlaps the last */
	CHECK(mig_ranges_add(&r, 20, 20) == -EINVAL); /* empty */
	CHECK(mig_ranges_add(&r, 5, 6) == -EINVAL);   /* out of order */
	for (uint64_t p = 100; p < 100 + 1000; p += 2)
		CHECK(mig_ranges_add(&r, p, p + 1) == 0); /* growth */
	CHECK(r.n == 502 && r.pages == 509);
	mig_ranges_clear(&r);
	CHECK(r.n == 0 && r.pages == 0);
	mig_ranges_free(&r);
	mig_ranges_free(&r); /* twice is fine */
}

static void test_batches(void)
{
	struct mig_ranges r = { 0 }, b = { 0 };

	mig_ranges_add(&r, 0, 150);
	mig_ranges_add(&r, 200, 201);
	mig_ranges_add(&r, 300, 364);
	CHECK(mig_ranges_batches(&r, 64, &b) == 5);
	CHECK(b.v[0].start == 0 && b.v[0].end == 64);
	CHECK(b.v[1].start == 64 && b.v[1].end == 128);
	CHECK(b.v[2].start == 128 && b.v[2].end == 150); /* never across the gap */
	CHECK(b.v[3].start == 200 && b.v[3].end == 201);
	CHECK(b.v[4].start == 300 && b.v[4].end == 364);
	CHECK(b.pages == r.pages);
	CHECK(mig_ranges_batches(&r, 0, &b) == -EINVAL);
	mig_ranges_clear(&r);
	CHECK(mig_ranges_batches(&r, 64, &b) == 0 && b.n == 0);
	mig_ranges_free(&r);
	mig_ranges_free(&b);
}

static void test_union(void)
{
	struct mig_ranges a = { 0 }, b = { 0 }, u = { 0 };

	mig_ranges_add(&a, 0, 10);
	mig_ranges_add(&a, 20, 30);
	mig_ranges_add(&a, 50, 51);
	mig_ranges_add(&b, 5, 15);  /* overlaps a[0] */
	mig_ranges_add(&b, 30, 40); /* touches a[1] */
	mig_ranges_add(&b, 60, 70);
	CHECK(mig_ranges_union(&a, &b, &u) == 0);
	CHECK(u.n == 4);
	CHECK(u.v[0].start == 0 && u.v[0].end == 15);
	CHECK(u.v[1].start == 20 && u.v[1].end == 40);
	CHECK(u.v[2].start == 50 && u.v[2].end == 51);
	CHECK(u.v[3].start == 60 && u.v[3].end == 70);
	CHECK(u.pages == 15 + 20 + 1 + 10);
	/* with an empty side */
	mig_ranges_clear(&b);
	CHECK(mig_ranges_union(&a, &b, &u) == 0 && u.n == 3 && u.pages == a.pages);
	CHECK(mig_ranges_union(&b, &a, &u) == 0 && u.n == 3 && u.pages == a.pages);
	/* a range inside another */
	mig_ranges_add(&b, 21, 22);
	CHECK(mig_ranges_union(&a, &b, &u) == 0 && u.n == 3 && u.pages == a.pages);
	mig_ranges_free(&a);
	mig_ranges_free(&b);
	mig_ranges_free(&u);
}

int main(void)
{
	test_add();
	test_batches();
	test_union();
	return check_summary();
}
