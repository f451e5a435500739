/*
 * hx-wdog-emu: an emulated hardware watchdog for cluster tests.
 *
 * These test machines have no /dev/watchdog (no softdog either), so a
 * node's watchdog is emulated from outside the node: hxd is started with
 * --watchdog FIFO and writes to it as it would to /dev/watchdog; this
 * process reads the FIFO and, when it is armed (a first byte arrived) and
 * has not been fed for --timeout-ms, kills the node's cgroup (cgroup.kill:
 * hxd, its libvirtd and the QEMUs they started), as a watchdog resets a
 * host. Like the Linux watchdog API, a 'V' as the last byte before the
 * writer closes is a magic close that disarms it; any other close leaves
 * it running. It then waits for the node's next hxd (a new writer).
 *
 *   hx-wdog-emu --fifo PATH --cgroup DIR [--timeout-ms N] [--max-s N]
 *
 * Prints one line per event on standard output ("armed", "disarmed",
 * "expired ... killed"). Exits after --max-s seconds (default 3600) or on
 * SIGTERM/SIGINT; exit status 0, or 2 for bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fifo_open(const char *path)
{
	/* Non-blocking: no writer needs to exist yet. */
	return open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

static int cgroup_kill(const char *dir)
{
	char path[4200];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

static void usage(void)
{
	fprintf(stderr, "usage: hx-wdog-emu --fifo PATH --cgroup DIR "
			"[--timeout-ms N] [--max-s N]\n");
}

int main(int argc, char **argv)
{
	const char *fifo = NULL, *cgroup = NULL;
	long timeout_ms = 2000, max_s = 3600;
	bool armed = false, magic = false;
	uint64_t fed = 0, end;
	int fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--fifo") == 0)
			fifo = argv[i + 1];
		else if (strcmp(argv[i], "--cgroup") == 0)
			cgroup = argv[i + 1];
		else if (strcmp(argv[i], "--timeout-ms") == 0)
			timeout_ms = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--max-s") == 0)
			max_s = strtol(argv[i + 1], NULL, 10);
		else
			fifo = NULL, i = argc; /* unknown option */
	}
	if (fifo == NULL || cgroup == NULL || argc % 2 == 0 ||
	    timeout_ms < 100 || timeout_ms > 600000 || max_s < 1 ||
	    max_s > 86400) {
		usage();
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (mkfifo(fifo, 0600) < 0 && errno != EEXIST) {
		fprintf(stderr, "hx-wdog-emu: mkfifo '%s': %s\n", fifo,
			strerror(errno));
		return 1;
	}
	if ((fd = fifo_open(fifo)) < 0) {
		fprintf(stderr, "hx-wdog-emu: open '%s': %s\n", fifo,
			strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("hx-wdog-emu: ready fifo=%s cgroup=%s timeout=%ld ms\n", fifo,
	       cgroup, timeout_ms);
	end = now_ms() + (uint64_t)max_s * 1000;
	while (!stop && now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char buf[256];
		ssize_t n;

		(void)poll(&p, 1, 20);
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (!armed)
				printf("hx-wdog-emu: armed\n");
			armed = true;
			magic = buf[n - 1] == 'V';
			fed = now_ms();
		} else if (n == 0 && (p.revents & POLLHUP)) {
			/* the writer closed: wait for the next one */
			if (armed && magic) {
				printf("hx-wdog-emu: magic close: disarmed\n");
				armed = false;
			} else if (armed) {
				printf("hx-wdog-emu: closed without 'V': "
				       "still armed\n");
			}
			close(fd);
			if ((fd = fifo_open(fifo)) < 0) {
				fprintf(stderr, "hx-wdog-emu: reopen: %s\n",
					strerror(errno));
				return 1;
			}
		}
		if (armed && now_ms() - fed > (uint64_t)timeout_ms) {
			int r = cgroup_kill(cgroup);
			printf("hx-wdog-emu: expired, not fed for %llu ms: %s "
			       "%s\n",
			       (unsigned long long)(now_ms() - fed),
			       r == 0 ? "killed cgroup" : "cannot kill cgroup",
			       cgroup);
			armed = false;
		}
	}
	close(fd);
	return 0;
}
