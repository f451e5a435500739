/* Error codes and contextual error messages. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"

static const struct {
	int code;
	const char *text;
} hx_errors[] = {
	{HX_ENOTLEADER, "not the leader"},
	{HX_ENOQUORUM, "no leader available (cluster has no quorum?)"},
	{HX_EPROTO, "protocol error"},
	{HX_ESQL, "database error"},
	{HX_ECONFLICT, "object changed since it was read (digest mismatch)"},
	{HX_ESCHEMA, "unsupported schema version"},
	{HX_ETOKEN, "invalid, expired or already used join token"},
	{HX_EOUTCOME, "commit outcome unknown"},
	{HX_ENOTINIT, "node is not part of a cluster"},
	{HX_EAUTH, "authentication failed"},
	{HX_EBUSY, "database is locked"},
	{HX_ENOSPACE, "not enough free space in the storage pool"},
};

const char *hx_strerror(int code)
{
	for (size_t i = 0; i < HX_ARRAY_SIZE(hx_errors); i++)
		if (hx_errors[i].code == code)
			return hx_errors[i].text;
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown error";
}

int hx_err_set(struct hx_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int hx_err_prefix(struct hx_err *err, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is fine: the message is for humans. */
	size_t n = strlen(prefix);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	size_t rest = sizeof(err->msg) - n - 2;
	size_t m = strnlen(old, rest - 1);
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = '\0';
	return err->code;
}

int hx_err_copy(struct hx_err *dst, const struct hx_err *src)
{
	if (src == NULL)
		return 0;
	if (dst != NULL)
		*dst = *src;
	return src->code;
}

void hx_crash_point(const char *point)
{
	const char *at = getenv("HX_CRASH_AT");

	if (at == NULL || strcmp(at, point) != 0)
		return;
	hx_log(LOG_CRIT, "crash point '%s' reached (HX_CRASH_AT): killing "
			 "myself",
	       point);
	(void)raise(SIGKILL);
}
