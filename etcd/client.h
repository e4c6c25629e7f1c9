/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small etcd v3 client over etcd's JSON gateway (grpc-gateway, "/v3/…"), on libcurl: the
 * client and its connection settings. The calls (KV, txn, lease) are in etcd/kv.h.
 *
 * It speaks only what mignet needs: range, txn (compare + put/delete/range), delete-range,
 * lease grant/keepalive/revoke and simple-token authentication. Keys and values are byte
 * strings (base64 on the wire, done here). Int64 fields travel as JSON strings, as the gateway
 * writes them.
 *
 * Endpoints: a comma-separated list ("http://a:2379,https://b:2379"). A request goes to the
 * endpoint that answered last; a connection error, a per-attempt timeout or an etcd
 * "unavailable" answer (no leader, leader changed, request timed out) moves it to the next
 * endpoint, with a short jittered pause once every endpoint has been tried, until the
 * client's deadline. Past the deadline every call fails with -ETIMEDOUT.
 *
 * This file knows nothing of CNI: errors are negative errno values and a message kept in the
 * client (etcd_client_errmsg()); callers map them onto their own error model.
 */
#ifndef MIGNET_ETCD_CLIENT_H
#define MIGNET_ETCD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_ENDPOINTS 16

struct etcd_client;

/* Connection settings (whereabouts' key names in comments). Strings are copied. */
struct etcd_config {
	const char *endpoints; /* etcd_host: one URL or a comma-separated list */
	const char *username;  /* etcd_username, NULL or "" for none */
	const char *password;  /* etcd_password */
	const char *cert_file; /* etcd_cert_file: client certificate (PEM) */
	const char *key_file;  /* etcd_key_file: its key (PEM) */
	const char *ca_file;   /* etcd_ca_cert_file: CA bundle to verify the server */
};

/**
 * etcd_client_new() - a client for @cfg
 * No connection is made yet.
 * @errbuf: receives a message on failure (may be NULL)
 * Return: 0 with *@ret set, -EINVAL for an unusable endpoint list or TLS file, -ENOSYS when
 * libcurl cannot be loaded (the machine lacks libcurl4: not the config's fault), -ENOMEM.
 */
int etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret, char *errbuf,
		    size_t errlen);

/** etcd_client_free() - close connections and free; accepts NULL. */
void etcd_client_free(struct etcd_client *c);

/**
 * etcd_client_set_deadline() - bound every following call to @ms milliseconds from now
 * Return: nothing. A non-positive @ms removes the bound (calls then wait up to 30 s each).
 */
void etcd_client_set_deadline(struct etcd_client *c, int64_t ms);

/** etcd_client_remaining_ms() - milliseconds left before the deadline (INT64_MAX: none). */
int64_t etcd_client_remaining_ms(const struct etcd_client *c);

/** etcd_client_errmsg() - a message about the last failure ("" when none). */
const char *etcd_client_errmsg(const struct etcd_client *c);

/** etcd_client_endpoint() - the endpoint that answered last (or will be tried first). */
const char *etcd_client_endpoint(const struct etcd_client *c);

#endif
