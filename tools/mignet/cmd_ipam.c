// SPDX-License-Identifier: Apache-2.0
/*
 * `mignet ipam list|show|release|gc`: the administration of the whereabouts stores (the file
 * store; the etcd store, given by --config, for list, show and release).
 *
 * Theory of operation
 *
 * Every command works network by network, each under that network's store lock (the lock
 * the plugin takes for a verb), through the same store interface the plugin uses: so a
 * listing is a consistent snapshot of a network and a release or a reconcile cannot race
 * with an ADD or a DEL. A release lowers the search hint of every pool of the network that
 * contains the address before removing it, as the allocator does, so the address is handed
 * out again by the next ADD.
 *
 * An entry that keeps an address taken but holds no record of it (garbage, the record of
 * another address, a symbolic link: the store's each_corrupt()) is listed and shown as
 * corrupt with the reason, and release frees it like any allocation. gc never releases one:
 * who held it is unknown, so nothing proves it dead; it is reported with the skipped.
 *
 * Reconcile (gc) needs to know whether an allocation's container still exists. The plugin
 * records the ADD's CNI_NETNS in the allocation record ("netns"); the attachment is live
 * while that path is a network namespace (a file on nsfs, as /run/netns/<name> and
 * /proc/<pid>/ns/net are). A path that no longer exists, or exists but is no namespace any
 * more (its bind mount was removed), is stale, and gc releases the allocation. A record
 * without "netns" (made by an older plugin) or a path that cannot be checked is skipped with
 * a note: gc never releases what it cannot prove dead.
 *
 * A store may be shared by several nodes (a shared mount), and a netns path means something
 * only on the node that made the allocation: gc judges only the allocations recorded with
 * this node's name (ipam_node_name(), or --node), and those recorded before the node was
 * (no "node"), which count as this node's. Another node's are left alone.
 *
 * The etcd store is cluster-wide: a container of another node has a CNI_NETNS path that does
 * not exist here. gc there judges only the records that name this node; one without "node"
 * (made before records carried it) may be any node's, so it is skipped with a note rather
 * than counted as this node's as on a file store. With node slices each node's addresses
 * live in its own file store: --store-dir on that node.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/json.h"
#include "ipam_admin.h"
#include "ipam_admin_priv.h"
#include "ipam/config.h"
#include "ipam/etcd_store.h"
#include "ipam/owner.h"

static void usage(FILE *f)
{
	fputs("usage:\n"
	      "  mignet ipam list    [STORE] [--network NAME] [--json]\n"
	      "  mignet ipam show    [STORE] [--network NAME] [--json] "
	      "ADDRESS|NAMESPACE/POD|CONTAINERID\n"
	      "  mignet ipam release [STORE] [--network NAME] [--json] ADDRESS\n"
	      "  mignet ipam gc      [STORE] [--network NAME] [--json] [--dry-run] [--node NAME]\n"
	      "STORE: --store-dir DIR (default " IPAM_DEFAULT_STORE_DIR ")\n"
	      "       or --config FILE (a CNI network config or conflist: its whereabouts ipam\n"
	      "       section, completed by its flat file, gives store_dir and network_name,\n"
	      "       or the etcd datastore)\n"
	      "--network _unnamed selects the network of configs without network_name.\n"
	      "gc judges only this node's allocations (--node, else as the plugin names the "
	      "node).\n",
	      f);
}

/* --- the target: store and networks --- */

/* The keys are found as the plugins (and libcni, in Go) find them: cni_json_get(). */
static struct json_object *find_ipam(struct json_object *root)
{
	struct json_object *plugins = cni_json_get(root, "plugins"), *ipam, *type;

	if (plugins && json_object_is_type(plugins, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(plugins); i++) {
			struct json_object *p = json_object_array_get_idx(plugins, i);
			struct json_object *found = find_ipam(p);

			if (found)
				return found;
		}
		return NULL;
	}
	ipam = cni_json_get(root, "ipam");
	type = ipam && json_object_is_type(ipam, json_type_object) ? cni_json_get(ipam, "type")
								   : NULL;
	if (!type || !json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), "whereabouts") != 0)
		return NULL;
	return ipam;
}

static int load_config(struct opts *o, FILE *err)
{
	struct json_object *root = json_object_from_file(o->config), *ipam;
	struct cni_error e = { 0 };
	int r = -1;

	if (!root || !json_object_is_type(root, json_type_object)) {
		fprintf(err, "mignet ipam: %s: not a JSON object\n", o->config);
		goto out;
	}
	ipam = find_ipam(root);
	if (!ipam) {
		fprintf(err,
			"mignet ipam: %s: no plugin with \"ipam\": {\"type\": \"whereabouts\"}\n",
			o->config);
		goto out;
	}
	if (ipam_config_load(ipam, ipam_flat_file_paths, &o->conf, &e) < 0) {
		fprintf(err, "mignet ipam: %s: %s\n", o->config, e.msg);
		goto out;
	}
	if (o->conf.datastore == IPAM_STORE_ETCD) {
		const char *slice = NULL;

		cni_json_string(o->conf.merged, "ipam", "node_slice_size", &slice, NULL);
		if (slice && *slice) {
			fprintf(err,
				"mignet ipam: %s: node slices: each node's addresses are in its "
				"own file store: run with --store-dir %s on that node\n",
				o->config, o->conf.store_dir);
			goto out;
		}
	}
	o->store_dir = o->conf.store_dir;
	o->timeout_ms = o->conf.lock_timeout_ms;
	if (!o->network)
		o->network = ipam_network_dir(o->conf.network_name);
	r = 0;
out:
	json_object_put(root);
	return r;
}

/* The network directories to visit, NULL-terminated (strings owned by the array). */
static char **networks(const struct opts *o, FILE *err)
{
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (!v)
		return NULL;
	if (o->network) {
		char path[PATH_MAX];
		char **g;

		snprintf(path, sizeof(path), "%s/%s", o->store_dir, o->network);
		if (o->conf.datastore == IPAM_STORE_FILE && access(path, F_OK) < 0 &&
		    errno == ENOENT)
			return v; /* never used: nothing allocated (and nothing created) */
		g = realloc(v, 2 * sizeof(*v));

		if (!g || !(g[0] = strdup(o->network))) {
			free(g ? g : v);
			return NULL;
		}
		g[1] = NULL;
		return g;
	}
	d = opendir(o->store_dir);
	if (!d) {
		if (errno != ENOENT) {
			fprintf(err, "mignet ipam: %s: %s\n", o->store_dir, strerror(errno));
			free(v);
			return NULL;
		}
		return v; /* no store yet: nothing allocated */
	}
	while ((de = readdir(d))) {
		struct stat st;
		char **g;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		g = realloc(v, (n + 2) * sizeof(*v));
		if (!g)
			break;
		v = g;
		v[n] = strdup(de->d_name);
		if (v[n])
			v[++n] = NULL;
	}
	closedir(d);
	return v;
}

static void free_networks(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* --- output --- */

static struct json_object *row_json(const struct row *r, const char *extra_key,
				    const char *extra_val)
{
	struct json_object *o = json_object_new_object();
	char addr[INET6_ADDRSTRLEN], cidr[IPAM_CIDR_MAX];

	admin_pool_cidr(r->pool, cidr, sizeof(cidr));
	json_object_object_add(o, "network",
			       admin_network_arg(r->network) ? json_object_new_string(r->network)
							     : NULL);
	json_object_object_add(o, "range", json_object_new_string(cidr));
	json_object_object_add(
		o, "address",
		json_object_new_string(ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr))));
	json_object_object_add(o, "pod",
			       r->a.podref[0] ? json_object_new_string(r->a.podref) : NULL);
	json_object_object_add(o, "containerID", json_object_new_string(r->a.id));
	json_object_object_add(o, "interface", json_object_new_string(r->a.ifname));
	json_object_object_add(o, "netns", r->netns[0] ? json_object_new_string(r->netns) : NULL);
	json_object_object_add(o, "cniNetwork",
			       r->a.cni_network[0] ? json_object_new_string(r->a.cni_network)
						   : NULL);
	json_object_object_add(o, "node", r->a.node[0] ? json_object_new_string(r->a.node) : NULL);
	if (r->corrupt[0]) {
		json_object_object_add(o, "containerID", NULL);
		json_object_object_add(o, "interface", NULL);
		json_object_object_add(o, "corrupt", json_object_new_string(r->corrupt));
	}
	if (extra_key)
		json_object_object_add(o, extra_key, json_object_new_string(extra_val));
	return o;
}

static void print_json(FILE *out, struct json_object *o)
{
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

#define TABLE_HEAD "%-16s %-20s %-26s %-32s %-20s %s"

static void table_head(FILE *out, const char *first)
{
	if (first)
		fprintf(out, "%-16s ", first);
	fprintf(out, TABLE_HEAD "\n", "NETWORK", "RANGE", "ADDRESS", "POD", "CONTAINER ID",
		"INTERFACE");
}

static void table_row(FILE *out, const char *first, const struct row *r)
{
	char addr[INET6_ADDRSTRLEN], cidr[IPAM_CIDR_MAX];

	admin_pool_cidr(r->pool, cidr, sizeof(cidr));
	if (first)
		fprintf(out, "%-16s ", first);
	if (r->corrupt[0]) {
		fprintf(out, "%-16s %-20s %-26s CORRUPT: %s\n",
			admin_network_arg(r->network) ? r->network : "-", cidr,
			ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)), r->corrupt);
		return;
	}
	fprintf(out, TABLE_HEAD "\n", admin_network_arg(r->network) ? r->network : "-", cidr,
		ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)),
		r->a.podref[0] ? r->a.podref : "-", r->a.id, r->a.ifname);
}

/* --- commands --- */

static void note_corrupt(FILE *err, const struct row *r, const char *then)
{
	char addr[INET6_ADDRSTRLEN];

	ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr));
	fprintf(err, "mignet ipam: note: %s (network %s) is held by a corrupt record: %s; %s\n",
		addr, r->network, r->corrupt, then);
}

/* list: every pool, with its allocations. */
static int cmd_list(struct ipam_store *s, char **nets, const struct opts *o, const char *what,
		    FILE *out, FILE *err)
{
	struct json_object *jpools = json_object_new_array();
	size_t n_allocs = 0, n_pools = 0, n_corrupt = 0;
	int rc = 0;

	if (!o->json)
		table_head(out, NULL);
	for (size_t i = 0; nets[i]; i++) {
		struct rows rows = { 0 };
		struct pool_list pools = { 0 };

		if (admin_lock(s, nets[i], err) < 0) {
			rc = EXIT_FAIL;
			continue;
		}
		if (admin_collect(s, nets[i], &rows, &pools, err) < 0)
			rc = EXIT_FAIL;
		s->ops->unlock(s);
		for (size_t p = 0; p < pools.n; p++) {
			struct json_object *jp = json_object_new_object(),
					   *ja = json_object_new_array();
			char cidr[IPAM_CIDR_MAX];

			admin_pool_cidr(pools.v[p], cidr, sizeof(cidr));
			json_object_object_add(jp, "network",
					       admin_network_arg(nets[i])
						       ? json_object_new_string(nets[i])
						       : NULL);
			json_object_object_add(jp, "range", json_object_new_string(cidr));
			for (size_t k = 0; k < rows.n; k++) {
				if (strcmp(rows.v[k].pool, pools.v[p]) != 0)
					continue;
				json_object_array_add(ja, row_json(&rows.v[k], NULL, NULL));
				if (!o->json)
					table_row(out, NULL, &rows.v[k]);
				if (rows.v[k].corrupt[0]) {
					n_corrupt++;
					note_corrupt(err, &rows.v[k],
						     "`mignet ipam release` frees the address");
				}
			}
			json_object_object_add(jp, "allocations", ja);
			json_object_array_add(jpools, jp);
		}
		n_allocs += rows.n;
		n_pools += pools.n;
		free(rows.v);
		free(pools.v);
	}
	if (o->json) {
		struct json_object *top = json_object_new_object();

		json_object_object_add(top, "pools", jpools);
		print_json(out, top);
	} else {
		n_allocs -= n_corrupt;
		fprintf(out, "%zu allocation%s in %zu pool%s", n_allocs, n_allocs == 1 ? "" : "s",
			n_pools, n_pools == 1 ? "" : "s");
		if (n_corrupt)
			fprintf(out, ", %zu corrupt record%s", n_corrupt,
				n_corrupt == 1 ? "" : "s");
		fputc('\n', out);
		json_object_put(jpools);
	}
	return rc;
}

/* show: the allocations of an address, a pod or a container, with their netns. */
static int cmd_show(struct ipam_store *s, char **nets, const struct opts *o, const char *what,
		    FILE *out, FILE *err)
{
	struct json_object *ja = json_object_new_array();
	struct rows rows = { 0 };
	int rc = admin_gather(s, nets, what, &rows, err);

	for (size_t k = 0; k < rows.n; k++) {
		const struct row *r = &rows.v[k];
		const char *st = admin_ns_state_name[admin_netns_state(r->netns)];
		char addr[INET6_ADDRSTRLEN], cidr[IPAM_CIDR_MAX];

		if (o->json) {
			json_object_array_add(ja,
					      row_json(r, r->corrupt[0] ? NULL : "netnsState", st));
			continue;
		}
		admin_pool_cidr(r->pool, cidr, sizeof(cidr));
		if (r->corrupt[0]) {
			fprintf(out,
				"%saddress:      %s\nnetwork:      %s\nrange:        %s\n"
				"corrupt:      %s\n",
				k ? "\n" : "",
				ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)),
				admin_network_arg(r->network) ? r->network : "(unnamed)", cidr,
				r->corrupt);
			continue;
		}
		fprintf(out,
			"%saddress:      %s\nnetwork:      %s\nrange:        %s\n"
			"pod:          %s\ncontainer ID: %s\ninterface:    %s\nnetns:        %s "
			"(%s)\n"
			"cni network:  %s\nnode:         %s\n",
			k ? "\n" : "", ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)),
			admin_network_arg(r->network) ? r->network : "(unnamed)", cidr,
			r->a.podref[0] ? r->a.podref : "-", r->a.id, r->a.ifname,
			r->netns[0] ? r->netns : "-", st,
			r->a.cni_network[0] ? r->a.cni_network : "-",
			r->a.node[0] ? r->a.node : "-");
	}
	if (o->json)
		print_json(out, ja);
	else
		json_object_put(ja);
	if (!rows.n) {
		fprintf(err, "mignet ipam: no allocation matches %s\n", what);
		rc = EXIT_FAIL;
	}
	free(rows.v);
	return rc;
}

/* release: one address, in the one network that holds it. */
static int cmd_release(struct ipam_store *s, char **nets, const struct opts *o, const char *what,
		       FILE *out, FILE *err)
{
	struct ipam_u128 ip;
	struct rows found = { 0 }, again = { 0 };
	const char *net;
	int family, rc;

	if (ipam_addr_parse(what, &family, &ip) < 0) {
		fprintf(err, "mignet ipam: release %s: not an address\n", what);
		return EXIT_USAGE;
	}
	rc = admin_gather(s, nets, what, &found, err);
	if (rc)
		goto out;
	if (!found.n) {
		fprintf(err, "mignet ipam: %s is not allocated\n", what);
		rc = EXIT_FAIL;
		goto out;
	}
	net = found.v[0].network;
	for (size_t k = 1; k < found.n; k++) {
		if (strcmp(found.v[k].network, net) != 0) {
			fprintf(err,
				"mignet ipam: %s is held in networks %s and %s: give --network\n",
				what, net, found.v[k].network);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	/* again under one lock: what was found may have changed in between */
	if (admin_lock(s, net, err) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	rc = admin_collect(s, net, &again, NULL, err) < 0 ? EXIT_FAIL : 0;
	found.n = 0;
	for (size_t k = 0; rc == 0 && k < again.n; k++) {
		if (!admin_row_matches(&again.v[k], what))
			continue;
		if (admin_release(s, &again.v[k], err) < 0)
			rc = EXIT_FAIL;
		else
			again.v[found.n++] = again.v[k];
	}
	if (found.n && admin_commit(s, net, err) < 0)
		rc = EXIT_FAIL;
	s->ops->unlock(s);
	if (rc == 0 && !found.n) {
		fprintf(err, "mignet ipam: %s is not allocated\n", what);
		rc = EXIT_FAIL;
	}
	if (rc == 0 && o->json) {
		struct json_object *ja = json_object_new_array();

		for (size_t k = 0; k < found.n; k++)
			json_object_array_add(ja, row_json(&again.v[k], NULL, NULL));
		print_json(out, ja);
	} else if (rc == 0) {
		for (size_t k = 0; k < found.n; k++)
			table_row(out, "released", &again.v[k]);
	}
out:
	free(found.v);
	free(again.v);
	return rc;
}

/* gc: release what belongs to a network namespace that no longer exists. */
static int cmd_gc(struct ipam_store *s, char **nets, const struct opts *o, const char *what,
		  FILE *out, FILE *err)
{
	struct json_object *jrel = json_object_new_array(), *jskip = json_object_new_array();
	const char *verb = o->dry_run ? "would release" : "released";
	size_t kept = 0, n_rel = 0, other_nodes = 0;
	int rc = 0;

	if (!o->json)
		table_head(out, "ACTION");
	for (size_t i = 0; nets[i]; i++) {
		struct rows rows = { 0 };
		size_t rel_here = 0;

		if (admin_lock(s, nets[i], err) < 0) {
			rc = EXIT_FAIL;
			continue;
		}
		if (admin_collect(s, nets[i], &rows, NULL, err) < 0)
			rc = EXIT_FAIL;
		for (size_t k = 0; k < rows.n; k++) {
			const struct row *r = &rows.v[k];
			enum ns_state st;

			if (r->corrupt[0]) {
				/* who held it is unknown: nothing proves it dead */
				note_corrupt(err, r,
					     "skipped (`mignet ipam release` it once you "
					     "know it is free)");
				json_object_array_add(jskip, row_json(r, "reason", "corrupt"));
				continue;
			}
			/* another node's netns paths mean nothing here */
			if (!ipam_alloc_in_scope(&r->a, NULL, o->node)) {
				other_nodes++;
				continue;
			}
			if (o->conf.datastore == IPAM_STORE_ETCD && !r->a.node[0]) {
				char addr[INET6_ADDRSTRLEN];

				fprintf(err,
					"mignet ipam: note: %s (container %s) skipped: no node "
					"recorded, and the etcd store is every node's\n",
					ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)),
					r->a.id);
				json_object_array_add(jskip, row_json(r, "reason", "no node"));
				continue;
			}
			st = admin_netns_state(r->netns);
			if (st == NS_LIVE) {
				kept++;
				continue;
			}
			if (st == NS_UNRECORDED || st == NS_UNKNOWN) {
				char addr[INET6_ADDRSTRLEN];

				fprintf(err,
					"mignet ipam: note: %s (container %s) skipped: netns %s\n",
					ipam_addr_format(r->a.family, r->a.ip, addr, sizeof(addr)),
					r->a.id,
					st == NS_UNRECORDED ? "not recorded (made by an older "
							      "plugin)"
							    : "cannot be checked");
				json_object_array_add(
					jskip, row_json(r, "reason", admin_ns_state_name[st]));
				continue;
			}
			if (!o->dry_run && admin_release(s, r, err) < 0) {
				rc = EXIT_FAIL;
				continue;
			}
			rel_here++;
			json_object_array_add(jrel,
					      row_json(r, "netnsState", admin_ns_state_name[st]));
			if (!o->json)
				table_row(out, verb, r);
		}
		if (!o->dry_run && rel_here && admin_commit(s, nets[i], err) < 0)
			rc = EXIT_FAIL;
		s->ops->unlock(s);
		n_rel += rel_here;
		free(rows.v);
	}
	if (o->json) {
		struct json_object *top = json_object_new_object();

		json_object_object_add(top, "dryRun", json_object_new_boolean(o->dry_run));
		json_object_object_add(top, "released", jrel);
		json_object_object_add(top, "skipped", jskip);
		json_object_object_add(top, "kept", json_object_new_int64((int64_t)kept));
		json_object_object_add(top, "node", json_object_new_string(o->node));
		json_object_object_add(top, "otherNodes",
				       json_object_new_int64((int64_t)other_nodes));
		print_json(out, top);
	} else {
		fprintf(out, "%zu %s, %zu kept (netns live), %zu skipped\n", n_rel, verb, kept,
			json_object_array_length(jskip));
		if (other_nodes)
			fprintf(out, "%zu of other nodes left alone (this node: %s)\n", other_nodes,
				o->node);
		json_object_put(jrel);
		json_object_put(jskip);
	}
	return rc;
}

/* The subcommands: what each takes, and what runs it. */
static const struct admin_cmd {
	const char *name;
	bool takes_arg; /* ADDRESS (or, for show, NAMESPACE/POD or CONTAINERID) */
	bool is_gc;	/* --dry-run and --node are its own */
	int (*run)(struct ipam_store *s, char **nets, const struct opts *o, const char *what,
		   FILE *out, FILE *err);
} admin_cmds[] = {
	{ "list", false, false, cmd_list },
	{ "show", true, false, cmd_show },
	{ "release", true, false, cmd_release },
	{ "gc", false, true, cmd_gc },
};

static const struct admin_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++)
		if (!strcmp(admin_cmds[i].name, name))
			return &admin_cmds[i];
	return NULL;
}

/* The store of --config (ipam_store_open() chooses), or the file store at --store-dir. */
static int store_open(struct opts *o, struct ipam_store **ret, struct cni_error *err)
{
	o->conf.store_dir = o->store_dir;
	o->conf.lock_timeout_ms = o->timeout_ms;
	return ipam_store_open(&o->conf, ret, err);
}

int ipam_admin_main(int argc, char **argv, FILE *out, FILE *err)
{
	static const struct option long_opts[] = {
		{ "store-dir", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "network", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "node", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .store_dir = IPAM_DEFAULT_STORE_DIR,
			  .timeout_ms = IPAM_DEFAULT_LOCK_TIMEOUT_MS };
	struct ipam_store *s = NULL;
	struct cni_error e = { 0 };
	const struct admin_cmd *ac;
	const char *cmd, *what = NULL;
	char node[IPAM_NODE_MAX];
	bool have_dir = false;
	char **nets = NULL;
	struct stat st;
	int c, rc;

	if (argc < 2) {
		usage(err);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(out);
		return 0;
	}
	optind = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.store_dir = optarg;
			have_dir = true;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'n':
			o.network = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'd':
			o.dry_run = true;
			break;
		case 'N':
			o.node = optarg;
			break;
		case 'h':
			usage(out);
			return 0;
		default:
			usage(err);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		what = argv[optind + 1];
	ac = find_cmd(cmd);
	if (optind + 1 + (what ? 1 : 0) < argc || (have_dir && o.config) ||
	    ((o.dry_run || o.node) && !(ac && ac->is_gc))) {
		usage(err);
		return EXIT_USAGE;
	}
	if (!ac) {
		fprintf(err, "mignet ipam: unknown command %s\n", cmd);
		usage(err);
		return EXIT_USAGE;
	}
	if (!what == ac->takes_arg) {
		fprintf(err, "mignet ipam %s: %s\n", cmd,
			what ? "takes no argument"
			     : "give an address (or, for show, a namespace/pod or a container ID)");
		return EXIT_USAGE;
	}
	if (o.config && load_config(&o, err) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (ac->is_gc && !o.node) {
		if (ipam_node_name(o.config ? &o.conf : NULL, node, sizeof(node), &e) < 0) {
			fprintf(err, "mignet ipam gc: the node's name: %s\n", e.msg);
			rc = EXIT_FAIL;
			goto out;
		}
		o.node = node;
	}
	nets = networks(&o, err);
	if (!nets) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (o.conf.datastore == IPAM_STORE_FILE && stat(o.store_dir, &st) < 0 && errno == ENOENT) {
		/* a missing store holds nothing: do not create it just to look */
		free(nets[0]);
		nets[0] = NULL;
	} else if (store_open(&o, &s, &e) < 0) {
		admin_store_failed(err, &e, "%s", o.config ? o.config : o.store_dir);
		rc = EXIT_FAIL;
		goto out;
	}
	rc = ac->run(s, nets, &o, what, out, err);
out:
	if (s)
		s->ops->close(s);
	free_networks(nets);
	ipam_config_free(&o.conf);
	return rc;
}
