/* Clocks and small, careful I/O helpers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/lib.h"

uint64_t hx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t hx_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int hx_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int hx_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int hx_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int wait = -1;
		ssize_t n;

		if (timeout_ms >= 0) {
			uint64_t now = hx_now_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			wait = (int)(deadline - now);
		}
		n = poll(&pfd, 1, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int hx_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	char *buf;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto err_close_fd;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto err_free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == max) {
			char c;
			if (read(fd, &c, 1) > 0) {
				r = -EFBIG;
				goto err_free_buf;
			}
			break;
		}
	}
	buf[len] = '\0';
	close(fd);
	*ret_buf = buf;
	if (ret_len != NULL)
		*ret_len = len;
	return 0;

err_free_buf:
	free(buf);
err_close_fd:
	close(fd);
	return r;
}

int hx_file_write_atomic(const char *path, const void *buf, size_t len,
			 unsigned mode)
{
	char tmp[4096];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = hx_write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r != 0)
		(void)unlink(tmp);
	return r;
}

/* One direction of a relay: moves what @from has to @to. Returns false
 * once this direction is finished (EOF passed on, or an error). */
static bool relay_step(int from, int to, bool *open_dir)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n > 0 && hx_write_all(to, buf, (size_t)n) == 0)
		return true;
	*open_dir = false;
	(void)shutdown(to, SHUT_WR);
	return n == 0; /* EOF: the other direction may go on */
}

void hx_relay(int a, int b)
{
	bool a_open = true, b_open = true; /* a->b and b->a still flowing */

	while (a_open || b_open) {
		struct pollfd pfd[2] = {{.fd = a_open ? a : -1, .events = POLLIN},
					{.fd = b_open ? b : -1, .events = POLLIN}};

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !relay_step(a, b, &a_open))
			return;
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !relay_step(b, a, &b_open))
			return;
	}
}
