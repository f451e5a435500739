/* agent/vmexec.h: the VM executor's internals, shared by its files. */
#ifndef HX_AGENT_VMEXEC_H
#define HX_AGENT_VMEXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "agent/vm.h"

struct hx_err;
struct agent;
struct statedb_vm;
struct vm_migration;

/* What the executor remembers about one VM (guarded by vmexec.lock). */
struct vm_rt {
	int64_t vmid;
	bool busy;	  /* an action owns the VM */
	bool reconciling; /* the reconciler is looking at it */
	char reported[16]; /* last state written to statedb */
	unsigned restarts;
	uint64_t restart_window_ms;
	uint64_t next_restart_ms;
	bool gave_up;
	uint64_t cpu_ns, cpu_sample_ms;
	double cpu_percent;
	struct vm_migration *mig; /* the migration in flight from here */
	uint64_t recover_ms;	  /* next look at a migration lost track of */
	int64_t ha_uid;		  /* the HA request its restarts count for */
	uint64_t lease_log_ms;	  /* last "no lease" message */
};

struct vmexec {
	struct agent *a;
	struct {
		char uri[256];
		char images_dir[1024];
		char vms_dir[1024];
	} cfg;
	bool kvm;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* kicks, and rt->reconciling cleared */
	bool kicked, stopping;
	bool ready; /* interrupted tasks ended: actions may start */
	virConnectPtr conn;
	bool conn_dead;
	int cb_id;
	struct vm_rt **rt;
	unsigned nrt, cap;
	pthread_t reconciler, events;
	/* reconciler thread only */
	uint64_t conn_log_ms, stray_log_ms;
	bool booted_checked, host_booted;
};

/* Waits on x->cond for at most @ms. Hold x->lock. */
void vmexec_wait(struct vmexec *x, unsigned ms);
/* The record of @vmid, created if new (NULL on OOM). Hold x->lock. */
struct vm_rt *vmexec_rt(struct vmexec *x, int64_t vmid);
/* A referenced libvirt connection (virConnectClose it), or NULL. */
virConnectPtr vmexec_conn(struct vmexec *x, struct hx_err *err);
/* The domain of @vmid (virDomainFree it), or NULL if not defined. */
virDomainPtr vmexec_domain(virConnectPtr c, int64_t vmid);
/* The observed state name for a libvirt state and reason. */
const char *vmexec_state_name(int state, int reason);
/* The message of this thread's last libvirt error. */
const char *vmexec_virt_error(void);
/* Runs a command with a timeout, output (stdout+stderr) into @out.
 * 0 if it exited 0. */
int vmexec_run(const char *const argv[], int timeout_ms, char *out,
	       size_t outlen);
/* The VM's file locations. */
void vmexec_paths(struct vmexec *x, int64_t vmid, char *vm_dir, size_t len,
		  struct vm_paths *p);
/* Applies pending changes, makes sure the local volumes exist, defines
 * and starts the domain, reports "running". @task 0 for none. */
int vmexec_do_start(struct vmexec *x, virConnectPtr c, int64_t vmid,
		    int64_t task, struct hx_err *err);
/* Fills pid, uptime and RSS of the VM's QEMU process from /proc. */
void vmexec_proc_info(int64_t vmid, struct vmexec_status *ret);

/* Marks the VM busy (an action owns it), after waiting up to 10 s for
 * the reconciler to let go of it. -EBUSY if another action owns it. */
int vmexec_claim(struct vmexec *x, int64_t vmid, struct hx_err *err);
/* Ends vmexec_claim() and wakes the reconciler. */
void vmexec_unclaim(struct vmexec *x, int64_t vmid);
/* Task records; failures to record are logged, never fatal. @task 0 for
 * none. */
void vmexec_task_log(struct vmexec *x, int64_t task, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vmexec_task_progress(struct vmexec *x, int64_t task, int pct,
			  const char *msg);
/* Whether the disk is a "local:" volume (in the node's images dir). */
bool vmexec_is_local(const struct vm_disk *d);
/* Deletes the VM's "local:" volumes on this node and, with @pools, the
 * pool volumes hxd named for it (storage_volume_release()). A migration's
 * source passes false: a pool volume there is on a shared pool, the very
 * one the destination now uses. */
void vmexec_volumes_delete(struct vmexec *x, const struct vm_config *c,
			   bool pools, int64_t task);
/* Deletes DATA_DIR/vms/VMID and what is in it. */
void vmexec_vm_dir_delete(struct vmexec *x, int64_t vmid);
/* Reads VM @vmid and parses its configuration. */
int vmexec_load(struct vmexec *x, int64_t vmid, struct statedb_vm *vm,
		struct vm_config *c, struct hx_err *err);

/* ---- migration (vmmigrate.c, vmtunnel.c, vmvolume.c) ---- */

/* Finishes or undoes a migration whose job is gone (hxd restarted): the
 * VM is assigned here and locked "migrate". Reconciler thread. */
/* Returns true if the VM moved to its destination. */
bool vmexec_migrate_recover(struct vmexec *x, virConnectPtr c,
			    const struct statedb_vm *vm, struct vm_rt *rt);
/* The unix socket of the local libvirtd named by @uri. -ENOTSUP for
 * URIs that do not name a local libvirtd. */
int vmtunnel_libvirt_socket(const char *uri, char *buf, size_t len);
/* A unix socket at @path whose connections reach the libvirtd of the
 * node at peer address @peer over the peer channel. */
struct vmtunnel;
int vmtunnel_start(struct agent *a, const char *path, const char *peer,
		   struct vmtunnel **ret, struct hx_err *err);
void vmtunnel_stop(struct vmtunnel *t);
/* How an offline volume copy reports and is stopped. */
struct vmvolume_ctl {
	int64_t mibs;		     /* at most this many MiB/s; 0: no limit */
	volatile uint64_t done;	     /* bytes sent so far (all volumes) */
	volatile bool *cancel;	     /* set: stop with -ECANCELED */
	void (*tick)(void *arg);     /* called about once a second */
	void *arg;
};
/* Sends the file of "local:" volume @d of VM @vmid to node @peer (offline
 * migration), which stores it in its images dir. */
int vmvolume_send(struct vmexec *x, const char *peer, int64_t vmid,
		  const struct vm_disk *d, const char *path,
		  struct vmvolume_ctl *ctl, struct hx_err *err);

#endif /* HX_AGENT_VMEXEC_H */
