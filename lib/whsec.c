/* Standard Webhooks secrets (see whsec.h). */
#include <string.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "whsec.h"

const struct hkd_whsec_rule hkd_whsec_ours = {0, 0, HKD_WHSEC_KEY_MIN,
                                              HKD_WHSEC_KEY_MAX};
const struct hkd_whsec_rule hkd_whsec_senders = {1, 1, 1, HKD_WHSEC_SENDER_MAX};

enum hkd_whsec_status hkd_whsec_decode(const char *secret,
                                       const struct hkd_whsec_rule *rule,
                                       unsigned char *key, size_t cap,
                                       size_t *len)
{
	/* Room for a little more than the longest key, so that a key just
	 * too long is told by its length rather than as bad text. */
	unsigned char buf[HKD_WHSEC_SENDER_MAX + 3];
	size_t plen = strlen(HKD_WHSEC_PREFIX), n, room;
	enum hkd_whsec_status st;
	long got;

	*len = 0;
	if (!secret)
		return HKD_WHSEC_EMPTY;
	if (strncmp(secret, HKD_WHSEC_PREFIX, plen) == 0)
		secret += plen;
	else if (!rule->prefix_optional)
		return HKD_WHSEC_NO_PREFIX;
	n = strlen(secret);
	if (n == 0)
		return HKD_WHSEC_EMPTY;
	room = rule->max + 3 < sizeof(buf) ? rule->max + 3 : sizeof(buf);
	got = rule->padded ? hkd_base64_decode_padded(secret, n, buf, room)
	                   : hkd_base64_decode(secret, n, buf, room);
	if (got < 0) {
		/* Told apart by the length alone: more text than the base64
		 * of the longest key takes. */
		st = n > (rule->max + 2) / 3 * 4 ? HKD_WHSEC_TOO_LONG
		                                 : HKD_WHSEC_NOT_BASE64;
	} else if ((size_t)got < rule->min || (size_t)got > rule->max ||
	           (size_t)got > cap) {
		*len = (size_t)got;
		st = HKD_WHSEC_BAD_LENGTH;
	} else {
		*len = (size_t)got;
		memcpy(key, buf, *len);
		st = HKD_WHSEC_OK;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return st;
}
