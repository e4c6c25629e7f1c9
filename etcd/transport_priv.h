/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What etcd/kv.c needs of the transport (etcd/transport.c): one request with failover, and the
 * client's error message. Private to etcd/.
 */
#ifndef MIGNET_ETCD_TRANSPORT_PRIV_H
#define MIGNET_ETCD_TRANSPORT_PRIV_H

#include <json-c/json.h>

#include "etcd/client.h"

/**
 * etcd_request() - POST @body to @path, failing over between endpoints until the deadline
 * Return: 0 with *@ret the reply (put it with json_object_put()), or a negative errno:
 * -ETIMEDOUT past the deadline, -EACCES refused, -EPROTO malformed, -EIO, -ENOMEM.
 */
int etcd_request(struct etcd_client *c, const char *path, struct json_object *body,
		 struct json_object **ret);

/**
 * etcd_set_err() - keep a message about the failure @neg for etcd_client_errmsg()
 * Return: @neg, so that a caller can write "return etcd_set_err(c, -EPROTO, ...)".
 */
int etcd_set_err(struct etcd_client *c, int neg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
