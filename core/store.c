/*
 * The store's front (store.h): picks the backend named by the URL and
 * forwards every call to it (store_backend.h).
 */
#include <string.h>

#include "store_backend.h"
#include "util.h"

const char *hkd_state_name(enum hkd_delivery_state s)
{
	switch (s) {
	case HKD_STATE_PENDING: return "pending";
	case HKD_STATE_RETRYING: return "retrying";
	case HKD_STATE_SUCCEEDED: return "succeeded";
	case HKD_STATE_DEAD: return "dead";
	}
	return "?";
}

int hkd_state_parse(const char *name)
{
	for (int i = 0; i <= HKD_STATE_DEAD; i++)
		if (strcmp(name, hkd_state_name((enum hkd_delivery_state)i)) == 0)
			return i;
	return -1;
}

/* "postgresql://…" or "postgres://…" (libpq's URI forms). */
static int is_pg_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 ||
	       strncmp(url, "postgres://", 11) == 0;
}

int hkd_store_url_check(const char *url, char *err, size_t errlen)
{
	if (strcmp(url, "memory:") == 0)
		return 0;
	if (strncmp(url, "sqlite:", 7) == 0 && url[7] != '\0')
		return 0;
	if (is_pg_url(url)) {
		hkd_set_err(err, errlen,
		            "storage url \"%s\": this hookd was built without PostgreSQL support (configure --with-postgresql, which needs libpq)",
		            url);
		return -1;
	}
	hkd_set_err(err, errlen,
	            "storage url \"%s\" is not supported: use \"sqlite:PATH\" or \"memory:\"",
	            url);
	return -1;
}

struct hkd_store *hkd_store_open(const struct hkd_store_options *o, char *err,
                                 size_t errlen)
{
	if (hkd_store_url_check(o->url, err, errlen) != 0)
		return NULL;
	return hkd_store_sqlite_open(o, err, errlen);
}

void hkd_store_close(struct hkd_store *st)
{
	if (st)
		st->ops->close(st);
}

int hkd_store_put(struct hkd_store *st, const struct hkd_event_rec *ev,
                  const struct hkd_new_delivery *d, size_t n, char *err,
                  size_t errlen)
{
	return st->ops->put(st, ev, d, n, err, errlen);
}

void hkd_store_record(struct hkd_store *st, const struct hkd_attempt_rec *a)
{
	st->ops->record(st, a);
}

int hkd_store_recover(struct hkd_store *st, hkd_store_visit_fn visit,
                      void *arg)
{
	return st->ops->recover(st, visit, arg);
}

long long hkd_store_release_all(struct hkd_store *st)
{
	return st->ops->release_all(st);
}

long long hkd_store_unfinished(struct hkd_store *st)
{
	return st->ops->unfinished(st);
}

int hkd_store_claim(struct hkd_store *st, size_t max, hkd_store_visit_fn visit,
                    void *arg, size_t *claimed, int64_t *next_at)
{
	return st->ops->claim(st, max, visit, arg, claimed, next_at);
}

int hkd_store_replay(struct hkd_store *st, const char *delivery_id,
                     hkd_store_visit_fn visit, void *arg, int *state_out)
{
	return st->ops->replay(st, delivery_id, visit, arg, state_out);
}

int hkd_store_replay_dead(struct hkd_store *st, const char *target,
                          const char *type_glob, size_t max,
                          hkd_store_visit_fn visit, void *arg, size_t *done,
                          size_t *left)
{
	return st->ops->replay_dead(st, target, type_glob, max, visit, arg, done,
	                            left);
}

json_t *hkd_store_event_json(struct hkd_store *st, const char *id)
{
	return st->ops->event_json(st, id);
}

json_t *hkd_store_deliveries_json(struct hkd_store *st,
                                  const struct hkd_delivery_filter *f)
{
	return st->ops->deliveries_json(st, f);
}

long long hkd_store_dead_count(struct hkd_store *st)
{
	return st->ops->dead_count(st);
}

int hkd_store_sub_save(struct hkd_store *st, const char *id, const json_t *doc)
{
	return st->ops->sub_save(st, id, doc);
}

int hkd_store_sub_delete(struct hkd_store *st, const char *id)
{
	return st->ops->sub_delete(st, id);
}

int hkd_store_sub_load(struct hkd_store *st,
                       void (*visit)(void *arg, const json_t *doc), void *arg)
{
	return st->ops->sub_load(st, visit, arg);
}
