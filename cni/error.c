// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni/error.h"
#include "cni/text.h"

int cni_err(struct cni_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->details[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cni_err_details(struct cni_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->details, sizeof(err->details), fmt, ap);
	va_end(ap);
	return -1;
}

int cni_err_errno(struct cni_error *err, int code, int neg_errno, const char *what)
{
	return cni_err(err, code, "%s: %s", what, strerror(neg_errno < 0 ? -neg_errno : neg_errno));
}

struct json_object *cni_error_to_json(const struct cni_error *err, const char *version)
{
	struct json_object *o = json_object_new_object();
	char msg[sizeof(err->msg)], details[sizeof(err->details)];

	if (!o)
		return NULL;
	/* a message may quote input: keep the output valid JSON whatever bytes it held */
	snprintf(msg, sizeof(msg), "%s", err->msg);
	snprintf(details, sizeof(details), "%s", err->details);
	cni_utf8_sanitize(msg);
	cni_utf8_sanitize(details);
	json_object_object_add(o, "cniVersion", json_object_new_string(version));
	json_object_object_add(o, "code",
			       json_object_new_int(err->code ? err->code : CNI_ERR_INTERNAL));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (details[0])
		json_object_object_add(o, "details", json_object_new_string(details));
	return o;
}
