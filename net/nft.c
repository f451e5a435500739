/*
 * Applying a rendered ruleset with libnftables.
 *
 * DESIGN: libnftables turns one script into one netlink batch, and the
 * kernel applies a batch as one transaction: either every command of the
 * script takes effect or, on any error, none does and the previous
 * ruleset stays. The renderer's scripts delete and re-create whole
 * tables, so each apply is an atomic replace; there is never a moment
 * with half a ruleset or none. nft's error text comes back to the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "lib/lib.h"
#include "net/net.h"

/* br_netfilter: bridged IPv4 and IPv6 pass the inet hooks (per network
 * namespace). */
static int bridge_nf_enable(struct hx_err *err)
{
	static const char *const paths[] = {
		"/proc/sys/net/bridge/bridge-nf-call-iptables",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables",
	};

	for (size_t i = 0; i < HX_ARRAY_SIZE(paths); i++) {
		char cur = '0';
		int fd = open(paths[i], O_RDWR | O_CLOEXEC), r = 0;

		if (fd < 0)
			return hx_err_set(err, -errno,
					  "cannot open %s (no br_netfilter?): "
					  "%s",
					  paths[i], strerror(errno));
		if (read(fd, &cur, 1) != 1 || cur != '1')
			r = pwrite(fd, "1", 1, 0) == 1 ? 0 : -errno;
		close(fd);
		if (r < 0)
			return hx_err_set(err, r, "cannot enable %s: %s",
					  paths[i], strerror(-r));
	}
	return 0;
}

int net_nft_apply(const char *script, bool bridged, struct hx_err *err)
{
	struct nft_ctx *nft;
	const char *msg;
	int r;

	if (bridged && (r = bridge_nf_enable(err)) < 0)
		return r;
	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (nft == NULL)
		return hx_err_set(err, -ENOMEM, "nft: out of memory");
	if (nft_ctx_buffer_output(nft) != 0 ||
	    nft_ctx_buffer_error(nft) != 0) {
		nft_ctx_free(nft);
		return hx_err_set(err, -ENOMEM, "nft: out of memory");
	}
	r = nft_run_cmd_from_buffer(nft, script);
	msg = nft_ctx_get_error_buffer(nft);
	if (r != 0)
		r = hx_err_set(err, -EINVAL, "nft refused the ruleset: %.400s",
			       msg != NULL && msg[0] != '\0' ? msg
							     : "no message");
	nft_ctx_free(nft);
	return r;
}
