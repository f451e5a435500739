/*
 * hxctl net ...: zones, vnets, subnets and IPAM (docs/network.md).
 *
 * DESIGN: every command is one API call: a list prints a table of chosen
 * members (or the JSON array with --json), a create POSTs a body built
 * from the options and prints the object the server answers, a delete
 * names the object in the path. The server validates everything; hxctl
 * only checks what it must to build the request.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* Strings of a JSON array member joined with ','; "-" if empty. */
static void fmt_list(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *arr = json_object_get(obj, key), *e;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, e) {
		if (json_is_string(e) && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
						off ? "," : "",
						json_string_value(e));
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

int hxctl_net_list(struct hxctl *c, const char *path,
		   const struct hxctl_column *cols, int ncols)
{
	struct hxctl_req req = {.method = "GET", .path = path};
	const char *hdr[12], *cells[12];
	char buf[12][256];
	struct hxctl_table *t = NULL;
	struct hxctl_resp resp;
	json_t *o;
	size_t i;
	int code;

	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out;
	}
	if (c->json) {
		hxctl_json_print(resp.data);
		goto out;
	}
	for (int k = 0; k < ncols; k++) {
		hdr[k] = cols[k].header;
		cells[k] = buf[k];
	}
	if ((t = hxctl_table_new(hdr, ncols)) == NULL)
		goto oom;
	json_array_foreach(resp.data, i, o) {
		for (int k = 0; k < ncols; k++)
			if (json_is_array(json_object_get(o, cols[k].key)))
				fmt_list(o, cols[k].key, buf[k], sizeof(buf[k]));
			else
				hxctl_fmt_cell(o, cols[k].key, buf[k],
					       sizeof(buf[k]));
		if (hxctl_table_add(t, cells) < 0)
			goto oom;
	}
	hxctl_table_print(t, stdout);
	goto out;
oom:
	hxctl_warn("out of memory");
	code = HXCTL_EXIT_ERROR;
out:
	hxctl_table_free(t);
	hxctl_resp_close(&resp);
	return code;
}

/* Prints an object as "key: value" lines in the order of @keys. */
static void print_object(json_t *o, const char *const *keys)
{
	char buf[512];

	for (; *keys != NULL; keys++) {
		if (json_is_array(json_object_get(o, *keys)))
			fmt_list(o, *keys, buf, sizeof(buf));
		else
			hxctl_fmt_cell(o, *keys, buf, sizeof(buf));
		hxctl_kv_print(stdout, *keys, "%s", buf);
	}
}

/* @method @path with @body (owned: released here); prints the answer. */
int hxctl_net_send(struct hxctl *c, const char *method, const char *path,
		   json_t *body, const char *const *keys)
{
	struct hxctl_req req = {.method = method, .path = path, .body = body};
	struct hxctl_resp resp;
	int code;

	if (body == NULL && strcmp(method, "DELETE") != 0) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	code = hxctl_call(c, &req, &resp);
	json_decref(body);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else if (keys != NULL)
		print_object(resp.data, keys);
	hxctl_resp_close(&resp);
	return code;
}

/* @prefix/ESCAPED(@key) into a malloc'ed path; NULL on OOM. */
char *hxctl_net_path(const char *prefix, const char *key)
{
	char *esc = hxctl_escape(key), *path = NULL;

	if (esc != NULL && asprintf(&path, "%s/%s", prefix, esc) < 0)
		path = NULL;
	free(esc);
	return path;
}

int hxctl_net_delete(struct hxctl *c, const char *prefix, const char *key)
{
	char *path = hxctl_net_path(prefix, key);
	int code;

	if (path == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	code = hxctl_net_send(c, "DELETE", path, NULL, NULL);
	free(path);
	return code;
}

/* Sets body[@field] from option @opt: a string, or with @is_int an
 * integer in [min, max]. Returns 0, or HXCTL_EXIT_USAGE after a warning. */
int hxctl_net_opt(const struct hxctl_args *a, const char *opt,
		  const char *field, bool is_int, int64_t min, int64_t max,
		  json_t *body)
{
	const char *v = hxctl_args_get(a, opt);
	int64_t n;

	if (v == NULL)
		return 0;
	if (!is_int) {
		json_object_set_new(body, field, json_string(v));
		return 0;
	}
	if (hxctl_parse_int(v, min, max, &n) < 0) {
		hxctl_warn("--%s: expected an integer from %lld to %lld, got "
			   "'%s'",
			   opt, (long long)min, (long long)max, v);
		return HXCTL_EXIT_USAGE;
	}
	json_object_set_new(body, field, json_integer(n));
	return 0;
}

/* ---- zones ---- */

static const char *const zone_keys[] = {"name", "type", "mtu", "asn", NULL};

int hxctl_cmd_net_zones(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"NAME", "name"}, {"TYPE", "type"}, {"MTU", "mtu"},
		{"ASN", "asn"}};

	(void)a;
	return hxctl_net_list(c, "/network/zones", cols, 4);
}

int hxctl_cmd_net_zone_create(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);

	if (body == NULL ||
	    hxctl_net_opt(a, "type", "type", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "mtu", "mtu", true, 576, 9000, body) != 0 ||
	    hxctl_net_opt(a, "asn", "asn", true, 1, 4294967295LL, body) != 0) {
		json_decref(body);
		return body == NULL ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/zones", body, zone_keys);
}

int hxctl_cmd_net_zone_delete(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/zones", a->pos[0]);
}

/* ---- vnets ---- */

static const char *const vnet_keys[] = {"name", "zone",	 "zone_type",
					"vni",	"mtu",	 "bridge",
					"vxlan", "description", NULL};

int hxctl_cmd_net_vnets(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"NAME", "name"},     {"ZONE", "zone"}, {"TYPE", "zone_type"},
		{"VNI", "vni"},	      {"MTU", "mtu"},	{"BRIDGE", "bridge"},
		{"DESCRIPTION", "description"}};

	(void)a;
	return hxctl_net_list(c, "/network/vnets", cols, 7);
}

int hxctl_cmd_net_vnet_create(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);

	if (body == NULL ||
	    hxctl_net_opt(a, "zone", "zone", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "vni", "vni", true, INT32_MIN, INT32_MAX, body) !=
		    0 ||
	    hxctl_net_opt(a, "description", "description", false, 0, 0,
			  body) != 0) {
		json_decref(body);
		return body == NULL ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/vnets", body, vnet_keys);
}

int hxctl_cmd_net_vnet_delete(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/vnets", a->pos[0]);
}

/* ---- subnets ---- */

static const char *const subnet_keys[] = {"cidr",	"vnet",
					  "family",	"gateway",
					  "dns",	"dhcp_start",
					  "dhcp_end",	NULL};

int hxctl_cmd_net_subnets(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"CIDR", "cidr"},	    {"VNET", "vnet"},
		{"GATEWAY", "gateway"},	    {"DHCP-START", "dhcp_start"},
		{"DHCP-END", "dhcp_end"}, {"DNS", "dns"}};
	char path[128] = "/network/subnets";

	if (hxctl_query_add(path, sizeof(path), "vnet",
			    hxctl_args_get(a, "vnet")) < 0) {
		hxctl_warn("--vnet: too long");
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_list(c, path, cols, 6);
}

int hxctl_cmd_net_subnet_create(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s, s:s}", "vnet", a->pos[0], "cidr",
				 a->pos[1]);
	json_t *dns = json_array();
	const char *v;
	int it = 0;

	while (body != NULL && dns != NULL &&
	       (v = hxctl_args_next(a, "dns", &it)) != NULL)
		json_array_append_new(dns, json_string(v));
	if (body == NULL || dns == NULL) {
		json_decref(body);
		json_decref(dns);
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	json_object_set_new(body, "dns", dns);
	if (hxctl_net_opt(a, "gateway", "gateway", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "dhcp-start", "dhcp_start", false, 0, 0, body) !=
		    0 ||
	    hxctl_net_opt(a, "dhcp-end", "dhcp_end", false, 0, 0, body) != 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/subnets", body,
			      subnet_keys);
}

int hxctl_cmd_net_subnet_delete(struct hxctl *c, const struct hxctl_args *a)
{
	char id[80], *slash;

	/* The API names a subnet by its CIDR with '/' as '-'. */
	snprintf(id, sizeof(id), "%s", a->pos[0]);
	if ((slash = strrchr(id, '/')) != NULL)
		*slash = '-';
	return hxctl_net_delete(c, "/network/subnets", id);
}

/* ---- IPAM ---- */

static const char *const ip_keys[] = {"ip",  "subnet", "vnet", "kind",
				      "vmid", "mac",   "hostname", NULL};

int hxctl_cmd_net_ips(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"IP", "ip"},	  {"VNET", "vnet"}, {"KIND", "kind"},
		{"VMID", "vmid"}, {"MAC", "mac"},   {"HOSTNAME", "hostname"}};
	char path[128] = "/network/ipam";

	if (hxctl_query_add(path, sizeof(path), "vnet",
			    hxctl_args_get(a, "vnet")) < 0 ||
	    hxctl_query_add(path, sizeof(path), "vmid",
			    hxctl_args_get(a, "vmid")) < 0) {
		hxctl_warn("--vnet or --vmid: too long");
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_list(c, path, cols, 6);
}

int hxctl_cmd_net_ip_allocate(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s}", "vnet", a->pos[0]);

	if (body == NULL ||
	    hxctl_net_opt(a, "ip", "ip", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "subnet", "subnet", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "family", "family", true, 4, 6, body) != 0 ||
	    hxctl_net_opt(a, "mac", "mac", false, 0, 0, body) != 0 ||
	    hxctl_net_opt(a, "hostname", "hostname", false, 0, 0, body) != 0) {
		json_decref(body);
		return body == NULL ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/ipam", body, ip_keys);
}

int hxctl_cmd_net_ip_release(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/ipam", a->pos[0]);
}
