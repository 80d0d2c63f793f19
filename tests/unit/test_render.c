/*
 * Unit tests for hookd_host.render (core/host.c) over the dispatcher's
 * event records (core/dispatch.c): a template without placeholders reads
 * nothing, the deliveries of one event share one parsed tree that no
 * render changes (and the text of {{data}}), renders on several threads
 * at once agree, also while the tree is dropped under them, and an
 * envelope that does not parse gives the message it always gave.
 *
 * An attempt is simulated the way start_attempt() makes it: a struct
 * hookd_event pointing at the record's strings, with the record entered
 * (hkd_event_rec_enter) around the plugin's calls.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dispatch.h"
#include "host.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Threads and renders per thread of the concurrent case. */
#define THREADS 8
#define ROUNDS  300

static const char envelope_text[] =
    "{\"id\":\"evt_1\",\"type\":\"order.created\",\"source\":\"api\","
    "\"timestamp\":\"2026-01-02T03:04:05.000Z\","
    "\"data\":{\"name\":\"Zo\\u00eb O'Brien\",\"n\":42,\"r\":9.99,"
    "\"items\":[{\"sku\":\"A1\"},{\"sku\":\"B2\"}],\"q\":\"say \\\"hi\\\"\"}}";

/* What a delivery renders, and what that gives for attempt 2 to "t1". */
static const struct {
	const char *tmpl;
	enum hookd_render_mode mode;
	const char *want;
} cases[] = {
    {"{\"id\":\"{{id}}\",\"type\":\"{{type}}\",\"data\":{{data}}}",
     HOOKD_RENDER_RAW,
     "{\"id\":\"evt_1\",\"type\":\"order.created\",\"data\":{\"name\":"
     "\"Zo\xc3\xab O'Brien\",\"n\":42,\"r\":9.9900000000000002,"
     "\"items\":[{\"sku\":\"A1\"},{\"sku\":\"B2\"}],"
     "\"q\":\"say \\\"hi\\\"\"}}"},
    {"https://x.test/{{data.name}}?n={{/data/n}}&a={{attempt}}",
     HOOKD_RENDER_URL, "https://x.test/Zo%C3%AB%20O%27Brien?n=42&a=2"},
    {"{{data.items.1.sku}} {{data.r}} {{data.none | -}} {{target}}",
     HOOKD_RENDER_RAW, "B2 9.99 - t1"},
    {"\"{{data.q}}\"", HOOKD_RENDER_JSON, "\"say \\\"hi\\\"\""},
    {"{{data.name}}", HOOKD_RENDER_SHELL, "'Zo\xc3\xab O'\\''Brien'"},
};

static const struct hookd_host *H;

/* The event one attempt of a delivery of rec (borrowed) hands a plugin. */
static void attempt_event(struct hookd_event *ev,
                          const struct hkd_event_rec *rec, unsigned attempt,
                          const char *target)
{
	memset(ev, 0, sizeof(*ev));
	ev->struct_size = sizeof(*ev);
	ev->id = rec->id;
	ev->type = rec->type;
	ev->source = rec->source;
	ev->timestamp = rec->timestamp;
	ev->json = rec->json;
	ev->json_len = rec->json_len;
	ev->attempt = attempt;
	ev->target = target;
	ev->delivery_id = "dlv_1";
}

/* Caller owns: hkd_event_rec_unref. */
static struct hkd_event_rec *rec_new(const char *json)
{
	struct hkd_event_rec *rec = hkd_event_rec_new(
	    "evt_1", "order.created", "api", "2026-01-02T03:04:05.000Z", json);

	ck_assert_ptr_nonnull(rec);
	return rec;
}

/* Render tmpl for ev; "ERR:<message>" when it fails. Caller frees. */
static char *render(const char *tmpl, const struct hookd_event *ev,
                    enum hookd_render_mode mode)
{
	char err[256] = "";
	char *out = H->render(tmpl, ev, mode, err, sizeof(err));
	char *copy;

	if (out) {
		copy = strdup(out);
		H->free(out);
	} else {
		copy = malloc(strlen(err) + 5);
		if (copy)
			sprintf(copy, "ERR:%s", err);
	}
	ck_assert_ptr_nonnull(copy);
	return copy;
}

static void setup(void)
{
	H = hkd_host();
}

/* Literal text is copied without the envelope being parsed. */
START_TEST(test_no_placeholder)
{
	struct hkd_event_rec *rec = rec_new(envelope_text);
	struct hookd_event ev;
	char *out;

	attempt_event(&ev, rec, 1, "t1");
	hkd_event_rec_enter(rec);
	out = render("https://sink.test/hook?a=1&b={not a placeholder}", &ev,
	             HOOKD_RENDER_URL);
	ck_assert_str_eq(out,
	                 "https://sink.test/hook?a=1&b={not a placeholder}");
	free(out);
	out = render("", &ev, HOOKD_RENDER_SHELL);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_ptr_null(rec->tree);
	/* "\{{" is a placeholder's syntax: that template is read. */
	out = render("\\{{id}}", &ev, HOOKD_RENDER_RAW);
	ck_assert_str_eq(out, "{{id}}");
	free(out);
	hkd_event_rec_leave();
	hkd_event_rec_unref(rec);
}
END_TEST

/*
 * The deliveries of one event, attempt after attempt, render from one
 * tree, parsed at the first render; no render changes it.
 */
START_TEST(test_shared_tree)
{
	static const char *const targets[] = {"t1", "t2", "t3", "t4"};
	struct hkd_event_rec *rec = rec_new(envelope_text);
	json_t *fresh = json_loads(envelope_text, 0, NULL);
	struct hkd_event_tree *tree = NULL, *again;
	struct hookd_event ev;

	ck_assert_ptr_nonnull(fresh);
	for (size_t t = 0; t < LEN(targets); t++) {
		for (unsigned attempt = 1; attempt <= 3; attempt++) {
			attempt_event(&ev, rec, attempt, targets[t]);
			hkd_event_rec_enter(rec);
			for (size_t i = 0; i < LEN(cases); i++) {
				char *out =
				    render(cases[i].tmpl, &ev, cases[i].mode);
				char want[256];

				/* cases 1 and 2 name the attempt and the target
				 */
				if (i == 1)
					snprintf(want, sizeof(want),
					         "https://x.test/"
					         "Zo%%C3%%AB%%20O%%27Brien"
					         "?n=42&a=%u",
					         attempt);
				else if (i == 2)
					snprintf(want, sizeof(want),
					         "B2 9.99 - %s", targets[t]);
				else
					snprintf(want, sizeof(want), "%s",
					         cases[i].want);
				ck_assert_str_eq(out, want);
				free(out);
			}
			hkd_event_rec_leave();
			if (!tree)
				tree = rec->tree;
			ck_assert_ptr_nonnull(tree);
			ck_assert_ptr_eq(rec->tree, tree);
		}
	}
	/* held by the record alone; no render changed it */
	ck_assert_int_eq(atomic_load(&tree->refs), 1);
	ck_assert_int_eq(tree->root->refcount, 1);
	ck_assert(json_equal(tree->root, fresh));
	/* {{data}}, written by the first render, read by the others */
	ck_assert_uint_eq(atomic_load(&tree->texts.n), 1);
	again = hkd_event_rec_tree(rec, NULL);
	ck_assert_ptr_eq(again, tree);
	hkd_event_tree_put(again);
	json_decref(fresh);
	hkd_event_rec_unref(rec);
}
END_TEST

/*
 * An event the dispatcher did not hand to this thread — no attempt
 * entered, or a plugin's own copy of the envelope — renders the same,
 * from a tree of its own, and leaves the record's alone.
 */
START_TEST(test_foreign_event)
{
	struct hkd_event_rec *rec = rec_new(envelope_text);
	struct hookd_event ev;
	char *copy = strdup(envelope_text);
	char *out;

	ck_assert_ptr_nonnull(copy);
	attempt_event(&ev, rec, 2, "t1");
	out = render(cases[2].tmpl, &ev, cases[2].mode);
	ck_assert_str_eq(out, cases[2].want);
	free(out);
	ck_assert_ptr_null(hkd_event_rec_of(&ev));
	hkd_event_rec_enter(rec);
	ck_assert_ptr_eq(hkd_event_rec_of(&ev), rec);
	ev.json = copy;
	ck_assert_ptr_null(hkd_event_rec_of(&ev));
	out = render(cases[1].tmpl, &ev, cases[1].mode);
	ck_assert_str_eq(out, cases[1].want);
	free(out);
	hkd_event_rec_leave();
	ck_assert_ptr_null(rec->tree);
	free(copy);
	hkd_event_rec_unref(rec);
}
END_TEST

struct worker_arg {
	struct hkd_event_rec *rec;
	pthread_barrier_t *start;
	int failures;
	atomic_int *running; /* renderers not finished */
};

/* One thread's attempts: every case, ROUNDS times, checked. */
static void *render_worker(void *p)
{
	struct worker_arg *w = p;
	struct hookd_event ev;
	char err[256];

	attempt_event(&ev, w->rec, 2, "t1");
	pthread_barrier_wait(w->start);
	for (int r = 0; r < ROUNDS; r++) {
		hkd_event_rec_enter(w->rec);
		for (size_t i = 0; i < LEN(cases); i++) {
			char *out = H->render(cases[i].tmpl, &ev, cases[i].mode,
			                      err, sizeof(err));

			if (!out || strcmp(out, cases[i].want) != 0)
				w->failures++;
			if (out)
				H->free(out);
		}
		hkd_event_rec_leave();
	}
	atomic_fetch_sub(w->running, 1);
	return NULL;
}

/* What the dispatcher does as deliveries leave their queue: drop the
 * tree, again and again, while the others render. */
static void *drop_worker(void *p)
{
	struct worker_arg *w = p;

	pthread_barrier_wait(w->start);
	while (atomic_load(w->running) > 0)
		hkd_event_rec_tree_drop(w->rec);
	return NULL;
}

/*
 * Threads racing to render one event agree on every text: first while the
 * tree is shared (one parse), then while another thread keeps dropping it
 * (each render keeps the tree it took until it is done).
 */
START_TEST(test_concurrent_renders)
{
	struct hkd_event_rec *rec = rec_new(envelope_text);
	struct worker_arg args[THREADS + 1];
	pthread_t threads[THREADS + 1];
	pthread_barrier_t start;
	atomic_int running;

	for (int dropping = 0; dropping <= 1; dropping++) {
		int n = THREADS + dropping;

		atomic_init(&running, THREADS);
		ck_assert_int_eq(
		    pthread_barrier_init(&start, NULL, (unsigned)n), 0);
		for (int i = 0; i < n; i++) {
			args[i].rec = rec;
			args[i].start = &start;
			args[i].failures = 0;
			args[i].running = &running;
			ck_assert_int_eq(pthread_create(&threads[i], NULL,
			                                i < THREADS
			                                    ? render_worker
			                                    : drop_worker,
			                                &args[i]),
			                 0);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(threads[i], NULL);
			ck_assert_int_eq(args[i].failures, 0);
		}
		pthread_barrier_destroy(&start);
		if (dropping)
			continue;
		ck_assert_ptr_nonnull(rec->tree);
		ck_assert_int_eq(atomic_load(&rec->tree->refs), 1);
		ck_assert_int_eq(rec->tree->root->refcount, 1);
		/* {{data}}: one text, or one per thread that wrote it at once
		 */
		ck_assert_uint_ge(atomic_load(&rec->tree->texts.n), 1);
		ck_assert_uint_le(atomic_load(&rec->tree->texts.n), THREADS);
	}
	hkd_event_rec_unref(rec);
}
END_TEST

/*
 * A dropped tree stays whole for whoever holds it; the record parses a
 * new one for the next render.
 */
START_TEST(test_tree_dropped)
{
	struct hkd_event_rec *rec = rec_new(envelope_text);
	struct hkd_event_tree *held, *next;
	struct hookd_event ev;
	char err[256] = "";
	char *out;

	attempt_event(&ev, rec, 2, "t1");
	hkd_event_rec_enter(rec);
	out = render(cases[0].tmpl, &ev, cases[0].mode);
	ck_assert_str_eq(out, cases[0].want);
	free(out);
	held = hkd_event_rec_tree(rec, NULL);
	ck_assert_ptr_eq(held, rec->tree);
	hkd_event_rec_tree_drop(rec);
	ck_assert_ptr_null(rec->tree);
	ck_assert_int_eq(atomic_load(&held->refs), 1);
	out =
	    hkd_template_render_shared(cases[0].tmpl, held->root, &held->texts,
	                               NULL, cases[0].mode, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, cases[0].want);
	free(out);
	out = render(cases[1].tmpl, &ev, cases[1].mode);
	ck_assert_str_eq(out, cases[1].want);
	free(out);
	next = rec->tree;
	ck_assert_ptr_nonnull(next);
	ck_assert_ptr_ne(next, held);
	hkd_event_tree_put(held);
	hkd_event_rec_tree_drop(rec);
	hkd_event_rec_tree_drop(rec); /* nothing left to drop */
	hkd_event_rec_leave();
	hkd_event_rec_unref(rec);
}
END_TEST

/*
 * An envelope that does not parse: a template that reads the event fails
 * with jansson's message, attempt after attempt, shared tree or not; one
 * that reads nothing of it still renders.
 */
START_TEST(test_invalid_json)
{
	static const char bad[] = "{\"id\": \"evt_1\", \"data\": {";
	struct hkd_event_rec *rec = rec_new(bad);
	struct hookd_event ev;
	json_error_t jerr;
	char want[300];
	char *out;

	ck_assert_ptr_null(json_loadb(bad, strlen(bad), 0, &jerr));
	snprintf(want, sizeof(want), "ERR:render: event JSON: %s", jerr.text);
	attempt_event(&ev, rec, 1, "t1");
	out = render("{{id}}", &ev, HOOKD_RENDER_RAW);
	ck_assert_str_eq(out, want);
	free(out);
	hkd_event_rec_enter(rec);
	for (int i = 0; i < 2; i++) {
		out = render("x {{data.a}}", &ev, HOOKD_RENDER_URL);
		ck_assert_str_eq(out, want);
		free(out);
		ck_assert_ptr_null(rec->tree);
	}
	out = render("https://sink.test/{{attempt", &ev, HOOKD_RENDER_URL);
	ck_assert_str_eq(out, want);
	free(out);
	out = render("https://sink.test/", &ev, HOOKD_RENDER_URL);
	ck_assert_str_eq(out, "https://sink.test/");
	free(out);
	hkd_event_rec_leave();
	hkd_event_rec_unref(rec);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_no_placeholder);
	tcase_add_test(tc, test_shared_tree);
	tcase_add_test(tc, test_foreign_event);
	tcase_add_test(tc, test_concurrent_renders);
	tcase_add_test(tc, test_tree_dropped);
	tcase_add_test(tc, test_invalid_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(render_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
