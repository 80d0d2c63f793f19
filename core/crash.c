/*
 * Crash containment. A plugin that crashes takes hookd down with it
 * (plugins share its memory). So that one poisonous event cannot make a
 * crash loop, a fatal signal writes the deliveries then in flight to
 * STORE.crash; the next start counts their interrupted attempt as a retry
 * (see hkd_dispatch_set_suspects), and their retry schedule decides the
 * rest.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "dispatch.h"
#include "inflight.h"
#include "log.h"
#include "util.h"

static char crash_path[4096];

static void on_fatal_signal(int sig)
{
	char line[32] = "signal ";
	size_t n = 7;
	char digits[8];
	int k = 0, v = sig, fd;
	ssize_t w;

	fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		do {
			digits[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0 && k < (int)sizeof(digits));
		while (k > 0)
			line[n++] = digits[--k];
		line[n++] = '\n';
		w = write(fd, line, n);
		(void)w;
		hkd_inflight_report(fd);
		close(fd);
	}
	/* SA_RESETHAND made the action the default again: die of it. */
	raise(sig);
}

void hkd_crash_guard_install(const char *storage_url)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	struct sigaction sa;

	if (strncmp(storage_url, "sqlite:", 7) != 0 ||
	    snprintf(crash_path, sizeof(crash_path), "%s.crash",
	             storage_url + 7) >= (int)sizeof(crash_path))
		return; /* memory: nothing survives a crash anyway */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < HKD_ARRAY_LEN(fatal); i++)
		sigaction(fatal[i], &sa, NULL);
}

void hkd_crash_report_load(void)
{
	FILE *f;
	char line[128], reason[HOOKD_REASON_MAX], count[24];
	char **ids = NULL;
	size_t n = 0, cap = 0;
	int sig = 0;

	if (!crash_path[0] || !(f = fopen(crash_path, "re")))
		return;
	if (fgets(line, sizeof(line), f) &&
	    sscanf(line, "signal %d", &sig) != 1)
		sig = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (hkd_grow(&ids, &cap, n, sizeof(*ids), 16))
			break;
		if (!(ids[n] = strdup(line)))
			break;
		n++;
	}
	fclose(f);
	unlink(crash_path);
	snprintf(reason, sizeof(reason),
	         "hookd was stopped by signal %d (%s) while this attempt ran; "
	         "counted as a retry",
	         sig, sig > 0 ? strsignal(sig) : "unknown");
	snprintf(count, sizeof(count), "%zu", n);
	hkd_log_kv(HOOKD_LOG_WARN, "crashed", "attempts_in_flight", count,
	           "detail", reason, NULL);
	hkd_dispatch_set_suspects(ids, n, reason);
}
