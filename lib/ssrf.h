/*
 * The http plugin's SSRF guard, the part without I/O: which IP addresses a
 * webhook must not reach, and the CIDRs an operator allows anyway.
 *
 * Compiled into plugins/http.la (where only hookd_plugin_entry is exported)
 * and, on its own, into tests/unit/test_ssrf. Every function is pure and
 * thread-safe.
 */
#ifndef HKD_HTTP_SSRF_H
#define HKD_HTTP_SSRF_H

#include <stddef.h>
#include <sys/socket.h>

/* What an address is, as far as the guard cares. Only PUBLIC may be reached
 * (unless an allow_targets CIDR holds the address). */
enum hkd_ssrf_class {
	HKD_SSRF_PUBLIC = 0,    /* globally routable */
	HKD_SSRF_UNSPECIFIED,   /* 0.0.0.0, :: */
	HKD_SSRF_THIS_NETWORK,  /* 0.0.0.0/8 but 0.0.0.0 */
	HKD_SSRF_LOOPBACK,      /* 127.0.0.0/8, ::1 */
	HKD_SSRF_PRIVATE,       /* 10/8, 172.16/12, 192.168/16, fc00::/7,
	                           fec0::/10, 64:ff9b:1::/48 */
	HKD_SSRF_SHARED,        /* 100.64.0.0/10 (carrier-grade NAT) */
	HKD_SSRF_LINK_LOCAL,    /* 169.254.0.0/16, fe80::/10 */
	HKD_SSRF_MULTICAST,     /* 224.0.0.0/4, ff00::/8 */
	HKD_SSRF_BROADCAST,     /* 255.255.255.255 */
	HKD_SSRF_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24,
	                           2001:db8::/32, 3fff::/20 */
	HKD_SSRF_BENCHMARK,     /* 198.18.0.0/15 */
	HKD_SSRF_RESERVED       /* 240/4, 192.0.0/24, 192.88.99/24, the rest of
	                           ::/8, 100::/64, 2001::/23, and IPv6 outside
	                           2000::/3 not named above */
};

/* An IPv4 or IPv6 address in network byte order. */
struct hkd_ip {
	int family;          /* AF_INET or AF_INET6 */
	unsigned char b[16]; /* the first 4 bytes for AF_INET */
};

/* A network: address and prefix length (host bits are zero). */
struct hkd_cidr {
	struct hkd_ip net;
	unsigned prefix; /* 0..32 for AF_INET, 0..128 for AF_INET6 */
};

/* Longest text hkd_ip_format writes, with the NUL (INET6_ADDRSTRLEN). */
#define HKD_IP_TEXT_MAX 46

/*
 * Parse a numeric address: dotted-quad IPv4 (exactly four decimal parts)
 * or IPv6 text, without brackets, zone or prefix. 0 on success, -1 when
 * `text` (borrowed) is not one.
 */
int hkd_ip_parse(const char *text, struct hkd_ip *out);

/* Copy the address of an AF_INET or AF_INET6 sockaddr; -1 for others. */
int hkd_ip_from_sockaddr(const struct sockaddr *sa, struct hkd_ip *out);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it
 * stands for; any other address unchanged. `in` and `out` may alias. */
void hkd_ip_unmap(const struct hkd_ip *in, struct hkd_ip *out);

/* Write the address as text (inet_ntop) into buf (len >= HKD_IP_TEXT_MAX
 * to be sure it fits). */
void hkd_ip_format(const struct hkd_ip *ip, char *buf, size_t len);

/*
 * Classify an address. IPv4-mapped addresses are judged as the IPv4
 * address they carry, and so are NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) addresses when the IPv4 address inside is not public.
 */
enum hkd_ssrf_class hkd_ssrf_classify(const struct hkd_ip *ip);

/* "a loopback address", "the unspecified address", ...: the words after
 * "<address> is " in a refusal. Never NULL. */
const char *hkd_ssrf_class_text(enum hkd_ssrf_class c);

/*
 * Parse "ADDRESS/PREFIX" or a bare ADDRESS (a /32 or /128). The host bits
 * must be zero. An IPv4-mapped network with a prefix of 96 or more
 * (::ffff:10.0.0.0/104) becomes the IPv4 network it stands for (10.0.0.0/8).
 * 0 on success; -1 with a message in err (which may be NULL).
 */
int hkd_cidr_parse(const char *text, struct hkd_cidr *out, char *err,
                   size_t errlen);

/* 1 when the network holds the address (an IPv4-mapped address counts as
 * its IPv4 address), else 0. Families never mix: ::/0 holds no IPv4. */
int hkd_cidr_contains(const struct hkd_cidr *c, const struct hkd_ip *ip);

#endif /* HKD_HTTP_SSRF_H */
