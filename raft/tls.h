/* raft/tls.h: credential internals shared by tls.c and peer.c (private). */
#ifndef HX_RAFT_TLS_H
#define HX_RAFT_TLS_H

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include <gnutls/gnutls.h>

struct hxraft_tls {
	gnutls_certificate_credentials_t cred;
	char *ca_pem;
	char *node_pem;
	char *key_pem;
	char *chain_pem;
	char node_fp[65];
	char ca_fp[65];
	pthread_mutex_t lock; /* guards trust */
	char **trust;
	unsigned ntrust;
};

/* SHA-256 hex fingerprint of a DER certificate. */
int hxraft_tls_der_fingerprint(const void *der, size_t len, char ret_hex[65]);

/* Parses an IPv4 or IPv6 literal into @raw; *ret_len = 4 or 16. */
static inline int inet_pton_any(const char *ip, unsigned char raw[16],
				int *ret_len)
{
	if (inet_pton(AF_INET, ip, raw) == 1) {
		*ret_len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, raw) == 1) {
		*ret_len = 16;
		return 0;
	}
	return -1;
}


#endif /* HX_RAFT_TLS_H */
