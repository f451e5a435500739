/*
 * API handlers for networking: zones, vnets, subnets, IPAM
 * (/network/...), and the firewall (/network/firewall/..., netfwapi.c).
 *
 * DESIGN: these objects are cluster-wide, so any node serves them: reads
 * are linearizable through the leader and writes go through statedb's
 * writer, which validates them inside the transaction that stores them
 * (an overlapping subnet, a VNI taken, a pool exhausted are only true
 * there). This file checks the JSON shapes, maps names to statedb's
 * structs and back; a bad request changes nothing. The nodes' network
 * reconcilers (netexec.c) pick the changes up from statedb.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/net.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

/* ---- request fields ---- */

bool netapi_str(struct api_req *req, struct api_resp *resp, const char *key,
		bool required, char *buf, size_t len)
{
	json_t *v = json_object_get(req->body, key);

	buf[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (required)
			api_error(resp, -EINVAL, "%s: required", key);
		return !required;
	}
	if (!json_is_string(v)) {
		api_error(resp, -EINVAL, "%s: must be a string", key);
		return false;
	}
	if (json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		api_error(resp, -EINVAL, "%s: too long (at most %zu characters)",
			  key, len - 1);
		return false;
	}
	snprintf(buf, len, "%s", json_string_value(v));
	return true;
}

bool netapi_int(struct api_req *req, struct api_resp *resp, const char *key,
		int64_t min, int64_t max, int64_t *ret)
{
	json_t *v = json_object_get(req->body, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		api_error(resp, -EINVAL,
			  "%s: must be an integer from %" PRId64 " to %" PRId64,
			  key, min, max);
		return false;
	}
	*ret = json_integer_value(v);
	return true;
}

bool netapi_bool(struct api_req *req, struct api_resp *resp, const char *key,
		 bool *ret)
{
	json_t *v = json_object_get(req->body, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		api_error(resp, -EINVAL, "%s: must be true or false", key);
		return false;
	}
	*ret = json_is_true(v);
	return true;
}

/* Answers a failed statedb call. */
static void fail(struct api_resp *resp, const struct hx_err *err)
{
	api_error_from(resp, err);
}

/* ---- JSON of the objects ---- */

static json_t *zone_json(const struct statedb_zone *z)
{
	json_t *j = json_pack("{s:s, s:s, s:i}", "name", z->name, "type",
			      z->type, "mtu", z->mtu);

	json_object_set_new(j, "asn",
			    z->asn != 0 ? json_integer(z->asn) : json_null());
	return j;
}

static json_t *vnet_json(const struct statedb_vnet *v)
{
	char bridge[NET_IFNAMSIZ], vxlan[NET_IFNAMSIZ];
	json_t *j;

	net_bridge_name(v->name, bridge);
	net_vxlan_name(v->name, vxlan);
	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "name", v->name,
		      "zone", v->zone, "zone_type", v->zone_type,
		      "description", v->description, "mtu", v->mtu, "bridge",
		      bridge);
	json_object_set_new(j, "vni",
			    v->vni != 0 ? json_integer(v->vni) : json_null());
	json_object_set_new(j, "vxlan",
			    strcmp(v->zone_type, "simple") != 0
				    ? json_string(vxlan)
				    : json_null());
	return j;
}

/* "10.1.0.0/24" -> "10.1.0.0-24", the subnet's id in paths. */
static void subnet_id(const char *cidr, char *buf, size_t len)
{
	char *slash;

	snprintf(buf, len, "%s", cidr);
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '-';
}

static json_t *subnet_json(const struct statedb_subnet *s)
{
	json_t *dns = json_array();
	char buf[sizeof(s->dns)], id[80], *save, *t;
	json_t *j;

	snprintf(buf, sizeof(buf), "%s", s->dns);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		json_array_append_new(dns, json_string(t));
	subnet_id(s->cidr, id, sizeof(id));
	j = json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", id, "cidr", s->cidr,
		      "vnet", s->vnet, "family", s->family, "dns", dns);
	json_object_set_new(j, "gateway",
			    s->gateway[0] ? json_string(s->gateway)
					  : json_null());
	json_object_set_new(j, "dhcp_start",
			    s->dhcp_start[0] ? json_string(s->dhcp_start)
					     : json_null());
	json_object_set_new(j, "dhcp_end",
			    s->dhcp_end[0] ? json_string(s->dhcp_end)
					   : json_null());
	return j;
}

static json_t *ip_json(const struct statedb_ip *ip)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I}", "ip", ip->ip,
			      "subnet", ip->subnet, "vnet", ip->vnet, "family",
			      ip->family, "kind", ip->kind, "created_at",
			      (json_int_t)ip->created_ms);

	json_object_set_new(j, "vmid",
			    ip->vmid != 0 ? json_integer(ip->vmid) : json_null());
	json_object_set_new(j, "mac",
			    ip->mac[0] ? json_string(ip->mac) : json_null());
	json_object_set_new(j, "hostname",
			    ip->hostname[0] ? json_string(ip->hostname)
					    : json_null());
	return j;
}

/* ---- zones ---- */

static void zones(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "type", "mtu", "asn",
					      NULL};
	struct statedb_zone z = {0}, *zs;
	struct hx_err err = {0};
	int64_t mtu = 0, asn = 0;
	unsigned n;

	if (strcmp(req->method, "GET") == 0) {
		if (statedb_zone_list(a->db, &zs, &n, &err) < 0)
			return fail(resp, &err);
		resp->data = json_array();
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(resp->data, zone_json(&zs[i]));
		free(zs);
		return;
	}
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "name", true, z.name, sizeof(z.name)) ||
	    !netapi_str(req, resp, "type", true, z.type, sizeof(z.type)) ||
	    !netapi_int(req, resp, "mtu", 576, 9000, &mtu) ||
	    !netapi_int(req, resp, "asn", 1, 4294967295LL, &asn))
		return;
	z.mtu = (int)mtu;
	z.asn = asn;
	if (statedb_zone_create(a->db, &z, &err) < 0 ||
	    statedb_zone_get(a->db, z.name, &z, &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.zone", "network", req->actor,
		    "zone '%s' (%s) created", z.name, z.type);
	netexec_kick(a);
	resp->status = 201;
	resp->data = zone_json(&z);
}

static void zone_one(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	struct statedb_zone z;
	struct hx_err err = {0};

	if (strcmp(req->method, "GET") == 0) {
		if (statedb_zone_get(a->db, req->arg[1], &z, &err) < 0)
			return fail(resp, &err);
		resp->data = zone_json(&z);
		return;
	}
	if (statedb_zone_delete(a->db, req->arg[1], &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.zone", "network", req->actor,
		    "zone '%s' deleted", req->arg[1]);
	netexec_kick(a);
	resp->data = json_object();
}

/* ---- vnets ---- */

static void vnets(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "zone", "vni",
					      "description", NULL};
	struct statedb_vnet v = {0}, *vs;
	struct hx_err err = {0};
	unsigned n;

	if (strcmp(req->method, "GET") == 0) {
		if (statedb_vnet_list(a->db, &vs, &n, &err) < 0)
			return fail(resp, &err);
		resp->data = json_array();
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(resp->data, vnet_json(&vs[i]));
		free(vs);
		return;
	}
	/* A VNI out of range reaches statedb, which names the range. */
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "name", true, v.name, sizeof(v.name)) ||
	    !netapi_str(req, resp, "zone", true, v.zone, sizeof(v.zone)) ||
	    !netapi_int(req, resp, "vni", INT32_MIN, INT32_MAX, &v.vni) ||
	    !netapi_str(req, resp, "description", false, v.description,
			sizeof(v.description)))
		return;
	if (json_object_get(req->body, "vni") != NULL &&
	    !json_is_null(json_object_get(req->body, "vni")) && v.vni == 0) {
		api_error(resp, -EINVAL, "vni: 0 is out of range (1 to %d)",
			  STATEDB_VNI_MAX);
		return;
	}
	if (statedb_vnet_create(a->db, &v, &err) < 0 ||
	    statedb_vnet_get(a->db, v.name, &v, &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.vnet", "network", req->actor,
		    "vnet '%s' created in zone '%s'", v.name, v.zone);
	netexec_kick(a);
	resp->status = 201;
	resp->data = vnet_json(&v);
}

static void vnet_one(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	struct statedb_vnet v;
	struct hx_err err = {0};

	if (strcmp(req->method, "GET") == 0) {
		if (statedb_vnet_get(a->db, req->arg[1], &v, &err) < 0)
			return fail(resp, &err);
		resp->data = vnet_json(&v);
		return;
	}
	if (statedb_vnet_delete(a->db, req->arg[1], &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.vnet", "network", req->actor,
		    "vnet '%s' deleted", req->arg[1]);
	netexec_kick(a);
	resp->data = json_object();
}

/* ---- subnets ---- */

/* "dns": ["1.1.1.1", ...] into a space-separated list. */
static bool dns_field(struct api_req *req, struct api_resp *resp, char *buf,
		      size_t len)
{
	json_t *v = json_object_get(req->body, "dns"), *e;
	size_t i, off = 0;

	buf[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_array(v) || json_array_size(v) > 8) {
		api_error(resp, -EINVAL,
			  "dns: must be an array of at most 8 addresses");
		return false;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) >= 48) {
			api_error(resp, -EINVAL,
				  "dns: entries must be IP addresses");
			return false;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? " " : "", json_string_value(e));
	}
	return true;
}

static void subnets(struct agent *a, struct api_req *req,
		    struct api_resp *resp)
{
	static const char *const allowed[] = {"vnet",	   "cidr",
					      "gateway",   "dns",
					      "dhcp_start", "dhcp_end", NULL};
	struct statedb_subnet s = {0}, *ss;
	struct hx_err err = {0};
	char vnet[16] = "";
	unsigned n;

	if (strcmp(req->method, "GET") == 0) {
		bool by_vnet = api_query(req, "vnet", vnet, sizeof(vnet));

		if (statedb_subnet_list(a->db, by_vnet ? vnet : NULL, &ss, &n,
					&err) < 0)
			return fail(resp, &err);
		resp->data = json_array();
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(resp->data, subnet_json(&ss[i]));
		free(ss);
		return;
	}
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "vnet", true, s.vnet, sizeof(s.vnet)) ||
	    !netapi_str(req, resp, "cidr", true, s.cidr, sizeof(s.cidr)) ||
	    !netapi_str(req, resp, "gateway", false, s.gateway,
			sizeof(s.gateway)) ||
	    !dns_field(req, resp, s.dns, sizeof(s.dns)) ||
	    !netapi_str(req, resp, "dhcp_start", false, s.dhcp_start,
			sizeof(s.dhcp_start)) ||
	    !netapi_str(req, resp, "dhcp_end", false, s.dhcp_end,
			sizeof(s.dhcp_end)))
		return;
	if (statedb_subnet_create(a->db, &s, &err) < 0)
		return fail(resp, &err);
	/* Read back in canonical form. */
	struct hx_prefix p;
	char canon[sizeof(s.cidr)];
	if (hx_prefix_parse(s.cidr, true, &p) == 0)
		hx_prefix_format(&p, canon, sizeof(canon));
	else
		snprintf(canon, sizeof(canon), "%s", s.cidr);
	if (statedb_subnet_get(a->db, canon, &s, &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.subnet", "network", req->actor,
		    "subnet %s created in vnet '%s'", s.cidr, s.vnet);
	netexec_kick(a);
	resp->status = 201;
	resp->data = subnet_json(&s);
}

static void subnet_one(struct agent *a, struct api_req *req,
		       struct api_resp *resp)
{
	struct statedb_subnet s;
	struct hx_err err = {0};
	char cidr[80], *dash;

	/* The id is the CIDR with its '/' as '-' ("10.1.0.0-24"). */
	snprintf(cidr, sizeof(cidr), "%s", req->arg[1]);
	if ((dash = strrchr(cidr, '-')) != NULL)
		*dash = '/';
	if (strcmp(req->method, "GET") == 0) {
		if (statedb_subnet_get(a->db, cidr, &s, &err) < 0)
			return fail(resp, &err);
		resp->data = subnet_json(&s);
		return;
	}
	if (statedb_subnet_delete(a->db, cidr, &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.subnet", "network", req->actor,
		    "subnet %s deleted", cidr);
	netexec_kick(a);
	resp->data = json_object();
}

/* ---- IPAM ---- */

static void ipam_list(struct agent *a, struct api_req *req,
		      struct api_resp *resp)
{
	struct statedb_ip *ips;
	struct hx_err err = {0};
	char vnet[16] = "", vmid[24] = "", *end;
	int64_t id = 0;
	unsigned n;

	(void)api_query(req, "vnet", vnet, sizeof(vnet));
	if (api_query(req, "vmid", vmid, sizeof(vmid))) {
		id = strtoll(vmid, &end, 10);
		if (end == vmid || *end != '\0' || id <= 0) {
			api_error(resp, -EINVAL,
				  "query parameter 'vmid' must be a VMID");
			return;
		}
	}
	if (statedb_ip_list(a->db, vnet[0] ? vnet : NULL, id, &ips, &n,
			    &err) < 0)
		return fail(resp, &err);
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(resp->data, ip_json(&ips[i]));
	free(ips);
}

static void ipam(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"vnet", "subnet",	  "ip",
					      "family", "mac",	  "hostname",
					      NULL};
	char vnet[16], subnet[64], ip[48], mac[24], hostname[64];
	struct statedb_ip_req q = {0};
	struct statedb_ip got;
	struct hx_err err = {0};
	int64_t family = 0;
	bool created;

	if (strcmp(req->method, "GET") == 0)
		return ipam_list(a, req, resp);
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "vnet", true, vnet, sizeof(vnet)) ||
	    !netapi_str(req, resp, "subnet", false, subnet, sizeof(subnet)) ||
	    !netapi_str(req, resp, "ip", false, ip, sizeof(ip)) ||
	    !netapi_int(req, resp, "family", 4, 6, &family) ||
	    !netapi_str(req, resp, "mac", false, mac, sizeof(mac)) ||
	    !netapi_str(req, resp, "hostname", false, hostname,
			sizeof(hostname)))
		return;
	if (family == 5) {
		api_error(resp, -EINVAL, "family: must be 4 or 6");
		return;
	}
	q = (struct statedb_ip_req){
		.vnet = vnet,
		.subnet = subnet[0] ? subnet : NULL,
		.family = (int)family,
		.ip = ip[0] ? ip : NULL,
		.mac = mac,
		.hostname = hostname,
	};
	if (statedb_ip_allocate(a->db, &q, &got, &created, &err) < 0)
		return fail(resp, &err);
	netexec_kick(a);
	resp->status = created ? 201 : 200;
	resp->data = ip_json(&got);
}

static void ipam_one(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	struct hx_err err = {0};

	if (statedb_ip_release(a->db, req->arg[1], &err) < 0)
		return fail(resp, &err);
	netexec_kick(a);
	resp->data = json_object();
}

/* ---- routing ---- */

struct net_route {
	const char *what;  /* first segment below /network */
	bool one;	   /* with an object id */
	const char *methods;
	void (*fn)(struct agent *a, struct api_req *req,
		   struct api_resp *resp);
};

static const struct net_route net_routes[] = {
	{"zones", false, "GET POST", zones},
	{"zones", true, "GET DELETE", zone_one},
	{"vnets", false, "GET POST", vnets},
	{"vnets", true, "GET DELETE", vnet_one},
	{"subnets", false, "GET POST", subnets},
	{"subnets", true, "GET DELETE", subnet_one},
	{"ipam", false, "GET POST", ipam},
	{"ipam", true, "DELETE", ipam_one},
};

/* Whether @method is a word of the space-separated @methods. */
static bool method_in(const char *method, const char *methods)
{
	size_t n = strlen(method);

	for (const char *p = methods; (p = strstr(p, method)) != NULL; p++)
		if ((p == methods || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

void h_network(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	const char *what = req->arg[0];
	bool one, known = false;

	if (strncmp(req->path, "/network/firewall/", 18) == 0) {
		h_firewall(a, req, resp);
		return;
	}
	/* Whether the path names one object (a segment after @what). */
	one = strchr(req->path + strlen("/network/"), '/') != NULL;
	for (size_t i = 0; i < HX_ARRAY_SIZE(net_routes); i++) {
		const struct net_route *rt = &net_routes[i];

		if (strcmp(rt->what, what) != 0 || rt->one != one)
			continue;
		known = true;
		if (!method_in(req->method, rt->methods))
			continue;
		rt->fn(a, req, resp);
		return;
	}
	if (known) {
		resp->status = 405;
		resp->code = "method_not_allowed";
		snprintf(resp->error, sizeof(resp->error),
			 "%s is not allowed on %s", req->method, req->path);
	} else
		api_error(resp, -ENOENT, "no such API path: %s", req->path);
}
