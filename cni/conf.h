/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network configuration on stdin: read with a size cap, parsed, the keys common to every
 * plugin type-checked. Plugin-specific keys are read by the plugin from conf->root.
 */
#ifndef MIGNET_CNI_CONF_H
#define MIGNET_CNI_CONF_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "cni/error.h"
#include "cni/result.h"
#include "cni/version.h"

#define CNI_STDIN_MAX (1 << 20)

/* One entry of "cni.dev/valid-attachments" (GC). */
struct cni_attachment {
	const char *containerid;
	const char *ifname;
};

struct cni_conf {
	char *raw; /* stdin as read; passed unchanged to delegated plugins */
	size_t raw_len;
	struct json_object *root;
	enum cni_version version;
	const char *name;
	const char *type;
	struct json_object *ipam; /* NULL when absent or {} */
	const char *ipam_type;	  /* "ipam.type"; NULL when ipam is NULL */
	struct cni_dns dns;
	struct json_object *runtime_config; /* "runtimeConfig", NULL if absent */
	const char *runtime_mac;	    /* runtimeConfig.mac */
	const char **runtime_ips;	    /* runtimeConfig.ips */
	size_t n_runtime_ips;
	bool has_prev_result;
	struct cni_result prev_result;
	struct cni_error prev_result_err; /* code != 0: prevResult is there but unusable */
	bool has_attachments;		  /* GC: the list was given (possibly empty) */
	struct cni_attachment *attachments;
	size_t n_attachments;
};

/**
 * cni_conf_read() - read all of @in, up to CNI_STDIN_MAX bytes
 * Return: 0, or -1 with err set (code 5 on read failure or an oversized input).
 */
int cni_conf_read(FILE *in, char **ret, size_t *ret_len, struct cni_error *err);

/**
 * cni_conf_parse() - parse and type-check the common keys; takes ownership of @raw
 * An unusable "prevResult" does not fail the parse: it is left out (has_prev_result false)
 * and its error kept in prev_result_err, for the verb to refuse (ADD, CHECK) or ignore (DEL).
 * Return: 0, or -1 with err set (6: not JSON or not an object; 1: bad cniVersion; 7: a bad
 * key, named in the message). @ret is fully initialised either way; free with cni_conf_free().
 */
int cni_conf_parse(char *raw, size_t len, struct cni_conf *ret, struct cni_error *err);

/**
 * cni_conf_peek_version() - the config's cniVersion if @raw parses and names a supported
 * one, for labelling an error that happens before full parsing. Return: the version or latest.
 */
enum cni_version cni_conf_peek_version(const char *raw, size_t len);

/** cni_conf_free() - free everything inside @c; accepts a zeroed struct. */
void cni_conf_free(struct cni_conf *c);

/** cni_conf_attachment_valid() - GC: is (@containerid, @ifname) in the valid list? */
bool cni_conf_attachment_valid(const struct cni_conf *c, const char *containerid,
			       const char *ifname);

#endif
