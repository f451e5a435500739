/*
 * Cluster CA, node certificates and the peer trust set.
 *
 * DESIGN: the CA lets users trust every node's HTTPS API at once and lets a
 * joining node check that it talks to the cluster named in its token. The
 * fingerprint trust set is what admits a peer: it follows the member list,
 * so a removed node is refused even though its certificate still chains to
 * the CA (no CRL distribution to get wrong).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "lib/lib.h"
#include "raft/raft.h"
#include "raft/tls.h"

#define TLS_MAX_PEM (64 * 1024)
#define TLS_VALID_S (20LL * 365 * 24 * 3600)

static int tls_path(char *buf, size_t len, const char *dir, const char *file)
{
	if (snprintf(buf, len, "%s/%s", dir, file) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int tls_gnutls_err(struct hx_err *err, int r, const char *what)
{
	return hx_err_set(err, -EIO, "tls: %s: %s", what, gnutls_strerror(r));
}

static int tls_export_crt(gnutls_x509_crt_t crt, char **ret)
{
	gnutls_datum_t d;

	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	*ret = strndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return *ret != NULL ? 0 : -ENOMEM;
}

static int tls_export_key(gnutls_x509_privkey_t key, char **ret)
{
	gnutls_datum_t d;

	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	*ret = strndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* Fills the fields common to the CA and node certificates. */
static int tls_crt_base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
			const char *cn)
{
	unsigned char serial[16];
	time_t now = time(NULL);
	int r;

	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		return GNUTLS_E_RANDOM_FAILED;
	serial[0] &= 0x7f; /* positive */
	if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, now + TLS_VALID_S)) <
		    0 ||
	    (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
					       0, cn, (unsigned)strlen(cn))) <
		    0 ||
	    (r = gnutls_x509_crt_set_key(crt, key)) < 0)
		return r;
	return 0;
}

static int tls_new_key(gnutls_x509_privkey_t *ret)
{
	int r;

	if ((r = gnutls_x509_privkey_init(ret)) < 0)
		return r;
	r = gnutls_x509_privkey_generate(
		*ret, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (r < 0)
		gnutls_x509_privkey_deinit(*ret);
	return r;
}

static int tls_set_san_ip(gnutls_x509_crt_t crt, const char *ip)
{
	unsigned char raw[16];
	int r;

	if (inet_pton_any(ip, raw, &r) != 0)
		return GNUTLS_E_INVALID_REQUEST;
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
						    raw, (unsigned)r,
						    GNUTLS_FSAN_APPEND);
}

/* Creates a node certificate for @node/@ip signed by @ca/@ca_key. */
static int tls_make_node(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
			 const char *node, const char *ip, char **ret_cert,
			 char **ret_key, struct hx_err *err)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	char *cert_pem = NULL, *key_pem = NULL;
	int r;

	if ((r = tls_new_key(&key)) < 0)
		return tls_gnutls_err(err, r, "generate node key");
	if ((r = gnutls_x509_crt_init(&crt)) < 0) {
		tls_gnutls_err(err, r, "init certificate");
		goto err_free_key;
	}
	if ((r = tls_crt_base(crt, key, node)) < 0 ||
	    (r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(
		     crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
				  GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
	    (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
						     0)) < 0 ||
	    (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT,
						     0)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_alt_name(
		     crt, GNUTLS_SAN_DNSNAME, node, (unsigned)strlen(node),
		     GNUTLS_FSAN_APPEND)) < 0 ||
	    (r = tls_set_san_ip(crt, ip)) < 0 ||
	    (r = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) <
		    0) {
		tls_gnutls_err(err, r, "build node certificate");
		goto err_free_crt;
	}
	if (tls_export_crt(crt, &cert_pem) < 0 ||
	    tls_export_key(key, &key_pem) < 0) {
		r = hx_err_set(err, -ENOMEM, "tls: export node certificate");
		free(cert_pem);
		goto err_free_crt;
	}
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	*ret_cert = cert_pem;
	*ret_key = key_pem;
	return 0;

err_free_crt:
	gnutls_x509_crt_deinit(crt);
err_free_key:
	gnutls_x509_privkey_deinit(key);
	return r < 0 && r > -1000 ? -EIO : r;
}

static int tls_write_pair(const char *dir, const char *base, const char *crt,
			  const char *key)
{
	char path[4096];
	int r;

	if ((r = tls_path(path, sizeof(path), dir, base)) < 0)
		return r;
	strcat(path, ".crt");
	if ((r = hx_file_write_atomic(path, crt, strlen(crt), 0644)) < 0)
		return r;
	if ((r = tls_path(path, sizeof(path), dir, base)) < 0)
		return r;
	strcat(path, ".key");
	return hx_file_write_atomic(path, key, strlen(key), 0600);
}

static int tls_load_ca(const char *dir, gnutls_x509_crt_t *ret_crt,
		       gnutls_x509_privkey_t *ret_key, struct hx_err *err)
{
	char path[4096], *pem;
	gnutls_datum_t d;
	int r;

	if ((r = tls_path(path, sizeof(path), dir, "ca.crt")) < 0 ||
	    (r = hx_file_read(path, TLS_MAX_PEM, &pem, NULL)) < 0)
		return hx_err_set(err, r, "tls: read %s: %s", path,
				  hx_strerror(r));
	d.data = (unsigned char *)pem;
	d.size = (unsigned)strlen(pem);
	gnutls_x509_crt_init(ret_crt);
	r = gnutls_x509_crt_import(*ret_crt, &d, GNUTLS_X509_FMT_PEM);
	free(pem);
	if (r < 0) {
		gnutls_x509_crt_deinit(*ret_crt);
		return tls_gnutls_err(err, r, "parse ca.crt");
	}
	if ((r = tls_path(path, sizeof(path), dir, "ca.key")) < 0 ||
	    (r = hx_file_read(path, TLS_MAX_PEM, &pem, NULL)) < 0) {
		gnutls_x509_crt_deinit(*ret_crt);
		return hx_err_set(err, r, "tls: read %s: %s", path,
				  hx_strerror(r));
	}
	d.data = (unsigned char *)pem;
	d.size = (unsigned)strlen(pem);
	gnutls_x509_privkey_init(ret_key);
	r = gnutls_x509_privkey_import(*ret_key, &d, GNUTLS_X509_FMT_PEM);
	explicit_bzero(pem, d.size);
	free(pem);
	if (r < 0) {
		gnutls_x509_privkey_deinit(*ret_key);
		gnutls_x509_crt_deinit(*ret_crt);
		return tls_gnutls_err(err, r, "parse ca.key");
	}
	return 0;
}

int hxraft_tls_init_cluster(const char *dir, const char *cluster,
			    const char *node, const char *ip,
			    struct hx_err *err)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	char cn[128], *ca_pem = NULL, *ca_key = NULL;
	char *node_pem = NULL, *node_key = NULL;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hx_err_set(err, -errno, "tls: mkdir '%s': %s", dir,
				  strerror(errno));
	snprintf(cn, sizeof(cn), "Horcrux CA %s", cluster);
	if ((r = tls_new_key(&key)) < 0)
		return tls_gnutls_err(err, r, "generate CA key");
	gnutls_x509_crt_init(&crt);
	if ((r = tls_crt_base(crt, key, cn)) < 0 ||
	    (r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(
		     crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) < 0 ||
	    (r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) <
		    0) {
		r = tls_gnutls_err(err, r, "build CA");
		goto out;
	}
	if (tls_export_crt(crt, &ca_pem) < 0 || tls_export_key(key, &ca_key) < 0) {
		r = hx_err_set(err, -ENOMEM, "tls: export CA");
		goto out;
	}
	if ((r = tls_make_node(crt, key, node, ip, &node_pem, &node_key, err)) <
	    0)
		goto out;
	if ((r = tls_write_pair(dir, "ca", ca_pem, ca_key)) < 0 ||
	    (r = tls_write_pair(dir, "node", node_pem, node_key)) < 0)
		hx_err_set(err, r, "tls: write credentials in '%s': %s", dir,
			   hx_strerror(r));
out:
	free(ca_pem);
	free(ca_key);
	free(node_pem);
	free(node_key);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return r;
}

int hxraft_tls_issue(const char *dir, const char *node, const char *ip,
		     char **ret_cert_pem, char **ret_key_pem,
		     struct hx_err *err)
{
	gnutls_x509_privkey_t ca_key;
	gnutls_x509_crt_t ca;
	int r;

	if ((r = tls_load_ca(dir, &ca, &ca_key, err)) < 0)
		return r;
	r = tls_make_node(ca, ca_key, node, ip, ret_cert_pem, ret_key_pem,
			  err);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(ca_key);
	return r;
}

int hxraft_tls_der_fingerprint(const void *der, size_t len, char ret_hex[65])
{
	gnutls_datum_t d = {.data = (unsigned char *)der, .size = (unsigned)len};
	unsigned char md[32];

	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &d, md, &(size_t){32}) < 0)
		return -EINVAL;
	for (int i = 0; i < 32; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int hxraft_fingerprint_pem(const char *pem, char ret_hex[65])
{
	gnutls_datum_t in = {.data = (unsigned char *)pem,
			     .size = (unsigned)strlen(pem)};
	gnutls_datum_t der;
	int r;

	if (gnutls_pem_base64_decode2("CERTIFICATE", &in, &der) < 0)
		return -EINVAL;
	r = hxraft_tls_der_fingerprint(der.data, der.size, ret_hex);
	gnutls_free(der.data);
	return r;
}

static int tls_read_dir_file(const char *dir, const char *file, char **ret,
			     struct hx_err *err)
{
	char path[4096];
	int r;

	if ((r = tls_path(path, sizeof(path), dir, file)) < 0 ||
	    (r = hx_file_read(path, TLS_MAX_PEM, ret, NULL)) < 0)
		return hx_err_set(err, r, "tls: read '%s/%s': %s", dir, file,
				  hx_strerror(r));
	return 0;
}

int hxraft_tls_load(const char *dir, struct hxraft_tls **ret_tls,
		    struct hx_err *err)
{
	struct hxraft_tls *tls;
	gnutls_datum_t c, k, ca;
	size_t n;
	int r;

	tls = calloc(1, sizeof(*tls));
	if (tls == NULL)
		return hx_err_set(err, -ENOMEM, "tls: out of memory");
	pthread_mutex_init(&tls->lock, NULL);
	if ((r = tls_read_dir_file(dir, "ca.crt", &tls->ca_pem, err)) < 0 ||
	    (r = tls_read_dir_file(dir, "node.crt", &tls->node_pem, err)) < 0 ||
	    (r = tls_read_dir_file(dir, "node.key", &tls->key_pem, err)) < 0)
		goto err_free;
	/* The chain we present: node certificate, then the CA. */
	n = strlen(tls->node_pem) + strlen(tls->ca_pem) + 2;
	tls->chain_pem = malloc(n);
	if (tls->chain_pem == NULL) {
		r = hx_err_set(err, -ENOMEM, "tls: out of memory");
		goto err_free;
	}
	snprintf(tls->chain_pem, n, "%s%s", tls->node_pem, tls->ca_pem);
	if (hxraft_fingerprint_pem(tls->node_pem, tls->node_fp) < 0 ||
	    hxraft_fingerprint_pem(tls->ca_pem, tls->ca_fp) < 0) {
		r = hx_err_set(err, -EINVAL, "tls: bad certificate in '%s'", dir);
		goto err_free;
	}
	c.data = (unsigned char *)tls->chain_pem;
	c.size = (unsigned)strlen(tls->chain_pem);
	k.data = (unsigned char *)tls->key_pem;
	k.size = (unsigned)strlen(tls->key_pem);
	ca.data = (unsigned char *)tls->ca_pem;
	ca.size = (unsigned)strlen(tls->ca_pem);
	gnutls_certificate_allocate_credentials(&tls->cred);
	if ((r = gnutls_certificate_set_x509_key_mem(tls->cred, &c, &k,
						     GNUTLS_X509_FMT_PEM)) < 0 ||
	    (r = gnutls_certificate_set_x509_trust_mem(tls->cred, &ca,
						       GNUTLS_X509_FMT_PEM)) <
		    0) {
		r = tls_gnutls_err(err, r, "load credentials");
		goto err_free;
	}
	*ret_tls = tls;
	return 0;

err_free:
	hxraft_tls_free(tls);
	return r;
}

void hxraft_tls_free(struct hxraft_tls *tls)
{
	if (tls == NULL)
		return;
	if (tls->cred != NULL)
		gnutls_certificate_free_credentials(tls->cred);
	for (unsigned i = 0; i < tls->ntrust; i++)
		free(tls->trust[i]);
	free(tls->trust);
	free(tls->ca_pem);
	free(tls->node_pem);
	if (tls->key_pem != NULL)
		explicit_bzero(tls->key_pem, strlen(tls->key_pem));
	free(tls->key_pem);
	free(tls->chain_pem);
	pthread_mutex_destroy(&tls->lock);
	free(tls);
}

const char *hxraft_tls_node_fingerprint(const struct hxraft_tls *tls)
{
	return tls->node_fp;
}

const char *hxraft_tls_ca_fingerprint(const struct hxraft_tls *tls)
{
	return tls->ca_fp;
}

const char *hxraft_tls_ca_pem(const struct hxraft_tls *tls)
{
	return tls->ca_pem;
}

const char *hxraft_tls_node_cert_pem(const struct hxraft_tls *tls)
{
	return tls->chain_pem;
}

const char *hxraft_tls_node_key_pem(const struct hxraft_tls *tls)
{
	return tls->key_pem;
}

int hxraft_tls_trust_set(struct hxraft_tls *tls, const char *const *fps,
			 unsigned n)
{
	char **copy = calloc(n + 1, sizeof(*copy));

	if (copy == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		copy[i] = strdup(fps[i]);
		if (copy[i] == NULL) {
			while (i-- > 0)
				free(copy[i]);
			free(copy);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&tls->lock);
	for (unsigned i = 0; i < tls->ntrust; i++)
		free(tls->trust[i]);
	free(tls->trust);
	tls->trust = copy;
	tls->ntrust = n;
	pthread_mutex_unlock(&tls->lock);
	return 0;
}

bool hxraft_tls_trusts(struct hxraft_tls *tls, const char *fp)
{
	bool found = false;

	pthread_mutex_lock(&tls->lock);
	for (unsigned i = 0; i < tls->ntrust && !found; i++)
		found = strcmp(tls->trust[i], fp) == 0;
	pthread_mutex_unlock(&tls->lock);
	return found;
}
