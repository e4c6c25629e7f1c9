// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: the whereabouts file store reading what is on disk (a crash, a bug of
 * an older version, or another writer on a shared mount may have left anything there): the
 * allocation records (one line of JSON), the search hint ("ADDR DIGEST", a symlink's text),
 * the index entries (symlinks naming an allocation), and pool directory names.
 *
 * A private store lives in /dev/shm for the whole run; one real allocation is made at start
 * so that the index names are the store's own. Each input is split at NUL bytes into
 * [record][\0 hint][\0 index target][\0 pool dir name]; the parts replace the record file
 * 10.1.0.5, the hint, both index entries' targets, and add a directory with that name. Then
 * every read operation runs: each_pool, each_alloc, find (by pod and by ID), taken, hint_get. A
 * part that names a path (contains '/') is skipped: the store only ever writes plain names.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipam/range.h"
#include "ipam/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL "10.1.0.0_16"
#define NETWORK "fuzznet"

static char root[64], pool_dir[160], idx_ctr[300], idx_pod[300];
static struct ipam_store *store;

static void die(const char *what, const struct cni_error *err)
{
	fprintf(stderr, "fuzz_ipam_store: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	if (store)
		store->ops->close(store);
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cni_error err = { 0 };
	struct ipam_alloc a = { .family = 4 };
	struct dirent *de;
	DIR *d;

	(void)argc, (void)argv;
	snprintf(root, sizeof(root), "/dev/shm/mignet-fuzz-store-XXXXXX");
	if (!mkdtemp(root))
		abort();
	atexit(cleanup);
	if (ipam_store_file_open(root, 1000, &store, &err) < 0)
		die("open", &err);
	ipam_addr_parse("10.1.0.9", &a.family, &a.ip);
	snprintf(a.id, sizeof(a.id), "ctr1");
	snprintf(a.podref, sizeof(a.podref), "ns/pod");
	snprintf(a.ifname, sizeof(a.ifname), "eth0");
	if (store->ops->lock(store, NETWORK, &err) < 0 ||
	    store->ops->put(store, POOL, &a, NULL, &err) < 0 ||
	    store->ops->hint_set(store, POOL, 4, a.ip, 0x1234, &err) < 0 ||
	    store->ops->commit(store, &err) < 0)
		die("seed allocation", &err);
	store->ops->unlock(store);
	snprintf(pool_dir, sizeof(pool_dir), "%s/%s/%s", root, NETWORK, POOL);
	d = opendir(pool_dir);
	if (!d)
		abort();
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "ctr:", 4) == 0)
			snprintf(idx_ctr, sizeof(idx_ctr), "%s", de->d_name);
		else if (strncmp(de->d_name, "pod:", 4) == 0)
			snprintf(idx_pod, sizeof(idx_pod), "%s", de->d_name);
	}
	closedir(d);
	if (!idx_ctr[0] || !idx_pod[0])
		die("index names not found", NULL);
	return 0;
}

/* Replace the symlink @name in the pool with one whose text is @target. */
static void relink(const char *name, const char *target)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", pool_dir, name);
	unlink(path);
	if (*target && !strchr(target, '/'))
		symlink(target, path);
}

static int count(const struct ipam_alloc *a, void *arg)
{
	(void)a;
	++*(int *)arg;
	return 0;
}

static int pools(const char *pool, int family, struct ipam_u128 net, unsigned int len, void *arg)
{
	(void)pool, (void)net;
	if ((family != 4 && family != 6) || len > ipam_family_bits(family))
		abort();
	++*(int *)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 4), *part[4], path[512], extra[512] = "";
	struct cni_error err = { 0 };
	struct ipam_alloc a;
	struct ipam_u128 ip;
	int n = 0, family, fd;
	size_t off = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	memset(buf + size, 0, 4);
	for (int i = 0; i < 4; i++) {
		part[i] = buf + off;
		off += strlen(buf + off) + (off < size ? 1 : 0);
		if (off > size)
			off = size;
	}
	snprintf(path, sizeof(path), "%s/10.1.0.5", pool_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, data, strlen(part[0])) < 0)
		abort();
	close(fd);
	relink("next", part[1]);
	relink(idx_ctr, part[2]);
	relink(idx_pod, part[2]);
	if (*part[3] && !strchr(part[3], '/') && strcmp(part[3], ".") && strcmp(part[3], "..") &&
	    strlen(part[3]) < 200) {
		snprintf(extra, sizeof(extra), "%s/%s/%s", root, NETWORK, part[3]);
		mkdir(extra, 0700);
	}

	if (store->ops->lock(store, NETWORK, &err) < 0)
		die("lock", &err);
	store->ops->each_pool(store, pools, &n, &err);
	store->ops->each_alloc(store, POOL, count, &n, &err);
	if (store->ops->find(store, POOL, IPAM_INDEX_ID, "ctr1", "eth0", &a, &err) == 1 &&
	    (strcmp(a.id, "ctr1") || strcmp(a.ifname, "eth0")))
		abort(); /* an index may only ever lead to the allocation it names */
	if (store->ops->find(store, POOL, IPAM_INDEX_POD, "ns/pod", "eth0", &a, &err) == 1 &&
	    (strcmp(a.podref, "ns/pod") || strcmp(a.ifname, "eth0")))
		abort();
	ipam_addr_parse("10.1.0.5", &family, &ip);
	store->ops->taken(store, POOL, family, ip, &err);
	store->ops->hint_get(store, POOL, 0x1234, &ip, &err);
	store->ops->unlock(store);

	if (extra[0])
		rmdir(extra);
	free(buf);
	return 0;
}
