/*
 * Address classification for the SSRF guard (see ssrf.h).
 *
 * The ranges come from the IANA special-purpose address registries (RFC
 * 6890 and its updates): everything a webhook has no business reaching
 * from inside a network — loopback, private, link-local (cloud metadata at
 * 169.254.169.254), carrier-grade NAT, multicast, documentation,
 * benchmarking and reserved space — in IPv4 and IPv6, and IPv4 addresses
 * hidden inside IPv6 ones (mapped, NAT64, 6to4).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "ssrf.h"

/* One special-purpose IPv4 range; the first that matches wins. */
struct v4_range {
	uint32_t net;
	unsigned prefix;
	enum hkd_ssrf_class cls;
};

static const struct v4_range v4_ranges[] = {
    {0x00000000u, 32, HKD_SSRF_UNSPECIFIED},   /* 0.0.0.0 */
    {0x00000000u, 8, HKD_SSRF_THIS_NETWORK},   /* 0.0.0.0/8 */
    {0x0A000000u, 8, HKD_SSRF_PRIVATE},        /* 10.0.0.0/8 */
    {0x64400000u, 10, HKD_SSRF_SHARED},        /* 100.64.0.0/10 */
    {0x7F000000u, 8, HKD_SSRF_LOOPBACK},       /* 127.0.0.0/8 */
    {0xA9FE0000u, 16, HKD_SSRF_LINK_LOCAL},    /* 169.254.0.0/16 */
    {0xAC100000u, 12, HKD_SSRF_PRIVATE},       /* 172.16.0.0/12 */
    {0xC0000000u, 24, HKD_SSRF_RESERVED},      /* 192.0.0.0/24 */
    {0xC0000200u, 24, HKD_SSRF_DOCUMENTATION}, /* 192.0.2.0/24 */
    {0xC0586300u, 24, HKD_SSRF_RESERVED},      /* 192.88.99.0/24 */
    {0xC0A80000u, 16, HKD_SSRF_PRIVATE},       /* 192.168.0.0/16 */
    {0xC6120000u, 15, HKD_SSRF_BENCHMARK},     /* 198.18.0.0/15 */
    {0xC6336400u, 24, HKD_SSRF_DOCUMENTATION}, /* 198.51.100.0/24 */
    {0xCB007100u, 24, HKD_SSRF_DOCUMENTATION}, /* 203.0.113.0/24 */
    {0xE0000000u, 4, HKD_SSRF_MULTICAST},      /* 224.0.0.0/4 */
    {0xFFFFFFFFu, 32, HKD_SSRF_BROADCAST},     /* 255.255.255.255 */
    {0xF0000000u, 4, HKD_SSRF_RESERVED},       /* 240.0.0.0/4 */
};

/* One special-purpose IPv6 range: its leading bytes and prefix length. */
struct v6_range {
	unsigned char net[16];
	unsigned prefix;
	enum hkd_ssrf_class cls;
};

/* Ranges that carry an IPv4 address are handled before this table. */
static const struct v6_range v6_ranges[] = {
    {{0}, 128, HKD_SSRF_UNSPECIFIED},     /* :: */
    {{[15] = 1}, 128, HKD_SSRF_LOOPBACK}, /* ::1 */
    /* 64:ff9b:1::/48, local-use NAT64 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, HKD_SSRF_PRIVATE},
    {{0}, 8, HKD_SSRF_RESERVED},                            /* ::/8 */
    {{0x01, 0x00}, 64, HKD_SSRF_RESERVED},                  /* 100::/64 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, HKD_SSRF_DOCUMENTATION}, /* 2001:db8::/32 */
    {{0x20, 0x01}, 23, HKD_SSRF_RESERVED},                  /* 2001::/23 */
    {{0x3f, 0xff}, 20, HKD_SSRF_DOCUMENTATION},             /* 3fff::/20 */
    {{0xfc}, 7, HKD_SSRF_PRIVATE},                          /* fc00::/7 */
    {{0xfe, 0x80}, 10, HKD_SSRF_LINK_LOCAL},                /* fe80::/10 */
    {{0xfe, 0xc0}, 10, HKD_SSRF_PRIVATE},                   /* fec0::/10 */
    {{0xff}, 8, HKD_SSRF_MULTICAST},                        /* ff00::/8 */
};

/* ::ffff:0:0/96 and 64:ff9b::/96: the last 4 bytes are an IPv4 address. */
static const unsigned char mapped_prefix[12] = {[10] = 0xff, [11] = 0xff};
static const unsigned char nat64_prefix[12] = {0x00, 0x64, 0xff, 0x9b};

/* 1 when the first `bits` bits of a and net agree. */
static int prefix_match(const unsigned char *a, const unsigned char *net,
                        unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, net, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xFFu << (8 - rest));
	return (a[whole] & mask) == (net[whole] & mask);
}

int hkd_ip_parse(const char *text, struct hkd_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (!text)
		return -1;
	if (inet_pton(AF_INET, text, out->b) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->b) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

int hkd_ip_from_sockaddr(const struct sockaddr *sa, struct hkd_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		out->family = AF_INET;
		memcpy(out->b, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		out->family = AF_INET6;
		memcpy(out->b, &in6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

void hkd_ip_unmap(const struct hkd_ip *in, struct hkd_ip *out)
{
	struct hkd_ip tmp = *in;

	if (tmp.family == AF_INET6 &&
	    memcmp(tmp.b, mapped_prefix, sizeof(mapped_prefix)) == 0) {
		unsigned char v4[4];

		memcpy(v4, tmp.b + 12, 4);
		memset(&tmp, 0, sizeof(tmp));
		tmp.family = AF_INET;
		memcpy(tmp.b, v4, 4);
	}
	*out = tmp;
}

void hkd_ip_format(const struct hkd_ip *ip, char *buf, size_t len)
{
	char tmp[HKD_IP_TEXT_MAX];

	if (!buf || len == 0)
		return;
	if (!inet_ntop(ip->family == AF_INET ? AF_INET : AF_INET6, ip->b, tmp,
	               sizeof(tmp)))
		snprintf(tmp, sizeof(tmp), "?");
	snprintf(buf, len, "%s", tmp);
}

static enum hkd_ssrf_class classify_v4(const unsigned char *b)
{
	uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	             (uint32_t)b[2] << 8 | b[3];
	size_t i;

	for (i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
		const struct v4_range *r = &v4_ranges[i];
		uint32_t mask =
		    r->prefix == 0 ? 0 : 0xFFFFFFFFu << (32 - r->prefix);

		if ((a & mask) == r->net)
			return r->cls;
	}
	return HKD_SSRF_PUBLIC;
}

enum hkd_ssrf_class hkd_ssrf_classify(const struct hkd_ip *ip)
{
	struct hkd_ip a;
	size_t i;

	hkd_ip_unmap(ip, &a);
	if (a.family == AF_INET)
		return classify_v4(a.b);
	if (a.family != AF_INET6)
		return HKD_SSRF_RESERVED;
	/* NAT64 and 6to4 reach the IPv4 address they carry. */
	if (memcmp(a.b, nat64_prefix, sizeof(nat64_prefix)) == 0)
		return classify_v4(a.b + 12);
	if (a.b[0] == 0x20 && a.b[1] == 0x02)
		return classify_v4(a.b + 2);
	for (i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++)
		if (prefix_match(a.b, v6_ranges[i].net, v6_ranges[i].prefix))
			return v6_ranges[i].cls;
	/* Global unicast is 2000::/3; the rest is unassigned or special. */
	if ((a.b[0] & 0xE0) != 0x20)
		return HKD_SSRF_RESERVED;
	return HKD_SSRF_PUBLIC;
}

const char *hkd_ssrf_class_text(enum hkd_ssrf_class c)
{
	switch (c) {
	case HKD_SSRF_PUBLIC:
		return "a public address";
	case HKD_SSRF_UNSPECIFIED:
		return "the unspecified address";
	case HKD_SSRF_THIS_NETWORK:
		return "a 'this network' address (0.0.0.0/8)";
	case HKD_SSRF_LOOPBACK:
		return "a loopback address";
	case HKD_SSRF_PRIVATE:
		return "a private address";
	case HKD_SSRF_SHARED:
		return "a shared (carrier-grade NAT) address";
	case HKD_SSRF_LINK_LOCAL:
		return "a link-local address";
	case HKD_SSRF_MULTICAST:
		return "a multicast address";
	case HKD_SSRF_BROADCAST:
		return "the broadcast address";
	case HKD_SSRF_DOCUMENTATION:
		return "a documentation address";
	case HKD_SSRF_BENCHMARK:
		return "a benchmarking address";
	case HKD_SSRF_RESERVED:
		break;
	}
	return "a reserved address";
}

/* Clear the bits past `prefix`. */
static void mask_host_bits(struct hkd_ip *ip, unsigned prefix)
{
	unsigned bytes = ip->family == AF_INET ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		unsigned lo = i * 8;

		if (prefix >= lo + 8)
			continue;
		if (prefix <= lo)
			ip->b[i] = 0;
		else
			ip->b[i] &=
			    (unsigned char)(0xFFu << (8 - (prefix - lo)));
	}
}

int hkd_cidr_parse(const char *text, struct hkd_cidr *out, char *err,
                   size_t errlen)
{
	char addr[64], shown[HKD_IP_TEXT_MAX];
	const char *slash, *p;
	unsigned max, prefix = 0;
	size_t alen;
	struct hkd_ip masked;

	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		hkd_set_err(err, errlen, "an empty string is not a CIDR");
		return -1;
	}
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr)) {
		hkd_set_err(err, errlen, "'%s' is not ADDRESS/PREFIX", text);
		return -1;
	}
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (hkd_ip_parse(addr, &out->net) < 0) {
		if (slash)
			hkd_set_err(err, errlen,
			            "'%s': '%s' is not an IPv4 or IPv6 address",
			            text, addr);
		else
			hkd_set_err(err, errlen,
			            "'%s' is not an IPv4 or IPv6 address (nor "
			            "ADDRESS/PREFIX)",
			            text);
		return -1;
	}
	max = out->net.family == AF_INET ? 32 : 128;
	if (!slash) {
		prefix = max;
	} else {
		p = slash + 1;
		if (!*p || strlen(p) > 3) {
			hkd_set_err(
			    err, errlen,
			    "'%s': prefix '%s' is not a number from 0 to %u",
			    text, p, max);
			return -1;
		}
		for (; *p; p++) {
			if (*p < '0' || *p > '9') {
				hkd_set_err(
				    err, errlen,
				    "'%s': prefix '%s' is not a number from 0 "
				    "to %u",
				    text, slash + 1, max);
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max) {
			hkd_set_err(err, errlen,
			            "'%s': prefix %u is longer than %u bits",
			            text, prefix, max);
			return -1;
		}
	}
	masked = out->net;
	mask_host_bits(&masked, prefix);
	if (memcmp(masked.b, out->net.b, sizeof(masked.b)) != 0) {
		hkd_ip_format(&masked, shown, sizeof(shown));
		hkd_set_err(err, errlen,
		            "'%s': host bits are set (the network is %s/%u)",
		            text, shown, prefix);
		return -1;
	}
	out->prefix = prefix;
	/* ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are unmapped too. */
	if (out->net.family == AF_INET6 && prefix >= 96 &&
	    memcmp(out->net.b, mapped_prefix, sizeof(mapped_prefix)) == 0) {
		hkd_ip_unmap(&out->net, &out->net);
		out->prefix = prefix - 96;
	}
	return 0;
}

int hkd_cidr_contains(const struct hkd_cidr *c, const struct hkd_ip *ip)
{
	struct hkd_ip a;

	hkd_ip_unmap(ip, &a);
	if (a.family != c->net.family)
		return 0;
	return prefix_match(a.b, c->net.b, c->prefix);
}
