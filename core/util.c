
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "util.h"

/* A secret file larger than this is surely a mistake. */
#define SECRET_FILE_MAX 65536

void hkd_deadline(int clock, int64_t ms, struct timespec *out)
{
	clock_gettime((clockid_t)clock, out);
	out->tv_sec += ms / 1000;
	out->tv_nsec += (ms % 1000) * 1000000;
	if (out->tv_nsec >= 1000000000) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000;
	}
}

void hkd_format_time(int64_t wall_ms, char *buf, size_t len)
{
	/* The date and time to the second, formatted once a second in each
	 * thread: every event and every log line takes one. */
	static __thread int64_t cached_secs = INT64_MIN;
	static __thread char cached[24];
	static __thread size_t cached_len;
	int64_t secs = wall_ms / 1000;
	int ms = (int)(wall_ms % 1000);
	struct tm tm;
	time_t t = (time_t)secs;

	if (secs != cached_secs && ms >= 0) {
		gmtime_r(&t, &tm);
		cached_len =
		    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_secs = cached_len ? secs : INT64_MIN;
	}
	if (secs != cached_secs || ms < 0 || len < cached_len + 6) {
		/* Before 1970, or a short buffer: as snprintf cuts it. */
		gmtime_r(&t, &tm);
		size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf + n, len - n, ".%03dZ", ms);
		return;
	}
	memcpy(buf, cached, cached_len);
	buf += cached_len;
	*buf++ = '.';
	*buf++ = (char)('0' + ms / 100);
	*buf++ = (char)('0' + ms / 10 % 10);
	*buf++ = (char)('0' + ms % 10);
	*buf++ = 'Z';
	*buf = '\0';
}

/* An id's characters after its prefix: the time, then random ones. */
#define ID_TIME   10 /* ms since 1970, 5 bits each (50 bits) */
#define ID_RANDOM 16 /* 5 bits each (80 bits) */

/*
 * Fill rnd with ID_RANDOM random bytes from a buffer of the calling
 * thread's, refilled by one getrandom call for every 16 ids rather than
 * one call per id (two per event). Ids are names, not secrets. 0 or -1.
 */
static int id_bytes(unsigned char rnd[ID_RANDOM])
{
	static __thread unsigned char pool[16 * ID_RANDOM];
	static __thread size_t left;

	while (left < ID_RANDOM) {
		ssize_t r = getrandom(pool + left, sizeof(pool) - left, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		left += (size_t)r;
	}
	left -= ID_RANDOM;
	memcpy(rnd, pool + left, ID_RANDOM);
	return 0;
}

int hkd_new_id(const char *prefix, char *buf, size_t len)
{
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	unsigned char rnd[ID_RANDOM];
	uint64_t ms = (uint64_t)hkd_now_ms();
	size_t plen = strlen(prefix);
	char *p = buf + plen;

	if (len < plen + ID_TIME + ID_RANDOM + 1 || id_bytes(rnd) != 0)
		return -1;
	memcpy(buf, prefix, plen);
	for (int i = ID_TIME - 1; i >= 0; i--)
		*p++ = alphabet[(ms >> (5 * i)) & 31];
	for (size_t i = 0; i < ID_RANDOM; i++)
		*p++ = alphabet[rnd[i] & 31];
	*p = '\0';
	return 0;
}

static char *read_secret_file(const char *path, char *err, size_t errlen)
{
	char *data = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read secret file %s: %s", path,
		         strerror(errno));
		return NULL;
	}
	data = malloc(SECRET_FILE_MAX + 1);
	if (!data)
		goto fail;
	for (;;) {
		ssize_t r = read(fd, data + n, SECRET_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read secret file %s: %s",
			         path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > SECRET_FILE_MAX) {
			snprintf(err, errlen,
			         "secret file %s is larger than %d bytes", path,
			         SECRET_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	if (n > 0 && data[n - 1] == '\n')
		n--;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	data[n] = '\0';
	return data;
fail:
	free(data);
	close(fd);
	return NULL;
}

char *hkd_secret_resolve(const char *value, char *err, size_t errlen)
{
	char *out;
	if (strncmp(value, "env:", 4) == 0) {
		const char *v = getenv(value + 4);
		if (!v) {
			snprintf(err, errlen,
			         "environment variable %s is not set",
			         value + 4);
			return NULL;
		}
		out = strdup(v);
	} else if (strncmp(value, "file:", 5) == 0) {
		return read_secret_file(value + 5, err, errlen);
	} else {
		out = strdup(value);
	}
	if (!out)
		snprintf(err, errlen, "out of memory");
	return out;
}

int hkd_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)a, alen, da);
	SHA256((const unsigned char *)b, blen, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0 && alen == blen;
}

char *hkd_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void hkd_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int hkd_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *hkd_json_escape(char *dst, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*dst++ = '\\';
			*dst++ = (char)c;
		} else if (c < 0x20) {
			memcpy(dst, "\\u00", 4);
			dst[4] = hex[c >> 4];
			dst[5] = hex[c & 15];
			dst += 6;
		} else {
			*dst++ = (char)c;
		}
	}
	return dst;
}

int hkd_grow(void *vp, size_t *cap, size_t n, size_t elem, size_t first)
{
	void *old, *grown;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : first;
	if (c < *cap || c > SIZE_MAX / elem)
		return -1;
	memcpy(&old, vp, sizeof(old));
	if (!(grown = realloc(old, c * elem)))
		return -1;
	memcpy(vp, &grown, sizeof(grown));
	*cap = c;
	return 0;
}
