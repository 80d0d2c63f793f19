/*
 * Webhook subscriptions: URLs that clients register through
 * /v4/webhook-subscriptions and that receive every matching event, signed
 * the Standard Webhooks way, through an instance of the http plugin made
 * for each subscription (with its SSRF guard on).
 *
 * A subscription's id is its delivery target ("sub_…"; handler names may
 * not start with "sub_"). The registry is loaded from the store at start
 * and kept in memory; every change is stored before it is answered.
 * Threads: any (one mutex; plugin calls are made without it).
 */
#ifndef HKD_SUBSCRIPTIONS_H
#define HKD_SUBSCRIPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "hookd/plugin.h"

struct hkd_store;

/* Ids of subscription targets start with this. */
#define HKD_SUB_PREFIX "sub_"

/* The operational event emitted when a subscription is disabled. */
#define HKD_SUB_DISABLED_TYPE "hookd.subscription.disabled"

/*
 * Load the http plugin from cfg->plugin_dir and every stored
 * subscription. 0, or -1 with why in err. Before the HTTP server starts.
 */
int hkd_subs_start(struct hkd_store *st, const struct hkd_config *cfg,
                   char *err, size_t errlen);
void hkd_subs_stop(void);

/*
 * Bring the registry in line with the store: add and replace what other
 * nodes created or changed, drop what they deleted. Runs by itself on a
 * shared store (hkd_store_is_shared): every storage.poll_interval, and
 * soon after hkd_subs_changed. 0, or -1.
 */
int hkd_subs_reload(void);

/* Another node changed the subscriptions (any thread; does not wait):
 * the reloader runs now rather than at its next poll. */
void hkd_subs_changed(void);

/* Enabled subscriptions whose events match type: a NULL-terminated array
 * of malloc'd ids in *ids_out (free with hkd_subs_free_ids); the count. */
size_t hkd_subs_route(const char *type, char ***ids_out);
void hkd_subs_free_ids(char **ids);
/* Attempts at once per subscription. */
int hkd_subs_concurrency(void);

/* 1 when target names a subscription. */
int hkd_subs_is_target(const char *target);

/*
 * An attempt for subscription id: the http plugin and the instance to call
 * (*desc, *state), with a reference kept in *token. Returns -1 (reason in
 * res) when the subscription was deleted or is disabled.
 */
int hkd_subs_begin(const char *id, const struct hookd_plugin **desc,
                   void **state, void **token, struct hookd_result *res);
/*
 * After that attempt: what its outcome (res: the attempt's result, whole;
 * may be NULL) means for the subscription (a 410 status_code, or failing
 * for too long, disables it and emits HKD_SUB_DISABLED_TYPE); drops the
 * reference.
 */
void hkd_subs_end(void *token, enum hookd_status st,
                  const struct hookd_result *res);

/*
 * The API. Each returns the HTTP status and sets *out to the JSON body
 * (caller owns): the subscription, a list, or {"error","message","field"}.
 */
int hkd_subs_api_create(const json_t *req, const struct hkd_config *cfg,
                        json_t **out);
/* GET /v4/webhook-subscriptions?limit=&cursor= (both may be NULL): a
 * page, in id (creation) order, after the subscription `cursor` names. */
int hkd_subs_api_list(const char *limit, const char *cursor, json_t **out);
int hkd_subs_api_get(const char *id, json_t **out);
int hkd_subs_api_update(const char *id, const json_t *req,
                        const struct hkd_config *cfg, json_t **out);
int hkd_subs_api_delete(const char *id, json_t **out);
int hkd_subs_api_test(const char *id, const json_t *req,
                      const struct hkd_config *cfg, json_t **out);

#endif
