/*
 * Fuzz target: the SSRF guard's address and CIDR parsing and
 * classification (plugins/http/ssrf.c), which decide what a webhook may
 * reach and which clients a source's allow_from admits.
 *
 * Input: CIDR NUL ADDRESS NUL, then raw bytes (4 or 16 of them make an
 * address too).
 * Properties:
 *  - an address parsed or built from bytes is formatted and parsed back
 *    unchanged, also through a sockaddr;
 *  - IPv4 addresses hidden in IPv6 (mapped, NAT64, 6to4) are classified
 *    as the IPv4 address, and unmapping gives it back;
 *  - an accepted CIDR has its host bits clear, contains its own network,
 *    contains exactly the addresses whose leading prefix bits match
 *    (compared here bit by bit), never one of the other family, and reads
 *    back the same from its own text; a refused one says why.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssrf.h"
#include "fuzz.h"

static int same_ip(const struct hkd_ip *a, const struct hkd_ip *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->b, b->b, n) == 0;
}

/* Bit i (0 = most significant of the first byte) of an address. */
static int bit(const unsigned char *b, unsigned i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

/* Format, parse back, and go through a sockaddr: all unchanged. */
static void check_round_trip(const struct hkd_ip *ip)
{
	char text[HKD_IP_TEXT_MAX];
	struct hkd_ip back;
	struct sockaddr_storage ss;

	hkd_ip_format(ip, text, sizeof(text));
	FUZZ_CHECK(hkd_ip_parse(text, &back) == 0);
	FUZZ_CHECK(same_ip(ip, &back));
	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, ip->b, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, ip->b, 16);
	}
	FUZZ_CHECK(hkd_ip_from_sockaddr((struct sockaddr *)&ss, &back) == 0);
	FUZZ_CHECK(same_ip(ip, &back));
}

/* An IPv6 address made of a 12-byte prefix and the IPv4 address v4. */
static struct hkd_ip embed(const unsigned char *prefix, size_t plen, size_t at,
                           const struct hkd_ip *v4)
{
	struct hkd_ip v6;

	memset(&v6, 0, sizeof(v6));
	v6.family = AF_INET6;
	memcpy(v6.b, prefix, plen);
	memcpy(v6.b + at, v4->b, 4);
	return v6;
}

static void check_address(const struct hkd_ip *ip)
{
	static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	static const unsigned char sixtofour[2] = {0x20, 0x02};
	enum hkd_ssrf_class c = hkd_ssrf_classify(ip);
	const char *text = hkd_ssrf_class_text(c);
	struct hkd_ip v6, back;

	FUZZ_CHECK(c >= HKD_SSRF_PUBLIC && c <= HKD_SSRF_RESERVED);
	FUZZ_CHECK(text != NULL && text[0] != '\0');
	check_round_trip(ip);
	hkd_ip_unmap(ip, &back);
	if (ip->family == AF_INET)
		FUZZ_CHECK(same_ip(ip, &back));
	if (ip->family != AF_INET)
		return;
	v6 = embed(mapped, sizeof(mapped), 12, ip);
	FUZZ_CHECK(hkd_ssrf_classify(&v6) == c);
	hkd_ip_unmap(&v6, &back);
	FUZZ_CHECK(same_ip(&back, ip));
	hkd_ip_unmap(&v6, &v6); /* in and out may alias */
	FUZZ_CHECK(same_ip(&v6, ip));
	v6 = embed(nat64, sizeof(nat64), 12, ip);
	FUZZ_CHECK(hkd_ssrf_classify(&v6) == c);
	v6 = embed(sixtofour, sizeof(sixtofour), 2, ip);
	FUZZ_CHECK(hkd_ssrf_classify(&v6) == c);
}

static void check_cidr(const char *text, const struct hkd_ip *ips, size_t n)
{
	struct hkd_cidr c, again;
	char err[128], shown[HKD_IP_TEXT_MAX + 8];
	unsigned max;

	memset(err, 'x', sizeof(err));
	if (hkd_cidr_parse(text, &c, err, sizeof(err)) != 0) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(hkd_cidr_parse(text, &c, NULL, 0) != 0);
		return;
	}
	FUZZ_CHECK(c.net.family == AF_INET || c.net.family == AF_INET6);
	max = c.net.family == AF_INET ? 32 : 128;
	FUZZ_CHECK(c.prefix <= max);
	for (unsigned i = c.prefix; i < max; i++)
		FUZZ_CHECK(bit(c.net.b, i) == 0);
	FUZZ_CHECK(hkd_cidr_contains(&c, &c.net) == 1);
	for (size_t k = 0; k < n; k++) {
		struct hkd_ip a;
		int want = 1;

		hkd_ip_unmap(&ips[k], &a);
		if (a.family != c.net.family)
			want = 0;
		for (unsigned i = 0; want && i < c.prefix; i++)
			want = bit(a.b, i) == bit(c.net.b, i);
		FUZZ_CHECK(hkd_cidr_contains(&c, &ips[k]) == want);
	}
	/* Its own text reads back as the same network. */
	hkd_ip_format(&c.net, shown, HKD_IP_TEXT_MAX);
	snprintf(shown + strlen(shown), 8, "/%u", c.prefix);
	FUZZ_CHECK(hkd_cidr_parse(shown, &again, NULL, 0) == 0);
	FUZZ_CHECK(same_ip(&again.net, &c.net) && again.prefix == c.prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *cidr = fuzz_field(&in), *addr = fuzz_field(&in);
	struct hkd_ip ips[3];
	size_t n = 0;

	memset(ips, 0, sizeof(ips));
	if (hkd_ip_parse(addr, &ips[n]) == 0) {
		FUZZ_CHECK(ips[n].family == AF_INET ||
		           ips[n].family == AF_INET6);
		n++;
	} else {
		FUZZ_CHECK(hkd_ip_parse(addr, &ips[n]) != 0);
	}
	if (in.n == 4 || in.n == 16) {
		ips[n].family = in.n == 4 ? AF_INET : AF_INET6;
		memcpy(ips[n].b, in.p, in.n);
		n++;
	}
	/* The network's own first address, when the CIDR parses. */
	{
		struct hkd_cidr c;

		if (hkd_cidr_parse(cidr, &c, NULL, 0) == 0)
			ips[n++] = c.net;
	}
	for (size_t k = 0; k < n; k++)
		check_address(&ips[k]);
	check_cidr(cidr, ips, n);
	FUZZ_CHECK(hkd_ip_parse(NULL, &ips[0]) != 0);

	free(cidr);
	free(addr);
	return 0;
}
