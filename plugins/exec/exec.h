/*
 * The exec plugin's parts (see exec.c): what its files share. exec.c
 * renders and judges an attempt, exec_conf.c reads a handler's settings,
 * exec_run.c starts the child, feeds and watches it.
 */
#ifndef HKD_EXEC_H
#define HKD_EXEC_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hookd/plugin.h>

#include "clock.h"
#include "errmsg.h"
#include "pluginkit.h"

#define EXEC_VERSION            "0.1.0"
#define EXEC_DEFAULT_TIMEOUT    30
#define EXEC_MAX_TIMEOUT        86400 /* one day: anything longer is a mistake */
#define EXEC_DEFAULT_MAX_OUTPUT 4096
#define EXEC_MAX_MAX_OUTPUT     (16 * 1024 * 1024)
#define EXEC_TEMPFAIL           75 /* EX_TEMPFAIL from sysexits.h */
#define EXEC_PATH               "/usr/local/bin:/usr/bin:/bin"
/* Without a pidfd the child's exit is noticed by polling this often. */
#define EXEC_POLL_FALLBACK_MS 20
/* After the child exits, read at most this much more from its pipes: a
 * grandchild that keeps writing must not hold the attempt forever. */
#define EXEC_DRAIN_MAX (1024 * 1024)
/* exec_unload() waits at most this many ms for a vfork() under way. */
#define EXEC_UNLOAD_SPAWN_WAIT_MS 1000

/* Host services, set once by hookd_plugin_entry(). */
extern const struct hookd_host *exec_host;

/* Variables set by hookd itself; `env` may not override them (exec.c). */
#define N_RESERVED_ENV 6
extern const char *const reserved_env[N_RESERVED_ENV];
#define N_FIXED_ENV (1 + N_RESERVED_ENV)

/*
 * One handler instance. Written by create() on the main thread, read-only
 * afterwards, shared by every dispatch() thread. Template strings are
 * borrowed from cfg, which the host keeps valid until destroy().
 */
struct exec_state {
	char *instance; /* handler name, for log lines (owned) */
	int argc;
	const char **argv; /* argc templates (array owned, strings borrowed) */
	int64_t timeout_ms;
	const char *cwd; /* NULL: hookd's working directory */
	int nenv;
	struct hkd_conf_entry *env; /* name = template (array owned) */
	size_t max_output;          /* bytes kept of stdout, and of stderr */
	int set_ids; /* switch groups (and maybe user) in the child */
	int set_uid; /* ... including the user */
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups; /* supplementary groups for setgroups() (owned) */
};

/* What the child reports through the status pipe when it cannot exec. */
enum child_stage {
	STAGE_DUP = 1,
	STAGE_CHDIR,
	STAGE_SETGROUPS,
	STAGE_SETGID,
	STAGE_SETUID,
	STAGE_EXEC
};

struct child_report {
	int stage; /* enum child_stage */
	int err;   /* errno */
};

/* Everything the child needs, prepared before fork(). All borrowed. */
struct child_plan {
	const struct exec_state *st;
	char **argv;
	char **envp;
	int stdin_fd, stdout_fd, stderr_fd, status_fd;
	int max_fd;  /* for the close() loop when close_range() is missing */
	int max_sig; /* SIGRTMAX */
	struct sigaction dfl;
	sigset_t empty;
};

/* Bounded capture of one output stream. */
struct capture {
	int fd;       /* parent's read end, -1 once closed */
	char *buf;    /* kept bytes (owned), not NUL-terminated */
	size_t len;   /* bytes kept */
	size_t total; /* bytes read, kept or not */
};

/* A fixed buffer that text is appended to, ending in "..." when it fills. */
struct sink {
	char *buf;
	size_t size; /* including the NUL */
	size_t len;
	int full;
};

/* One run of the child: its descriptors while it runs, then its outcome. */
struct run {
	pid_t pid;
	int pidfd;     /* -1: no pidfd, waitpid() is polled instead */
	int in_fd;     /* parent's end of the child's stdin, -1 when done */
	size_t in_off; /* bytes of the event JSON written so far */
	int status_fd; /* parent's end of the status pipe */
	struct capture out, err;
	int64_t start_ms; /* monotonic time of fork() */

	int exited; /* wstatus is valid */
	int wstatus;
	int wait_errno; /* waitpid() failed with this (exit status lost) */
	int poll_errno; /* poll() failed with this; the child was killed */
	int timed_out;
	int have_report; /* the child could not exec; see report */
	struct child_report report;
	int64_t elapsed_ms;

	const char *instance;    /* handler name, for exec_unload's log line */
	int linked;              /* in kids' list (pid and instance valid) */
	struct run *prev, *next; /* kids' list */
};

/* exec.c */

/* exec_conf.c: hookd_plugin.create and .destroy. */
int exec_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *errbuf, size_t errlen);
void exec_destroy(void *state);

/* exec_run.c: one run of the child. */
void run_init(struct run *r);
void run_release(struct run *r);
/* Start the child with argv and envp, feed it the event, wait for it
 * (at most limit_ms): 0 with its outcome in r, or -1 with why. */
int run_child(const struct exec_state *st, const struct hookd_event *ev,
              char **argv, char **envp, int64_t limit_ms, struct run *r,
              char *why, size_t whylen);

#endif
