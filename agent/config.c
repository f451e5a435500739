/*
 * Node-local configuration: one table drives parsing, validation and help.
 * Cluster-wide settings live in statedb.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/lib.h"

enum opt_type { OPT_STR, OPT_UINT, OPT_FLAG, OPT_COUNT };

struct opt_def {
	const char *name;
	int short_name;
	enum opt_type type;
	size_t offset;
	size_t size; /* for strings */
	const char *def;
	long min, max;
	const char *help;
};

#define OFF(f) offsetof(struct agent_config, f)
#define SZ(f) sizeof(((struct agent_config *)0)->f)

static const struct opt_def opt_defs[] = {
	{"data-dir", 'D', OPT_STR, OFF(data_dir), SZ(data_dir),
	 "/var/lib/horcrux", 0, 0, "data directory (control socket, database)"},
	{"name", 'N', OPT_STR, OFF(name), SZ(name), NULL, 0, 0,
	 "node name, [a-z0-9-], 1-63 chars (default: hostname)"},
	{"address", 'a', OPT_STR, OFF(address), SZ(address), NULL, 0, 0,
	 "this node's IP address, as other nodes reach it (required)"},
	{"bind", 'b', OPT_STR, OFF(bind), SZ(bind), NULL, 0, 0,
	 "IP to listen on (default: --address)"},
	{"api-port", 'p', OPT_UINT, OFF(api_port), 0, "8006", 1, 65535,
	 "HTTPS API port"},
	{"peer-port", 'P', OPT_UINT, OFF(peer_port), 0, "8007", 1, 65535,
	 "node-to-node port (TLS)"},
	{"latency-ms", 'l', OPT_UINT, OFF(latency_ms), 0, "30", 1, 10000,
	 "one-way network latency hint; raft election timeout is 15x"},
	{"libvirt-uri", 'L', OPT_STR, OFF(libvirt_uri), SZ(libvirt_uri),
	 "qemu:///system", 0, 0, "libvirt connection for this node's VMs"},
	{"images-dir", 'I', OPT_STR, OFF(images_dir), SZ(images_dir), NULL, 0,
	 0, "directory of 'local:' VM volumes (default: DATA_DIR/images)"},
	{"accel", 'A', OPT_STR, OFF(accel), SZ(accel), "auto", 0, 0,
	 "VM acceleration: auto (kvm if /dev/kvm is usable), kvm, tcg"},
	{"watchdog", 'W', OPT_STR, OFF(watchdog), SZ(watchdog), NULL, 0, 0,
	 "watchdog device fed while this node holds its HA lease "
	 "(/dev/watchdog; default none)"},
	{"no-net", 'X', OPT_FLAG, OFF(no_net), 0, NULL, 0, 0,
	 "serve the network API but apply no vnets or firewall here"},
	{"frr-vty", 'F', OPT_STR, OFF(frr_vty), SZ(frr_vty), "/var/run/frr", 0,
	 0, "vty socket directory of this node's FRR (evpn zones)"},
	{"verbose", 'v', OPT_COUNT, OFF(verbose), 0, NULL, 0, 0,
	 "more logging (repeat for debug)"},
	{"check", 'n', OPT_FLAG, OFF(check_only), 0, NULL, 0, 0,
	 "check the configuration and exit"},
};

static void config_usage(FILE *f)
{
	fprintf(f, "usage: hxd --address IP [options]\n\noptions:\n");
	for (size_t i = 0; i < HX_ARRAY_SIZE(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		fprintf(f, "  -%c, --%-12s %s%s%s%s\n", d->short_name, d->name,
			d->help, d->def ? " [" : "", d->def ? d->def : "",
			d->def ? "]" : "");
	}
	fprintf(f, "  -h, --help         this help\n");
}

static int config_set(struct agent_config *cfg, const struct opt_def *d,
		      const char *value)
{
	char *p = (char *)cfg + d->offset;
	char *end;
	long v;

	switch (d->type) {
	case OPT_STR:
		if (strlen(value) >= d->size) {
			fprintf(stderr, "hxd: --%s: too long\n", d->name);
			return -EINVAL;
		}
		snprintf(p, d->size, "%s", value);
		return 0;
	case OPT_UINT:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || *end != '\0' || end == value || v < d->min ||
		    v > d->max) {
			fprintf(stderr,
				"hxd: --%s: '%s' is not a number between %ld "
				"and %ld\n",
				d->name, value, d->min, d->max);
			return -EINVAL;
		}
		*(unsigned *)(void *)p = (unsigned)v;
		return 0;
	case OPT_FLAG:
		*(bool *)(void *)p = true;
		return 0;
	case OPT_COUNT:
		(*(int *)(void *)p)++;
		return 0;
	}
	return -EINVAL;
}

static bool config_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int config_check(struct agent_config *cfg)
{
	unsigned char raw[16];

	if (cfg->name[0] == '\0' && gethostname(cfg->name, sizeof(cfg->name)) < 0)
		snprintf(cfg->name, sizeof(cfg->name), "node");
	if (!config_name_ok(cfg->name)) {
		fprintf(stderr,
			"hxd: --name: '%s' must be 1-63 characters of a-z, "
			"0-9 and '-'\n",
			cfg->name);
		return -EINVAL;
	}
	if (cfg->address[0] == '\0') {
		fprintf(stderr, "hxd: --address IP is required\n");
		return -EINVAL;
	}
	if (inet_pton(AF_INET, cfg->address, raw) != 1 &&
	    inet_pton(AF_INET6, cfg->address, raw) != 1) {
		fprintf(stderr, "hxd: --address: '%s' is not an IP address\n",
			cfg->address);
		return -EINVAL;
	}
	if (cfg->bind[0] == '\0')
		snprintf(cfg->bind, sizeof(cfg->bind), "%s", cfg->address);
	if (cfg->api_port == cfg->peer_port) {
		fprintf(stderr, "hxd: --api-port and --peer-port must differ\n");
		return -EINVAL;
	}
	if (cfg->data_dir[0] != '/') {
		fprintf(stderr, "hxd: --data-dir must be an absolute path\n");
		return -EINVAL;
	}
	if (cfg->images_dir[0] != '\0' && cfg->images_dir[0] != '/') {
		fprintf(stderr, "hxd: --images-dir must be an absolute path\n");
		return -EINVAL;
	}
	if (cfg->watchdog[0] != '\0' && cfg->watchdog[0] != '/') {
		fprintf(stderr, "hxd: --watchdog must be an absolute path\n");
		return -EINVAL;
	}
	if (strcmp(cfg->accel, "auto") != 0 && strcmp(cfg->accel, "kvm") != 0 &&
	    strcmp(cfg->accel, "tcg") != 0) {
		fprintf(stderr, "hxd: --accel: '%s' is not auto, kvm or tcg\n",
			cfg->accel);
		return -EINVAL;
	}
	return 0;
}

int agent_config_parse(int argc, char **argv, struct agent_config *cfg)
{
	struct option longopts[HX_ARRAY_SIZE(opt_defs) + 2];
	char shortopts[3 * HX_ARRAY_SIZE(opt_defs) + 4];
	size_t k = 0;
	int c, r;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < HX_ARRAY_SIZE(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		bool arg = d->type == OPT_STR || d->type == OPT_UINT;

		longopts[i] = (struct option){d->name, arg, NULL, d->short_name};
		shortopts[k++] = (char)d->short_name;
		if (arg)
			shortopts[k++] = ':';
		if (d->def != NULL && (r = config_set(cfg, d, d->def)) < 0)
			return r;
	}
	longopts[HX_ARRAY_SIZE(opt_defs)] = (struct option){"help", 0, NULL, 'h'};
	longopts[HX_ARRAY_SIZE(opt_defs) + 1] = (struct option){0};
	shortopts[k++] = 'h';
	shortopts[k] = '\0';
	/* 0, not 1: glibc then also forgets where it was inside a cluster
	 * of short options ("-hv" stopped at 'h'), which would otherwise
	 * carry into the next parse, pointing into the previous argv. */
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct opt_def *d = NULL;

		if (c == 'h') {
			config_usage(stdout);
			return 1;
		}
		for (size_t i = 0; i < HX_ARRAY_SIZE(opt_defs); i++)
			if (opt_defs[i].short_name == c)
				d = &opt_defs[i];
		if (d == NULL) {
			config_usage(stderr);
			return -EINVAL;
		}
		if ((r = config_set(cfg, d, optarg)) < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "hxd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return config_check(cfg);
}
