/*
 * Standard Webhooks secrets: "whsec_" and the base64 of the key. The one
 * decoder of the tree, with two documented rules:
 *
 *  - hkd_whsec_ours, for the secrets hookd signs with (subscriptions,
 *    http handlers): the prefix is required, padding optional, and the key
 *    24 to 64 bytes, as Standard Webhooks says. A secret without the
 *    prefix is refused: the reference libraries would base64-decode it
 *    anyway, so taking it as raw bytes would sign with a key no receiver
 *    uses.
 *  - hkd_whsec_senders, for the secrets senders sign inbound webhooks with
 *    (sources): the prefix optional, padding required, the key 1 to
 *    HKD_WHSEC_SENDER_MAX bytes, since senders' keys vary.
 */
#ifndef HKD_WHSEC_H
#define HKD_WHSEC_H

#include <stddef.h>

#define HKD_WHSEC_PREFIX     "whsec_"
#define HKD_WHSEC_KEY_MIN    24
#define HKD_WHSEC_KEY_MAX    64
#define HKD_WHSEC_SENDER_MAX 512

struct hkd_whsec_rule {
	int prefix_optional; /* "whsec_" may be missing */
	int padded;          /* the base64 must be padded */
	size_t min, max;     /* the key's length in bytes */
};

extern const struct hkd_whsec_rule hkd_whsec_ours;
extern const struct hkd_whsec_rule hkd_whsec_senders;

enum hkd_whsec_status {
	HKD_WHSEC_OK = 0,
	HKD_WHSEC_NO_PREFIX, /* the rule requires "whsec_" */
	HKD_WHSEC_EMPTY,     /* nothing (after the prefix) */
	HKD_WHSEC_TOO_LONG,  /* more base64 than a key of rule->max bytes */
	HKD_WHSEC_NOT_BASE64,
	HKD_WHSEC_BAD_LENGTH /* a key shorter than rule->min or a little
	                        longer than rule->max (*len says) */
};

/*
 * Decode secret (borrowed; may be NULL: EMPTY) by rule into key, which
 * holds cap bytes (at least rule->max). *len is the key's length when OK
 * and when BAD_LENGTH; key is written only when OK.
 */
enum hkd_whsec_status hkd_whsec_decode(const char *secret,
                                       const struct hkd_whsec_rule *rule,
                                       unsigned char *key, size_t cap,
                                       size_t *len);

#endif
