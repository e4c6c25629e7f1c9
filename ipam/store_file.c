// SPDX-License-Identifier: Apache-2.0
/*
 * The file store.
 *
 * Theory of operation
 *
 *   store_dir/                          0700, ours, not a symlink
 *     <network_name | _unnamed>/        one directory per network
 *       lock                            the OFD lock of the network (held for a whole verb)
 *       10.1.0.0_16/                    one pool per range CIDR
 *         10.1.0.5                      an allocation: one line of JSON, 0600
 *         ctr:<containerid>:<ifname>    -> 10.1.0.5   index for DEL and CHECK
 *         pod:<ns%2Fname>:<ifname>      -> 10.1.0.5   index for the idempotent ADD
 *         next                          -> "10.1.0.6 <digest>"   the search hint
 *
 * The allocation file is the truth: an address is held if and only if a file of that name
 * exists, so no address can ever be held twice. It is written to a temporary name, fsync'd
 * and renamed into place; the commit then fsyncs the directory. The index entries and the
 * hint are symbolic links (metadata only: created with symlink() and renamed into place,
 * made durable by the same directory fsync). Index entries are created before the allocation
 * they point to and removed after it, and every lookup through one reads the allocation
 * and checks that it matches, so a process killed at any instant leaves at worst a dangling
 * index entry, which is ignored and later replaced, or a stray temporary file.
 *
 * An ADD therefore costs a fixed number of system calls and one file plus one directory
 * fsync, however many allocations the pool holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ipam/lock.h"
#include "ipam/record.h"
#include "ipam/store.h"

#define MAX_OPEN_POOLS 64
#define RECORD_MAX 4096
#define TMP_RECORD ".tmp-record"
#define TMP_LINK ".tmp-link"
#define HINT "next"

struct pool_dir {
	char name[IPAM_CIDR_MAX];
	int fd;
	bool dirty;
};

struct file_store {
	struct ipam_store base;
	int root_fd;
	int64_t timeout_ms;
	char network[IPAM_CIDR_MAX + 256];
	int net_fd, lock_fd;
	int no_network; /* -errno: the locked network has no directory and cannot get one */
	bool net_dirty;
	struct pool_dir pools[MAX_OPEN_POOLS];
	size_t n_pools;
};

static const struct ipam_store_ops file_ops;

static struct file_store *fs_of(struct ipam_store *s)
{
	return (struct file_store *)s;
}

static int io_err(struct cni_error *err, int neg_errno, const char *what, const char *name)
{
	char w[PATH_MAX];

	snprintf(w, sizeof(w), "store: %s %s", what, name);
	return cni_err_errno(err, CNI_ERR_IO, neg_errno, w);
}

/* --- names --- */

static uint64_t fnv64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* "ctr:<id>:<ifname>" or "pod:<podref>:<ifname>"; an over-long key is replaced by its hash. */
static void index_name(char kind, const char *key, const char *ifname, char *out, size_t size)
{
	char enc[3 * IPAM_PODREF_MAX + 1];

	if (kind == 'p')
		ipam_pct_encode(key, enc, sizeof(enc));
	else
		snprintf(enc, sizeof(enc), "%s", key);
	if (strlen(enc) + strlen(ifname) + 6 <= 250)
		snprintf(out, size, "%s:%s:%s", kind == 'p' ? "pod" : "ctr", enc, ifname);
	else
		snprintf(out, size, "%s~%016" PRIx64 ":%s", kind == 'p' ? "pod" : "ctr", fnv64(key),
			 ifname);
}

/* --- directories --- */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, i == n ? 0700 : 0755) < 0 && errno != EEXIST)
			return -errno;
		if (i < n)
			buf[i] = '/';
	}
	return 0;
}

static int pool_fd(struct file_store *fs, const char *pool, bool create, struct cni_error *err)
{
	struct pool_dir *p;
	int fd;

	for (size_t i = 0; i < fs->n_pools; i++)
		if (strcmp(fs->pools[i].name, pool) == 0)
			return fs->pools[i].fd;
	if (fs->no_network)
		return create ? io_err(err, fs->no_network, "cannot create network directory",
				       fs->network)
			      : -ENOENT;
	if (fs->net_fd < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "store: pool used outside the lock");
	if (fs->n_pools == MAX_OPEN_POOLS)
		return cni_err(err, CNI_ERR_INTERNAL, "store: too many pools in one operation");
	fd = openat(fs->net_fd, pool, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (!create)
			return -ENOENT;
		if (mkdirat(fs->net_fd, pool, 0700) < 0 && errno != EEXIST)
			return io_err(err, -errno, "cannot create pool", pool);
		fs->net_dirty = true;
		fd = openat(fs->net_fd, pool, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return io_err(err, -errno, "cannot open pool", pool);
	p = &fs->pools[fs->n_pools++];
	snprintf(p->name, sizeof(p->name), "%s", pool);
	p->fd = fd;
	p->dirty = false;
	return fd;
}

static void mark_dirty(struct file_store *fs, int fd)
{
	for (size_t i = 0; i < fs->n_pools; i++)
		if (fs->pools[i].fd == fd)
			fs->pools[i].dirty = true;
}

/* --- records --- */

/*
 * Read the allocation named @name. Return: 1 with @ret filled, 0 when there is no such file
 * or it does not hold a well-formed record of that address, or -errno.
 */
static int read_record(int dfd, const char *name, struct ipam_alloc *ret)
{
	char buf[RECORD_MAX + 1];
	ssize_t n;
	/* O_NONBLOCK: a FIFO of that name must not hang us (its read is then empty) */
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -errno;
	n = read(fd, buf, RECORD_MAX);
	close(fd);
	if (n < 0)
		return errno == EISDIR ? 0 : -errno;
	buf[n] = '\0';
	return ipam_record_parse(buf, name, ret) ? 1 : 0;
}

static int write_record(int dfd, const struct ipam_alloc *a, const char *name)
{
	char text[RECORD_MAX];
	int n = ipam_record_text(a, text, sizeof(text));
	int fd, r = 0;

	if (n < 0)
		return n;
	fd = openat(dfd, TMP_RECORD, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != n)
		r = errno ? -errno : -EIO;
	else if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dfd, TMP_RECORD, dfd, name) < 0)
		r = -errno;
	return r;
}

/* Point the link @name at @target, replacing whatever was there, atomically. */
static int set_link(int dfd, const char *name, const char *target)
{
	if (symlinkat(target, dfd, TMP_LINK) < 0) {
		if (errno != EEXIST)
			return -errno;
		if (unlinkat(dfd, TMP_LINK, 0) < 0 || symlinkat(target, dfd, TMP_LINK) < 0)
			return -errno;
	}
	return renameat(dfd, TMP_LINK, dfd, name) < 0 ? -errno : 0;
}

/* Read link @name into @buf. Return: 1, 0 if absent (or not a link), -errno. */
static int get_link(int dfd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dfd, name, buf, size - 1);

	if (n < 0)
		return errno == ENOENT || errno == EINVAL ? 0 : -errno;
	buf[n] = '\0';
	return 1;
}

/* Remove link @name if it points at @target. */
static int drop_link(int dfd, const char *name, const char *target)
{
	char buf[256];
	int r = get_link(dfd, name, buf, sizeof(buf));

	if (r <= 0 || strcmp(buf, target) != 0)
		return r;
	return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* --- operations --- */

static int fs_lock(struct ipam_store *s, const char *network, struct cni_error *err)
{
	struct file_store *fs = fs_of(s);
	const char *dir = ipam_network_dir(network);
	int r;

	snprintf(fs->network, sizeof(fs->network), "%s", dir);
	if (mkdirat(fs->root_fd, dir, 0700) == 0) {
		if (fsync(fs->root_fd) < 0)
			return io_err(err, -errno, "cannot sync", "store_dir");
	} else if (errno == ENOSPC || errno == EDQUOT || errno == EROFS) {
		/*
		 * No directory (mkdir says EEXIST before these) and no room for one: the network
		 * holds nothing, so a DEL or GC has nothing to do and must not fail on it; an
		 * ADD fails at its first put(). There is nothing to lock.
		 */
		fs->no_network = -errno;
		return 0;
	} else if (errno != EEXIST) {
		return io_err(err, -errno, "cannot create network directory", dir);
	}
	fs->net_fd = openat(fs->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs->net_fd < 0)
		return io_err(err, -errno, "cannot open network directory", dir);
	fs->lock_fd = openat(fs->net_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0) {
		r = io_err(err, -errno, "cannot open the lock of", dir);
		goto out;
	}
	r = ipam_lock_wait(fs->lock_fd, fs->timeout_ms);
	if (r == -ETIMEDOUT) {
		r = cni_err(err, CNI_ERR_TRY_LATER,
			    "store: the lock of network \"%s\" was not obtained within %" PRId64
			    " ms (another whereabouts holds it); try again later",
			    dir, fs->timeout_ms);
		goto out;
	}
	if (r < 0) {
		r = io_err(err, r, "cannot lock network", dir);
		goto out;
	}
	return 0;
out:
	if (fs->lock_fd >= 0)
		close(fs->lock_fd);
	close(fs->net_fd);
	fs->lock_fd = fs->net_fd = -1;
	return r;
}

static void fs_unlock(struct ipam_store *s)
{
	struct file_store *fs = fs_of(s);

	for (size_t i = 0; i < fs->n_pools; i++)
		close(fs->pools[i].fd);
	fs->n_pools = 0;
	if (fs->lock_fd >= 0) {
		ipam_unlock(fs->lock_fd);
		close(fs->lock_fd);
	}
	if (fs->net_fd >= 0)
		close(fs->net_fd);
	fs->lock_fd = fs->net_fd = -1;
	fs->no_network = 0;
	fs->net_dirty = false;
}

static int fs_commit(struct ipam_store *s, struct cni_error *err)
{
	struct file_store *fs = fs_of(s);

	for (size_t i = 0; i < fs->n_pools; i++) {
		if (!fs->pools[i].dirty)
			continue;
		if (fsync(fs->pools[i].fd) < 0)
			return io_err(err, -errno, "cannot sync pool", fs->pools[i].name);
		fs->pools[i].dirty = false;
	}
	if (fs->net_dirty && fsync(fs->net_fd) < 0)
		return io_err(err, -errno, "cannot sync network directory", fs->network);
	fs->net_dirty = false;
	return 0;
}

/*
 * The target of the link @name of @pool (whose directory's fd goes to *@ret_fd) into @buf.
 * Return: 1, 0 when the pool or the link does not exist, -1 with @err set (@what @name).
 */
static int pool_link(struct file_store *fs, const char *pool, const char *name, char *buf,
		     size_t size, int *ret_fd, const char *what, struct cni_error *err)
{
	int fd = pool_fd(fs, pool, false, err), r;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return -1;
	r = get_link(fd, name, buf, size);
	if (r < 0)
		return io_err(err, r, what, name);
	*ret_fd = fd;
	return r;
}

/* Follow index @name to its allocation. Return: 1 with @ret, 0 absent/stale, -1 err. */
static int find(struct file_store *fs, const char *pool, const char *name, struct ipam_alloc *ret,
		struct cni_error *err)
{
	char target[256];
	int fd, r = pool_link(fs, pool, name, target, sizeof(target), &fd, "cannot read index",
			      err);

	if (r <= 0)
		return r;
	r = read_record(fd, target, ret);
	if (r < 0)
		return io_err(err, r, "cannot read index", name);
	return r;
}

/* Look up index @by of @key and @ifname; the record must match. */
static int fs_find(struct ipam_store *s, const char *pool, enum ipam_index by, const char *key,
		   const char *ifname, struct ipam_alloc *ret, struct cni_error *err)
{
	struct ipam_alloc a;
	char name[300];
	int r;

	index_name((char)by, key, ifname, name, sizeof(name));
	r = find(fs_of(s), pool, name, &a, err);
	if (r <= 0)
		return r;
	if (!ipam_record_is(&a, by, key, ifname))
		return 0;
	*ret = a;
	return 1;
}

static int fs_taken(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
		    struct cni_error *err)
{
	char name[INET6_ADDRSTRLEN];
	struct stat st;
	int fd = pool_fd(fs_of(s), pool, false, err);

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return -1;
	ipam_addr_format(family, ip, name, sizeof(name));
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return io_err(err, -errno, "cannot stat", name);
}

static int fs_put(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		  const struct ipam_alloc *old, struct cni_error *err)
{
	struct file_store *fs = fs_of(s);
	char addr[INET6_ADDRSTRLEN], ctr[300], pod[300], old_ctr[300], old_pod[300];
	int fd = pool_fd(fs, pool, true, err), r;

	if (fd < 0)
		return -1;
	ipam_addr_format(a->family, a->ip, addr, sizeof(addr));
	index_name('c', a->id, a->ifname, ctr, sizeof(ctr));
	index_name('p', a->podref, a->ifname, pod, sizeof(pod));
	/* indexes first: until the record exists they dangle, and a dangling index is ignored */
	r = set_link(fd, ctr, addr);
	if (r == 0 && a->podref[0])
		r = set_link(fd, pod, addr);
	if (r < 0)
		return io_err(err, r, "cannot write index for", addr);
	mark_dirty(fs, fd);
	r = write_record(fd, a, addr);
	if (r < 0)
		return io_err(err, r, "cannot write allocation", addr);
	if (old) {
		index_name('c', old->id, old->ifname, old_ctr, sizeof(old_ctr));
		index_name('p', old->podref, old->ifname, old_pod, sizeof(old_pod));
		if (strcmp(old_ctr, ctr) != 0)
			drop_link(fd, old_ctr, addr);
		if (old->podref[0] && strcmp(old_pod, pod) != 0)
			drop_link(fd, old_pod, addr);
	}
	return 0;
}

static int fs_release(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		      struct cni_error *err)
{
	struct file_store *fs = fs_of(s);
	char addr[INET6_ADDRSTRLEN], name[300];
	int fd = pool_fd(fs, pool, false, err);

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return -1;
	ipam_addr_format(a->family, a->ip, addr, sizeof(addr));
	if (unlinkat(fd, addr, 0) < 0 && errno != ENOENT)
		return io_err(err, -errno, "cannot remove allocation", addr);
	mark_dirty(fs, fd);
	/* the record is gone: the indexes now dangle, and are removed best-effort */
	index_name('c', a->id, a->ifname, name, sizeof(name));
	drop_link(fd, name, addr);
	if (a->podref[0]) {
		index_name('p', a->podref, a->ifname, name, sizeof(name));
		drop_link(fd, name, addr);
	}
	return 0;
}

static int write_hint(struct file_store *fs, int fd, int family, struct ipam_u128 ip,
		      uint64_t digest, struct cni_error *err)
{
	char text[80];
	int r;

	r = set_link(fd, HINT, ipam_hint_text(family, ip, digest, text, sizeof(text)));
	/*
	 * A full filesystem (no inode or block for the link) must not stop a release: the hint
	 * is only a shortcut, and no hint is always correct (the walk starts at the range's
	 * first address). Removing it needs no space.
	 */
	if (r < 0 && unlinkat(fd, HINT, 0) < 0 && errno != ENOENT)
		return io_err(err, r, "cannot write hint", HINT);
	mark_dirty(fs, fd);
	return 0;
}

/* The hint of @pool. Return: 1 with @ret_fd (the pool's) and the hint, 0 none, -1 error. */
static int read_hint(struct file_store *fs, const char *pool, int *ret_fd, int *ret_family,
		     struct ipam_u128 *ret_ip, uint64_t *ret_digest, struct cni_error *err)
{
	char text[80];
	int fd, r = pool_link(fs, pool, HINT, text, sizeof(text), &fd, "cannot read hint", err);

	if (r <= 0)
		return r;
	if (!ipam_hint_parse(text, ret_family, ret_ip, ret_digest))
		return 0;
	*ret_fd = fd;
	return 1;
}

static int fs_hint_get(struct ipam_store *s, const char *pool, uint64_t digest,
		       struct ipam_u128 *ret, struct cni_error *err)
{
	uint64_t d;
	int fd, r, family;

	r = read_hint(fs_of(s), pool, &fd, &family, ret, &d, err);
	if (r <= 0)
		return r;
	if (d != digest)
		return 0;
	return 1;
}

static int fs_hint_set(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
		       uint64_t digest, struct cni_error *err)
{
	int fd = pool_fd(fs_of(s), pool, true, err);

	if (fd < 0)
		return -1;
	return write_hint(fs_of(s), fd, family, ip, digest, err);
}

static int fs_hint_lower(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
			 struct cni_error *err)
{
	struct ipam_u128 cur;
	uint64_t d;
	int fd, r, f;

	r = read_hint(fs_of(s), pool, &fd, &f, &cur, &d, err);
	if (r <= 0)
		return r;
	if (f != family || ipam_u128_cmp(cur, ip) <= 0)
		return 0;
	return write_hint(fs_of(s), fd, family, ip, d, err);
}

static int fs_each_pool(struct ipam_store *s, ipam_pool_cb cb, void *arg, struct cni_error *err)
{
	struct file_store *fs = fs_of(s);
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (fs->no_network)
		return 0;
	fd = dup(fs->net_fd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return io_err(err, -errno, "cannot list network", fs->network);
	}
	rewinddir(d);
	while (r >= 0 && (de = readdir(d))) {
		struct ipam_u128 net;
		unsigned int len;
		int family;

		if (ipam_pool_name_parse(de->d_name, &family, &net, &len) == 0)
			r = cb(de->d_name, family, net, len, arg);
	}
	closedir(d);
	return r < 0 ? -1 : 0;
}

/*
 * The pool's directory, to read its entries: *@ret_pfd the pool's fd (kept by the store),
 * *@ret_dir a stream of its own from the start. Return: 1, 0 when the pool was never written,
 * -1 with err set.
 */
static int open_pool_dir(struct file_store *fs, const char *pool, int *ret_pfd, DIR **ret_dir,
			 struct cni_error *err)
{
	int pfd = pool_fd(fs, pool, false, err), fd;

	if (pfd == -ENOENT)
		return 0;
	if (pfd < 0)
		return -1;
	fd = dup(pfd);
	if (fd < 0 || !(*ret_dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return io_err(err, -errno, "cannot list pool", pool);
	}
	rewinddir(*ret_dir);
	*ret_pfd = pfd;
	return 1;
}

/* What fs_each_alloc() and fs_each_corrupt() ask of each address-named entry of a pool. */
struct entry_visit {
	ipam_alloc_cb alloc_cb;
	ipam_corrupt_cb corrupt_cb;
	void *arg;
	struct cni_error *err;
};

/* @visit on each entry of @pool named by an address. Return: 0, or -1 with @err set. */
static int each_entry(struct ipam_store *s, const char *pool,
		      int (*visit)(struct entry_visit *v, int pfd, const char *name, int family,
				   struct ipam_u128 ip),
		      struct entry_visit *v)
{
	struct dirent *de;
	DIR *d = NULL;
	int pfd = -1, r = open_pool_dir(fs_of(s), pool, &pfd, &d, v->err);

	if (r <= 0)
		return r;
	r = 0;
	while (r >= 0 && (de = readdir(d))) {
		struct ipam_u128 ip;
		int family;

		if (ipam_addr_parse(de->d_name, &family, &ip) < 0)
			continue;
		r = visit(v, pfd, de->d_name, family, ip);
	}
	closedir(d);
	return r < 0 ? -1 : 0;
}

static int visit_alloc(struct entry_visit *v, int pfd, const char *name, int family,
		       struct ipam_u128 ip)
{
	struct ipam_alloc a;
	int r = read_record(pfd, name, &a);

	(void)family;
	(void)ip;
	if (r < 0)
		return io_err(v->err, r, "cannot read allocation", name);
	return r > 0 ? v->alloc_cb(&a, v->arg) : 0;
}

static int fs_each_alloc(struct ipam_store *s, const char *pool, ipam_alloc_cb cb, void *arg,
			 struct cni_error *err)
{
	struct entry_visit v = { .alloc_cb = cb, .arg = arg, .err = err };

	return each_entry(s, pool, visit_alloc, &v);
}

/*
 * Why the entry @name of the pool at @pfd is no record, when it is none (read_record() said
 * 0 for it). Return: 1 with @why, 0 when it is gone or a record after all, -errno.
 */
static int diagnose(int pfd, const char *name, char *why, size_t size)
{
	char text[RECORD_MAX + 1], target[PATH_MAX];
	struct ipam_alloc a;
	struct stat st;
	ssize_t n;
	int fd, r;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(pfd, name, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		snprintf(why, size, "a symbolic link (to %.200s), not a record", target);
		return 1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, size, "not a regular file");
		return 1;
	}
	r = read_record(pfd, name, &a);
	if (r != 0)
		return r < 0 ? r : 0;
	fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, text, RECORD_MAX);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	if (ipam_record_check(text, name, why, size))
		snprintf(why, size, "not a well-formed record");
	return 1;
}

static int visit_corrupt(struct entry_visit *v, int pfd, const char *name, int family,
			 struct ipam_u128 ip)
{
	char canon[INET6_ADDRSTRLEN], why[256];
	int r;

	/* only a name fs_taken() looks at keeps an address taken */
	if (strcmp(ipam_addr_format(family, ip, canon, sizeof(canon)), name) != 0)
		return 0;
	r = diagnose(pfd, name, why, sizeof(why));
	if (r < 0)
		return io_err(v->err, r, "cannot read allocation", name);
	return r > 0 ? v->corrupt_cb(family, ip, why, v->arg) : 0;
}

static int fs_each_corrupt(struct ipam_store *s, const char *pool, ipam_corrupt_cb cb, void *arg,
			   struct cni_error *err)
{
	struct entry_visit v = { .corrupt_cb = cb, .arg = arg, .err = err };

	return each_entry(s, pool, visit_corrupt, &v);
}

static int fs_status(struct ipam_store *s, struct cni_error *err)
{
	struct file_store *fs = fs_of(s);
	struct statvfs sv;

	if (faccessat(fs->root_fd, ".", W_OK | X_OK, AT_EACCESS) < 0)
		return io_err(err, -errno, "cannot write to", "store_dir");
	if (fstatvfs(fs->root_fd, &sv) < 0)
		return io_err(err, -errno, "cannot stat", "store_dir");
	if (sv.f_flag & ST_RDONLY)
		return io_err(err, -EROFS, "cannot write to", "store_dir");
	if (sv.f_bavail == 0 || (sv.f_files && sv.f_favail == 0))
		return io_err(err, -ENOSPC, "cannot write to", "store_dir");
	return 0;
}

static void fs_close(struct ipam_store *s)
{
	struct file_store *fs = fs_of(s);

	if (!s)
		return;
	fs_unlock(s);
	close(fs->root_fd);
	free(fs);
}

static const struct ipam_store_ops file_ops = {
	.name = "file",
	.lock = fs_lock,
	.unlock = fs_unlock,
	.commit = fs_commit,
	.find = fs_find,
	.taken = fs_taken,
	.put = fs_put,
	.release = fs_release,
	.hint_get = fs_hint_get,
	.hint_set = fs_hint_set,
	.hint_lower = fs_hint_lower,
	.each_pool = fs_each_pool,
	.each_alloc = fs_each_alloc,
	.each_corrupt = fs_each_corrupt,
	.status = fs_status,
	.close = fs_close,
};

static int refuse(struct cni_error *err, const char *dir, const char *why)
{
	return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"ipam.store_dir\" \"%s\": %s", dir,
		       why);
}

int ipam_store_file_open(const char *dir, int64_t lock_timeout_ms, struct ipam_store **ret,
			 struct cni_error *err)
{
	struct file_store *fs;
	struct stat st;
	int fd, r;

	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
		return refuse(err, dir, "is a symbolic link; give the real directory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r = mkdir_p(dir);
		if (r < 0)
			return cni_err_errno(err, CNI_ERR_IO, r, "store: cannot create store_dir");
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		if (errno == ELOOP)
			return refuse(err, dir, "is a symbolic link; give the real directory");
		if (errno == ENOTDIR)
			return refuse(err, dir, "is not a directory");
		return cni_err_errno(err, CNI_ERR_IO, -errno, "store: cannot open store_dir");
	}
	if (fstat(fd, &st) < 0) {
		r = cni_err_errno(err, CNI_ERR_IO, -errno, "store: cannot stat store_dir");
		goto out;
	}
	if (st.st_uid != geteuid()) {
		r = refuse(err, dir, "is not owned by the user running the plugin");
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		r = refuse(err, dir, "is writable by group or others; chmod go-w it");
		goto out;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		r = cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	fs->base.ops = &file_ops;
	fs->root_fd = fd;
	fs->timeout_ms = lock_timeout_ms;
	fs->net_fd = fs->lock_fd = -1;
	*ret = &fs->base;
	return 0;
out:
	close(fd);
	return r;
}
