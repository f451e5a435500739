/* agent/vm.h: VM configuration, libvirt domain XML and the VM executor. */
#ifndef HX_AGENT_VM_H
#define HX_AGENT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct hx_err;
struct agent;

#define VM_MAX_DISKS 16
#define VM_MAX_NICS 16
#define VM_MAX_TAGS 16
#define VM_MAX_BOOT (VM_MAX_DISKS + VM_MAX_NICS + 1)

struct vm_disk {
	char bus[16];	   /* virtio-blk, virtio-scsi, sata, ide */
	char volume[512];  /* "local:NAME" or an absolute path */
	int64_t size_mb;   /* 0: unknown (existing file) */
	char format[8];	   /* qcow2, raw */
	char cache[16];
};

struct vm_nic {
	char model[16];	 /* virtio, e1000, rtl8139 */
	char bridge[16]; /* IFNAMSIZ; a vnet's is derived (net_bridge_name) */
	char mac[18];
	char vnet[16];	 /* "" for a NIC on a host bridge */
	char ip4[48];	 /* vnet NICs: "auto", "none" or a static address */
	char ip6[48];
};

/* A validated, normalized VM configuration (every default filled in). */
struct vm_config {
	int64_t vmid;
	char name[64];
	char node[64];
	char arch[16];
	char machine[16];
	char firmware[8];
	int sockets, cores;
	char cpu_model[64];
	int64_t memory_mb;
	struct vm_disk disks[VM_MAX_DISKS];
	unsigned ndisks;
	char cdrom[512]; /* "" for none */
	struct vm_nic nics[VM_MAX_NICS];
	unsigned nnics;
	char boot[VM_MAX_BOOT][8];
	unsigned nboot;
	bool has_kernel;
	char kernel[512], initrd[512], cmdline[1024];
	bool serial, vnc;
	char tags[VM_MAX_TAGS][64];
	unsigned ntags;
	char description[1025];
	bool onboot;
	bool template; /* a base for clones: never started */
	char restart[16]; /* on-crash, never */
};

/* ---- configuration (vmconf.c) ---- */

/* Parses and validates a full configuration. Fields absent from @j get
 * their defaults; MACs left out are generated. -EINVAL with the field at
 * fault in @err. */
int vmconf_parse(json_t *j, struct vm_config *ret, struct hx_err *err);
/* Applies the fields of @patch to @cur into @ret and validates the result.
 * "vmid" and "node" may not change. */
int vmconf_patch(const struct vm_config *cur, json_t *patch,
		 struct vm_config *ret, struct hx_err *err);
/* The configuration as JSON (new reference). */
json_t *vmconf_to_json(const struct vm_config *c);
/* JSON text (malloc'ed) of the configuration, compact and key-sorted. */
char *vmconf_dump(const struct vm_config *c);
/* Parses stored JSON text. */
int vmconf_load(const char *text, struct vm_config *ret, struct hx_err *err);
/* Whether changing @a into @b needs the VM restarted. */
bool vmconf_needs_restart(const struct vm_config *a, const struct vm_config *b);
/* " tag1 tag2 " for the tags column. */
void vmconf_tags_text(const struct vm_config *c, char *buf, size_t len);

/* ---- libvirt domain XML (vmxml.c) ---- */

/* Where a node keeps a VM's files. */
struct vm_paths {
	const char *images_dir; /* "local:" volumes */
	const char *vm_dir;	/* serial log and NVRAM for this VM */
	bool kvm;		/* domain type kvm (else qemu/TCG) */
	const char *uuid;	/* of the existing domain, NULL for a new one */
	/* Resolves a "POOL:NAME" volume to the path QEMU opens (0 or a
	 * negative errno); NULL: such volumes cannot be resolved. */
	int (*resolve)(void *data, const char *volume, char *buf, size_t len);
	void *resolve_data;
};

/* @xml with every path that starts with @from[i] + "/" right after a quote
 * or a tag (attribute values, element text) moved under @to[i] (the first
 * match wins). Malloc'ed; NULL on OOM. Used to point a migrating domain at
 * the destination's directories. */
char *vmxml_rewrite_paths(const char *xml, const char *const from[],
			  const char *const to[], unsigned n);
/* Target device name ("vda", "sdb", ...) of disk @i, as rendered. */
void vmxml_disk_dev(const struct vm_config *c, unsigned i, char *buf,
		    size_t len);
/* Domain name for @vmid ("hx-VMID"). */
void vmxml_domain_name(int64_t vmid, char *buf, size_t len);
/* Absolute path of disk @d's volume into @buf. */
int vmxml_volume_path(const struct vm_paths *p, const struct vm_disk *d,
		      char *buf, size_t len);
/* A <disk> element for a block copy into @path (a file, or an nfs:// or
 * rbd: volume) of @format; malloc'ed, NULL on OOM. */
char *vmxml_disk_xml(const char *path, const char *format);
/* Renders the domain XML (malloc'ed). -EINVAL if a path does not fit. */
int vmxml_render(const struct vm_config *c, const struct vm_paths *p,
		 char **ret_xml, struct hx_err *err);

/* ---- executor (vmexec.c) ---- */

/*
 * The VM executor of this node: reconciles the VMs assigned to the node
 * with its libvirtd (desired state in statedb, observed state reported
 * back), and runs VM actions as tasks. Message-shaped: a request struct
 * in, the outcome in the task; the agent never touches libvirt itself.
 */
struct vmexec;

struct vmexec_config {
	const char *uri;	/* libvirt URI */
	const char *images_dir; /* "local:" volumes */
	const char *vms_dir;	/* per-VM files: DIR/VMID/serial.log */
	const char *accel;	/* auto, kvm, tcg */
};

enum vmexec_op {
	VMOP_CREATE,
	VMOP_START,
	VMOP_STOP,
	VMOP_SHUTDOWN,
	VMOP_REBOOT,
	VMOP_RESET,
	VMOP_SUSPEND,
	VMOP_RESUME,
	VMOP_DELETE,
};

struct vmexec_req {
	enum vmexec_op op;
	int64_t vmid;
	char actor[96];
	int timeout_s;	/* shutdown, reboot */
	bool force;	/* shutdown: power off after the timeout */
	bool start;	/* create: start afterwards */
};

/* Starts the executor threads (they connect to libvirt lazily and retry,
 * so a missing libvirtd delays VMs, not hxd). */
int vmexec_start(struct agent *a, const struct vmexec_config *cfg,
		 struct vmexec **ret, struct hx_err *err);
void vmexec_stop(struct vmexec *x);
/* Wakes the reconciler now. Thread-safe. */
void vmexec_kick(struct vmexec *x);
/* Creates a task for @req and runs it in the background. -EBUSY if an
 * action for the VM is already running on this node. */
int vmexec_submit(struct vmexec *x, const struct vmexec_req *req,
		  int64_t *ret_task, struct hx_err *err);

struct vmexec_status {
	char state[16];
	int64_t uptime_s;	/* -1 if unknown */
	int64_t cpu_time_ms;
	double cpu_percent;	/* over the last reconcile interval */
	int64_t memory_mb;
	int64_t rss_mb;		/* -1 if unknown */
	int pid;		/* 0 if unknown */
};

/* Self-fence: powers off at once (virDomainDestroy) every running domain
 * here whose VMID is in @vmids. Returns how many it powered off, or a
 * negative error when libvirt cannot be reached. Any thread. */
int vmexec_fence(struct vmexec *x, const int64_t *vmids, unsigned n);
/* The number of running domains here whose VMID is in @vmids, or a
 * negative error. Any thread. */
int vmexec_count_active(struct vmexec *x, const int64_t *vmids, unsigned n);

/* Live figures of @vmid from libvirt. -ENOENT if not defined here. */
int vmexec_status(struct vmexec *x, int64_t vmid, struct vmexec_status *ret,
		  struct hx_err *err);

/* ---- migration (vmmigrate.c, vmtunnel.c, vmvolume.c) ---- */

struct vmexec_migrate_req {
	int64_t vmid;
	char target[64];	 /* destination node name */
	char target_peer[80];	 /* its peer address */
	bool online;		 /* live (running VM) or offline (stopped) */
	int64_t bandwidth_mibs;	 /* 0: unlimited */
	int64_t max_downtime_ms; /* live only */
	char actor[96];
};

/* Locks the VM "migrate" towards req->target and runs a vm.migrate task.
 * The VM must be on this node; -EBUSY if locked or busy. */
int vmexec_migrate_submit(struct vmexec *x,
			  const struct vmexec_migrate_req *req,
			  int64_t *ret_task, struct hx_err *err);
/* Asks the migration of @vmid running from this node to stop; its task
 * ends with the error "cancelled". -EBUSY if none runs here. */
int vmexec_migrate_cancel(struct vmexec *x, int64_t vmid, int64_t *ret_task,
			  struct hx_err *err);
/* Sends the internal request POST /vms/VMID/migrate/@op with @body (may
 * be NULL) to node @node at peer address @peer; its "data" in *@ret (new
 * reference) if @ret is not NULL. The other node's error comes back as a
 * code (-EINVAL, -ENOENT, -EBUSY, HX_ENOQUORUM...) and its message. */
int vmexec_peer_call(struct agent *a, const char *node, const char *peer,
		     int64_t vmid, const char *op, json_t *body, json_t **ret,
		     struct hx_err *err);
/* Destination side, for the source node (forwarded requests only): checks
 * this node can take the VM and, unless "check" is set, creates its
 * directory and the volumes a live migration copies into. Answers this
 * node's paths and address in *@ret (new reference). */
int vmexec_migrate_prepare(struct vmexec *x, int64_t vmid, json_t *body,
			   json_t **ret, struct hx_err *err);
/* Destination side: removes what a failed migration left here (domain,
 * volumes, directory), unless the VM is assigned to this node. */
int vmexec_migrate_abort(struct vmexec *x, int64_t vmid, struct hx_err *err);
/* Destination side: the VM's domain here: {"state": "absent" | "running"
 * | "paused" | "stopped", "job": true while a migration is under way}. */
int vmexec_migrate_probe(struct vmexec *x, int64_t vmid, json_t **ret,
			 struct hx_err *err);
/* Serves a LIBVIRT peer connection: relays @fd to the local libvirtd until
 * either side closes. The caller closes @fd. Peer connection thread. */
void vmexec_libvirt_serve(struct vmexec *x, int fd, const char *fp);
/* Receives a volume sent by vmvolume_send() on MSG connection @fd, after
 * its header frame (@hdr, a msgpack map). Peer connection thread. */
struct msg_in;
int vmexec_volume_receive(struct vmexec *x, int fd, const struct msg_in *hdr);
/* Writes the x509 files QEMU's migration TLS uses into DATA_DIR/qemu-tls
 * (from the node's cluster certificate). */
int agent_qemu_tls_write(struct agent *a, struct hx_err *err);

#endif /* HX_AGENT_VM_H */
