/* Logging to stderr with journald priority prefixes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/lib.h"

static char log_ident[32] = "hx";
static int log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void hx_log_init(const char *ident, int max_level)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_level = max_level;
}

void hx_log_set_level(int max_level)
{
	__atomic_store_n(&log_level, max_level, __ATOMIC_RELAXED);
}

int hx_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void __attribute__((format(printf, 3, 0)))
log_emit(int level, const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "<%d>%s: %s%s\n", level, log_ident, line,
		suffix != NULL ? suffix : "");
	pthread_mutex_unlock(&log_lock);
}

void hx_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > hx_log_get_level())
		return;
	va_start(ap, fmt);
	log_emit(level, NULL, fmt, ap);
	va_end(ap);
}

void hx_log_errno(int level, int code, const char *fmt, ...)
{
	char suffix[256];
	va_list ap;

	if (level > hx_log_get_level())
		return;
	snprintf(suffix, sizeof(suffix), ": %s", hx_strerror(code));
	va_start(ap, fmt);
	log_emit(level, suffix, fmt, ap);
	va_end(ap);
}
