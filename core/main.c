/*
 * hookd: receives events over HTTP and dispatches them to handler plugins.
 *
 * The main thread owns start-up, configuration (SIGHUP reloads) and
 * shutdown (SIGTERM/SIGINT); it waits for signals with sigwait(), so no
 * other thread ever runs a signal handler.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "crash.h"
#include "dispatch.h"
#include "http_api.h"
#include "log.h"
#include "notify.h"
#include "plugin_loader.h"
#include "runtime.h"
#include "store.h"
#include "subscriptions.h"
#include "util.h"

#define DEFAULT_CONFIG HKD_SYSCONFDIR "/hookd/hookd.conf"

struct options {
	const char *config;
	const char *plugin_dir;
	const char *storage;
	int check_only;
	int list_plugins;
	enum hkd_log_format log_format;
	enum hookd_log_level log_level;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: hookd [OPTIONS]\n"
	    "Receive events over HTTP and dispatch them to handler plugins.\n"
	    "\n"
	    "  -c, --config FILE      configuration file (default %s)\n"
	    "  -t, --check-config     check the configuration, print every "
	    "problem, exit\n"
	    "  -P, --plugin-dir DIR   load plugins from DIR (overrides "
	    "plugin_dir)\n"
	    "  -S, --storage URL      store events in URL: sqlite:PATH, "
	    "memory: or\n"
	    "                         postgresql://… (overrides storage.url)\n"
	    "      --list-plugins     list the plugins in the plugin folder "
	    "and their keys\n"
	    "      --log-format FMT   text (default) or json\n"
	    "      --log-level LEVEL  error, warn, info (default) or debug\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n"
	    "\n"
	    "Signals: SIGHUP reloads the configuration (a broken one is "
	    "refused and\n"
	    "the running one kept); SIGTERM or SIGINT stop gracefully.\n",
	    DEFAULT_CONFIG);
}

/* Parse argv; returns -1 to exit with 2 (usage), 1 to exit 0 (help). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 't'},
	    {"plugin-dir", required_argument, NULL, 'P'},
	    {"storage", required_argument, NULL, 'S'},
	    {"list-plugins", no_argument, NULL, 'L'},
	    {"log-format", required_argument, NULL, 'F'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	o->config = DEFAULT_CONFIG;
	o->log_level = HOOKD_LOG_INFO;
	o->log_format = HKD_LOG_TEXT;
	while ((c = getopt_long(argc, argv, "c:tP:S:Vh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 't':
			o->check_only = 1;
			break;
		case 'P':
			o->plugin_dir = optarg;
			break;
		case 'S':
			o->storage = optarg;
			break;
		case 'L':
			o->list_plugins = 1;
			break;
		case 'F':
			if (hkd_log_parse_format(optarg, &o->log_format) != 0) {
				fprintf(stderr, "hookd: --log-format must be "
				                "text or json\n");
				return -1;
			}
			break;
		case 'l':
			if (hkd_log_parse_level(optarg, &o->log_level) != 0) {
				fprintf(stderr, "hookd: --log-level must be "
				                "error, warn, info or debug\n");
				return -1;
			}
			break;
		case 'V':
			printf("hookd %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
			       HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hookd: unexpected argument '%s'\n",
		        argv[optind]);
		return -1;
	}
	return 0;
}

static void print_diag(const struct hkd_diag *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msgs[i]);
}

/* Load and make live; NULL with problems in d. */
static struct hkd_runtime *load(const struct options *o, struct hkd_diag *d)
{
	size_t before = d->n;
	struct hkd_config *cfg = hkd_config_read(o->config, o->plugin_dir, d);
	struct hkd_runtime *rt;
	if (!cfg)
		return NULL;
	if (o->storage) {
		char err[256];
		free(cfg->storage_url);
		cfg->storage_url = strdup(o->storage);
		if (hkd_store_url_check(o->storage, err, sizeof(err)) != 0)
			hkd_diag_add(d, "--storage", NULL, "%s", err);
	}
	/* Even with errors, load the plugins so their problems show too. */
	rt = hkd_runtime_build(cfg, d);
	if (rt && d->n > before) {
		hkd_runtime_unref(rt);
		rt = NULL;
	}
	return rt;
}

static const char *key_type_name(enum hookd_key_type t)
{
	switch (t) {
	case HOOKD_KEY_STRING:
		return "string";
	case HOOKD_KEY_INT:
		return "integer";
	case HOOKD_KEY_BOOL:
		return "bool";
	case HOOKD_KEY_LIST:
		return "list";
	case HOOKD_KEY_GROUP:
		return "group";
	}
	return "?";
}

static int filter_so(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

/* --list-plugins: every *.so in the plugin folder, with its keys. */
static int list_plugins(const struct options *o)
{
	struct hkd_diag d;
	struct hkd_config *cfg = NULL;
	struct dirent **names = NULL;
	const char *dir = o->plugin_dir;
	int n, failures = 0;

	hkd_diag_init(&d);
	if (!dir && access(o->config, R_OK) == 0 &&
	    (cfg = hkd_config_load(o->config, NULL, &d)))
		dir = cfg->plugin_dir;
	if (!dir)
		dir = HKD_PLUGIN_DIR;
	n = scandir(dir, &names, filter_so, alphasort);
	if (n < 0) {
		fprintf(stderr, "hookd: cannot read plugin folder %s: %s\n",
		        dir, strerror(errno));
		hkd_config_free(cfg);
		hkd_diag_release(&d);
		return 1;
	}
	printf("plugins in %s:\n", dir);
	for (int i = 0; i < n; i++) {
		char err[1024], *path = NULL;
		struct hkd_plugin_lib *lib;
		if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
			path = NULL;
		lib = path ? hkd_plugin_open(path, err, sizeof(err)) : NULL;
		if (!lib) {
			fprintf(stderr, "hookd: %s\n",
			        path ? err : "out of memory");
			failures++;
		} else {
			printf(
			    "\n%s %s (ABI %u.%u%s) %s\n  %s\n", lib->desc.name,
			    lib->desc.version ? lib->desc.version : "",
			    lib->desc.abi_major, lib->desc.abi_minor,
			    lib->desc.flags & HOOKD_PLUGIN_THREADSAFE
			        ? ", thread-safe"
			        : "",
			    path,
			    lib->desc.description ? lib->desc.description : "");
			for (const struct hookd_config_key *k = lib->desc.keys;
			     k && k->name; k++)
				printf("    %-18s %-8s%s%s  %s\n", k->name,
				       key_type_name(k->type),
				       k->flags & HOOKD_KEY_REQUIRED
				           ? " required"
				           : "",
				       k->flags & HOOKD_KEY_SECRET ? " secret"
				                                   : "",
				       k->help ? k->help : "");
			hkd_plugin_close(lib);
		}
		free(path);
		free(names[i]);
	}
	free(names);
	hkd_config_free(cfg);
	hkd_diag_release(&d);
	return failures ? 1 : 0;
}

static void reload(const struct options *o)
{
	struct hkd_diag d;
	struct hkd_runtime *rt, *old;
	hkd_diag_init(&d);
	hkd_log_kv(HOOKD_LOG_INFO, "reload", "config", o->config, NULL);
	rt = load(o, &d);
	if (!rt) {
		for (size_t i = 0; i < d.n; i++)
			hkd_log_kv(HOOKD_LOG_ERROR, "config", "detail",
			           d.msgs[i], NULL);
		hkd_log_kv(
		    HOOKD_LOG_ERROR, "reload", "detail",
		    "the new configuration has errors; keeping the running one",
		    NULL);
		hkd_diag_release(&d);
		return;
	}
	old = hkd_runtime_current();
	if (old) {
		const struct hkd_config *a = old->cfg, *b = rt->cfg;
		if (strcmp(a->listen_port, b->listen_port) != 0 ||
		    (a->listen_host == NULL) != (b->listen_host == NULL) ||
		    (a->listen_host &&
		     strcmp(a->listen_host, b->listen_host) != 0) ||
		    a->http_threads != b->http_threads ||
		    a->workers != b->workers ||
		    a->queue_size != b->queue_size ||
		    strcmp(a->storage_url, b->storage_url) != 0)
			hkd_log_kv(
			    HOOKD_LOG_WARN, "reload", "detail",
			    "server listen/threads, workers, queue_size and "
			    "storage take effect only after a restart",
			    NULL);
		hkd_runtime_unref(old);
	}
	hkd_runtime_install(rt);
	hkd_dispatch_refresh_limits();
	hkd_log_kv(HOOKD_LOG_INFO, "reload", "detail", "configuration reloaded",
	           NULL);
	hkd_diag_release(&d);
}

/*
 * The news of a shared store's other nodes, passed on only while dispatch
 * and subscriptions run: `on` under `lock`, which the listener holds while
 * it passes one on.
 */
static struct {
	pthread_mutex_t lock;
	int on;
} news = {PTHREAD_MUTEX_INITIALIZER, 0};

/* The store's news (on its listener thread): claim or reload now rather
 * than at the next poll. Neither call waits. */
static void on_store_news(void *arg, enum hkd_store_news what)
{
	(void)arg;
	pthread_mutex_lock(&news.lock);
	if (news.on && what == HKD_STORE_NEWS_WORK)
		hkd_dispatch_parked();
	else if (news.on && what == HKD_STORE_NEWS_SUBS)
		hkd_subs_changed();
	pthread_mutex_unlock(&news.lock);
}

/* Start (then act once on whatever came before) or stop passing news on. */
static void news_follow(struct hkd_store *st, int on)
{
	pthread_mutex_lock(&news.lock);
	news.on = on;
	pthread_mutex_unlock(&news.lock);
	if (on && hkd_store_is_shared(st)) {
		on_store_news(NULL, HKD_STORE_NEWS_WORK);
		on_store_news(NULL, HKD_STORE_NEWS_SUBS);
	}
}

static struct hkd_store *open_store(const struct hkd_config *cfg)
{
	struct hkd_store_options so;
	struct hkd_store *st;
	char err[512];
	memset(&so, 0, sizeof(so));
	so.url = cfg->storage_url;
	so.synchronous = cfg->storage_synchronous;
	so.max_size = cfg->storage_max_size;
	so.keep_succeeded_ms = cfg->keep_succeeded * 1000;
	so.keep_dead_ms = cfg->keep_dead * 1000;
	so.purge_interval_ms = cfg->purge_interval * 1000;
	so.lease_ms = cfg->storage_lease * 1000;
	so.pool_size = cfg->storage_pool_size;
	so.secret_key = cfg->storage_secret_key;
	so.news = on_store_news;
	st = hkd_store_open(&so, err, sizeof(err));
	if (!st)
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "url", cfg->storage_url,
		           "detail", err, NULL);
	return st;
}

/*
 * Every unfinished stored delivery is parked at start (nothing is in
 * memory yet); the dispatcher's claimer takes them back as room allows.
 */
static int recover(struct hkd_store *st)
{
	long long n = hkd_store_release_all(st);
	char buf[24];
	if (n < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%lld", n);
	hkd_log_kv(HOOKD_LOG_INFO, "recovered", "deliveries", buf, NULL);
	if (n > 0)
		hkd_dispatch_parked();
	return 0;
}

/*
 * glibc gives threads up to eight malloc arenas per core, and each keeps
 * the memory freed into it: with hookd's fifty-odd threads RSS grew by the
 * megabyte under bursts of large requests and stayed there (a barrage of
 * malformed requests: +12 to +16 MB over 20 rounds, +5 to +9 MB with four
 * arenas). A few arenas are enough: most small allocations never reach
 * one, glibc's per-thread cache serves them. MALLOC_ARENA_MAX in the
 * environment still decides, as glibc documents.
 */
#define HKD_MALLOC_ARENAS 4

static void tune_malloc(void)
{
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, HKD_MALLOC_ARENAS);
}

/*
 * After SIGTERM or SIGINT: stop taking requests, let the attempts in
 * flight finish for up to shutdown_timeout, log what stays unfinished.
 * 0, or -1 when attempts were abandoned still running: then nothing may
 * be unloaded under them and the process just exits.
 */
static int stop(struct hkd_store *store, int sig)
{
	struct hkd_runtime *rt;
	char store_url[512];
	long pending;
	int shared = hkd_store_is_shared(store);

	hkd_log_kv(HOOKD_LOG_INFO, "stopping", "signal",
	           sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	hkd_notify("STOPPING=1");
	hkd_http_stop();
	rt = hkd_runtime_current();
	hkd_strlcpy(store_url, rt ? rt->cfg->storage_url : "",
	            sizeof(store_url));
	news_follow(store, 0);
	pending = hkd_dispatch_stop(
	    (int64_t)(rt ? rt->cfg->shutdown_timeout : 10) * 1000);
	hkd_runtime_unref(rt);
	if (pending < 0) {
		/* The abandoned attempts end with the process (a plugin's
		 * destructor ends what they started: exec kills its programs)
		 * and their deliveries stay unfinished in the store: they run
		 * again at the next start — at once on the other nodes of a
		 * shared store, which is given its leases back. */
		struct hkd_dispatch_stats ds;
		char nbuf[24], detail[200];
		if (shared)
			hkd_store_release_all(store);
		hkd_dispatch_stats(&ds);
		snprintf(nbuf, sizeof(nbuf), "%zu", ds.in_flight);
		snprintf(
		    detail, sizeof(detail),
		    "attempts still running at the shutdown timeout were "
		    "abandoned; %s",
		    shared ? "the other nodes take the deliveries over"
		    : strcmp(store_url, "memory:") == 0
		        ? "the memory store keeps nothing: their deliveries "
		          "are lost"
		        : "their deliveries stay stored and run again at "
		          "the next start");
		hkd_log_kv(HOOKD_LOG_WARN, "stopped", "abandoned_attempts",
		           nbuf, "detail", detail, NULL);
		return -1;
	}
	{
		/* In memory or parked: the store knows them all. A node of a
		 * shared store gives its leases back, so that the other nodes
		 * take its deliveries over now, not once the leases ran out. */
		long long stored = shared ? hkd_store_release_all(store)
		                          : hkd_store_unfinished(store);
		char pbuf[24];
		if (stored >= 0)
			pending = (long)stored;
		snprintf(pbuf, sizeof(pbuf), "%ld", pending);
		hkd_log_kv(pending ? HOOKD_LOG_WARN : HOOKD_LOG_INFO, "stopped",
		           "unfinished_deliveries", pbuf, "detail",
		           strcmp(store_url, "memory:") == 0
		               ? "the memory store keeps nothing: unfinished "
		                 "deliveries are lost"
		           : shared ? "unfinished deliveries stay stored; the "
		                      "other nodes take them over"
		                    : "unfinished deliveries stay stored and "
		                      "resume at the next start",
		           NULL);
	}
	return 0;
}

/*
 * One exit path: what was started is stopped in the reverse order, as far
 * as it got (the flags below), whatever failed.
 */
int main(int argc, char **argv)
{
	struct options o;
	struct hkd_diag d;
	struct hkd_runtime *rt = NULL;
	struct hkd_store *store = NULL;
	sigset_t sigs;
	int rc, sig, status = 1;
	int curl_up = 0, subs_up = 0, installed = 0, dispatching = 0;
	char err[1024];

	tune_malloc();
	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	hkd_log_setup(o.log_format, o.log_level);
	if (o.list_plugins)
		return list_plugins(&o);
	if (!o.check_only)
		hkd_notify_init();

	/* Before any thread exists: libcurl for plugins, signal routing. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "hookd: cannot initialise libcurl\n");
		goto out;
	}
	curl_up = 1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	hkd_diag_init(&d);
	rt = load(&o, &d);
	if (o.check_only || !rt) {
		print_diag(&d, stderr);
		if (o.check_only && rt)
			printf("%s: configuration OK\n", o.config);
		else if (!o.check_only)
			fprintf(stderr, "hookd: not started: the configuration "
			                "has errors\n");
		status = o.check_only && rt ? 0 : 1;
		hkd_diag_release(&d);
		goto out;
	}
	hkd_diag_release(&d);
	if (!(store = open_store(rt->cfg)))
		goto out;
	subs_up = 1; /* stopped even when its start fails half-way */
	if (hkd_subs_start(store, rt->cfg, err, sizeof(err)) != 0) {
		hkd_log_kv(HOOKD_LOG_ERROR, "subscriptions", "detail", err,
		           NULL);
		goto out;
	}
	hkd_runtime_install(rt); /* takes rt's reference */
	installed = 1;
	hkd_dispatch_set_store(store);
	hkd_dispatch_set_poll(rt->cfg->storage_poll_interval * 1000);
	hkd_crash_guard_install(rt->cfg->storage_url);
	hkd_crash_report_load();
	dispatching = 1;
	if (hkd_dispatch_start(rt->cfg->queue_size, rt->cfg->workers) != 0 ||
	    recover(store) != 0 || hkd_http_start(rt->cfg, store) != 0)
		goto out;
	news_follow(store, 1);
	{
		char workers[16];
		snprintf(workers, sizeof(workers), "%d", rt->cfg->workers);
		hkd_log_kv(HOOKD_LOG_INFO, "started", "version",
		           PACKAGE_VERSION, "config", o.config, "workers",
		           workers, "storage", rt->cfg->storage_url, NULL);
	}
	rt = NULL; /* the installed runtime is hkd_runtime_current()'s now */
	hkd_notify("READY=1\nSTATUS=accepting events");

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			hkd_notify_reloading();
			reload(&o);
			hkd_notify("READY=1");
			continue;
		}
		break;
	}
	dispatching = 0;
	if (stop(store, sig) != 0)
		return 0; /* do not unload plugins under running threads */
	status = 0;
out:
	if (dispatching)
		hkd_dispatch_stop(0);
	if (subs_up)
		hkd_subs_stop();
	if (store)
		hkd_store_close(store);
	if (installed)
		hkd_runtime_install(NULL);
	else
		hkd_runtime_unref(rt);
	if (curl_up)
		curl_global_cleanup();
	return status;
}
