/*
 * Webhook subscriptions (see subscriptions.h).
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
#include "subscriptions.h"
#include "util.h"
#include "base64.h"
#include "whsec.h"

/* Limits on what a client may register. */
#define URL_MAX          2048
#define EVENTS_MAX       100
#define HEADERS_MAX      20
#define HEADER_VALUE_MAX 1024
#define DESCRIPTION_MAX  500

/* Bodies of the two formats, rendered by the http plugin (raw mode: the
 * id, type and timestamp are validated names, data is JSON). */
static const char body_standard[] =
    "{\"id\":\"{{id}}\",\"type\":\"{{type}}\",\"timestamp\":\"{{timestamp}}\","
    "\"data\":{{data}}}";
static const char body_kadoa[] = "{\"eventType\":\"{{type}}\",\"timestamp\":\"{"
                                 "{timestamp}}\",\"data\":{{data}}}";

struct sub {
	atomic_int refs;
	json_t *doc;    /* the stored document */
	const char *id; /* in doc */
	int enabled;
	int64_t grace_until; /* the previous secret signs until then (ms) */
	config_t lc;         /* the plugin settings made from doc */
	struct hookd_config hc;
	void *state;
	int created;
	/* In the registry (under S.lock): where in S.v, and whether its
	 * events hold a glob (then it is in S.globbed, else in the buckets
	 * of its event types). */
	size_t pos;
	int globbed;
};

/* The subscriptions that name one event type (or, S.globbed, a glob). */
struct bucket {
	char *type; /* the key in S.by_type (owned) */
	struct sub **v;
	size_t n, cap;
};

static struct {
	pthread_mutex_t lock;       /* the registry */
	pthread_mutex_t write_lock; /* one change at a time (store + install) */
	struct sub **v;             /* registry, creation order */
	size_t n, cap;
	/* Its indexes: by id, and for routing by event type (struct bucket),
	 * the few with a glob apart. */
	struct hkd_strmap by_id, by_type;
	struct bucket globbed;
	struct hkd_store *store;
	struct hkd_plugin_lib *http;
	int concurrency;
	int64_t disable_after_ms;
	int64_t grace_ms;
	int timeout;
	char **allow;
	size_t n_allow;
	char http_error[1100]; /* why there is no http plugin */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .write_lock = PTHREAD_MUTEX_INITIALIZER};

/* --- documents ------------------------------------------------------- */

static const char *doc_str(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

static int64_t doc_int(const json_t *doc, const char *key)
{
	return json_integer_value(json_object_get(doc, key));
}

/* A template that inserts `text` literally: "{{" becomes "\{{". */
static char *literal_template(const char *text)
{
	size_t n = strlen(text), extra = 0;
	char *out, *o;
	for (const char *p = text; (p = strstr(p, "{{")); p += 2)
		extra++;
	out = malloc(n + extra + 1);
	if (!out)
		return NULL;
	/* Left to right, as the template parser reads: each "{{" found is
	 * consumed whole, so "{{{" is one escape and a literal '{'. */
	for (o = out; *text;) {
		if (text[0] == '{' && text[1] == '{') {
			memcpy(o, "\\{{", 3);
			o += 3;
			text += 2;
		} else {
			*o++ = *text++;
		}
	}
	*o = '\0';
	return out;
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

static void sub_unref(struct sub *s)
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
static struct sub *sub_make(json_t *doc, int for_test, char *err, size_t errlen)
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
	s->id = doc_str(doc, "id");
	s->enabled = json_is_true(json_object_get(doc, "enabled"));
	config_init(&s->lc);
	g = config_setting_add(config_root_setting(&s->lc), "subscription",
	                       CONFIG_TYPE_GROUP);
	url = literal_template(doc_str(doc, "webhookUrl"));
	secrets[n_secrets++] = doc_str(doc, "secret");
	if (doc_str(doc, "previousSecret") &&
	    doc_int(doc, "previousSecretUntil") > now) {
		secrets[n_secrets++] = doc_str(doc, "previousSecret");
		s->grace_until = doc_int(doc, "previousSecretUntil");
	}
	if (!g || !url || add_str(g, "url", url) ||
	    add_str(g, "method", doc_str(doc, "webhookHttpMethod")) ||
	    add_str(g, "sign", "standard-webhooks") ||
	    add_list(g, "secrets", secrets, n_secrets))
		goto oom;
	/* GET sends no body: the plugin puts the event in the query. */
	if (strcmp(doc_str(doc, "webhookHttpMethod"), "GET") != 0 &&
	    (add_str(g, "body",
	             strcmp(doc_str(doc, "format"), "kadoa") == 0
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
		char *val = literal_template(json_string_value(v));
		int bad = !val || add_str(hg, key, val);
		free(val);
		if (bad)
			goto oom;
	}
	if (strcmp(doc_str(doc, "format"), "kadoa") == 0 &&
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
static struct sub *find(const char *id)
{
	return hkd_strmap_get(&S.by_id, id);
}

/* Take S.v[i] out of the registry and its indexes: it, still referenced. */
static struct sub *remove_at(size_t i)
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
static int put(struct sub *s, struct sub **old)
{
	struct sub *o = find(s->id);

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
	s->pos = S.n;
	S.v[S.n++] = s;
	return 0;
}

/* The subscription `id` with a reference, or NULL. */
static struct sub *get(const char *id)
{
	struct sub *s;
	pthread_mutex_lock(&S.lock);
	if ((s = find(id)) != NULL)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&S.lock);
	return s;
}

/* Put s in place of the subscription with its id (or append it). */
static int install(struct sub *s)
{
	struct sub *old;
	int rc;
	pthread_mutex_lock(&S.lock);
	rc = put(s, &old);
	pthread_mutex_unlock(&S.lock);
	sub_unref(old);
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
	const char *id = doc_str(doc, "id");
	struct sub *cur, *s;
	char err[512];
	int same;

	if (!id)
		return;
	json_object_set_new(arg, id, json_true());
	cur = get(id);
	same = cur && json_equal(cur->doc, doc);
	sub_unref(cur);
	if (same)
		return;
	if (!(s = sub_make(json_deep_copy(doc), 0, err, sizeof(err)))) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id", id, "detail",
		           "cannot load", "reason", err, NULL);
		return;
	}
	if (install(s) != 0)
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
				gone[n_gone++] = remove_at(i);
		}
		pthread_mutex_unlock(&S.lock);
		rc = gone ? 0 : -1;
	}
	pthread_mutex_unlock(&S.write_lock);
	for (size_t i = 0; i < n_gone; i++)
		sub_unref(gone[i]);
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
	s = sub_make(json_deep_copy(doc), 0, err, sizeof(err));
	if (!s) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id",
		           doc_str(doc, "id"), "detail", "cannot load",
		           "reason", err, NULL);
		return;
	}
	if (put(s, &old) != 0)
		sub_free(s);
	else
		sub_unref(old); /* an id stored twice: the last one */
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
		sub_unref(remove_at(S.n - 1));
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
	cur = get(id);
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
	n = sub_make(doc, 0, err, sizeof(err));
	if (!n) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscription", "id", id, "detail",
		           "cannot rebuild", "reason", err, NULL);
		goto out;
	}
	rc = install(n);
out:
	pthread_mutex_unlock(&S.write_lock);
	sub_unref(cur);
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

static char *url_masked(const char *url);

/* Subscription id was disabled for `reason`: log it and emit the
 * operational event. */
static void announce_disabled(const char *id, const char *url,
                              const char *reason)
{
	struct hkd_runtime *rt;
	struct hkd_ingest_req req;
	struct hkd_ingest_result res;
	json_t *data;

	char *shown = url_masked(url);

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
	int64_t since = doc_int(doc, "failingSince");

	if (!json_is_true(json_object_get(doc, "enabled")))
		return 1; /* disabled meanwhile */
	/* An attempt that began before a PATCH changed the URL tells
	 * nothing of the new receiver. */
	if (strcmp(doc_str(doc, "webhookUrl"), v->url) != 0)
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
	v.url = doc_str(s->doc, "webhookUrl");
	v.st = st;
	/* The receiver's status itself (ABI 1.2), never the reason's text. */
	v.gone = st == HOOKD_FAIL && status_code == 410;
	v.now = hkd_now_ms();
	/* Most outcomes change nothing (a success of a healthy subscription,
	 * a failure within disable_after): seen on the current document
	 * without write_lock, they cost no copy. Whatever may change it is
	 * decided again by edit_judge() from the document current then. */
	cur = get(s->id);
	if (!cur)
		return;
	since = doc_int(cur->doc, "failingSince");
	if (v.gone)
		nothing = 0;
	else if (st == HOOKD_OK)
		nothing = !since;
	else
		nothing = since && v.now - since < S.disable_after_ms;
	sub_unref(cur);
	if (nothing)
		return;
	if (update_current(s->id, edit_judge, &v) == 0 && v.why[0])
		announce_disabled(s->id, v.url, v.why);
}

static int edit_end_grace(json_t *doc, void *arg)
{
	(void)arg;
	if (!json_object_get(doc, "previousSecret") ||
	    doc_int(doc, "previousSecretUntil") > hkd_now_ms())
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
	n = get(s->id);
	if (!n)
		return s;
	sub_unref(s);
	return n;
}

int hkd_subs_begin(const char *id, const struct hookd_plugin **desc,
                   void **state, void **token, struct hookd_result *res)
{
	struct sub *s = get(id);
	if (!s) {
		snprintf(res->reason, sizeof(res->reason),
		         "subscription %s was deleted", id);
		return -1;
	}
	if (!s->enabled) {
		snprintf(res->reason, sizeof(res->reason),
		         "subscription %s is disabled", id);
		sub_unref(s);
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
	sub_unref(s);
}

/* --- the API ---------------------------------------------------------- */

/* {"error": code, "message": …, "field": …}; returns status. */
static int api_error(json_t **out, int status, const char *code,
                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int api_error(json_t **out, int status, const char *code,
                     const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* It quotes the request (a member's name, a header's) and may be cut
	 * short: jansson refuses text that is not UTF-8. */
	hkd_utf8_sanitize(msg);
	*out = json_pack("{s:s, s:s}", "error", code, "message", msg);
	if (field)
		json_object_set_new(*out, "field", json_string(field));
	return status;
}

/*
 * The JSON pointer to member `key` (borrowed) of a request body: "/" and
 * the key with "~" and "/" escaped (RFC 6901), whole, so that it names
 * that member and no other. malloc'd (caller frees); NULL without memory.
 */
static char *member_pointer(const char *key)
{
	size_t n = 2;
	char *out, *o;
	for (const char *k = key; *k; k++)
		n += *k == '~' || *k == '/' ? 2 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	o = out;
	*o++ = '/';
	for (; *key; key++) {
		if (*key == '~' || *key == '/') {
			*o++ = '~';
			*o++ = *key == '~' ? '0' : '1';
		} else {
			*o++ = *key;
		}
	}
	*o = '\0';
	return out;
}

/* What clients see: the document without internals, secret masked
 * unless `show_secret`. */
/*
 * Masking in listings. A header whose name says it carries a credential
 * (Authorization, Proxy-Authorization, Cookie, or a name holding secret,
 * token, key, auth, signature or password, in any case) is shown as "…"
 * and, for a value of 12 or more bytes, its last 4; a webhookUrl's
 * user:password as "…". A PATCH that sends such a masked text back
 * leaves the stored value as it was (unmask).
 */
static int header_is_secret(const char *name)
{
	static const char *const words[] = {"secret", "token",     "key",
	                                    "auth",   "signature", "password",
	                                    "cookie", NULL};
	char low[128];
	size_t n = strlen(name);
	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (const char *const *w = words; *w; w++)
		if (strstr(low, *w))
			return 1;
	return 0;
}

/* The masked form of a header value. Caller owns: json_decref. */
static json_t *masked_value(const char *v)
{
	size_t n = strlen(v);
	char out[32];
	snprintf(out, sizeof(out), "\u2026%s", n >= 12 ? v + n - 4 : "");
	return json_string(out);
}

/* url with a user:password part shown as "…"; a copy when it has none.
 * Caller owns: free. NULL when out of memory. */
static char *url_masked(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL;
	char *out;
	if (!auth)
		return strdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return strdup(url);
	if (asprintf(&out, "%.*s\u2026%s", (int)(auth - url), url, at) < 0)
		return NULL;
	return out;
}

/* headers (an object) as listings show them. Caller owns. */
static json_t *headers_masked(const json_t *headers)
{
	json_t *o = json_object(), *v;
	const char *k;
	json_object_foreach((json_t *)headers, k, v)
	{
		if (header_is_secret(k) && json_is_string(v))
			json_object_set_new(o, k,
			                    masked_value(json_string_value(v)));
		else
			json_object_set(o, k, v);
	}
	return o;
}

/*
 * req with every masked text that names a stored value put back to that
 * value: a webhookUrl equal to the stored one masked, a header equal to the
 * same header's stored value masked. So a client may PATCH what GET gave
 * it. Caller owns the result (a new reference; req itself when nothing
 * was masked).
 */
static json_t *unmask(const json_t *req, const json_t *doc)
{
	json_t *copy, *hdrs, *stored, *v;
	const char *k, *url = doc_str(doc, "webhookUrl");
	char *m;

	if (!json_is_object(req))
		return json_incref((json_t *)req);
	copy = json_copy((json_t *)req);
	if (!copy)
		return NULL;
	if (url && json_is_string(json_object_get(req, "webhookUrl")) &&
	    (m = url_masked(url))) {
		if (strcmp(m, url) != 0 &&
		    strcmp(m, json_string_value(
		                  json_object_get(req, "webhookUrl"))) == 0)
			json_object_set_new(copy, "webhookUrl",
			                    json_string(url));
		free(m);
	}
	hdrs = json_object_get(req, "headers");
	stored = json_object_get(doc, "headers");
	if (json_is_object(hdrs) && json_is_object(stored)) {
		json_t *fixed = json_copy(hdrs);
		json_object_foreach(hdrs, k, v)
		{
			json_t *old = json_object_get(stored, k), *mv;
			if (!fixed || !json_is_string(v) ||
			    !json_is_string(old) || !header_is_secret(k))
				continue;
			mv = masked_value(json_string_value(old));
			if (json_equal(mv, v))
				json_object_set(fixed, k, old);
			json_decref(mv);
		}
		if (fixed)
			json_object_set_new(copy, "headers", fixed);
	}
	return copy;
}

static json_t *public_view(const json_t *doc, int show_secret)
{
	json_t *o = json_object();
	static const char *const keys[] = {
	    "id",        "webhookUrl", "webhookHttpMethod", "events",
	    "headers",   "format",     "description",       "enabled",
	    "createdAt", "updatedAt",  "disabledReason",    "disabledAt",
	    NULL};
	const char *secret = doc_str(doc, "secret");
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(doc, *k);
		if (!v)
			continue;
		if (strcmp(*k, "webhookUrl") == 0 && json_is_string(v)) {
			char *m = url_masked(json_string_value(v));
			json_object_set_new(o, *k,
			                    m ? json_string(m) : json_null());
			free(m);
		} else if (strcmp(*k, "headers") == 0 && json_is_object(v)) {
			json_object_set_new(o, *k, headers_masked(v));
		} else {
			json_object_set(o, *k, v);
		}
	}
	if (show_secret) {
		json_object_set_new(o, "secret", json_string(secret));
	} else {
		char masked[32];
		size_t n = strlen(secret);
		snprintf(masked, sizeof(masked), "whsec_…%s",
		         n > 4 ? secret + n - 4 : "");
		json_object_set_new(o, "secret", json_string(masked));
	}
	/* The stored end of a grace stays until the next attempt tidies it
	 * away; one that has passed no longer signs, so it is not shown. */
	if (json_object_get(doc, "previousSecretUntil") &&
	    doc_int(doc, "previousSecretUntil") > hkd_now_ms()) {
		char ts[40];
		hkd_format_time(doc_int(doc, "previousSecretUntil"), ts,
		                sizeof(ts));
		json_object_set_new(o, "previousSecretValidUntil",
		                    json_string(ts));
	}
	return o;
}

/* A new secret: "whsec_" + base64 of 32 random bytes. */
static json_t *new_secret(void)
{
	unsigned char raw[32];
	char b64[64], out[80];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	hkd_base64_encode(raw, sizeof(raw), b64);
	snprintf(out, sizeof(out), "whsec_%s", b64);
	return json_string(out);
}

/* A secret hookd can sign with (lib/whsec.h, hkd_whsec_ours). */
static int secret_ok(const char *s)
{
	unsigned char key[HKD_WHSEC_KEY_MAX];
	size_t len;
	int ok = hkd_whsec_decode(s, &hkd_whsec_ours, key, sizeof(key), &len) ==
	         HKD_WHSEC_OK;
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/*
 * Is url an absolute http(s) URL whose host the SSRF guard lets through?
 * 0, or -1 with the reason in why.
 */
static int url_ok(const char *url, char *why, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	struct addrinfo hints, *res = NULL, *ai;
	int rc = -1, gai;

	if (!u || strlen(url) > URL_MAX ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		hkd_set_err(
		    why, len,
		    "webhookUrl must be an absolute http:// or https:// URL");
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0) {
		hkd_set_err(why, len,
		            "webhookUrl must use http or https, not %s",
		            scheme);
		goto out;
	}
	if (host[0] == '[') { /* curl keeps the brackets of IPv6 literals */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai != 0) {
		hkd_set_err(why, len, "webhookUrl host %s does not resolve: %s",
		            host, gai_strerror(gai));
		goto out;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct hkd_ip ip;
		enum hkd_ssrf_class c;
		int allowed = 0;
		char text[HKD_IP_TEXT_MAX];
		if (hkd_ip_from_sockaddr(ai->ai_addr, &ip) != 0)
			continue;
		c = hkd_ssrf_classify(&ip);
		if (c == HKD_SSRF_PUBLIC)
			continue;
		for (size_t i = 0; i < S.n_allow && !allowed; i++) {
			struct hkd_cidr cidr;
			if (hkd_cidr_parse(S.allow[i], &cidr, NULL, 0) == 0 &&
			    hkd_cidr_contains(&cidr, &ip))
				allowed = 1;
		}
		if (allowed)
			continue;
		hkd_ip_format(&ip, text, sizeof(text));
		hkd_set_err(why, len,
		            "webhookUrl host %s resolves to %s, %s (refused by "
		            "the SSRF guard)",
		            host, text, hkd_ssrf_class_text(c));
		goto out;
	}
	rc = 0;
out:
	if (res)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Is name a catalog type, a valid glob, or (empty catalog) a valid type? */
static int event_name_ok(const struct hkd_config *cfg, const char *name)
{
	char err[128];
	if (hkd_glob_is_pattern(name))
		return hkd_glob_check(name, err, sizeof(err)) == 0;
	if (strcmp(name, HKD_SUB_DISABLED_TYPE) == 0)
		return 1;
	if (cfg->n_types == 0)
		return hkd_event_type_valid(name);
	return hkd_config_type(cfg, name) != NULL;
}

/*
 * A 422 unknown_event_type for `name` (borrowed; NULL when it was not a
 * string) at `field`: the message lists the types a client may name (the
 * catalog's and hookd's own event), and globs when `globs`.
 */
static int unknown_type(json_t **out, const struct hkd_config *cfg,
                        const char *field, const char *name, int globs)
{
	char names[700] = "";
	size_t off = 0;
	for (size_t t = 0; t < cfg->n_types && off + 1 < sizeof(names); t++)
		off +=
		    (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
		                     t ? ", " : "", cfg->types[t].name);
	return api_error(
	    out, 422, "unknown_event_type", field,
	    "'%s' is %s; valid types: %s%s" HKD_SUB_DISABLED_TYPE "%s",
	    name ? name : "?",
	    globs ? "neither an event type nor a glob" : "not an event type",
	    names, cfg->n_types ? ", " : "",
	    globs ? " (or a glob such as \"workflow_*\")" : "");
}

/* An HTTP header name a client may set: a token, not one hookd sets. */
static int header_name_ok(const char *name)
{
	static const char *const reserved[] = {"content-type",
	                                       "content-length",
	                                       "user-agent",
	                                       "host",
	                                       "webhook-id",
	                                       "webhook-timestamp",
	                                       "webhook-signature",
	                                       "transfer-encoding",
	                                       "connection",
	                                       "x-kadoa-event",
	                                       "expect",
	                                       "x-hub-signature-256",
	                                       NULL};
	size_t n = strlen(name);
	if (n == 0 || n > 64 ||
	    !((name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	for (const char *const *r = reserved; *r; r++)
		if (strcasecmp(name, *r) == 0)
			return 0;
	return 1;
}

/* A member of a subscription a client may send, and how it is checked. */
struct member {
	const char *name;
	/* 0, or the HTTP status of the error written to *out. */
	int (*check)(const struct member *m, const json_t *v,
	             const struct hkd_config *cfg, json_t **out);
	int update_only;            /* PATCH only (enabled, rotateSecret) */
	const char *const *choices; /* one_of's strings, NULL-terminated */
	const char *message;        /* one_of's error message */
};

static int member_error(json_t **out, const struct member *m, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

/* A 422 invalid_request at member m ("/<name>"). */
static int member_error(json_t **out, const struct member *m, const char *fmt,
                        ...)
{
	char field[48], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(field, sizeof(field), "/%s", m->name);
	return api_error(out, 422, "invalid_request", field, "%s", msg);
}

static int check_url(const struct member *m, const json_t *v,
                     const struct hkd_config *cfg, json_t **out)
{
	char why[512];
	(void)cfg;
	if (!json_is_string(v))
		return member_error(out, m, "webhookUrl must be a string");
	if (url_ok(json_string_value(v), why, sizeof(why)) != 0)
		return api_error(out, 422, "invalid_url", "/webhookUrl", "%s",
		                 why);
	return 0;
}

static int one_of(const struct member *m, const json_t *v,
                  const struct hkd_config *cfg, json_t **out)
{
	const char *s = json_string_value(v);
	(void)cfg;
	for (const char *const *c = m->choices; s && *c; c++)
		if (strcmp(s, *c) == 0)
			return 0;
	return member_error(out, m, "%s", m->message);
}

static int check_events(const struct member *m, const json_t *v,
                        const struct hkd_config *cfg, json_t **out)
{
	const json_t *e;
	size_t i;
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > EVENTS_MAX)
		return member_error(out, m,
		                    "events must be a list of 1 to %d event "
		                    "types or globs",
		                    EVENTS_MAX);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) ||
		    !event_name_ok(cfg, json_string_value(e))) {
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/events/%zu", i);
			return unknown_type(out, cfg, ptr, json_string_value(e),
			                    1);
		}
	}
	return 0;
}

static int check_headers(const struct member *m, const json_t *v,
                         const struct hkd_config *cfg, json_t **out)
{
	const char *name;
	const json_t *e;
	(void)cfg;
	if (!json_is_object(v) || json_object_size(v) > HEADERS_MAX)
		return member_error(out, m,
		                    "headers must be an object of at most %d "
		                    "\"Name\": \"value\" pairs",
		                    HEADERS_MAX);
	json_object_foreach((json_t *)v, name, e)
	{
		const char *val = json_string_value(e);
		if (!header_name_ok(name))
			return member_error(
			    out, m,
			    "header name '%s' is not allowed "
			    "(letters, digits, - and _; not one "
			    "hookd sets)",
			    name);
		if (!val || strlen(val) > HEADER_VALUE_MAX ||
		    strpbrk(val, "\r\n"))
			return member_error(
			    out, m,
			    "header '%s' must be a string of at "
			    "most %d bytes without line breaks",
			    name, HEADER_VALUE_MAX);
	}
	return 0;
}

static int check_description(const struct member *m, const json_t *v,
                             const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) > DESCRIPTION_MAX)
		return member_error(out, m,
		                    "description must be a string of at most "
		                    "%d bytes",
		                    DESCRIPTION_MAX);
	return 0;
}

static int check_secret(const struct member *m, const json_t *v,
                        const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_string(v) || !secret_ok(json_string_value(v)))
		return member_error(out, m,
		                    "secret must be \"whsec_\" followed by the "
		                    "base64 of 24 to 64 bytes");
	return 0;
}

static int check_bool(const struct member *m, const json_t *v,
                      const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_boolean(v))
		return member_error(out, m, "%s must be true or false",
		                    m->name);
	return 0;
}

static const char *const methods[] = {"POST", "PUT", "PATCH", "GET", NULL};
static const char *const formats[] = {"standard", "kadoa", NULL};

/* The members a client may send; anything else is refused by name. */
static const struct member members[] = {
    {"webhookUrl", check_url, 0, NULL, NULL},
    {"webhookHttpMethod", one_of, 0, methods,
     "webhookHttpMethod must be POST, PUT, PATCH or GET"},
    {"events", check_events, 0, NULL, NULL},
    {"headers", check_headers, 0, NULL, NULL},
    {"format", one_of, 0, formats, "format must be \"standard\" or \"kadoa\""},
    {"description", check_description, 0, NULL, NULL},
    {"secret", check_secret, 0, NULL, NULL},
    {"enabled", check_bool, 1, NULL, NULL},
    {"rotateSecret", check_bool, 1, NULL, NULL},
};

/* The member called name that a create (or an update) may send, or NULL. */
static const struct member *find_member(const char *name, int create)
{
	for (size_t i = 0; i < HKD_ARRAY_LEN(members); i++)
		if (strcmp(members[i].name, name) == 0 &&
		    !(create && members[i].update_only))
			return &members[i];
	return NULL;
}

/*
 * Apply the members of req to doc (a new or copied document), checking
 * each against its entry in members[]. `create` requires webhookUrl and
 * events. Returns 0, or the HTTP status of the error written to *out.
 */
static int apply(json_t *doc, const json_t *req, const struct hkd_config *cfg,
                 int create, json_t **out)
{
	const struct member *m;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(req))
		return api_error(out, 422, "invalid_request", "",
		                 "the body must be a JSON object");
	json_object_foreach((json_t *)req, key, v)
	{
		if (!(m = find_member(key, create))) {
			char *ptr = member_pointer(key);
			rc = api_error(out, 422, "invalid_request", ptr,
			               "unknown member '%s'", key);
			free(ptr);
			return rc;
		}
		if ((rc = m->check(m, v, cfg, out)) != 0)
			return rc;
	}
	if (create && (!json_object_get(req, "webhookUrl") ||
	               !json_object_get(req, "events")))
		return api_error(out, 422, "invalid_request",
		                 json_object_get(req, "webhookUrl")
		                     ? "/events"
		                     : "/webhookUrl",
		                 "webhookUrl and events are required");
	/* The failures so far were the old receiver's: a new URL starts the
	 * failure clock (failingSince) anew. */
	if (!create && json_object_get(req, "webhookUrl") &&
	    !json_equal(json_object_get(req, "webhookUrl"),
	                json_object_get(doc, "webhookUrl")))
		json_object_del(doc, "failingSince");
	/* Checked: copy into doc. */
	json_object_foreach((json_t *)req, key, v)
	{
		if (strcmp(key, "rotateSecret") == 0 ||
		    strcmp(key, "secret") == 0)
			continue;
		json_object_set(doc, key, v);
	}
	{
		int rotate = json_is_true(json_object_get(req, "rotateSecret"));
		json_t *given = json_object_get(req, "secret");
		if (create) {
			json_object_set_new(doc, "secret",
			                    given ? json_incref(given)
			                          : new_secret());
		} else if (rotate || given) {
			json_object_set(doc, "previousSecret",
			                json_object_get(doc, "secret"));
			json_object_set_new(
			    doc, "previousSecretUntil",
			    json_integer(hkd_now_ms() + S.grace_ms));
			json_object_set_new(doc, "secret",
			                    given ? json_incref(given)
			                          : new_secret());
		}
		if (!json_is_string(json_object_get(doc, "secret")))
			return api_error(out, 503, "unavailable", NULL,
			                 "no randomness for a secret");
	}
	if (json_is_true(json_object_get(req, "enabled"))) {
		json_object_del(doc, "disabledReason");
		json_object_del(doc, "disabledAt");
		json_object_del(doc, "failingSince");
	}
	return 0;
}

/* Store doc and make it live; answers with the subscription. */
static int commit(json_t *doc, int status, int show_secret, json_t **out)
{
	char err[512];
	struct sub *s;
	char ts[40];
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	json_object_set_new(doc, "updatedAt", json_string(ts));
	/* Build first: settings the plugin refuses are never stored. */
	s = sub_make(json_incref(doc), 0, err, sizeof(err));
	if (!s) {
		json_decref(doc);
		return api_error(out, 422, "invalid_request", NULL, "%s", err);
	}
	if (hkd_store_sub_save(S.store, s->id, doc) != HKD_STORE_OK) {
		sub_unref(s);
		json_decref(doc);
		return api_error(
		    out, 503, "store_unavailable", NULL,
		    "the subscription could not be stored; retry later");
	}
	install(s);
	*out = public_view(doc, show_secret);
	json_decref(doc);
	return status;
}

int hkd_subs_api_create(const json_t *req, const struct hkd_config *cfg,
                        json_t **out)
{
	char id[48], ts[40];
	json_t *doc;
	size_t n;
	int rc;
	if (!S.http)
		return api_error(out, 503, "unavailable", NULL, "%s",
		                 S.http_error);
	if (hkd_new_id(HKD_SUB_PREFIX, id, sizeof(id)) != 0)
		return api_error(out, 503, "unavailable", NULL,
		                 "no randomness for an id");
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	doc = json_pack("{s:s, s:s, s:s, s:{}, s:b, s:s}", "id", id,
	                "webhookHttpMethod", "POST", "format", "standard",
	                "headers", "enabled", 1, "createdAt", ts);
	if (!doc)
		return api_error(out, 503, "unavailable", NULL,
		                 "out of memory");
	if ((rc = apply(doc, req, cfg, 1, out)) != 0) {
		json_decref(doc);
		return rc;
	}
	/* Counted and added under one lock: never past subscriptions.max. */
	pthread_mutex_lock(&S.write_lock);
	pthread_mutex_lock(&S.lock);
	n = S.n;
	pthread_mutex_unlock(&S.lock);
	if (n >= (size_t)cfg->sub_max) {
		json_decref(doc);
		rc = api_error(out, 422, "too_many_subscriptions", NULL,
		               "there are %zu subscriptions, as many as "
		               "subscriptions.max allows",
		               n);
	} else {
		rc = commit(doc, 201, 1, out);
	}
	pthread_mutex_unlock(&S.write_lock);
	if (rc == 201)
		hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "url",
		           doc_str(*out, "webhookUrl"), "detail", "created",
		           NULL);
	return rc;
}

int hkd_subs_api_list(json_t **out)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < S.n; i++)
		json_array_append_new(arr, public_view(S.v[i]->doc, 0));
	pthread_mutex_unlock(&S.lock);
	*out = json_pack("{s:o}", "subscriptions", arr);
	return 200;
}

int hkd_subs_api_get(const char *id, json_t **out)
{
	struct sub *s = get(id);
	if (!s)
		return api_error(out, 404, "not_found", NULL,
		                 "no subscription with id '%s'", id);
	*out = public_view(s->doc, 0);
	sub_unref(s);
	return 200;
}

int hkd_subs_api_update(const char *id, const json_t *req,
                        const struct hkd_config *cfg, json_t **out)
{
	struct sub *s;
	json_t *doc, *plain;
	int rc, rotated;
	if (!S.http)
		return api_error(out, 503, "unavailable", NULL, "%s",
		                 S.http_error);
	pthread_mutex_lock(&S.write_lock);
	s = get(id);
	if (!s) {
		rc = api_error(out, 404, "not_found", NULL,
		               "no subscription with id '%s'", id);
		goto out;
	}
	doc = json_deep_copy(s->doc);
	sub_unref(s);
	plain = unmask(req, doc);
	if (!doc || !plain) {
		json_decref(doc);
		json_decref(plain);
		rc = api_error(out, 503, "unavailable", NULL, "out of memory");
		goto out;
	}
	rc = apply(doc, plain, cfg, 0, out);
	json_decref(plain);
	if (rc != 0) {
		json_decref(doc);
		goto out;
	}
	rotated = json_is_true(json_object_get(req, "rotateSecret")) ||
	          json_object_get(req, "secret");
	rc = commit(doc, 200, rotated, out);
	if (rc == 200)
		hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "detail",
		           rotated ? "updated, secret rotated" : "updated",
		           NULL);
out:
	pthread_mutex_unlock(&S.write_lock);
	return rc;
}

int hkd_subs_api_delete(const char *id, json_t **out)
{
	struct sub *old = NULL;
	int rc;
	pthread_mutex_lock(&S.write_lock);
	rc = hkd_store_sub_delete(S.store, id);
	if (rc != HKD_STORE_OK) {
		pthread_mutex_unlock(&S.write_lock);
		if (rc == HKD_STORE_NOT_FOUND)
			return api_error(out, 404, "not_found", NULL,
			                 "no subscription with id '%s'", id);
		return api_error(
		    out, 503, "store_unavailable", NULL,
		    "the subscription could not be deleted; retry later");
	}
	pthread_mutex_lock(&S.lock);
	if ((old = find(id)) != NULL)
		old = remove_at(old->pos);
	pthread_mutex_unlock(&S.lock);
	pthread_mutex_unlock(&S.write_lock);
	sub_unref(old);
	hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "detail",
	           "deleted", NULL);
	*out = json_pack("{s:s, s:s}", "id", id, "message",
	                 "subscription deleted");
	return 200;
}

/*
 * What the http plugin's reason for an attempt says of the receiver's
 * answer (the reasons are in docs/plugins/http.md, Outcomes: "200",
 * "200: <body>" with reason_body, "500: <body>", "410 Gone: <body>",
 * "unexpected status 999: <body>", "301: redirect not followed (…)",
 * "timeout: …", "connect: …"). Returns its HTTP status, or 0 when there
 * was no answer. *excerpt (in reason, borrowed): the start of the body,
 * "" for none; NULL without a status, and for a redirect, whose reason
 * names the Location instead. *head: the length of the reason before the
 * excerpt ("200", "410 Gone").
 */
static long reason_status(const char *reason, const char **excerpt,
                          size_t *head)
{
	const char *p = reason;
	long code = 0;
	int digits = 0;

	*excerpt = NULL;
	*head = strlen(reason);
	if (strncmp(p, "unexpected status ", 18) == 0)
		p += 18;
	for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
		code = code * 10 + (*p - '0');
	if (digits == 0)
		return 0;
	if (strncmp(p, " Gone", 5) == 0)
		p += 5;
	if (*p != '\0' && strncmp(p, ": ", 2) != 0)
		return 0;
	if (code >= 300 && code < 400)
		return code;
	*head = (size_t)(p - reason);
	*excerpt = *p ? p + 2 : p;
	return code;
}

/* How long past its deadline a test's outcome is waited for. */
#define PROBE_GRACE_MS 5000

/* Subscription tests running now (see hkd_subs_api_test). */
static atomic_int tests_running;

/* How many tests may run at once: a quarter of the HTTP threads, 1 at least. */
static int test_slot_limit(const struct hkd_config *cfg)
{
	return cfg->http_threads >= 8 ? cfg->http_threads / 4 : 1;
}

/* 1 and a slot taken, or 0 when the limit is reached. */
static int test_slot_take(const struct hkd_config *cfg)
{
	if (atomic_fetch_add(&tests_running, 1) < test_slot_limit(cfg))
		return 1;
	atomic_fetch_sub(&tests_running, 1);
	return 0;
}

static void test_slot_give(void)
{
	atomic_fetch_sub(&tests_running, 1);
}

int hkd_subs_api_test(const char *id, const json_t *req,
                      const struct hkd_config *cfg, json_t **out)
{
	struct sub *cur, *s;
	struct hkd_probe pb;
	struct hookd_result res;
	enum hookd_status st;
	const char *type = NULL, *key, *excerpt, *outcome;
	json_t *data = NULL, *envelope, *v;
	char eid[48], ts[40], err[512], *json;
	size_t head;
	long code;
	int64_t t0;
	double ms;

	if (req && !json_is_object(req))
		return api_error(out, 422, "invalid_request", "",
		                 "the body must be a JSON object");
	json_object_foreach((json_t *)req, key, v)
	{
		if (strcmp(key, "type") == 0 && json_is_string(v) &&
		    hkd_event_type_valid(json_string_value(v))) {
			/* The types a subscription could be delivered, as
			 * create checks them. */
			type = json_string_value(v);
			if (!event_name_ok(cfg, type))
				return unknown_type(out, cfg, "/type", type, 0);
		} else if (strcmp(key, "data") == 0 && json_is_object(v)) {
			data = v;
		} else {
			char *ptr = member_pointer(key);
			int rc = api_error(out, 422, "invalid_request", ptr,
			                   "'%s': the body may have type (an "
			                   "event type) and data (an object)",
			                   key);
			free(ptr);
			return rc;
		}
	}
	if (!type)
		type = cfg->n_types ? cfg->types[0].name : "hookd.test";
	cur = get(id);
	if (!cur)
		return api_error(out, 404, "not_found", NULL,
		                 "no subscription with id '%s'", id);
	/* The HTTP thread that asked waits for the test, up to
	 * subscriptions.timeout: a quarter of the threads at most, so that
	 * tests cannot take every thread from ingest. */
	if (!test_slot_take(cfg)) {
		sub_unref(cur);
		return api_error(
		    out, 429, "too_many_tests", NULL,
		    "subscription tests already running: %d, the "
		    "most at once (a quarter of server.threads, at "
		    "least 1); try again when one has ended",
		    test_slot_limit(cfg));
	}
	/* An instance of its own, made from the current document, whose
	 * reason carries the receiver's answer on a 2xx too. */
	s = sub_make(json_deep_copy(cur->doc), 1, err, sizeof(err));
	sub_unref(cur);
	if (!s) {
		test_slot_give();
		return api_error(out, 503, "unavailable", NULL, "%s", err);
	}
	if (hkd_new_id("evt_test_", eid, sizeof(eid)) != 0) {
		sub_unref(s);
		test_slot_give();
		return api_error(out, 503, "unavailable", NULL,
		                 "no randomness");
	}
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	envelope = json_pack("{s:s, s:s, s:s, s:s, s:O}", "id", eid, "type",
	                     type, "timestamp", ts, "source", "test", "data",
	                     data ? data : json_pack("{s:b}", "test", 1));
	if (!data)
		json_decref(json_object_get(envelope, "data"));
	json = json_dumps(envelope, JSON_COMPACT);
	json_decref(envelope);
	memset(&pb, 0, sizeof(pb));
	pb.desc = &S.http->desc;
	pb.state = s->state;
	pb.ev.struct_size = sizeof(pb.ev);
	pb.ev.id = eid;
	pb.ev.type = type;
	pb.ev.source = "test";
	pb.ev.timestamp = ts;
	pb.ev.json = json ? json : "{}";
	pb.ev.json_len = strlen(pb.ev.json);
	pb.ev.attempt = 1;
	pb.ev.deadline_ms = hkd_now_ms() + (int64_t)S.timeout * 1000;
	pb.ev.target = s->id;
	pb.ev.delivery_id = eid;
	/* A test reaches a disabled subscription too: that is how one checks
	 * a receiver before enabling it again. The attempt runs on a worker
	 * and the delivery engine, as a delivery's does; this thread waits. */
	t0 = hkd_mono_us();
	hkd_dispatch_probe(&pb, PROBE_GRACE_MS);
	st = pb.status;
	res = pb.res;
	res.reason[sizeof(res.reason) - 1] = '\0';
	code = reason_status(res.reason, &excerpt, &head);
	/* detail stays what a delivery's attempt would log: on a 2xx, the
	 * status alone. */
	if (st == HOOKD_OK && excerpt)
		res.reason[head] = '\0';
	ms = (double)(hkd_mono_us() - t0) / 1000.0;
	outcome = st == HOOKD_OK ? "ok" : st == HOOKD_RETRY ? "retry" : "fail";
	*out = json_pack(
	    "{s:s, s:s, s:b, s:s, s:f, s:s, s:o, s:s?}", "eventId", eid, "type",
	    type, "success", st == HOOKD_OK, "outcome", outcome, "durationMs",
	    ms, "detail", res.reason, "status",
	    code ? json_integer(code) : json_null(), "response", excerpt);
	free(json);
	sub_unref(s);
	test_slot_give();
	return 200;
}
