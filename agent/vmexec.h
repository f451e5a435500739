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

#endif /* HX_AGENT_VMEXEC_H */
