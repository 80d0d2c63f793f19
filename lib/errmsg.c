/* Error messages (see errmsg.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrordesc_np */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

void hkd_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *hkd_errtext(int err)
{
	const char *s = strerrordesc_np(err);

	return s ? s : "Unknown error";
}
