/* Growable text buffers (see struct hx_buf in lib.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/lib.h"

void hx_buf_put(struct hx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!b->oom) {
		if (b->cap > 0) {
			va_start(ap, fmt);
			n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
			va_end(ap);
			if (n < 0) { /* an encoding error: nothing written */
				b->s[b->len] = '\0';
				return;
			}
			if ((size_t)n < b->cap - b->len) {
				b->len += (size_t)n;
				return;
			}
		} else {
			n = 0;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1024;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
		if (b->len == 0)
			b->s[0] = '\0';
	}
}

char *hx_buf_take(struct hx_buf *b)
{
	char *s = b->oom ? NULL : b->s;

	if (b->oom)
		free(b->s);
	else if (s == NULL)
		s = calloc(1, 1);
	*b = (struct hx_buf){0};
	return s;
}
