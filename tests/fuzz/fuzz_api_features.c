/*
 * The API fuzz target's fake cluster, second part: the features whose
 * handlers are not in this fuzz world (HA, storage, networking). Their
 * routes still go through the real route matching and dispatch, and answer
 * 501 here; the VM handlers' calls into those features see a cluster with
 * no HA resources, no vnets and volumes that are all acceptable. Nothing
 * here is under test.
 */
#include <errno.h>
#include <stdio.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/storage.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define NOT_HERE(fn)                                                           \
	void fn(struct agent *a, struct api_req *req, struct api_resp *resp)   \
	{                                                                      \
		(void)a, (void)req;                                            \
		resp->status = 501;                                            \
		resp->code = "internal";                                       \
		snprintf(resp->error, sizeof(resp->error),                     \
			 "not in the API fuzz world: " #fn);                   \
	}

NOT_HERE(h_ha_status)
NOT_HERE(h_ha_resources_list)
NOT_HERE(h_ha_resource_add)
NOT_HERE(h_ha_resource_get)
NOT_HERE(h_ha_resource_patch)
NOT_HERE(h_ha_resource_delete)
NOT_HERE(h_ha_resource_why)
NOT_HERE(h_ha_resource_action)
NOT_HERE(h_ha_node_maintenance)
NOT_HERE(h_ha_rules_list)
NOT_HERE(h_ha_rule_add)
NOT_HERE(h_ha_rule_get)
NOT_HERE(h_ha_rule_patch)
NOT_HERE(h_ha_rule_delete)
NOT_HERE(h_pools_list)
NOT_HERE(h_pool_create)
NOT_HERE(h_pool_get)
NOT_HERE(h_pool_patch)
NOT_HERE(h_pool_delete)
NOT_HERE(h_volumes_list)
NOT_HERE(h_volume_create)
NOT_HERE(h_volume_get)
NOT_HERE(h_volume_delete)
NOT_HERE(h_volume_resize)
NOT_HERE(h_network)
NOT_HERE(h_vm_snapshots_list)
NOT_HERE(h_vm_snapshot_create)
NOT_HERE(h_vm_snapshot_rollback)
NOT_HERE(h_vm_snapshot_delete)
NOT_HERE(h_vm_template)
NOT_HERE(h_vm_clone)
NOT_HERE(h_vm_disk_move)
NOT_HERE(h_iso_download)

/* Streamed ISO uploads reach the real hooks in api.c (authentication,
 * route, query); storage refuses them here. */
void storage_upload_begin(struct agent *a, const char *pool, const char *name,
			  const char *sha256, const char *length,
			  const char *actor, struct storage_upload **ret,
			  struct api_resp *resp)
{
	(void)a, (void)pool, (void)name, (void)sha256, (void)length;
	(void)actor;
	*ret = NULL;
	resp->status = 501;
	resp->code = "internal";
	snprintf(resp->error, sizeof(resp->error),
		 "not in the API fuzz world: ISO uploads");
}

int storage_upload_write(struct storage_upload *u, const void *buf, size_t len,
			 struct api_resp *resp)
{
	(void)u, (void)buf, (void)len, (void)resp;
	return -EINVAL; /* never called: no upload starts */
}

void storage_upload_end(struct agent *a, struct storage_upload *u,
			struct api_resp *resp)
{
	(void)a, (void)u, (void)resp;
}

void storage_upload_abort(struct storage_upload *u)
{
	(void)u;
}

/* 'cluster leave' asks hxd to stop once its answer is sent: the fuzz world
 * goes on. */
void agent_request_exit(struct agent *a, int code)
{
	(void)a, (void)code;
}

int statedb_ha_resource_get(struct statedb *db, int64_t vmid,
			    struct statedb_ha_resource *ret,
			    struct hx_err *err)
{
	(void)db, (void)ret;
	return hx_err_set(err, -ENOENT, "VM %lld is not an HA resource",
			  (long long)vmid);
}

int statedb_vnet_get(struct statedb *db, const char *name,
		     struct statedb_vnet *ret, struct hx_err *err)
{
	(void)db, (void)ret;
	return hx_err_set(err, -ENOENT, "no vnet '%s'", name);
}

int storage_vm_check(struct agent *a, const struct vm_config *c,
		     struct hx_err *err)
{
	(void)a, (void)c, (void)err;
	return 0;
}

/* The placement engine is not here: every new VM goes to the node asked. */
int agent_ha_place(struct agent *a, int64_t vmid, double cpu, uint64_t mem,
		   char *ret, size_t len, char *why, size_t why_len,
		   struct hx_err *err)
{
	(void)vmid, (void)cpu, (void)mem;
	snprintf(ret, len, "%s", a->cfg.name);
	snprintf(why, why_len, "placement: the node asked (fuzz world)");
	(void)err;
	return 0;
}
