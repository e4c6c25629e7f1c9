/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on first use. Linking libcurl made every whereabouts run pay ~4.5 ms to map
 * it and its ~30 dependencies (TLS, Kerberos, LDAP…), etcd or not; the file store, the common
 * case, never needs it. The etcd client reaches libcurl only through curl_api().
 */
#ifndef MIGNET_ETCD_CURL_API_H
#define MIGNET_ETCD_CURL_API_H

#define CURL_DISABLE_TYPECHECK /* the type-checking macros call the functions by name */
#include <curl/curl.h>

struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_reset)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/**
 * curl_api() - libcurl's functions, loading libcurl.so.4 on the first call
 * Return: the table, or NULL when libcurl cannot be loaded (then curl_api_error() says why).
 */
const struct curl_api *curl_api(void);

/** curl_api_error() - why the last curl_api() failed. Return: a static string. */
const char *curl_api_error(void);

#endif
