// SPDX-License-Identifier: Apache-2.0
/* The control connection's messages (mig_control.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig_control.h"
#include "mig_frame.h"
#include "mig_qmp.h"
#include "mig_stream.h"
#include "mig_sum.h"

static const char *const capabilities[] = {
	"multifd", "auto-converge", "postcopy-ram", "xbzrle", "pause-before-switchover", NULL,
};

static const struct {
	const char *name;
	enum json_type type;
} parameters[] = {
	{ "multifd-channels", json_type_int },
	{ "max-bandwidth", json_type_int },
	{ "downtime-limit", json_type_int },
	{ "multifd-compression", json_type_string },
	{ NULL, json_type_null },
};

int mig_control_send(int fd, struct json_object *o, struct mig_error *err)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	struct mig_frame f = { .type = MIG_FRAME_CONTROL, .length = (uint32_t)strlen(text) };
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	int r = -EMSGSIZE;

	if (f.length <= MIG_FRAME_MAX_CONTROL) {
		f.checksum = mig_sum64(text, f.length);
		mig_frame_encode(&f, hdr);
		r = mig_write_full(fd, hdr, sizeof(hdr), MSG_MORE);
		if (r == 0)
			r = mig_write_full(fd, text, f.length, 0);
	}
	if (r < 0)
		mig_error_set(err, r, "control connection: sending %s: %s", mig_control_type(o),
			      strerror(-r));
	json_object_put(o);
	return r;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

struct json_object *mig_control_parse(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && (tok->char_offset != (int)len || !json_object_is_type(o, json_type_object) ||
		  !mig_json_get(o, "type", json_type_string))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int mig_control_recv(int fd, int ms, struct json_object **ret, struct mig_error *err)
{
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	struct mig_frame f;
	char *text;
	ssize_t n;
	int r;

	r = wait_readable(fd, ms);
	if (r < 0)
		return mig_error_set(err, r, "control connection: %s",
				     r == -ETIMEDOUT ? "no message in time" : strerror(-r));
	n = mig_read_full(fd, hdr, sizeof(hdr));
	if (n == 0 || n == -EPIPE || n == -ECONNRESET)
		return mig_error_set(err, -EPIPE, "control connection: the peer closed it");
	if (n < 0)
		return mig_error_set(err, (int)n, "control connection: %s", strerror((int)-n));
	if (mig_frame_decode(hdr, &f) < 0 || f.type != MIG_FRAME_CONTROL)
		return mig_error_set(err, -EPROTO, "control connection: not a CONTROL frame");
	text = malloc(f.length + 1);
	if (!text)
		return mig_error_set(err, -ENOMEM, "out of memory");
	n = mig_read_full(fd, text, f.length);
	if (n != (ssize_t)f.length || mig_sum64(text, f.length) != f.checksum) {
		free(text);
		return mig_error_set(err, -EPROTO,
				     "control connection: truncated or corrupt "
				     "message");
	}
	text[f.length] = '\0';
	*ret = mig_control_parse(text, f.length);
	free(text);
	if (!*ret)
		return mig_error_set(err, -EPROTO,
				     "control connection: not a JSON object with "
				     "a type");
	return 0;
}

const char *mig_control_type(struct json_object *o)
{
	struct json_object *t = mig_json_get(o, "type", json_type_string);

	return t ? json_object_get_string(t) : "";
}

struct json_object *mig_control_new(const char *type)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

static bool known_capability(const char *name)
{
	unsigned int i;

	for (i = 0; capabilities[i]; i++)
		if (!strcmp(capabilities[i], name))
			return true;
	return false;
}

static int parameter_type(const char *name)
{
	unsigned int i;

	for (i = 0; parameters[i].name; i++)
		if (!strcmp(parameters[i].name, name))
			return (int)parameters[i].type;
	return -1;
}

int mig_control_check_setup(struct json_object *setup, struct mig_error *err)
{
	struct json_object *caps = mig_json_get(setup, "capabilities", json_type_object);
	struct json_object *params = mig_json_get(setup, "parameters", json_type_object);

	if (!caps || !params || !mig_json_get(setup, "connections", json_type_int))
		return mig_error_set(err, -EPROTO,
				     "setup: capabilities, parameters and "
				     "connections are required");
	json_object_object_foreach(caps, k, v)
	{
		if (!known_capability(k) || !json_object_is_type(v, json_type_boolean))
			return mig_error_set(err, -EPROTO,
					     "setup: capability %s is not allowed "
					     "(or not a boolean)",
					     k);
	}
	json_object_object_foreach(params, pk, pv)
	{
		int t = parameter_type(pk);

		if (t < 0 || !json_object_is_type(pv, (enum json_type)t))
			return mig_error_set(err, -EPROTO,
					     "setup: parameter %s is not allowed "
					     "(or of the wrong type)",
					     pk);
	}
	return 0;
}
