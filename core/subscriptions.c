/*
 * Webhook subscriptions (see subscriptions.h): the registry and its
 * indexes, loading and reloading, fan-out, and each subscription's health
 * (auto-disable). The REST resource is subs_api.c.
 *
 * A subscription is a JSON document (what the store keeps, secrets
 * included) plus, in memory, an instance of the http plugin configured
 * from it. Documents are never changed in place: an update builds a new
 * `struct sub` and swaps it into the registry; attempts running on the
 * old one keep their reference until they finish.
 */
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dispatch.h"
#include "glob.h"
#include "host.h"
#include "ingest.h"
#include "log.h"
#include "plugin_loader.h"
#include "runtime.h"
#include "ssrf.h"
#include "store.h"
#include "strmap.h"
#include "subs.h"
#include "template.h"
#include "subscriptions.h"
#include "util.h"
#include "base64.h"
#include "whsec.h"

struct hkd_subs hkd_subs = {.lock = PTHREAD_MUTEX_INITIALIZER,
                            .write_lock = PTHREAD_MUTEX_INITIALIZER};

/* Bodies of the two formats, rendered by the http plugin (raw mode: the
 * id, type and timestamp are validated names, data is JSON). */
static const char body_standard[] =
    "{\"id\":\"{{id}}\",\"type\":\"{{type}}\",\"timestamp\":\"{{timestamp}}\","
    "\"data\":{{data}}}";
static const char body_kadoa[] = "{\"eventType\":\"{{type}}\",\"timestamp\":\"{"
                                 "{timestamp}}\",\"data\":{{data}}}";

/* --- documents ------------------------------------------------------- */

const char *hkd_doc_str(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

int64_t hkd_doc_int(const json_t *doc, const char *key)
{
	return json_integer_value(json_object_get(doc, key));
}

static int add_str(config_setting_t *g, const char *name, const char *value)
{
	config_setting_t *s = config_setting_add(g, name, CONFIG_TYPE_STRING);
	return s && config_setting_set_string(s, value) ? 0 : -1;
}

static int add_list(config_setting_t *g, const char *name,
                    const char *const *values, size_t n)
{
	config_setting_t *s = config_setting_add(g, name, CONFIG_TYPE_ARRAY);
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!config_setting_set_string_elem(s, -1, values[i]))
			return -1;
	return 0;
}

static void sub_free(struct sub *s)
{
	if (s->created && S.http->desc.destroy)
		S.http->desc.destroy(s->state);
	hkd_host_config_release(&s->hc);
	config_destroy(&s->lc);
	json_decref(s->doc);
	free(s);
}

void hkd_sub_unref(struct sub *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		sub_free(s);
}

/*
 * Make the in-memory subscription for doc (steals it): the http plugin's
 * settings and instance. `for_test`: an instance for the test endpoint,
 * whose reason holds the start of the body on a 2xx too (reason_body).
 * NULL with why in err.
 */
struct sub *hkd_sub_make(json_t *doc, int for_test, char *err, size_t errlen)
{
	struct sub *s = calloc(1, sizeof(*s));
	struct hkd_diag d;
	config_setting_t *g, *hg;
	const char *secrets[2];
	size_t n_secrets = 0;
	char *url = NULL;
	const char *key;
	json_t *v;
	int64_t now = hkd_now_ms();

	hkd_diag_init(&d);
	if (!s) {
		json_decref(doc);
		hkd_set_err(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->doc = doc;
	s->id = hkd_doc_str(doc, "id");
	s->enabled = json_is_true(json_object_get(doc, "enabled"));
	config_init(&s->lc);
	g = config_setting_add(config_root_setting(&s->lc), "subscription",
	                       CONFIG_TYPE_GROUP);
	url = hkd_template_literal(hkd_doc_str(doc, "webhookUrl"));
	secrets[n_secrets++] = hkd_doc_str(doc, "secret");
	if (hkd_doc_str(doc, "previousSecret") &&
	    hkd_doc_int(doc, "previousSecretUntil") > now) {
		secrets[n_secrets++] = hkd_doc_str(doc, "previousSecret");
		s->grace_until = hkd_doc_int(doc, "previousSecretUntil");
	}
	if (!g || !url || add_str(g, "url", url) ||
	    add_str(g, "method", hkd_doc_str(doc, "webhookHttpMethod")) ||
	    add_str(g, "sign", "standard-webhooks") ||
	    add_list(g, "secrets", secrets, n_secrets))
		goto oom;
	/* GET sends no body: the plugin puts the event in the query. */
	if (strcmp(hkd_doc_str(doc, "webhookHttpMethod"), "GET") != 0 &&
	    (add_str(g, "body",
	             strcmp(hkd_doc_str(doc, "format"), "kadoa") == 0
	                 ? body_kadoa
	                 : body_standard) ||
	     add_str(g, "body_escape", "raw")))
		goto oom;
	{
		config_setting_t *b =
		    config_setting_add(g, "ssrf_guard", CONFIG_TYPE_BOOL);
		config_setting_t *t =
		    config_setting_add(g, "timeout", CONFIG_TYPE_INT);
		config_setting_t *r =
		    for_test
		        ? config_setting_add(g, "reason_body", CONFIG_TYPE_BOOL)
		        : NULL;
		if (!b || !t || !config_setting_set_bool(b, 1) ||
		    !config_setting_set_int(t, S.timeout) ||
		    (for_test && (!r || !config_setting_set_bool(r, 1))))
			goto oom;
	}
	if (S.n_allow && add_list(g, "allow_targets",
	                          (const char *const *)S.allow, S.n_allow))
		goto oom;
	hg = config_setting_add(g, "headers", CONFIG_TYPE_GROUP);
	if (!hg)
		goto oom;
	json_object_foreach(json_object_get(doc, "headers"), key, v)
	{
		char *val = hkd_template_literal(json_string_value(v));
		int bad = !val || add_str(hg, key, val);
		free(val);
		if (bad)
			goto oom;
	}
	if (strcmp(hkd_doc_str(doc, "format"), "kadoa") == 0 &&
	    add_str(hg, "X-Kadoa-Event", "{{type}}"))
		goto oom;
	/* Built from API data: HKD_SETTINGS_API takes every value literally,
	 * so a header value of "env:NAME" or "file:PATH" is sent as it is. */
	if (hkd_host_config_init(&s->hc, s->id, g, &S.http->desc,
	                         HKD_SETTINGS_API, "subscription", &d) != 0) {
		hkd_set_err(err, errlen, "%s",
		            d.n ? d.msgs[0] : "bad settings");
		goto fail;
	}
	if (S.http->desc.create(s->id, &s->hc, &s->state, err, errlen) != 0)
		goto fail;
	s->created = 1;
	free(url);
	hkd_diag_release(&d);
	return s;
oom:
	hkd_set_err(err, errlen, "out of memory");
fail:
	free(url);
	hkd_diag_release(&d);
	sub_free(s);
	return NULL;
}

/* --- registry (lock held) -------------------------------------------- */

static int bucket_add(struct bucket *b, struct sub *s)
{
	if (hkd_grow(&b->v, &b->cap, b->n, sizeof(*b->v), 4))
		return -1;
	b->v[b->n++] = s;
	return 0;
}

static void bucket_del(struct bucket *b, const struct sub *s)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i] == s) {
			b->v[i] = b->v[--b->n];
			return;
		}
}

/* The bucket of event type `type`, made when `make`; NULL when none. */
static struct bucket *bucket_of(const char *type, int make)
{
	struct bucket *b = hkd_strmap_get(&S.by_type, type);

	if (b || !make)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->type = strdup(type)) ||
	    hkd_strmap_put(&S.by_type, b->type, b) != 0) {
		if (b)
			free(b->type);
		free(b);
		return NULL;
	}
	return b;
}

static void bucket_free(struct bucket *b)
{
	if (!b)
		return;
	hkd_strmap_del(&S.by_type, b->type);
	free(b->v);
	free(b->type);
	free(b);
}

/* Put s in the routing index (its buckets, or S.globbed). 0, or -1 when
 * out of memory (s then in none of them). */
static int index_add(struct sub *s)
{
	const json_t *events = json_object_get(s->doc, "events"), *e;
	size_t i;

	s->globbed = 0;
	json_array_foreach(events, i,
	                   e) if (hkd_glob_is_pattern(json_string_value(e)))
	    s->globbed = 1;
	if (s->globbed)
		return bucket_add(&S.globbed, s);
	json_array_foreach(events, i, e)
	{
		struct bucket *b = bucket_of(json_string_value(e), 1);
		if (!b || bucket_add(b, s) != 0) {
			/* Undo the buckets done so far. */
			for (size_t j = 0; j < i; j++) {
				struct bucket *o =
				    bucket_of(json_string_value(
				                  json_array_get(events, j)),
				              0);
				if (o)
					bucket_del(o, s);
			}
			return -1;
		}
	}
	return 0;
}

static void index_del(struct sub *s)
{
	const json_t *e;
	size_t i;

	if (s->globbed) {
		bucket_del(&S.globbed, s);
		return;
	}
	json_array_foreach(json_object_get(s->doc, "events"), i, e)
	{
		struct bucket *b = bucket_of(json_string_value(e), 0);
		if (b) {
			bucket_del(b, s);
			if (b->n == 0)
				bucket_free(b);
		}
	}
}

/* The subscription `id` in the registry, or NULL. */
struct sub *hkd_sub_find(const char *id)
{
	return hkd_strmap_get(&S.by_id, id);
}

/* Take S.v[i] out of the registry and its indexes: it, still referenced. */
struct sub *hkd_sub_remove_at(size_t i)
{
	struct sub *s = S.v[i];

	index_del(s);
	hkd_strmap_del(&S.by_id, s->id);
	memmove(&S.v[i], &S.v[i + 1], (S.n - i - 1) * sizeof(*S.v));
	S.n--;
	for (size_t j = i; j < S.n; j++)
		S.v[j]->pos = j;
	return s;
}

/* Put s in place of the subscription with its id, or append it. *old is
 * the one replaced (its reference now the caller's), or NULL. 0, or -1
 * when out of memory (the registry unchanged). */
int hkd_sub_put(struct sub *s, struct sub **old)
{
	struct sub *o = hkd_sub_find(s->id);

	*old = NULL;
	if (index_add(s) != 0)
		return -1;
	if (o) {
		index_del(o);
		s->pos = o->pos;
		S.v[s->pos] = s;
		hkd_strmap_put(&S.by_id, s->id, s); /* replaces: no memory */
		*old = o;
		return 0;
	}
	if (hkd_grow(&S.v, &S.cap, S.n, sizeof(*S.v), 16) ||
	    hkd_strmap_put(&S.by_id, s->id, s) != 0) {
		index_del(s);
		return -1;
	}
	/* In id order (ids sort by their creation time): a new one goes at
	 * the end but for the few made in the same millisecond. */
	s->pos = hkd_sub_after(s->id);
	memmove(&S.v[s->pos + 1], &S.v[s->pos], (S.n - s->pos) * sizeof(*S.v));
	S.v[s->pos] = s;
	S.n++;
	for (size_t j = s->pos + 1; j < S.n; j++)
		S.v[j]->pos = j;
	return 0;
}

size_t hkd_sub_after(const char *id)
{
	size_t lo = 0, hi = S.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(S.v[mid]->id, id) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The subscription `id` with a reference, or NULL. */
struct sub *hkd_sub_get(const char *id)
{
	struct sub *s;
	pthread_mutex_lock(&S.lock);
	if ((s = hkd_sub_find(id)) != NULL)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&S.lock);
	return s;
}

/* Put s in place of the subscription with its id (or append it). */
int hkd_sub_install(struct sub *s)
{
	struct sub *old;
	int rc;
	pthread_mutex_lock(&S.lock);
	rc = hkd_sub_put(s, &old);
	pthread_mutex_unlock(&S.lock);
	hkd_sub_unref(old);
	return rc;
}

/* --- a shared store: changes made through other nodes --------------- */

/* The reloader: reads a shared store's subscriptions again every
 * poll_ms, and at once when told of a change (hkd_subs_changed). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started, stopping;
	int changed; /* told of a change since the last reload began */
	int64_t poll_ms;
	pthread_t thread;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* hkd_store_sub_load's visitor: install doc unless it is what runs. */
static void reload_one(void *arg, const json_t *doc)
{
	const char *id = hkd_doc_str(doc, "id");
	struct sub *cur, *s;
	char err[512];
	int same;

	if (!id)
		return;
	json_object_set_new(arg, id, json_true());
	cur = hkd_sub_get(id);
	same = cur && json_equal(cur->doc, doc);
	hkd_sub_unref(cur);
	if (same)
		return;
	if (!(s = hkd_sub_make(json_deep_copy(doc), 0, err, sizeof(err)))) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id", id, "detail",
		           "cannot load", "reason", err, NULL);
		return;
	}
	if (hkd_sub_install(s) != 0)
		sub_free(s);
}

int hkd_subs_reload(void)
{
	json_t *seen = json_object();
	struct sub **gone = NULL;
	size_t n_gone = 0;
	int rc = -1;

	pthread_mutex_lock(&S.write_lock);
	if (S.http && seen &&
	    hkd_store_sub_load(S.store, reload_one, seen) == 0) {
		pthread_mutex_lock(&S.lock);
		gone = calloc(S.n + 1, sizeof(*gone));
		for (size_t i = 0; gone && i < S.n;) {
			if (json_object_get(seen, S.v[i]->id))
				i++;
			else
				gone[n_gone++] = hkd_sub_remove_at(i);
		}
		pthread_mutex_unlock(&S.lock);
		rc = gone ? 0 : -1;
	}
	pthread_mutex_unlock(&S.write_lock);
	for (size_t i = 0; i < n_gone; i++)
		hkd_sub_unref(gone[i]);
	free(gone);
	json_decref(seen);
	return rc;
}

static void *reloader_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&R.lock);
	while (!R.stopping) {
		struct timespec ts;
		hkd_deadline(CLOCK_REALTIME, R.poll_ms, &ts);
		if (!R.changed)
			pthread_cond_timedwait(&R.cond, &R.lock, &ts);
		if (R.stopping)
			break;
		R.changed = 0;
		pthread_mutex_unlock(&R.lock);
		hkd_subs_reload();
		pthread_mutex_lock(&R.lock);
	}
	pthread_mutex_unlock(&R.lock);
	return NULL;
}

void hkd_subs_changed(void)
{
	pthread_mutex_lock(&R.lock);
	R.changed = 1;
	pthread_cond_signal(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

/* Follow the other nodes' changes when the store is shared. */
static void reloader_start(int64_t poll_ms)
{
	if (!hkd_store_is_shared(S.store) || R.started)
		return;
	R.stopping = 0;
	R.changed = 0;
	R.poll_ms = poll_ms;
	if (pthread_create(&R.thread, NULL, reloader_main, NULL) == 0)
		R.started = 1;
	else
		hkd_log_kv(HOOKD_LOG_ERROR, "subscriptions", "detail",
		           "cannot start following other nodes' subscriptions",
		           NULL);
}

static void reloader_stop(void)
{
	if (!R.started)
		return;
	pthread_mutex_lock(&R.lock);
	R.stopping = 1;
	pthread_cond_signal(&R.cond);
	pthread_mutex_unlock(&R.lock);
	pthread_join(R.thread, NULL);
	R.started = 0;
}

static void load_one(void *arg, const json_t *doc)
{
	char err[512];
	struct sub *s, *old;
	(void)arg;
	s = hkd_sub_make(json_deep_copy(doc), 0, err, sizeof(err));
	if (!s) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id",
		           hkd_doc_str(doc, "id"), "detail", "cannot load",
		           "reason", err, NULL);
		return;
	}
	if (hkd_sub_put(s, &old) != 0)
		sub_free(s);
	else
		hkd_sub_unref(old); /* an id stored twice: the last one */
}

/* What the dispatcher calls for a subscription target. */
static const struct hkd_dispatch_targets dispatch_targets = {
    .is_target = hkd_subs_is_target,
    .concurrency = hkd_subs_concurrency,
    .begin = hkd_subs_begin,
    .end = hkd_subs_end,
};

int hkd_subs_start(struct hkd_store *st, const struct hkd_config *cfg,
                   char *err, size_t errlen)
{
	char *path = hkd_plugin_path(cfg->plugin_dir, "http");
	char lerr[1024];
	if (!path) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	S.store = st;
	S.concurrency = cfg->sub_concurrency;
	S.disable_after_ms = cfg->sub_disable_after * 1000;
	S.grace_ms = cfg->sub_secret_grace * 1000;
	S.timeout = cfg->sub_timeout;
	S.allow = calloc(cfg->n_sub_allow + 1, sizeof(char *));
	for (size_t i = 0; S.allow && i < cfg->n_sub_allow; i++)
		S.allow[S.n_allow++] = strdup(cfg->sub_allow[i]);
	S.http = hkd_plugin_open(path, lerr, sizeof(lerr));
	free(path);
	if (!S.http) {
		/* hookd runs without it; only subscriptions are unavailable. */
		hkd_set_err(S.http_error, sizeof(S.http_error),
		            "subscriptions need the http plugin: %s", lerr);
		hkd_log_kv(HOOKD_LOG_WARN, "subscriptions", "detail",
		           S.http_error, NULL);
		(void)err;
		(void)errlen;
		return 0;
	}
	if (hkd_store_sub_load(st, load_one, NULL) != 0) {
		hkd_set_err(err, errlen,
		            "cannot read the stored subscriptions");
		return -1;
	}
	{
		char n[24];
		snprintf(n, sizeof(n), "%zu", S.n);
		hkd_log_kv(HOOKD_LOG_INFO, "subscriptions", "loaded", n, NULL);
	}
	reloader_start(cfg->storage_poll_interval * 1000);
	hkd_dispatch_set_targets(&dispatch_targets);
	return 0;
}

void hkd_subs_stop(void)
{
	hkd_dispatch_set_targets(NULL);
	reloader_stop();
	while (S.n > 0)
		hkd_sub_unref(hkd_sub_remove_at(S.n - 1));
	free(S.v);
	S.v = NULL;
	S.cap = 0;
	free(S.globbed.v);
	memset(&S.globbed, 0, sizeof(S.globbed));
	hkd_strmap_free(&S.by_id);
	hkd_strmap_free(&S.by_type);
	for (size_t i = 0; i < S.n_allow; i++)
		free(S.allow[i]);
	free(S.allow);
	S.allow = NULL;
	S.n_allow = 0;
	if (S.http)
		hkd_plugin_close(S.http);
	S.http = NULL;
}

/* --- fan-out ---------------------------------------------------------- */

static int matches(const json_t *doc, const char *type)
{
	size_t i;
	json_t *e;
	json_array_foreach(
	    json_object_get(doc, "events"), i,
	    e) if (hkd_glob_match(json_string_value(e), type)) return 1;
	return 0;
}

static int by_pos(const void *a, const void *b)
{
	size_t x = (*(struct sub *const *)a)->pos;
	size_t y = (*(struct sub *const *)b)->pos;
	return x < y ? -1 : x > y;
}

/*
 * The enabled subscriptions an event of `type` goes to, in creation
 * order: those naming it (its bucket, one lookup) and those of the globbed
 * few whose patterns match. The cost is what matches plus the globbed
 * subscriptions, whatever the number of others.
 */
size_t hkd_subs_route(const char *type, char ***ids_out)
{
	struct sub **hit;
	struct bucket *b;
	char **ids = NULL;
	size_t n = 0, k = 0;

	*ids_out = NULL;
	pthread_mutex_lock(&S.lock);
	b = bucket_of(type, 0);
	hit = malloc(((b ? b->n : 0) + S.globbed.n + 1) * sizeof(*hit));
	for (size_t i = 0; hit && b && i < b->n; i++)
		if (b->v[i]->enabled)
			hit[k++] = b->v[i];
	for (size_t i = 0; hit && i < S.globbed.n; i++)
		if (S.globbed.v[i]->enabled &&
		    matches(S.globbed.v[i]->doc, type))
			hit[k++] = S.globbed.v[i];
	if (hit) {
		qsort(hit, k, sizeof(*hit), by_pos);
		ids = calloc(k + 1, sizeof(char *));
	}
	for (size_t i = 0; ids && i < k; i++)
		if ((ids[n] = strdup(hit[i]->id)))
			n++;
	pthread_mutex_unlock(&S.lock);
	free(hit);
	*ids_out = ids;
	return n;
}

void hkd_subs_free_ids(char **ids)
{
	for (size_t i = 0; ids && ids[i]; i++)
		free(ids[i]);
	free(ids);
}

int hkd_subs_concurrency(void)
{
	return S.concurrency > 0 ? S.concurrency : 1;
}

int hkd_subs_is_target(const char *target)
{
	return strncmp(target, HKD_SUB_PREFIX, strlen(HKD_SUB_PREFIX)) == 0;
}

/* --- outcomes --------------------------------------------------------- */

/*
 * Change the current document of subscription `id` with edit(), store it
 * and install it. Changes are serialised by write_lock and always start
 * from the newest document, so an attempt that ends after a PATCH never
 * writes back what the PATCH replaced. edit() returns 0 to go on, 1 when
 * there is nothing to change. 0 when stored (or nothing to do), else -1.
 */
static int update_current(const char *id, int (*edit)(json_t *doc, void *arg),
                          void *arg)
{
	char err[512];
	struct sub *cur, *n;
	json_t *doc;
	int rc = -1;

	pthread_mutex_lock(&S.write_lock);
	cur = hkd_sub_get(id);
	if (!cur)
		goto out; /* deleted meanwhile */
	doc = json_deep_copy(cur->doc);
	if (!doc)
		goto out;
	if (edit(doc, arg) != 0) {
		json_decref(doc);
		rc = 0;
		goto out;
	}
	if (hkd_store_sub_save(S.store, id, doc) != HKD_STORE_OK) {
		json_decref(doc);
		goto out;
	}
	n = hkd_sub_make(doc, 0, err, sizeof(err));
	if (!n) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id", id, "detail",
		           "cannot rebuild", "reason", err, NULL);
		goto out;
	}
	rc = hkd_sub_install(n);
out:
	pthread_mutex_unlock(&S.write_lock);
	hkd_sub_unref(cur);
	return rc;
}

/* Disable doc for `reason` (borrowed). */
static void set_disabled(json_t *doc, const char *reason)
{
	char ts[40];
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	json_object_set_new(doc, "enabled", json_false());
	json_object_set_new(doc, "disabledReason", json_string(reason));
	json_object_set_new(doc, "disabledAt", json_string(ts));
	json_object_del(doc, "failingSince");
}

/* Subscription id was disabled for `reason`: log it and emit the
 * operational event. */
static void announce_disabled(const char *id, const char *url,
                              const char *reason)
{
	struct hkd_runtime *rt;
	struct hkd_ingest_req req;
	struct hkd_ingest_result res;
	json_t *data;

	char *shown = hkd_url_masked(url);

	hkd_log_kv(HOOKD_LOG_WARN, "subscription", "id", id, "url",
	           shown ? shown : "", "detail", "disabled", "reason", reason,
	           NULL);
	rt = hkd_runtime_current();
	if (!rt) {
		free(shown);
		return;
	}
	data = json_pack("{s:s, s:s, s:s}", "subscriptionId", id, "webhookUrl",
	                 shown ? shown : "", "reason", reason);
	free(shown);
	memset(&req, 0, sizeof(req));
	req.type = HKD_SUB_DISABLED_TYPE;
	req.data = data;
	req.source = "hookd";
	if (hkd_ingest(rt, S.store, &req, &res) != HKD_INGEST_OK)
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id", id, "detail",
		           "cannot emit " HKD_SUB_DISABLED_TYPE, "reason",
		           res.detail, NULL);
	json_decref(data);
	hkd_runtime_unref(rt);
}

/* One attempt's outcome, judged by edit_judge(). */
struct verdict {
	const char *url; /* where the attempt went (borrowed) */
	enum hookd_status st;
	int gone; /* the receiver answered 410 */
	int64_t now;
	char why[128]; /* set when edit_judge disabled the subscription */
};

/*
 * What an attempt's outcome means for doc, the current document: a 410
 * disables it; a success stops the failure clock (failingSince); a
 * failure starts it, or disables the subscription once it has run for
 * disable_after. Decided here, under write_lock, and not from the
 * document the attempt began with: a success that ended meanwhile has
 * stopped the clock, so a failure of an attempt that began before it is
 * not judged by the clock it cleared.
 */
static int edit_judge(json_t *doc, void *arg)
{
	struct verdict *v = arg;
	int64_t since = hkd_doc_int(doc, "failingSince");

	if (!json_is_true(json_object_get(doc, "enabled")))
		return 1; /* disabled meanwhile */
	/* An attempt that began before a PATCH changed the URL tells
	 * nothing of the new receiver. */
	if (strcmp(hkd_doc_str(doc, "webhookUrl"), v->url) != 0)
		return 1;
	if (v->gone) {
		hkd_set_err(v->why, sizeof(v->why),
		            "the receiver answered 410 Gone");
	} else if (v->st == HOOKD_OK) {
		if (!since)
			return 1;
		json_object_del(doc, "failingSince");
		return 0;
	} else if (!since) {
		json_object_set_new(doc, "failingSince", json_integer(v->now));
		return 0;
	} else if (v->now - since < S.disable_after_ms) {
		return 1;
	} else {
		hkd_set_err(v->why, sizeof(v->why),
		            "deliveries failed for %lld s without a success",
		            (long long)((v->now - since) / 1000));
	}
	set_disabled(doc, v->why);
	return 0;
}

/* What an attempt's outcome means for the subscription. */
static void judge(struct sub *s, enum hookd_status st, int status_code)
{
	struct verdict v;
	struct sub *cur;
	int64_t since;
	int nothing;

	if (!s->enabled)
		return;
	memset(&v, 0, sizeof(v));
	v.url = hkd_doc_str(s->doc, "webhookUrl");
	v.st = st;
	/* The receiver's status itself (ABI 1.2), never the reason's text. */
	v.gone = st == HOOKD_FAIL && status_code == 410;
	v.now = hkd_now_ms();
	/* Most outcomes change nothing (a success of a healthy subscription,
	 * a failure within disable_after): seen on the current document
	 * without write_lock, they cost no copy. Whatever may change it is
	 * decided again by edit_judge() from the document current then. */
	cur = hkd_sub_get(s->id);
	if (!cur)
		return;
	since = hkd_doc_int(cur->doc, "failingSince");
	if (v.gone)
		nothing = 0;
	else if (st == HOOKD_OK)
		nothing = !since;
	else
		nothing = since && v.now - since < S.disable_after_ms;
	hkd_sub_unref(cur);
	if (nothing)
		return;
	if (update_current(s->id, edit_judge, &v) == 0 && v.why[0])
		announce_disabled(s->id, v.url, v.why);
}

static int edit_end_grace(json_t *doc, void *arg)
{
	(void)arg;
	if (!json_object_get(doc, "previousSecret") ||
	    hkd_doc_int(doc, "previousSecretUntil") > hkd_now_ms())
		return 1;
	json_object_del(doc, "previousSecret");
	json_object_del(doc, "previousSecretUntil");
	return 0;
}

/* Drop a previous secret whose grace period is over; returns the
 * subscription to use (a reference). */
static struct sub *expire_grace(struct sub *s)
{
	struct sub *n;
	if (!s->grace_until || hkd_now_ms() < s->grace_until)
		return s;
	update_current(s->id, edit_end_grace, NULL);
	n = hkd_sub_get(s->id);
	if (!n)
		return s;
	hkd_sub_unref(s);
	return n;
}

int hkd_subs_begin(const char *id, const struct hookd_plugin **desc,
                   void **state, void **token, struct hookd_result *res)
{
	struct sub *s = hkd_sub_get(id);
	if (!s) {
		snprintf(res->reason, sizeof(res->reason),
		         "subscription %s was deleted", id);
		return -1;
	}
	if (!s->enabled) {
		snprintf(res->reason, sizeof(res->reason),
		         "subscription %s is disabled", id);
		hkd_sub_unref(s);
		return -1;
	}
	s = expire_grace(s);
	*desc = &S.http->desc;
	*state = s->state;
	*token = s;
	return 0;
}

void hkd_subs_end(void *token, enum hookd_status st,
                  const struct hookd_result *res)
{
	struct sub *s = token;
	judge(s, st, res ? res->status_code : 0);
	hkd_sub_unref(s);
}
