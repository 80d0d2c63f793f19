/*
 * The exec plugin: the child (set up between fork and execve), the parent
 * feeding and watching it, and the list of running children that
 * exec_unload() kills when hookd exits under them.
 */
#include "exec.h"

/* ---- the child -------------------------------------------------------- */

/*
 * Runs in the vfork()ed child: it shares the parent's memory until execve,
 * and the parent is a multi-threaded process. So only async-signal-safe
 * calls, no writes to shared data (errno aside), no malloc, no stdio, no
 * locks; and the id changes are raw system calls, because glibc's
 * setuid() and friends would try to change the ids of every thread of the
 * (shared) process. Never returns.
 */
static __attribute__((noreturn)) void child_run(const struct child_plan *pl)
{
	const struct exec_state *st = pl->st;
	struct child_report rep;
	ssize_t wr;
	int sig, fd;

	setpgid(0, 0);
	/* Ignored signals stay ignored across execve (the host ignores
	 * SIGPIPE), and the worker's blocked mask would be inherited too.
	 * glibc refuses its own two (32, 33): those fail harmlessly. */
	for (sig = 1; sig <= pl->max_sig; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &pl->dfl, NULL);
	sigprocmask(SIG_SETMASK, &pl->empty, NULL);

	rep.stage = STAGE_DUP;
	/* All four descriptors are >= 3 (see make_pipe), so none is clobbered
	 * here and dup2() clears close-on-exec on each copy. */
	if (dup2(pl->stdin_fd, 0) < 0 || dup2(pl->stdout_fd, 1) < 0 ||
	    dup2(pl->stderr_fd, 2) < 0)
		goto fail;
	/* Close everything else but the status pipe (close-on-exec). */
	if (pl->status_fd > 3 &&
	    close_range(3, (unsigned)pl->status_fd - 1, 0) < 0)
		for (fd = 3; fd < pl->status_fd; fd++)
			close(fd);
	if (close_range((unsigned)pl->status_fd + 1, ~0U, 0) < 0)
		for (fd = pl->status_fd + 1; fd < pl->max_fd; fd++)
			close(fd);
	if (st->set_ids) {
		rep.stage = STAGE_SETGROUPS;
		if (syscall(SYS_setgroups, (size_t)st->ngroups, st->groups) < 0)
			goto fail;
		rep.stage = STAGE_SETGID;
		if (syscall(SYS_setgid, st->gid) < 0)
			goto fail;
		rep.stage = STAGE_SETUID;
		if (st->set_uid && syscall(SYS_setuid, st->uid) < 0)
			goto fail;
	}
	/* After the switch, so the directory must be the user's to enter. */
	rep.stage = STAGE_CHDIR;
	if (st->cwd && chdir(st->cwd) < 0)
		goto fail;
	rep.stage = STAGE_EXEC;
	execve(pl->argv[0], pl->argv, pl->envp);
fail:
	rep.err = errno;
	wr = write(pl->status_fd, &rep, sizeof(rep));
	(void)wr;
	_exit(127);
}

/* ---- the parent ------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Move fd to a number >= 3 (keeping close-on-exec) so that the child's
 * dup2() onto 0, 1 and 2 never overwrites one of its sources. */
static int lift_fd(int fd)
{
	int nfd, e;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	e = errno;
	close(fd);
	errno = e;
	return nfd;
}

/* A close-on-exec pipe with both ends >= 3; -1 with errno on failure. */
static int make_pipe(int p[2])
{
	int e;

	if (pipe2(p, O_CLOEXEC) < 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	p[0] = lift_fd(p[0]);
	e = errno;
	p[1] = lift_fd(p[1]);
	if (p[0] >= 0 && p[1] >= 0)
		return 0;
	if (p[1] >= 0)
		e = errno;
	close_fd(&p[0]);
	close_fd(&p[1]);
	errno = e;
	return -1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Read once from a capture's pipe. Keeps up to `cap` bytes, discards the
 * rest. Returns 1 after reading data, 0 at end of file or on an error (the
 * descriptor is then closed), -1 when nothing is available now.
 */
static int capture_read(struct capture *c, size_t cap)
{
	char tmp[8192];
	ssize_t n;

	n = read(c->fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		close_fd(&c->fd);
		return 0;
	}
	c->total += (size_t)n;
	if (c->len < cap) {
		size_t keep =
		    (size_t)n < cap - c->len ? (size_t)n : cap - c->len;

		if (!c->buf)
			c->buf = malloc(cap);
		if (c->buf) {
			memcpy(c->buf + c->len, tmp, keep);
			c->len += keep;
		}
	}
	return 1;
}

/* Read what the exited child left in its pipes, bounded by EXEC_DRAIN_MAX. */
static void capture_drain(struct capture *c, size_t cap)
{
	size_t start = c->total;

	while (c->fd >= 0 && c->total - start < EXEC_DRAIN_MAX)
		if (capture_read(c, cap) < 0)
			break;
	close_fd(&c->fd);
}

/* pidfd for pid, or -1 when the kernel has none (then we poll waitpid). */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* waitpid() that retries on EINTR. */
static pid_t reap(pid_t pid, int *wstatus, int options)
{
	pid_t r;

	do
		r = waitpid(pid, wstatus, options);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * The children now running, so that exec_unload() can kill them. The
 * nodes are the `struct run`s on the dispatching threads' stacks: linked
 * by spawn() once the child exists, unlinked when it is reaped (or given
 * up on), always before dispatch() returns. `spawning` counts vfork()s
 * under way whose child is not linked yet; `closing` is set by
 * exec_unload(), after which no child is started.
 */
static struct {
	pthread_mutex_t lock;
	struct run *head;
	int spawning;
	int closing;
} kids = {.lock = PTHREAD_MUTEX_INITIALIZER};

void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	r->pidfd = r->in_fd = r->status_fd = r->out.fd = r->err.fd = -1;
}

/* Close the run's descriptors and free its buffers (r stays valid). */
void run_release(struct run *r)
{
	close_fd(&r->pidfd);
	close_fd(&r->in_fd);
	close_fd(&r->status_fd);
	close_fd(&r->out.fd);
	close_fd(&r->err.fd);
	free(r->out.buf);
	free(r->err.buf);
	r->out.buf = r->err.buf = NULL;
}

/* ---- the running children --------------------------------------------- */

/* Before vfork(): 0, or -1 once hookd is exiting (no child starts then). */
static int kids_enter(void)
{
	int rc = -1;

	pthread_mutex_lock(&kids.lock);
	if (!kids.closing) {
		kids.spawning++;
		rc = 0;
	}
	pthread_mutex_unlock(&kids.lock);
	return rc;
}

/*
 * After vfork(): link r when r->pid names a child, so that exec_unload()
 * finds it. If exec_unload() gave up waiting for this spawn, the child is
 * killed here instead.
 */
static void kids_link(struct run *r)
{
	pthread_mutex_lock(&kids.lock);
	kids.spawning--;
	if (r->pid > 0) {
		r->prev = NULL;
		r->next = kids.head;
		if (kids.head)
			kids.head->prev = r;
		kids.head = r;
		r->linked = 1;
		if (kids.closing) {
			kill(-r->pid, SIGKILL);
			kill(r->pid, SIGKILL);
		}
	}
	pthread_mutex_unlock(&kids.lock);
}

/* Take r out of the list (lock held); nothing when it is not in it. */
static void kids_unlink_locked(struct run *r)
{
	if (!r->linked)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		kids.head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->linked = 0;
}

static void kids_unlink(struct run *r)
{
	pthread_mutex_lock(&kids.lock);
	kids_unlink_locked(r);
	pthread_mutex_unlock(&kids.lock);
}

/*
 * reap() for a wait that does not block (the pidfd said the child has
 * exited, or WNOHANG), unlinking the child in the same step: exec_unload()
 * then never signals a process group whose number the kernel may have
 * handed out again once the child was reaped.
 */
static pid_t reap_linked(struct run *r, int options)
{
	pid_t w;

	pthread_mutex_lock(&kids.lock);
	w = reap(r->pid, &r->wstatus, options);
	if (w == r->pid)
		kids_unlink_locked(r);
	pthread_mutex_unlock(&kids.lock);
	return w;
}

/*
 * Runs when exec.so is unloaded and when the process exits. hookd calls
 * destroy() only once no attempt runs; but when shutdown_timeout passes
 * with attempts still running, it abandons them and exits without it (see
 * include/hookd/plugin.h). Their children, each in a process group of its
 * own, would not end with hookd: they would run on as orphans while the
 * deliveries, unfinished in the store, run again at the next start beside
 * them (two deploys at once, whatever `concurrency` says). So every child
 * still running gets SIGKILL, group and all, as when `timeout` passes:
 * shutdown_timeout was its grace. No SIGTERM first: hookd is exiting now,
 * and a wait here would stretch its stop past what the operator set. The
 * dispatch() calls supervising those children return; hookd records no
 * outcome of an abandoned attempt. No child starts afterwards.
 */
__attribute__((destructor)) static void exec_unload(void)
{
	const struct timespec tick = {0, 1000000};
	int waited;

	pthread_mutex_lock(&kids.lock);
	kids.closing = 1;
	/* A child being vforked now is not linked yet, and vfork() returns
	 * once it has called execve(): wait for that, bounded, so that it is
	 * killed here too (past the bound, kids_link() kills it). */
	for (waited = 0;
	     kids.spawning > 0 && waited < EXEC_UNLOAD_SPAWN_WAIT_MS;
	     waited++) {
		pthread_mutex_unlock(&kids.lock);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&kids.lock);
	}
	for (struct run *r = kids.head; r; r = r->next) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL); /* in case it left its group */
		if (exec_host)
			exec_host->log(
			    r->instance, HOOKD_LOG_WARN,
			    "hookd exits with this attempt still running: "
			    "killed process group %d",
			    (int)r->pid);
	}
	pthread_mutex_unlock(&kids.lock);
}

/*
 * vfork: no copy of the page tables of a large, busy daemon; the calling
 * thread waits until the child has called execve (or failed). A function
 * of its own, so that no variable of the caller lives across vfork().
 */
static __attribute__((noinline)) pid_t start_child(const struct child_plan *pl)
{
	pid_t pid = vfork();
	if (pid == 0)
		child_run(pl);
	return pid;
}

/*
 * Create the pipes and fork the child. On success r holds the child's pid
 * and the parent's ends of the pipes (non-blocking). Returns -1 with the
 * reason in `why` when the child could not be started; then nothing is
 * left open and there is no child.
 */
static int spawn(const struct exec_state *st, char **argv, char **envp,
                 struct run *r, char *why, size_t whylen)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int stp[2] = {-1, -1};
	struct child_plan pl;
	int ret = -1, e;
	long maxfd;
	pid_t pid;

	if (make_pipe(in) < 0 || make_pipe(out) < 0 || make_pipe(err) < 0 ||
	    make_pipe(stp) < 0) {
		hkd_set_err(why, whylen, "pipe: %s", hkd_errtext(errno));
		goto out;
	}
	memset(&pl, 0, sizeof(pl));
	pl.st = st;
	pl.argv = argv;
	pl.envp = envp;
	pl.stdin_fd = in[0];
	pl.stdout_fd = out[1];
	pl.stderr_fd = err[1];
	pl.status_fd = stp[1];
	maxfd = sysconf(_SC_OPEN_MAX);
	pl.max_fd = maxfd > 0 && maxfd < 1 << 20 ? (int)maxfd : 1 << 20;
	pl.max_sig = SIGRTMAX;
	pl.dfl.sa_handler = SIG_DFL;
	sigemptyset(&pl.dfl.sa_mask);
	sigemptyset(&pl.empty);

	r->start_ms = hkd_mono_ms();
	if (kids_enter() < 0) {
		hkd_set_err(why, whylen, "hookd is exiting");
		goto out;
	}
	pid = start_child(&pl);
	if (pid < 0) {
		e = errno;
		kids_link(r); /* no child: only ends the spawn */
		hkd_set_err(why, whylen, "vfork: %s", hkd_errtext(e));
		goto out;
	}
	/* Also set here, so kill(-pid) works whichever of the two runs first;
	 * EACCES (the child already exec'd, having done it itself) is fine. */
	setpgid(pid, pid);
	r->pid = pid;
	r->instance = st->instance;
	kids_link(r);
	r->pidfd = open_pidfd(pid);
	r->in_fd = in[1];
	r->out.fd = out[0];
	r->err.fd = err[0];
	r->status_fd = stp[0];
	in[1] = out[0] = err[0] = stp[0] = -1;
	set_nonblock(r->in_fd);
	set_nonblock(r->out.fd);
	set_nonblock(r->err.fd);
	set_nonblock(r->status_fd);
	ret = 0;
out:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&stp[0]);
	close_fd(&stp[1]);
	return ret;
}

/* Write the next piece of the event JSON to the child's stdin. */
static void feed_stdin(struct run *r, const struct hookd_event *ev)
{
	ssize_t n =
	    write(r->in_fd, ev->json + r->in_off, ev->json_len - r->in_off);

	if (n > 0)
		r->in_off += (size_t)n;
	/* EPIPE (SIGPIPE is ignored): the child does not read its stdin;
	 * that is its business, not an error. */
	if (r->in_off == ev->json_len ||
	    (n < 0 && errno != EAGAIN && errno != EINTR))
		close_fd(&r->in_fd);
}

/* EOF on the status pipe: exec succeeded. A report: it failed. */
static void read_status(struct run *r)
{
	if (read(r->status_fd, &r->report, sizeof(r->report)) ==
	    (ssize_t)sizeof(r->report))
		r->have_report = 1;
	close_fd(&r->status_fd);
}

/*
 * One poll() loop until the child exits or the deadline (monotonic ms)
 * passes: writes the event to stdin, reads stdout and stderr, watches the
 * status pipe and the child. Sets exited, timed_out, wait_errno or
 * poll_errno.
 */
static void supervise(const struct exec_state *st, const struct hookd_event *ev,
                      struct run *r, int64_t deadline)
{
	if (ev->json_len == 0 || !ev->json)
		close_fd(&r->in_fd);
	while (!r->exited) {
		struct pollfd pf[5];
		int np = 0, i_in = -1, i_out = -1, i_err = -1, i_st = -1;
		int i_pid = -1;
		int64_t now = hkd_mono_ms(), wait_ms;
		pid_t w;

		if (now >= deadline) {
			r->timed_out = 1;
			return;
		}
		wait_ms = deadline - now;
		if (r->pidfd < 0 && wait_ms > EXEC_POLL_FALLBACK_MS)
			wait_ms = EXEC_POLL_FALLBACK_MS;
		if (r->in_fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->in_fd, .events = POLLOUT};
			i_in = np++;
		}
		if (r->out.fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->out.fd, .events = POLLIN};
			i_out = np++;
		}
		if (r->err.fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->err.fd, .events = POLLIN};
			i_err = np++;
		}
		if (r->status_fd >= 0) {
			pf[np] = (struct pollfd){.fd = r->status_fd,
			                         .events = POLLIN};
			i_st = np++;
		}
		if (r->pidfd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->pidfd, .events = POLLIN};
			i_pid = np++;
		}
		if (poll(pf, (nfds_t)np, (int)wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			r->poll_errno =
			    errno; /* ENOMEM: cannot wait any more */
			return;
		}
		if (i_in >= 0 && pf[i_in].revents)
			feed_stdin(r, ev);
		if (i_out >= 0 && pf[i_out].revents)
			capture_read(&r->out, st->max_output);
		if (i_err >= 0 && pf[i_err].revents)
			capture_read(&r->err, st->max_output);
		if (i_st >= 0 && pf[i_st].revents)
			read_status(r);
		if (i_pid >= 0 && !pf[i_pid].revents)
			continue;
		w = reap_linked(r, r->pidfd >= 0 ? 0 : WNOHANG);
		if (w == r->pid)
			r->exited = 1;
		else if (w < 0) {
			r->wait_errno = errno;
			return;
		}
	}
}

/*
 * Run the command once: fork, supervise until exit or `limit_ms`, kill the
 * process group when time is up, always reap, then collect what the child
 * left in its pipes. Borrowed: st, ev, argv, envp; r is filled (release it
 * with run_release). Returns -1 with the reason in `why` when the child
 * could not be started.
 */
int run_child(const struct exec_state *st, const struct hookd_event *ev,
              char **argv, char **envp, int64_t limit_ms, struct run *r,
              char *why, size_t whylen)
{
	if (spawn(st, argv, envp, r, why, whylen) < 0)
		return -1;
	supervise(st, ev, r, r->start_ms + limit_ms);
	if (r->timed_out || r->poll_errno) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL); /* in case it left its group */
		/* Before the wait, which may block (a child stuck in the
		 * kernel) and frees the pid: killed, it is not exec_unload's.
		 */
		kids_unlink(r);
		if (reap(r->pid, &r->wstatus, 0) == r->pid)
			r->exited = 1;
		else
			r->wait_errno = errno;
	}
	kids_unlink(r); /* when waitpid() failed: the run ends here anyway */
	r->elapsed_ms = hkd_mono_ms() - r->start_ms;
	/* Whatever the child wrote before it ended is in the pipes now. */
	close_fd(&r->in_fd);
	capture_drain(&r->out, st->max_output);
	capture_drain(&r->err, st->max_output);
	if (r->status_fd >= 0)
		read_status(r);
	close_fd(&r->pidfd);
	return 0;
}
