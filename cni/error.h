/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI errors. Library functions fill a struct cni_error and return a negative value; only the
 * plugin's main loop turns it into the spec's JSON ({"cniVersion","code","msg","details"})
 * on stdout with a non-zero exit status.
 */
#ifndef MIGNET_CNI_ERROR_H
#define MIGNET_CNI_ERROR_H

#include <json-c/json.h>

/* Codes of the CNI spec; plugins use >= 100 for their own. */
enum cni_code {
	CNI_ERR_VERSION = 1,	       /* incompatible CNI version */
	CNI_ERR_UNSUPPORTED_FIELD = 2, /* unsupported field in the config */
	CNI_ERR_UNKNOWN_CONTAINER = 3, /* container unknown or does not exist */
	CNI_ERR_ENV = 4,	       /* invalid necessary environment variables */
	CNI_ERR_IO = 5,		       /* I/O failure */
	CNI_ERR_DECODE = 6,	       /* failed to decode content */
	CNI_ERR_CONFIG = 7,	       /* invalid network config */
	CNI_ERR_TRY_LATER = 11,	       /* try again later */
	CNI_ERR_NOT_AVAILABLE = 50,    /* STATUS: the plugin is not available */
	CNI_ERR_LIMITED = 51,	       /* STATUS: limited connectivity */
	CNI_ERR_INTERNAL = 999,	       /* what the reference plugins use for a generic failure */
};

struct cni_error {
	int code;      /* 0: no error */
	char msg[512]; /* one line that names the bad key or value */
	char details[1024];
};

/**
 * cni_err() - record an error
 * @err: may be NULL (the error is then only returned)
 * @code: a CNI code (enum cni_code) or a plugin code >= 100
 * @fmt: printf format of the message
 * Return: -1, so a caller can write `return cni_err(err, CNI_ERR_CONFIG, "...");`
 */
int cni_err(struct cni_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * cni_err_details() - set the details text of an already recorded error
 * Return: -1.
 */
int cni_err_details(struct cni_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * cni_err_errno() - record an error caused by a failed system call or library call
 * The message is "@what: strerror(-@neg_errno)"; the code is @code.
 * Return: -1.
 */
int cni_err_errno(struct cni_error *err, int code, int neg_errno, const char *what);

/**
 * cni_error_to_json() - the spec's error object
 * @version: the cniVersion to report (the config's, or the newest when it is unknown)
 * Return: a new json object (caller puts it), or NULL on ENOMEM.
 */
struct json_object *cni_error_to_json(const struct cni_error *err, const char *version);

#endif
