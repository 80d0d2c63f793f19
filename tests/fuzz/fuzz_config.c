/*
 * Fuzz target: the configuration loader (core/config.c) on libconfig
 * text, as hookd --check-config and a reload read a file.
 *
 * Input: the text of hookd.conf. It is written to a memory file and read
 * through its /proc/self/fd path with hkd_config_read. Inputs holding
 * "@include" are skipped: an include reads any file named (/dev/zero
 * never ends), and the file is the operator's, not an attacker's.
 * Properties:
 *  - a file that cannot be loaded says why: no config comes with at
 *    least one diagnostic, and every diagnostic names the file;
 *  - a config that loads without a diagnostic is one hookd may run:
 *    every number within its documented range, names and globs valid,
 *    every route's handlers and sources defined, every source with what
 *    its verification needs, every CIDR and required pointer valid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "fuzz.h"
#include "glob.h"
#include "jsonptr.h"
#include "store.h"
#include "ssrf.h"

static int cidr_ok(const char *s)
{
	struct hkd_cidr c;

	return hkd_cidr_parse(s, &c, NULL, 0) == 0;
}

/* How many handlers are called `name`. */
static size_t handlers_named(const struct hkd_config *c, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_handlers; i++)
		n += strcmp(c->handlers[i].name, name) == 0;
	return n;
}

static void check_source(const struct hkd_source *s)
{
	FUZZ_CHECK(s->name != NULL);
	FUZZ_CHECK(s->verify == HKD_VERIFY_NONE || s->n_secrets > 0);
	FUZZ_CHECK(s->verify != HKD_VERIFY_NONE || s->n_allow_from > 0);
	if (s->verify == HKD_VERIFY_HMAC || s->verify == HKD_VERIFY_TOKEN)
		FUZZ_CHECK(s->header != NULL);
	FUZZ_CHECK(!s->algorithm || strcmp(s->algorithm, "sha1") == 0 ||
	           strcmp(s->algorithm, "sha256") == 0 ||
	           strcmp(s->algorithm, "sha512") == 0);
	FUZZ_CHECK(!s->encoding || strcmp(s->encoding, "hex") == 0 ||
	           strcmp(s->encoding, "base64") == 0);
	FUZZ_CHECK(s->tolerance >= 1 && s->tolerance <= 86400);
	FUZZ_CHECK(s->type || s->type_from.header || s->type_from.pointer);
	FUZZ_CHECK(!s->type || hkd_event_type_valid(s->type));
	FUZZ_CHECK(!s->type_from.pointer ||
	           (s->type_from.pointer[0] == '/' &&
	            hkd_json_pointer_check(s->type_from.pointer) == 0));
	FUZZ_CHECK(!s->id_from.pointer ||
	           (s->id_from.pointer[0] == '/' &&
	            hkd_json_pointer_check(s->id_from.pointer) == 0));
	FUZZ_CHECK(!s->type_from.header || s->type_from.header[0]);
	FUZZ_CHECK(!s->id_from.header || s->id_from.header[0]);
	for (size_t i = 0; i < s->n_secrets; i++)
		FUZZ_CHECK(s->secrets[i] != NULL);
	for (size_t i = 0; i < s->n_allow_from; i++)
		FUZZ_CHECK(cidr_ok(s->allow_from[i]));
}

/* A config loaded without a diagnostic. */
static void check_valid(const struct hkd_config *c)
{
	char *end;
	long port;

	FUZZ_CHECK(c->listen_port != NULL);
	port = strtol(c->listen_port, &end, 10);
	FUZZ_CHECK(*end == '\0' && port >= 0 && port <= 65535);
	FUZZ_CHECK(c->http_threads >= 1 && c->http_threads <= 256);
	FUZZ_CHECK(c->max_body >= 64 && c->max_body <= 64 * 1024 * 1024);
	FUZZ_CHECK(c->connection_timeout >= 1 && c->connection_timeout <= 3600);
	for (size_t i = 0; i < c->n_api_keys; i++)
		FUZZ_CHECK(strlen(c->api_keys[i]) >= 16);
	FUZZ_CHECK(c->storage_url &&
	           hkd_store_url_check(c->storage_url, NULL, 0) == 0);
	FUZZ_CHECK(strcmp(c->storage_synchronous, "full") == 0 ||
	           strcmp(c->storage_synchronous, "normal") == 0 ||
	           strcmp(c->storage_synchronous, "off") == 0);
	FUZZ_CHECK(c->plugin_dir != NULL);
	FUZZ_CHECK(c->workers >= 1 && c->workers <= 1024);
	FUZZ_CHECK(c->queue_size >= 1 && c->queue_size <= 100000000);
	FUZZ_CHECK(c->shutdown_timeout >= 0 && c->shutdown_timeout <= 3600);
	for (size_t i = 0; i < c->n_sub_allow; i++)
		FUZZ_CHECK(cidr_ok(c->sub_allow[i]));
	FUZZ_CHECK(c->sub_concurrency >= 1 && c->sub_concurrency <= 1000);
	FUZZ_CHECK(c->sub_timeout >= 1 && c->sub_timeout <= 300);
	for (size_t i = 0; i < c->n_sources; i++)
		check_source(&c->sources[i]);
	for (size_t i = 0; i < c->n_types; i++) {
		const struct hkd_event_type *t = &c->types[i];

		FUZZ_CHECK(t->name && hkd_event_type_valid(t->name));
		FUZZ_CHECK(t->description != NULL);
		FUZZ_CHECK(hkd_config_type(c, t->name) == t); /* unique */
		for (size_t j = 0; j < t->n_required; j++)
			FUZZ_CHECK(t->required[j][0] == '/' &&
			           hkd_json_pointer_check(t->required[j]) == 0);
	}
	for (size_t i = 0; i < c->n_handlers; i++) {
		const struct hkd_handler_conf *h = &c->handlers[i];

		FUZZ_CHECK(h->name && strncmp(h->name, "sub_", 4) != 0);
		FUZZ_CHECK(h->plugin != NULL);
		FUZZ_CHECK(h->concurrency >= 0 && h->concurrency <= 10000);
		FUZZ_CHECK(handlers_named(c, h->name) == 1);
	}
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct hkd_route_conf *r = &c->routes[i];

		FUZZ_CHECK(r->n_events >= 1 && r->n_handlers >= 1);
		for (size_t j = 0; j < r->n_events; j++)
			FUZZ_CHECK(hkd_glob_check(r->events[j], NULL, 0) == 0);
		for (size_t j = 0; j < r->n_handlers; j++)
			FUZZ_CHECK(handlers_named(c, r->handlers[j]) == 1);
		for (size_t j = 0; j < r->n_sources; j++)
			FUZZ_CHECK(strcmp(r->sources[j], "api") == 0 ||
			           strcmp(r->sources[j], "hookd") == 0 ||
			           hkd_config_source(c, r->sources[j]) != NULL);
		for (size_t j = 0; j < r->n_retry; j++)
			FUZZ_CHECK(r->retry_ms[j] >= 0 &&
			           r->retry_ms[j] <= 7LL * 24 * 3600 * 1000);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct hkd_config *c;
	struct hkd_diag d;

	if (memmem(data, size, "@include", 8))
		return 0;
	if (fd < 0) {
		fd = memfd_create("hookd.conf", 0);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);

	hkd_diag_init(&d);
	c = hkd_config_read(path, NULL, &d);
	FUZZ_CHECK(c != NULL || d.n > 0);
	for (size_t i = 0; i < d.n; i++) {
		FUZZ_CHECK(d.msgs[i] != NULL);
		FUZZ_CHECK(strncmp(d.msgs[i], path, strlen(path)) == 0);
		FUZZ_CHECK(d.msgs[i][strlen(path)] == ':');
	}
	if (c && d.n == 0)
		check_valid(c);
	hkd_config_free(c);
	hkd_diag_release(&d);
	return 0;
}
