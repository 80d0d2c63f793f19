/*
 * limit — the ceiling for an MHD-based server on this machine.
 *
 * A bare libmicrohttpd server in hookd's threading mode (internal polling
 * thread, epoll, a pool of `--threads` threads) that reads each request's
 * body and answers 200 with a short JSON body, on 127.0.0.1 only. With
 * `--verify SECRET` it also does what any careful receiver must: checks an
 * HMAC-SHA256 of the raw body (hex, header X-Signature, optional "sha256="
 * prefix) in constant time and parses the body with jansson, answering 401 or
 * 400 when either fails. It stores nothing.
 *
 *   limit --port 18080 [--threads 8] [--max-body 1048576] [--verify SECRET]
 *
 * Runs until SIGTERM or SIGINT. Bench-only: not part of hookd's build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "serve.h"

struct body {
	char *data;
	size_t len, cap;
	int too_big;
};

static size_t max_body = 1048576;
static const char *secret;

/* 1 when `sig` (hex, optionally "sha256=") is the HMAC of the body. */
static int signature_ok(const char *sig, const struct body *b)
{
	unsigned char mac[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	size_t n;
	if (!sig)
		return 0;
	if (strncmp(sig, "sha256=", 7) == 0)
		sig += 7;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
	          (const unsigned char *)(b->data ? b->data : ""), b->len, mac,
	          &len))
		return 0;
	if (strlen(sig) != 2 * (size_t)len)
		return 0;
	for (n = 0; n < len; n++) {
		unsigned v;
		if (sscanf(sig + 2 * n, "%2x", &v) != 1)
			return 0;
		want[n] = (unsigned char)v;
	}
	return CRYPTO_memcmp(mac, want, len) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct body *b = *con_cls;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (b->len + *upload_size > max_body) {
			b->too_big = 1;
		} else {
			if (b->len + *upload_size > b->cap) {
				size_t cap = b->cap ? b->cap : 4096;
				char *p;
				while (cap < b->len + *upload_size)
					cap *= 2;
				p = realloc(b->data, cap);
				if (!p)
					return MHD_NO;
				b->data = p;
				b->cap = cap;
			}
			memcpy(b->data + b->len, upload, *upload_size);
			b->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (b->too_big)
		return serve_answer(conn, 413,
		                    "{\"error\":\"payload_too_large\"}", 1);
	if (secret) {
		json_error_t err;
		json_t *doc;
		const char *sig = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, "X-Signature");
		if (!signature_ok(sig, b))
			return serve_answer(
			    conn, 401, "{\"error\":\"invalid_signature\"}", 1);
		doc = json_loadb(b->data ? b->data : "", b->len, 0, &err);
		if (!doc || !json_is_object(doc)) {
			json_decref(doc);
			return serve_answer(conn, 400,
			                    "{\"error\":\"invalid_json\"}", 1);
		}
		json_decref(doc);
	}
	return serve_answer(conn, 200, "{\"ok\":true}", 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (b) {
		free(b->data);
		free(b);
		*con_cls = NULL;
	}
}

int main(int argc, char **argv)
{
	unsigned port = 0, threads = 8;
	struct MHD_Daemon *d;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max-body") == 0)
			max_body = (size_t)atol(argv[i + 1]);
		else if (strcmp(argv[i], "--verify") == 0)
			secret = argv[i + 1];
		else
			break;
	}
	if (i < argc || port == 0) {
		fprintf(stderr,
		        "usage: %s --port P [--threads N] [--max-body B] "
		        "[--verify SECRET]\n",
		        argv[0]);
		return 2;
	}
	serve_block_signals();
	/* hookd's connection timeout default (server.connection_timeout) */
	d = serve_start(port, threads, 0, on_request, on_completed, 30);
	if (!d) {
		fprintf(stderr, "limit: cannot listen on port %u\n", port);
		return 1;
	}
	fprintf(stderr, "limit: listening on %u with %u threads%s\n", port,
	        threads, secret ? ", verifying HMAC and JSON" : "");
	serve_wait();
	MHD_stop_daemon(d);
	return 0;
}
