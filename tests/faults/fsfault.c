/*
 * A storage fault, switched on and off while hookd runs: preloaded into
 * hookd (LD_PRELOAD) by the store's fault tests, it makes every write,
 * sync and truncation of a file under the folder HOOKD_FAULT_PATH fail
 * while the file HOOKD_FAULT_FLAG exists, as on a filesystem remounted
 * read-only (EROFS), or on a full disk (ENOSPC) when the flag file's text
 * starts with "ENOSPC". Reads, and every other file, pass through.
 *
 * Linux refuses to remount a filesystem read-only while a process holds a
 * file on it open for writing, as hookd holds its database, so a real
 * read-only filesystem cannot be made under a running hookd; this shim
 * gives hookd the errors such a filesystem would.
 *
 * The functions are the ones SQLite's unix VFS writes through (write,
 * pwrite64, ftruncate64, fdatasync) and their siblings.
 */
#undef _FILE_OFFSET_BITS /* define pwrite and pwrite64 both, unrenamed */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Copied from the environment once, at load: getenv is not safe to call
 * from any thread while another may change the environment. */
static char fault_dir[PATH_MAX];
static char fault_flag[PATH_MAX];

__attribute__((constructor)) static void fsfault_init(void)
{
	const char *d = getenv("HOOKD_FAULT_PATH");
	const char *f = getenv("HOOKD_FAULT_FLAG");

	if (d && f) {
		snprintf(fault_dir, sizeof(fault_dir), "%s", d);
		snprintf(fault_flag, sizeof(fault_flag), "%s", f);
	}
}

/* The errno the flag file asks for: ENOSPC when its text says so. */
static int flag_errno(void)
{
	char text[16] = "";
	int fd = open(fault_flag, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, text, sizeof(text) - 1);

		text[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	return strncmp(text, "ENOSPC", 6) == 0 ? ENOSPC : EROFS;
}

/* The error a write to fd must fail with now, or 0. errno is kept. */
static int fault(int fd)
{
	char link[64], path[PATH_MAX];
	size_t len = strlen(fault_dir);
	int saved = errno, e = 0;
	ssize_t n;

	if (len == 0 || access(fault_flag, F_OK) != 0)
		goto out;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		goto out;
	path[n] = '\0';
	if (strncmp(path, fault_dir, len) == 0 &&
	    (path[len] == '/' || path[len] == '\0'))
		e = flag_errno();
out:
	errno = saved;
	return e;
}

/* The next definition of symbol name (the C library's, or a sanitizer's
 * interceptor in front of it). Without one there is nothing to do but
 * abort: even a message would be written through write. */
static void *next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		abort();
	return p;
}

/* Define fn(params), whose descriptor parameter is named fd: it fails with
 * the fault's errno, else calls the next definition with args. Two threads
 * may look the next one up at once; both store the same pointer. */
#define FAULTED(ret, fn, params, args)                                         \
	ret fn params                                                          \
	{                                                                      \
		static ret(*real) params;                                      \
		int e = fault(fd);                                             \
		if (e) {                                                       \
			errno = e;                                             \
			return -1;                                             \
		}                                                              \
		if (!real)                                                     \
			*(void **)&real = next(#fn);                           \
		return real args;                                              \
	}

FAULTED(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
FAULTED(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t at),
        (fd, buf, n, at))
FAULTED(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t at),
        (fd, buf, n, at))
FAULTED(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))
FAULTED(int, ftruncate, (int fd, off_t size), (fd, size))
FAULTED(int, ftruncate64, (int fd, off64_t size), (fd, size))
FAULTED(int, fsync, (int fd), (fd))
FAULTED(int, fdatasync, (int fd), (fd))
