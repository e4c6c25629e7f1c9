// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts STATUS: can the store be used? Any failure is code 50 (not available).
 */
#include <string.h>

#include "plugins/whereabouts/whereabouts.h"

int whereabouts_status(struct cni_ctx *ctx, struct cni_error *err)
{
	struct wb_session s;
	int rc;

	if (wb_session_begin(ctx, &s, false, err) < 0) {
		if (err->code == CNI_ERR_IO || err->code == CNI_ERR_TRY_LATER ||
		    strstr(err->msg, "store_dir"))
			err->code = CNI_ERR_NOT_AVAILABLE;
		return -1;
	}
	rc = s.store->ops->status(s.store, err);
	if (rc < 0)
		err->code = CNI_ERR_NOT_AVAILABLE;
	wb_session_end(&s);
	return rc < 0 ? -1 : 0;
}
