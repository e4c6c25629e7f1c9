// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd connection a config asks for (whereabouts' etcd_* keys), and the client made from
 * it with its failure as a CNI error: shared by the etcd store and node slices.
 */
#include <errno.h>

#include "cni/json.h"
#include "ipam/etcd_store.h"

int ipam_etcd_config(const struct ipam_config *c, struct etcd_config *ret, struct cni_error *err)
{
	struct etcd_config cfg = { 0 };

	if (cni_json_string(c->merged, "ipam", "etcd_host", &cfg.endpoints, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "etcd_username", &cfg.username, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "etcd_password", &cfg.password, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "etcd_cert_file", &cfg.cert_file, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "etcd_key_file", &cfg.key_file, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "etcd_ca_cert_file", &cfg.ca_file, err) < 0)
		return -1;
	if (!cfg.endpoints || !*cfg.endpoints)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"ipam.etcd_host\" is required with \"datastore\": "
			       "\"etcd\"");
	*ret = cfg;
	return 0;
}

int ipam_etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret,
			 struct cni_error *err)
{
	char msg[512];
	int r = etcd_client_new(cfg, ret, msg, sizeof(msg));

	if (r == 0)
		return 0;
	if (r == -ENOSYS)
		return cni_err(err, CNI_ERR_IO, "etcd datastore: %s", msg);
	return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"ipam.etcd_host\": %s", msg);
}
