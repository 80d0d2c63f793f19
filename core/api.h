/*
 * The HTTP API's parts, private to core/'s api layer: the request state,
 * the answers every endpoint writes, and the endpoints. http_api.c serves
 * (libmicrohttpd, routing, checks a request must pass before any
 * endpoint sees it); api_events.c, api_deliveries.c, api_hooks.c and
 * api_subscriptions.c each answer one family of endpoints.
 *
 * Every function here runs on an HTTP thread and answers the request on
 * conn (MHD_YES, or MHD_NO to drop the connection).
 */
#ifndef HKD_API_H
#define HKD_API_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "http_api.h"
#include "ingest.h"
#include "runtime.h"
#include "signature.h"

struct request {
	struct hkd_api_route route; /* the endpoint and its {id} */
	struct hkd_runtime *rt;     /* NULL until the headers are in */
	char *body;
	size_t len, cap;
	int too_big;
	int answered;
	/* The request target as it came, seen by on_request_line before
	 * libmicrohttpd cuts off its query and decodes it in place: where it
	 * starts, its length to the first NUL, whether it has a control byte
	 * or a space. NULL when that callback could not allocate. */
	const char *target;
	size_t target_len;
	int target_bad;
};

/* The store the API reads and writes (hkd_http_start's). */
struct hkd_store *hkd_api_store(void);

/* Answer status with the JSON text[0..len) (mode as libmicrohttpd takes
 * it: with MHD_RESPMEM_MUST_FREE it is stolen), and one extra header when
 * hdr is set. */
enum MHD_Result hkd_api_send_text(struct MHD_Connection *conn, unsigned status,
                                  char *text, size_t len,
                                  enum MHD_ResponseMemoryMode mode,
                                  const char *hdr, const char *hdr_value);
/* Answer status with body (steals it), and one extra header when hdr is
 * set. */
enum MHD_Result hkd_api_send_json(struct MHD_Connection *conn, unsigned status,
                                  json_t *body, const char *hdr,
                                  const char *hdr_value);
/* Answer status with {"error": code, "message": ..., "field"?}. */
enum MHD_Result hkd_api_send_error(struct MHD_Connection *conn, unsigned status,
                                   const char *code, const char *field,
                                   const char *hdr, const char *hdr_value,
                                   const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* 503 store_unavailable: the store cannot write (why: what failed). */
enum MHD_Result hkd_api_store_unavailable(struct MHD_Connection *conn,
                                          const char *why);

int hkd_api_is_method(const char *m, const char *want);
/* 1 when Content-Type is application/json (parameters allowed). */
int hkd_api_is_json_type(struct MHD_Connection *conn);
/* The API key the request presents (x-api-key, Authorization: Bearer),
 * or NULL. Borrowed. */
const char *hkd_api_presented_key(struct MHD_Connection *conn);
/* A change made through the API: log line and audit record. */
void hkd_api_audit(struct MHD_Connection *conn, const struct request *rq,
                   const char *action, const char *target, const char *detail);

/* --- api_events.c -------------------------------------------------------- */

enum MHD_Result hkd_api_catalog(struct MHD_Connection *conn,
                                const struct hkd_runtime *rt);
enum MHD_Result hkd_api_publish(struct MHD_Connection *conn,
                                struct request *rq);
enum MHD_Result hkd_api_event(struct MHD_Connection *conn, struct request *rq);
/* Ingest req and answer as publishing does: 202, 200 duplicate, 422, 503;
 * type_field names where the type came from (or NULL). */
enum MHD_Result hkd_api_answer_ingest(struct MHD_Connection *conn,
                                      struct request *rq,
                                      const struct hkd_ingest_req *req,
                                      const char *type_field);
/* The body as jansson reads it (flags: JSON_*), with jerr on failure. */
json_t *hkd_api_loadb(const struct request *rq, size_t flags,
                      json_error_t *jerr);
/* The source whose id_from took id, when it is a source's. */
const struct hkd_source *hkd_api_id_owner(const struct hkd_config *cfg,
                                          const char *id);

/* --- api_deliveries.c ---------------------------------------------------- */

enum MHD_Result hkd_api_deliveries(struct MHD_Connection *conn);
enum MHD_Result hkd_api_audit_trail(struct MHD_Connection *conn);
enum MHD_Result hkd_api_retry_one(struct MHD_Connection *conn,
                                  struct request *rq);
enum MHD_Result hkd_api_retry_dead(struct MHD_Connection *conn,
                                   struct request *rq);

/* --- api_hooks.c --------------------------------------------------------- */

/* A header of the request, or NULL (name may be NULL). */
const char *hkd_api_header(struct MHD_Connection *conn, const char *name);
/* The checks of POST /hooks/{source} before its body is read: 1 when
 * answered (in *rc). */
int hkd_api_refuse_hook(struct MHD_Connection *conn, struct request *rq,
                        enum MHD_Result *rc);
enum MHD_Result hkd_api_receive_hook(struct MHD_Connection *conn,
                                     struct request *rq);

/* --- api_subscriptions.c ------------------------------------------------- */

enum MHD_Result hkd_api_subscriptions(struct MHD_Connection *conn,
                                      struct request *rq, const char *method);

#endif
