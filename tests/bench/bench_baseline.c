/*
 * bench_baseline: the cheapest HTTPS JSON server this machine can run with
 * hxd's HTTP stack, the baseline beside wrk's figures for hxd (not a test).
 *
 * DESIGN: the same libmicrohttpd build, threading mode (a thread per
 * connection), TLS library and node certificate as hxd's API, answering
 * every request with a fixed small JSON body and no authentication, no
 * routing and no database. wrk against it measures what HTTP + TLS cost
 * here; the ratio to hxd's figure is what hxd's own work costs. Runs until
 * killed; listens only on the address given (a bench namespace's).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "lib/lib.h"

static const char reply[] =
	"{\"data\":{\"initialized\":true,\"name\":\"baseline\",\"quorum\":true,"
	"\"members\":[{\"id\":1,\"name\":\"n1\",\"role\":\"voter\","
	"\"state\":\"online\"}]}}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	static int first;

	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (*con_cls == NULL) {
		*con_cls = &first;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char path[1100], *cert = NULL, *key = NULL;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig, port;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_baseline IPv4 PORT TLS-DIR\n");
		return 2;
	}
	port = atoi(argv[2]);
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || port < 1 ||
	    port > 65535) {
		fprintf(stderr, "bench_baseline: bad address or port\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	snprintf(path, sizeof(path), "%s/node.crt", argv[3]);
	if (hx_file_read(path, 1 << 20, &cert, NULL) < 0) {
		fprintf(stderr, "bench_baseline: cannot read %s\n", path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/node.key", argv[3]);
	if (hx_file_read(path, 1 << 20, &key, NULL) < 0) {
		fprintf(stderr, "bench_baseline: cannot read %s\n", path);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_ERROR_LOG | MHD_USE_TLS,
			     (uint16_t)port, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, &sa,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "bench_baseline: cannot serve on %s:%d\n",
			argv[1], port);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	(void)sigwait(&set, &sig);
	MHD_stop_daemon(d);
	free(cert);
	free(key);
	return 0;
}
