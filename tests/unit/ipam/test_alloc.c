// SPDX-License-Identifier: Apache-2.0
/*
 * The allocator on the file store, in a temporary store_dir: lowest free, exclusions,
 * identity and idempotent ADD, release in every range, exhaustion and rollback, overlapping
 * ranges, the search hint, GC, store round trip and refusals, the bounded lock wait, and
 * concurrent allocation from several processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipam/allocate.h"
#include "ipam/lock.h"
#include "ipam/owner.h"
#include "tests/unit/check.h"

static char root[64];
static int seq;

static const char *fmt(int family, struct ipam_u128 a)
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int i;

	i = (i + 1) % 4;
	return ipam_addr_format(family, a, buf[i], sizeof(buf[i]));
}

/* A config on a fresh store_dir (or @dir when given). */
static void config(const char *ipam_tail, struct ipam_config *c, const char *dir)
{
	static const char *const none[] = { NULL };
	char json[2048], store[128];
	struct cni_error err = { 0 };
	struct json_object *o;

	if (dir)
		snprintf(store, sizeof(store), "%s", dir);
	else
		snprintf(store, sizeof(store), "%s/s%d", root, ++seq);
	snprintf(json, sizeof(json), "{\"type\":\"whereabouts\",\"store_dir\":\"%s\",%s}", store,
		 ipam_tail);
	o = json_tokener_parse(json);
	if (!o || ipam_config_load(o, none, c, &err) < 0) {
		fprintf(stderr, "config %s: %s\n", json, err.msg);
		exit(2);
	}
	json_object_put(o);
}

static struct ipam_store *open_store(const struct ipam_config *c)
{
	struct cni_error err = { 0 };
	struct ipam_store *s;

	if (ipam_store_file_open(c->store_dir, c->lock_timeout_ms, &s, &err) < 0) {
		fprintf(stderr, "open %s: %s\n", c->store_dir, err.msg);
		exit(2);
	}
	return s;
}

/* A fresh file store for the config of @ipam_tail, parsed into @c. */
static struct ipam_store *store_for(const char *ipam_tail, struct ipam_config *c)
{
	config(ipam_tail, c, NULL);
	return open_store(c);
}

/* ADD for pod @pod (NULL: no pod keys) with container @id on eth0; the first range's address. */
static const char *add(struct ipam_store *s, const struct ipam_config *c, const char *pod,
		       const char *id, struct cni_error *err)
{
	struct ipam_owner o = { .podref = pod, .id = id, .ifname = "eth0" };
	struct ipam_u128 ips[8];

	memset(err, 0, sizeof(*err));
	if (ipam_allocate(s, c, &o, ips, err) < 0)
		return "fail";
	return fmt(c->ranges[0].family, ips[0]);
}

static int del(struct ipam_store *s, const struct ipam_config *c, const char *id)
{
	struct cni_error err = { 0 };

	return ipam_release(s, c, id, "eth0", &err);
}

static void test_lowest_free(void)
{
	struct ipam_config c;
	struct cni_error err;
	struct ipam_store *s;

	s = store_for("\"range\":\"10.0.0.0/24\",\"exclude\":[\"10.0.0.1\",\"10.0.0.4/31\"]", &c);
	CHECK_STR(add(s, &c, "ns/a", "ca", &err), "10.0.0.2");
	CHECK_STR(add(s, &c, "ns/b", "cb", &err), "10.0.0.3");
	CHECK_STR(add(s, &c, "ns/c", "cc", &err), "10.0.0.6");
	CHECK_STR(add(s, &c, "ns/d", "cd", &err), "10.0.0.7");
	/* a release makes the lowest address free again */
	CHECK(del(s, &c, "cb") == 1);
	CHECK_STR(add(s, &c, "ns/e", "ce", &err), "10.0.0.3");
	CHECK_STR(add(s, &c, "ns/f", "cf", &err), "10.0.0.8");
	CHECK(del(s, &c, "ca") == 1 && del(s, &c, "cc") == 1);
	CHECK_STR(add(s, &c, "ns/g", "cg", &err), "10.0.0.2");
	CHECK_STR(add(s, &c, "ns/h", "ch", &err), "10.0.0.6");
	CHECK_STR(add(s, &c, "ns/i", "ci", &err), "10.0.0.9");
	/* DEL of something unknown succeeds and releases nothing */
	CHECK(del(s, &c, "unknown") == 0);
	s->ops->close(s);
	ipam_config_free(&c);
}

static void test_identity(void)
{
	struct ipam_config c;
	struct cni_error err;
	struct ipam_store *s;
	struct ipam_u128 ip;
	bool found;

	s = store_for("\"range\":\"fd00::/64\"", &c);
	CHECK_STR(add(s, &c, "ns/a", "c1", &err), "fd00::1");
	/* the same pod and interface again, new container: same address, container updated */
	CHECK_STR(add(s, &c, "ns/a", "c2", &err), "fd00::1");
	CHECK(ipam_lookup(s, &c, "c2", "eth0", &found, &ip, &err) == 0 && found);
	CHECK(ipam_lookup(s, &c, "c1", "eth0", &found, &ip, &err) == 0 && !found);
	/* the old container's DEL releases nothing; the new one's releases */
	CHECK(del(s, &c, "c1") == 0);
	CHECK(del(s, &c, "c2") == 1);
	/* without pod keys the identity is the container and interface */
	CHECK_STR(add(s, &c, NULL, "c3", &err), "fd00::1");
	CHECK_STR(add(s, &c, NULL, "c3", &err), "fd00::1");
	CHECK_STR(add(s, &c, NULL, "c4", &err), "fd00::2");
	/* the same container and interface, now named by a pod: the same attachment */
	CHECK_STR(add(s, &c, "ns/late", "c4", &err), "fd00::2");
	CHECK_STR(add(s, &c, "ns/late", "c5", &err), "fd00::2");
	CHECK(del(s, &c, "c5") == 1);
	/* another interface of the same pod is another allocation */
	{
		struct ipam_owner o = { .podref = "ns/two", .id = "c6", .ifname = "net1" };
		struct ipam_u128 a[1], b[1];

		CHECK(ipam_allocate(s, &c, &o, a, &err) == 0);
		o.ifname = "net2";
		CHECK(ipam_allocate(s, &c, &o, b, &err) == 0);
		CHECK(!ipam_u128_eq(a[0], b[0]));
	}
	s->ops->close(s);
	ipam_config_free(&c);
}

static void test_ranges_and_exhaustion(void)
{
	struct ipam_config c;
	struct cni_error err;
	struct ipam_store *s;
	struct ipam_owner o = { .podref = NULL, .id = "x", .ifname = "eth0" };
	struct ipam_u128 ips[3];
	bool found[3];

	s = store_for("\"range\":\"10.0.0.0/24\",\"ipRanges\":[{\"range\":\"fd00::/120\"},"
		      "{\"range\":\"10.9.0.0/30\"}]",
		      &c);
	CHECK(ipam_allocate(s, &c, &o, ips, &err) == 0);
	CHECK_STR(fmt(4, ips[0]), "10.0.0.1");
	CHECK_STR(fmt(6, ips[1]), "fd00::1");
	CHECK_STR(fmt(4, ips[2]), "10.9.0.1");
	o.id = "y";
	CHECK(ipam_allocate(s, &c, &o, ips, &err) == 0);
	CHECK_STR(fmt(4, ips[2]), "10.9.0.2");
	/* the /30 is full: the error names it, and nothing is left held by "z" */
	o.id = "z";
	CHECK(ipam_allocate(s, &c, &o, ips, &err) < 0);
	CHECK(err.code == 999 && strstr(err.msg, "10.9.0.0/30"));
	CHECK(ipam_lookup(s, &c, "z", "eth0", found, ips, &err) == 0 && !found[0] && !found[1] &&
	      !found[2]);
	/* DEL releases in every range */
	CHECK(del(s, &c, "x") == 3);
	o.id = "z";
	CHECK(ipam_allocate(s, &c, &o, ips, &err) == 0);
	CHECK_STR(fmt(4, ips[0]), "10.0.0.1");
	CHECK_STR(fmt(4, ips[2]), "10.9.0.1");
	s->ops->close(s);
	ipam_config_free(&c);

	/* range_start/range_end bound the walk; the range then exhausts */
	s = store_for("\"range\":\"10.1.0.0/16\",\"range_start\":\"10.1.255.253\"", &c);
	CHECK_STR(add(s, &c, "ns/a", "a", &err), "10.1.255.253");
	CHECK_STR(add(s, &c, "ns/b", "b", &err), "10.1.255.254");
	CHECK_STR(add(s, &c, "ns/c", "c", &err), "fail");
	CHECK(strstr(err.msg, "10.1.0.0/16") && strstr(err.msg, "10.1.255.253-10.1.255.254"));
	s->ops->close(s);
	ipam_config_free(&c);

	/* a big IPv6 range near the top of the address space */
	s = store_for("\"range\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120\","
		      "\"range_start\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd\"",
		      &c);
	CHECK_STR(add(s, &c, "ns/a", "a", &err), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd");
	CHECK_STR(add(s, &c, "ns/b", "b", &err), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	CHECK_STR(add(s, &c, "ns/c", "c", &err), "fail");
	s->ops->close(s);
	ipam_config_free(&c);
	s = store_for("\"range\":\"2001:db8::/32\",\"exclude\":[\"2001:db8::/33\"]", &c);
	CHECK_STR(add(s, &c, "ns/a", "a", &err), "2001:db8:8000::");
	CHECK_STR(add(s, &c, "ns/b", "b", &err), "2001:db8:8000::1");
	s->ops->close(s);
	ipam_config_free(&c);
}

static void test_overlap(void)
{
	struct ipam_config big, small, other_net, no_overlap;
	struct cni_error err;
	struct ipam_store *s;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/overlap", root);
	config("\"range\":\"10.5.0.0/24\",\"network_name\":\"n1\"", &big, dir);
	config("\"range\":\"10.5.0.0/28\",\"network_name\":\"n1\"", &small, dir);
	config("\"range\":\"10.5.0.0/28\",\"network_name\":\"n2\"", &other_net, dir);
	config("\"range\":\"10.5.0.0/"
	       "28\",\"network_name\":\"n1\",\"enable_overlapping_ranges\":false",
	       &no_overlap, dir);
	s = open_store(&big);
	CHECK_STR(add(s, &big, "ns/a", "a", &err), "10.5.0.1");
	CHECK_STR(add(s, &big, "ns/b", "b", &err), "10.5.0.2");
	/* the /28 of the same network skips what the /24 holds */
	CHECK_STR(add(s, &small, "ns/c", "c", &err), "10.5.0.3");
	/* and the /24 skips what the /28 holds */
	CHECK_STR(add(s, &big, "ns/d", "d", &err), "10.5.0.4");
	/* another network_name is another address space */
	CHECK_STR(add(s, &other_net, "ns/e", "e", &err), "10.5.0.1");
	/* without the overlap check only the pool itself counts */
	CHECK_STR(add(s, &no_overlap, "ns/f", "f", &err), "10.5.0.1");
	/* a release in the /24 lowers the /28's search hint */
	CHECK(del(s, &no_overlap, "f") == 1);
	CHECK_STR(add(s, &small, "ns/g", "g", &err), "10.5.0.5");
	CHECK(del(s, &big, "a") == 1);
	CHECK_STR(add(s, &small, "ns/h", "h", &err), "10.5.0.1");
	s->ops->close(s);
	ipam_config_free(&big);
	ipam_config_free(&small);
	ipam_config_free(&other_net);
	ipam_config_free(&no_overlap);
}

static void test_hint(void)
{
	struct ipam_config c;
	struct cni_error err = { 0 };
	struct ipam_store *s;
	struct ipam_u128 high;
	char pool[IPAM_CIDR_MAX];
	int f;

	s = store_for("\"range\":\"10.7.0.0/29\"", &c);
	ipam_pool_name(&c.ranges[0], pool, sizeof(pool));
	for (int i = 0; i < 6; i++) {
		char id[8];

		snprintf(id, sizeof(id), "h%d", i);
		add(s, &c, NULL, id, &err);
	}
	/* full (.1-.6); free .2, and leave a hint that is too high, as a lost update would */
	CHECK(del(s, &c, "h1") == 1);
	ipam_addr_parse("10.7.0.6", &f, &high);
	CHECK(s->ops->lock(s, NULL, &err) == 0);
	CHECK(s->ops->hint_set(s, pool, 4, high, ipam_range_digest(&c.ranges[0], true), &err) == 0);
	CHECK(s->ops->commit(s, &err) == 0);
	s->ops->unlock(s);
	/* the walk from the hint finds nothing and falls back to the start */
	CHECK_STR(add(s, &c, NULL, "h9", &err), "10.7.0.2");
	s->ops->close(s);
	ipam_config_free(&c);
}

static bool valid_even(const char *id, const char *ifname, void *arg)
{
	(void)arg;
	return (id[strlen(id) - 1] - '0') % 2 == 0;
}

static void test_gc(void)
{
	struct ipam_config c;
	struct cni_error err;
	struct ipam_store *s;

	s = store_for("\"range\":\"10.8.0.0/24\"", &c);
	for (int i = 0; i < 6; i++) {
		char id[8];

		snprintf(id, sizeof(id), "g%d", i);
		add(s, &c, NULL, id, &err);
	}
	CHECK(ipam_gc(s, &c, NULL, NULL, valid_even, NULL, &err) == 3);
	CHECK(ipam_gc(s, &c, NULL, NULL, valid_even, NULL, &err) == 0);
	CHECK_STR(add(s, &c, NULL, "new", &err), "10.8.0.2");
	s->ops->close(s);
	ipam_config_free(&c);
}

static bool valid_none(const char *id, const char *ifname, void *arg)
{
	(void)id, (void)ifname, (void)arg;
	return false;
}

/* GC judges only its own network's allocations made on its own node; older records match. */
static void test_gc_scope(void)
{
	static const char *const who[][3] = {
		{ "mine", "net-x", "node-a" },
		{ "othernet", "net-y", "node-a" },
		{ "othernode", "net-x", "node-b" },
		{ "old", NULL, NULL },
	};
	struct ipam_alloc a = { 0 };
	struct ipam_config c;
	struct cni_error err;
	struct ipam_store *s;
	struct ipam_u128 ip;
	char pool[IPAM_CIDR_MAX];

	s = store_for("\"range\":\"10.9.0.0/24\"", &c);
	for (size_t i = 0; i < 4; i++) {
		struct ipam_owner o = { .id = who[i][0],
					.ifname = "eth0",
					.cni_network = who[i][1],
					.node = who[i][2] };

		memset(&err, 0, sizeof(err));
		CHECK(ipam_allocate(s, &c, &o, &ip, &err) == 0);
	}
	CHECK(ipam_gc(s, &c, "net-x", "node-a", valid_none, NULL, &err) == 2);
	CHECK(ipam_gc(s, &c, "net-x", "node-a", valid_none, NULL, &err) == 0);
	CHECK_STR(add(s, &c, NULL, "new", &err), "10.9.0.1");
	CHECK_STR(add(s, &c, NULL, "new2", &err), "10.9.0.4");
	/* the fields round-trip through the record; a missing one reads as "" */
	ipam_pool_name(&c.ranges[0], pool, sizeof(pool));
	CHECK(s->ops->lock(s, c.network_name, &err) == 0);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, "othernode", "eth0", &a, &err) == 1);
	CHECK_STR(a.cni_network, "net-x");
	CHECK_STR(a.node, "node-b");
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, "new", "eth0", &a, &err) == 1);
	CHECK_STR(a.cni_network, "");
	CHECK_STR(a.node, "");
	s->ops->unlock(s);
	CHECK(ipam_alloc_in_scope(&a, "any", "where"));
	strcpy(a.node, "node-b");
	CHECK(!ipam_alloc_in_scope(&a, "any", "node-a") && ipam_alloc_in_scope(&a, "any", NULL));
	s->ops->close(s);
	ipam_config_free(&c);
}

static int count_alloc(const struct ipam_alloc *a, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_store(void)
{
	struct ipam_config c;
	struct cni_error err = { 0 };
	struct ipam_store *s;
	struct ipam_alloc a = { 0 }, got;
	char pool[IPAM_CIDR_MAX], path[256], text[512];
	int f, n = 0, fd;
	ssize_t len;
	struct stat st;

	s = store_for("\"range\":\"10.6.0.0/24\",\"network_name\":\"rt\"", &c);
	ipam_pool_name(&c.ranges[0], pool, sizeof(pool));
	ipam_addr_parse("10.6.0.77", &f, &a.ip);
	a.family = f;
	strcpy(a.id, "ctr\"quoted\\");
	strcpy(a.podref, "ns/pod with spaces/and:colons");
	strcpy(a.ifname, "net1");
	CHECK(s->ops->lock(s, "rt", &err) == 0);
	CHECK(s->ops->put(s, pool, &a, NULL, &err) == 0);
	CHECK(s->ops->commit(s, &err) == 0);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, a.id, "net1", &got, &err) == 1);
	CHECK_STR(got.podref, a.podref);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_POD, a.podref, "net1", &got, &err) == 1);
	CHECK_STR(got.id, a.id);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_POD, a.podref, "net2", &got, &err) == 0);
	CHECK(s->ops->taken(s, pool, 4, a.ip, &err) == 1);
	CHECK(s->ops->each_alloc(s, pool, count_alloc, &n, &err) == 0 && n == 1);
	s->ops->unlock(s);

	/* the record is one line of JSON a person can read, 0600 */
	snprintf(path, sizeof(path), "%s/rt/%s/10.6.0.77", c.store_dir, pool);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[len > 0 ? len : 0] = '\0';
	CHECK_STR(text,
		  "{\"ip\":\"10.6.0.77\",\"id\":\"ctr\\\"quoted\\\\\",\"podref\":\"ns/pod with "
		  "spaces/and:colons\",\"ifname\":\"net1\"}\n");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* a dangling or mismatching index is ignored */
	snprintf(path, sizeof(path), "%s/rt/%s/ctr:ghost:eth0", c.store_dir, pool);
	CHECK(symlink("10.6.0.99", path) == 0);
	snprintf(path, sizeof(path), "%s/rt/%s/ctr:liar:net1", c.store_dir, pool);
	CHECK(symlink("10.6.0.77", path) == 0);
	CHECK(s->ops->lock(s, "rt", &err) == 0);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, "ghost", "eth0", &got, &err) == 0);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, "liar", "net1", &got, &err) == 0);
	/* a torn-looking or foreign file is not an allocation, but its address stays taken */
	snprintf(path, sizeof(path), "%s/rt/%s/10.6.0.5", c.store_dir, pool);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, "{\"ip\":", 6) == 6);
	close(fd);
	n = 0;
	CHECK(s->ops->each_alloc(s, pool, count_alloc, &n, &err) == 0 && n == 1);
	CHECK(s->ops->release(s, pool, &a, &err) == 0);
	CHECK(s->ops->find(s, pool, IPAM_INDEX_ID, a.id, "net1", &got, &err) == 0);
	s->ops->unlock(s);
	s->ops->close(s);
	ipam_config_free(&c);
}

static void test_store_dir_refused(void)
{
	struct cni_error err = { 0 };
	struct ipam_store *s;
	char dir[128], link[128];

	snprintf(dir, sizeof(dir), "%s/wide", root);
	mkdir(dir, 0777);
	chmod(dir, 0777);
	CHECK(ipam_store_file_open(dir, 0, &s, &err) < 0 && err.code == 7 &&
	      strstr(err.msg, "ipam.store_dir") && strstr(err.msg, "writable"));
	chmod(dir, 0700);
	snprintf(link, sizeof(link), "%s/link", root);
	CHECK(symlink(dir, link) == 0);
	CHECK(ipam_store_file_open(link, 0, &s, &err) < 0 && err.code == 7 &&
	      strstr(err.msg, "symbolic link"));
	/* a missing store_dir is created 0700, parents included */
	snprintf(dir, sizeof(dir), "%s/deep/er/store", root);
	CHECK(ipam_store_file_open(dir, 0, &s, &err) == 0);
	{
		struct stat st;

		CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	}
	s->ops->close(s);
}

static void test_lock_timeout(void)
{
	struct ipam_config c;
	struct cni_error err = { 0 };
	struct ipam_store *holder, *waiter;

	config("\"range\":\"10.4.0.0/24\",\"lock_timeout_ms\":150", &c, NULL);
	holder = open_store(&c);
	waiter = open_store(&c);
	CHECK(holder->ops->lock(holder, NULL, &err) == 0);
	/* OFD locks conflict between open file descriptions, even in one process */
	CHECK_STR(add(waiter, &c, "ns/a", "a", &err), "fail");
	CHECK(err.code == 11 && strstr(err.msg, "150 ms"));
	holder->ops->unlock(holder);
	CHECK_STR(add(waiter, &c, "ns/a", "a", &err), "10.4.0.1");
	holder->ops->close(holder);
	waiter->ops->close(waiter);
	ipam_config_free(&c);
}

#define PROCS 8
#define PER_PROC 25

static void test_concurrent(void)
{
	struct ipam_config c;
	struct cni_error err = { 0 };
	struct ipam_store *s;
	char pool[IPAM_CIDR_MAX], seen[256] = { 0 };
	int status, n = 0, dup = 0, pipefd[2];

	config("\"range\":\"10.3.0.0/24\"", &c, NULL);
	ipam_pool_name(&c.ranges[0], pool, sizeof(pool));
	CHECK(pipe(pipefd) == 0);
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			struct ipam_store *cs = open_store(&c);

			for (int i = 0; i < PER_PROC; i++) {
				struct ipam_owner o = { .id = NULL, .ifname = "eth0" };
				char id[16];
				struct ipam_u128 ip;
				unsigned char last;

				snprintf(id, sizeof(id), "p%dc%d", p, i);
				o.id = id;
				if (ipam_allocate(cs, &c, &o, &ip, &err) < 0)
					_exit(1);
				last = ip.lo & 0xff;
				if (write(pipefd[1], &last, 1) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(pipefd[1]);
	for (int p = 0; p < PROCS; p++) {
		wait(&status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (unsigned char b; read(pipefd[0], &b, 1) == 1; n++) {
		if (seen[b])
			dup++;
		seen[b] = 1;
	}
	close(pipefd[0]);
	CHECK(n == PROCS * PER_PROC);
	CHECK(dup == 0);
	/* lowest free: exactly .1 … .200 */
	for (int i = 1; i <= PROCS * PER_PROC; i++)
		CHECK(seen[i]);

	/* the same processes release everything in parallel */
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			struct ipam_store *cs = open_store(&c);

			for (int i = 0; i < PER_PROC; i++) {
				char id[16];

				snprintf(id, sizeof(id), "p%dc%d", p, i);
				if (ipam_release(cs, &c, id, "eth0", &err) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		wait(&status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	s = open_store(&c);
	n = 0;
	CHECK(s->ops->lock(s, NULL, &err) == 0);
	CHECK(s->ops->each_alloc(s, pool, count_alloc, &n, &err) == 0 && n == 0);
	s->ops->unlock(s);
	s->ops->close(s);
	ipam_config_free(&c);
}

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(root, sizeof(root), "/tmp/ipam-unit-XXXXXX");
	if (!mkdtemp(root))
		return 2;
	test_lowest_free();
	test_identity();
	test_ranges_and_exhaustion();
	test_overlap();
	test_hint();
	test_gc();
	test_gc_scope();
	test_store();
	test_store_dir_refused();
	test_lock_timeout();
	test_concurrent();
	rc = check_summary();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
