/*
 * hxctl: the command-line client of the Horcrux HTTP API.
 *
 * DESIGN: like OpenBSD vmctl, every command is one row of ctl_commands[]:
 * its words, handler, option spec, argument count, usage and help. main()
 * parses the global options, finds the row, parses the command's options
 * against the row's spec and calls the handler, which returns the exit code.
 * Help text and usage errors derive from the table; keep
 * tools/hxctl.bash-completion and docs/hxctl.8 in step with it. hxctl shares
 * no code with hxd: docs/api.md is the contract.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tools/hxctl.h"

#define HXCTL_DEFAULT_DATA_DIR "/var/lib/horcrux"
#define HXCTL_GLOBAL_SPEC      "data-dir: url: token: ca: insecure version"

/* Help for the options of HXCTL_VM_CONF_SPEC. */
#define VM_CONF_HELP                                                           \
	"  --name NAME        [a-z0-9-], 1-63, unique\n"                       \
	"  --memory MB        16-4194304 MiB; a G suffix means GiB\n"          \
	"  --sockets N, --cores N, --cpu MODEL   (host, max, qemu64, ...)\n"   \
	"  --arch A           x86_64 or aarch64\n"                             \
	"  --machine M        pc or q35 (x86_64), virt (aarch64)\n"            \
	"  --firmware F       bios or uefi\n"                                  \
	"  --disk SPEC        repeat for each disk; replaces the list; none\n" \
	"                     empties it. SPEC: size=MB[,bus=virtio-blk|\n"    \
	"                     virtio-scsi|sata|ide][,format=qcow2|raw]\n"      \
	"                     "                                                \
	"[,cache=none|writeback|...][,volume=local:NAME,\n"                    \
	"                     POOL:NAME or /abs/path][,pool=POOL (a new\n"      \
	"                     volume there)]; size takes a G or T suffix\n"    \
	"  --cdrom ISO|none   an absolute path to an ISO image\n"              \
	"  --nic SPEC         repeat for each NIC; none empties the list.\n"   \
	"                     SPEC: bridge=BR[,model=virtio|e1000|rtl8139]\n"  \
	"                     [,mac=52:54:00:xx:xx:xx]\n"                      \
	"  --boot LIST        e.g. disk0,net0,cdrom\n"                         \
	"  --kernel PATH|none, --initrd PATH|none, --cmdline STR\n"            \
	"                     direct kernel boot\n"                            \
	"  --serial, --no-serial, --vnc, --no-vnc, --onboot, --no-onboot\n"    \
	"  --tag T            repeat for each tag; --no-tags removes all\n"    \
	"  --description D    at most 1024 characters\n"                       \
	"  --restart R        on-crash or never\n"                             \
	"  --config FILE      a JSON object (- for standard input) to send;\n" \
	"                     the options above override its members\n"

/* Options of 'ha add' and 'ha set'. */
#define HA_RES_SPEC                                                        \
	"state: max-restart: max-relocate: failback no-failback priority: " \
	"comment:"
#define HA_RES_HELP                                                           \
	"  --state S            started (default), stopped, disabled,\n"     \
	"                       ignored\n"                                    \
	"  --max-restart N      restarts on the same node after a failed\n"  \
	"                       start (0-10, default 1)\n"                    \
	"  --max-relocate N     moves to other nodes after failures (0-10,\n" \
	"                       default 1)\n"                                 \
	"  --failback, --no-failback  return to a preferred node (default\n" \
	"                       on)\n"                                        \
	"  --priority N         higher recovers first (default 0)\n"          \
	"  --comment C\n"

struct ctl_command {
	const char *group; /* first word */
	const char *name;  /* second word; NULL for a one-word command */
	hxctl_cmd_fn *fn;
	const char *opts;    /* option spec, see struct hxctl_args */
	int min_args;	     /* positional arguments */
	int max_args;	     /* -1: no limit */
	const char *usage;   /* arguments, after the command words */
	const char *help;    /* one line */
	const char *details; /* for 'hxctl help COMMAND'; may be NULL */
};

static const struct ctl_command ctl_commands[] = {
	{"cluster", "init", hxctl_cmd_cluster_init, "name:", 0, 0,
	 "[--name NAME]",
	 "create a new cluster with this node as its only voter",
	 "NAME is 1-63 characters of [a-z0-9-] (default: horcrux).\n"
	 "Prints the admin token once; it is also kept in\n"
	 "DATA_DIR/admin.token. Only over the local socket."},
	{"cluster", "token", hxctl_cmd_cluster_token, "ttl:", 0, 0,
	 "[--ttl SECONDS]", "issue a single-use join token",
	 "The token is valid for SECONDS (60-86400, default 3600) and works\n"
	 "once. Only the token is printed, on one line."},
	{"cluster", "join", hxctl_cmd_cluster_join, "", 2, 2, "ADDRESS TOKEN",
	 "join this node to the cluster of the member at ADDRESS",
	 "ADDRESS is IP[:PORT] of any member; TOKEN comes from 'hxctl cluster\n"
	 "token' on a member; a TOKEN of - is read from standard input.\n"
	 "Waits until this node is a member (up to 120 s). Only over the\n"
	 "local socket."},
	{"cluster", "leave", hxctl_cmd_cluster_leave, "", 0, 0, "",
	 "take this node out of the cluster gracefully",
	 "Hands leadership over first if this node leads, then stops hxd.\n"
	 "Only over the local socket."},
	{"cluster", "remove", hxctl_cmd_cluster_remove, "", 1, 1, "NODE",
	 "remove a node that is gone for good",
	 "NODE must be offline; its certificate is revoked. Use\n"
	 "'cluster leave'"
	 "on a node that still runs."},
	{"cluster", "status", hxctl_cmd_cluster_status, "", 0, 0, "",
	 "show the cluster, its leader, quorum and members", NULL},
	{"node", "list", hxctl_cmd_node_list, "", 0, 0, "", "list the nodes",
	 NULL},
	{"node", "show", hxctl_cmd_node_show, "", 1, 1, "NAME", "show one node",
	 NULL},
	{"node", "label", hxctl_cmd_node_label, "remove:", 1, -1,
	 "NAME [KEY=VALUE...] [--remove KEY]...", "set or remove node labels",
	 "Reads the node, applies the changes to its labels and writes them\n"
	 "back if the node did not change meanwhile (If-Match); otherwise\n"
	 "re-reads and retries, then gives up with exit code 4."},
	{"settings", "show", hxctl_cmd_settings_show, "", 0, 0, "",
	 "show the cluster-wide settings", NULL},
	{"settings", "set", hxctl_cmd_settings_set, "", 1, -1, "KEY=VALUE...",
	 "change cluster-wide settings",
	 "Integer values are sent as JSON integers, true/false as booleans,\n"
	 "anything else as a string. The server validates keys and ranges."},
	{"task", "list", hxctl_cmd_task_list, "state: limit:", 0, 0,
	 "[--state running|ok|error] [--limit N]", "list tasks, newest first",
	 NULL},
	{"task", "show", hxctl_cmd_task_show, "", 1, 1, "ID",
	 "show one task and its log", NULL},
	{"task", "wait", hxctl_cmd_task_wait, "timeout:", 1, 1,
	 "ID [--timeout SECONDS]", "wait until a task ends",
	 "Polls every 200 ms for at most SECONDS (default 600). Exits 0\n"
	 "if the task ended ok, 1 if it ended in error or did not end in\n"
	 "time."},
	{"events", NULL, hxctl_cmd_events, "since: limit: subject: follow", 0,
	 0, "[--since ID] [--limit N] [--subject S] [--follow]",
	 "show the cluster event log, oldest first",
	 "--since ID shows events after ID. --follow keeps polling for new\n"
	 "events every second until interrupted; with --json it prints one\n"
	 "event per line."},
	{"vm", "list", hxctl_cmd_vm_list, "node: state: tag: name:", 0, 0,
	 "[--node NODE] [--state STATE] [--tag TAG] [--name NAME]",
	 "list the VMs of the cluster, by VMID",
	 "Filters combine. STATE is one of stopped, starting, running,\n"
	 "paused, shutting-down, crashed, unknown."},
	{"vm", "show", hxctl_cmd_vm_show, "", 1, 1, "VM",
	 "show a VM's configuration and state",
	 "VM is a VMID or a name. Changes waiting for the next start are\n"
	 "marked (pending)."},
	{"vm", "create", hxctl_cmd_vm_create, HXCTL_VM_CREATE_SPEC, 0, 0,
	 "--name NAME [--vmid N] [--node NODE] [OPTIONS] [--start] [--wait]",
	 "create a VM",
	 "--vmid defaults to the next free one; without --node the placement\n"
	 "engine HA uses picks one (online nodes, rules, CPU and memory).\n"
	 "Options:\n" VM_CONF_HELP
	 "  --start            start the VM once created\n"
	 "  --wait             wait until the create task ends\n"
	 "Prints the VMID and the task; with --wait, follows the task."},
	{"vm", "set", hxctl_cmd_vm_set, HXCTL_VM_SET_SPEC, 1, 1,
	 "VM [OPTIONS] [--digest D] | VM --revert",
	 "change a VM's configuration",
	 "Options as for 'vm create' (not --vmid, --node: see 'vm "
	 "migrate'):\n" VM_CONF_HELP
	 "  --digest D         fail (exit 4) if the VM changed since D\n"
	 "  --revert           drop the pending changes\n"
	 "On a running VM, changes other than name, tags, description,\n"
	 "onboot and restart wait for the next start (pending)."},
	{"vm", "delete", hxctl_cmd_vm_delete, "wait", 1, 1, "VM [--wait]",
	 "delete a stopped VM and the volumes hxd created for it", NULL},
	{"vm", "start", hxctl_cmd_vm_start, "wait", 1, 1, "VM [--wait]",
	 "start a VM (applies its pending changes)", NULL},
	{"vm", "stop", hxctl_cmd_vm_stop, "wait", 1, 1, "VM [--wait]",
	 "power a VM off at once", NULL},
	{"vm", "shutdown", hxctl_cmd_vm_shutdown, "timeout: force wait", 1, 1,
	 "VM [--timeout SECONDS] [--force] [--wait]",
	 "shut a VM down through ACPI",
	 "Fails after SECONDS (1-3600, default 60) unless --force, which\n"
	 "then powers it off."},
	{"vm", "reboot", hxctl_cmd_vm_reboot, "timeout: wait", 1, 1,
	 "VM [--timeout SECONDS] [--wait]", "ACPI shutdown, then start again",
	 NULL},
	{"vm", "reset", hxctl_cmd_vm_reset, "wait", 1, 1, "VM [--wait]",
	 "hard-reset a running VM", NULL},
	{"vm", "suspend", hxctl_cmd_vm_suspend, "wait", 1, 1, "VM [--wait]",
	 "pause a VM's vCPUs", NULL},
	{"vm", "resume", hxctl_cmd_vm_resume, "wait", 1, 1, "VM [--wait]",
	 "resume a paused VM", NULL},
	{"vm", "migrate", hxctl_cmd_vm_migrate,
	 "offline bandwidth: max-downtime: wait", 2, 2,
	 "VM NODE [--offline] [--bandwidth MBPS] [--max-downtime MS] "
	 "[--wait]",
	 "move a VM to another node",
	 "A running VM moves live, a stopped one offline (--offline refuses\n"
	 "a running VM). --bandwidth limits the transfer (MiB/s, 0: no\n"
	 "limit); --max-downtime bounds the final pause (ms, default 100).\n"
	 "'vm cancel' stops a migration; the VM keeps running where it was."},
	{"vm", "cancel", hxctl_cmd_vm_cancel, "", 1, 1, "VM",
	 "cancel a VM's migration", NULL},
	{"vm", "status", hxctl_cmd_vm_status, "", 1, 1, "VM",
	 "show a VM's live state, uptime, CPU and memory use", NULL},
	{"vm", "nextid", hxctl_cmd_vm_nextid, "", 0, 0, "",
	 "print the lowest free VMID", NULL},
	{"ha", "status", hxctl_cmd_ha_status, "", 0, 0, "",
	 "show the HA state of every node and resource", NULL},
	{"ha", "list", hxctl_cmd_ha_list, "", 0, 0, "",
	 "list the HA resources", NULL},
	{"ha", "show", hxctl_cmd_ha_show, "", 1, 1, "VM",
	 "show an HA resource's configuration and status", NULL},
	{"ha", "add", hxctl_cmd_ha_add, HA_RES_SPEC, 1, 1,
	 "VM [RESOURCE OPTIONS]", "make a VM an HA resource",
	 "The VM's disks must be on storage every node reaches (no local:\n"
	 "volumes). With the setting ha.admission=1 the leader refuses a VM\n"
	 "the cluster could not restart after losing its largest node.\n"
	 "Options:\n" HA_RES_HELP},
	{"ha", "set", hxctl_cmd_ha_set, HA_RES_SPEC " digest:", 1, 1,
	 "VM [RESOURCE OPTIONS] [--digest D]", "change an HA resource",
	 "Options:\n" HA_RES_HELP
	 "  --digest D           fail (exit 4) if it changed since D\n"},
	{"ha", "remove", hxctl_cmd_ha_remove, "digest:", 1, 1,
	 "VM [--digest D]", "stop managing a VM by HA (it keeps running)",
	 NULL},
	{"ha", "why", hxctl_cmd_ha_why, "", 1, 1, "VM",
	 "explain the last HA decision about a VM",
	 "Prints the decision, its reason and, for a placement, the nodes\n"
	 "considered and how many each filter removed."},
	{"ha", "migrate", hxctl_cmd_ha_migrate, "", 2, 2, "VM NODE",
	 "live-migrate an HA VM to NODE",
	 "The HA leader checks NODE against the rules first and refuses\n"
	 "(exit 4) what they forbid."},
	{"ha", "relocate", hxctl_cmd_ha_relocate, "", 2, 2, "VM NODE",
	 "stop an HA VM, move it to NODE and start it there", NULL},
	{"ha", "maintenance", hxctl_cmd_ha_maintenance, "", 2, 2,
	 "NODE on|off", "evacuate a node (on) or bring its VMs back (off)",
	 "With maintenance on, the HA VMs of NODE live-migrate to other\n"
	 "nodes; with off they come back. The flag survives reboots."},
	{"ha", "rule", hxctl_cmd_ha_rule,
	 "type: resources: nodes: affinity: strict soft enable disable "
	 "comment: digest:",
	 1, 2, "list | show ID | delete ID | add ID OPTIONS | set ID OPTIONS",
	 "manage HA rules",
	 "Options:\n"
	 "  --type T             node-affinity, resource-affinity or order\n"
	 "  --resources VMS      VMIDs or names, comma-separated (in order)\n"
	 "  --nodes N[:P],...    node affinity: nodes with priorities\n"
	 "  --affinity A         resource affinity: positive or negative\n"
	 "  --strict, --soft     node affinity: only these nodes (strict)\n"
	 "                       or preferred; resource affinity: hard or\n"
	 "                       soft\n"
	 "  --enable, --disable, --comment C, --digest D\n"
	 "The leader refuses (exit 1, bad request) a rule that names unknown\n"
	 "VMs or nodes or contradicts the others, and stores nothing."},
	/* snapshots, templates, clones (tools/hxctl-storage.c), as qm */
	{"vm", "snapshot", hxctl_cmd_vm_snapshot, "description: wait", 2, 2,
	 "VM NAME [--description D] [--wait]", "take a snapshot of a VM",
	 "NAME is [A-Za-z0-9_-], 1-40, starting with a letter. A running\n"
	 "VM's snapshot includes its RAM (all disks qcow2, or all btrfs\n"
	 "raw); a stopped VM's covers its disks. Disks must be qcow2 or on\n"
	 "a btrfs pool."},
	{"vm", "snapshots", hxctl_cmd_vm_snapshots, "", 1, 1, "VM",
	 "show a VM's snapshots as a tree", NULL},
	{"vm", "rollback", hxctl_cmd_vm_rollback, "wait", 2, 2,
	 "VM NAME [--wait]", "roll a VM back to a snapshot",
	 "Disks and configuration go back to the snapshot. With RAM the VM\n"
	 "runs on from the snapshot; without, it is left stopped."},
	{"vm", "delsnapshot", hxctl_cmd_vm_delsnapshot, "wait", 2, 2,
	 "VM NAME [--wait]", "delete a snapshot (its children move up)",
	 NULL},
	{"vm", "template", hxctl_cmd_vm_template, "wait", 1, 1,
	 "VM [--wait]", "turn a stopped VM into a template",
	 "A template never starts; its disks are the base of linked\n"
	 "clones."},
	{"vm", "clone", hxctl_cmd_vm_clone,
	 "vmid: full linked pool: format: node: wait", 2, 2,
	 "VM NAME [--vmid N] [--full|--linked] [--pool POOL] "
	 "[--format qcow2|raw] [--node NODE] [--wait]",
	 "clone a VM",
	 "A template is cloned linked by default (qcow2 backing file, btrfs\n"
	 "snapshot, RBD clone: instant), any stopped VM in full (qemu-img\n"
	 "convert, btrfs reflink copy, RBD copy). --pool puts the clone's\n"
	 "disks in another pool (a full copy, --format to change it);\n"
	 "--node makes it a VM of another node, whose disks must then be on\n"
	 "a shared pool that node may use. The clone gets new MACs and the\n"
	 "next free VMID unless --vmid."},
	{"vm", "move-disk", hxctl_cmd_vm_move_disk,
	 "format: keep bandwidth: wait", 3, 3,
	 "VM DISK POOL [--format qcow2|raw] [--keep] [--bandwidth MBPS] "
	 "[--wait]",
	 "move a VM disk to another storage pool",
	 "DISK is the index in the VM's disks (0 for the first). A running\n"
	 "VM's disk is copied online (libvirt block copy) and switched over\n"
	 "when done; a stopped one's is converted. The source volume is\n"
	 "deleted unless --keep (or another VM or a linked clone needs it).\n"
	 "--bandwidth limits the copy (MiB/s)."},
	/* storage (tools/hxctl-storage.c), named after pvesm */
	{"storage", "list", hxctl_cmd_storage_list, "", 0, 0, "",
	 "list storage pools and each node's status of them", NULL},
	{"storage", "show", hxctl_cmd_storage_show, "", 1, 1, "POOL",
	 "show one storage pool", NULL},
	{"storage", "add", hxctl_cmd_storage_add,
	 "type: path: nodes: content: shared option:", 1, 1,
	 "POOL --type dir|btrfs|nfs|rbd [--path DIR] [--nodes N1,N2] "
	 "[--content images,iso,backup,template] [--shared] "
	 "[--option KEY=VALUE]...",
	 "define a storage pool for the cluster",
	 "POOL is [a-z0-9_-], 1-32, not 'local' (each node's images\n"
	 "directory). --nodes limits the nodes that may use it (default:\n"
	 "all); --content defaults to images. --shared says every node\n"
	 "sees the same files (a cluster filesystem), so VMs on it migrate\n"
	 "without copying. nfs: --path EXPORT --option server=HOST\n"
	 "(QEMU's own NFS client; shared). rbd: --option pool=CEPH_POOL\n"
	 "--option conf=/etc/ceph/ceph.conf (librbd; shared). LVM and ZFS\n"
	 "cannot run on this kernel: see docs/storage.md."},
	{"storage", "set", hxctl_cmd_storage_set,
	 "nodes: content: option: digest:", 1, 1,
	 "POOL [--nodes N1,N2] [--content LIST] [--option KEY=VALUE]... "
	 "[--digest D]",
	 "change a storage pool's nodes, content or options", NULL},
	{"storage", "remove", hxctl_cmd_storage_remove, "", 1, 1, "POOL",
	 "forget a storage pool no VM uses (its files stay)", NULL},
	{"storage", "content", hxctl_cmd_storage_content, "node:", 1, 1,
	 "POOL [--node NODE]", "list a pool's volumes",
	 "A node-local pool has volumes per node: --node picks which\n"
	 "(default: the node asked)."},
	{"storage", "volume", hxctl_cmd_storage_volume, "node:", 1, 1,
	 "POOL:NAME [--node NODE]", "show one volume and the VMs using it",
	 NULL},
	{"storage", "alloc", hxctl_cmd_storage_alloc, "size: node:", 1, 1,
	 "POOL:NAME --size SIZE [--node NODE]", "create an empty volume",
	 "NAME ends in .qcow2 or .raw, which sets the format. SIZE is MiB\n"
	 "or takes a G or T suffix."},
	{"storage", "upload", hxctl_cmd_storage_upload, "sha256: name:", 2, 2,
	 "POOL FILE --sha256 HEX [--name NAME.iso]",
	 "upload an ISO image into a pool",
	 "The file is streamed to the node asked (for a node-local pool, ask\n"
	 "the node that should hold it) and kept only if its SHA-256 is\n"
	 "HEX (e.g. from sha256sum or the distribution's SHA256SUMS).\n"
	 "NAME defaults to the file's name; it ends in .iso."},
	{"storage", "download", hxctl_cmd_storage_download,
	 "sha256: name: node: wait", 2, 2,
	 "POOL URL --sha256 HEX [--name NAME.iso] [--node NODE] [--wait]",
	 "download an ISO image from a URL into a pool",
	 "The node that keeps the pool's files fetches URL (http or https)\n"
	 "as a task and keeps it only if its SHA-256 is HEX. NAME defaults\n"
	 "to the URL's last segment."},
	{"storage", "free", hxctl_cmd_storage_free, "node:", 1, 1,
	 "POOL:NAME [--node NODE]", "delete a volume no VM uses", NULL},
	{"storage", "resize", hxctl_cmd_storage_resize, "size: node:", 1, 1,
	 "POOL:NAME --size SIZE [--node NODE]", "grow a volume",
	 "SIZE is the new total size; volumes only grow. A running VM's\n"
	 "disk grows online."},
#include "tools/hxctl-net.inc"
};

/* Prints "PREFIX hxctl [OPTIONS] WORDS USAGE". */
static void usage_line(FILE *f, const char *prefix,
		       const struct ctl_command *cmd)
{
	fprintf(f, "%s hxctl [OPTIONS] %s%s%s%s%s\n", prefix, cmd->group,
		cmd->name != NULL ? " " : "",
		cmd->name != NULL ? cmd->name : "",
		cmd->usage[0] != '\0' ? " " : "", cmd->usage);
}

static void usage_command(FILE *f, const struct ctl_command *cmd)
{
	usage_line(f, "usage:", cmd);
}

static void help_command(const struct ctl_command *cmd)
{
	usage_command(stdout, cmd);
	printf("\n%c%s.\n", toupper((unsigned char)cmd->help[0]),
	       cmd->help + 1);
	if (cmd->details != NULL)
		printf("\n%s\n", cmd->details);
}

/* Prints the usage of every command of @group, vmctl style. */
static void usage_group(FILE *f, const char *group)
{
	const char *prefix = "usage:";

	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(ctl_commands); i++) {
		const struct ctl_command *cmd = &ctl_commands[i];

		if (strcmp(cmd->group, group) != 0)
			continue;
		usage_line(f, prefix, cmd);
		prefix = "      ";
	}
}

static void usage(FILE *f, bool is_full)
{
	struct hxctl_table *t;

	fprintf(f, "usage: hxctl [OPTIONS] COMMAND [ARGS...]\n");
	if (!is_full) {
		fprintf(f, "Try 'hxctl --help'.\n");
		return;
	}
	fprintf(f, "\nCommands:\n");
	t = hxctl_table_new(NULL, 2);
	for (size_t i = 0; t != NULL && i < HXCTL_ARRAY_SIZE(ctl_commands);
	     i++) {
		const struct ctl_command *cmd = &ctl_commands[i];
		char words[64];
		const char *cells[2] = {words, cmd->help};

		snprintf(words, sizeof(words), "  %s%s%s", cmd->group,
			 cmd->name != NULL ? " " : "",
			 cmd->name != NULL ? cmd->name : "");
		if (hxctl_table_add(t, cells) < 0)
			break;
	}
	if (t != NULL)
		hxctl_table_print(t, f);
	hxctl_table_free(t);
	fprintf(f,
		"\nOptions:\n"
		"  --data-dir DIR  hxd's data directory (default: "
		"$HX_DATA_DIR,\n"
		"                  else %s)\n"
		"  --url URL       talk to a node's HTTPS API instead of the "
		"local socket\n"
		"  --token TOKEN   bearer token for --url (default: "
		"$HX_TOKEN)\n"
		"  --ca FILE       CA to verify the node (default: "
		"DATA_DIR/tls/ca.crt)\n"
		"  --insecure      do not verify the node's certificate\n"
		"  --json          print the response data as JSON\n"
		"  -h, --help      show this help\n"
		"  --version       show the version\n"
		"\nVM commands take a VMID or a VM name; those that start a "
		"task\n"
		"print it, and with --wait follow it until it ends.\n"
		"\nRun 'hxctl help COMMAND' for the arguments of a command.\n"
		"Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 conflict,\n"
		"5 unavailable, 6 unauthorized.\n",
		HXCTL_DEFAULT_DATA_DIR);
}

static bool has_group(const char *word)
{
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(ctl_commands); i++)
		if (strcmp(ctl_commands[i].group, word) == 0)
			return true;
	return false;
}

/* Finds the command named by argv[0] (and argv[1]); NULL if none. */
static const struct ctl_command *find_command(int argc, char **argv)
{
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(ctl_commands); i++) {
		const struct ctl_command *cmd = &ctl_commands[i];

		if (strcmp(cmd->group, argv[0]) != 0)
			continue;
		if (cmd->name == NULL)
			return cmd;
		if (argc > 1 && strcmp(cmd->name, argv[1]) == 0)
			return cmd;
	}
	return NULL;
}

/* Reports an unknown command; exit code 2. */
static int unknown_command(int argc, char **argv)
{
	if (!has_group(argv[0])) {
		hxctl_warn("unknown command '%s'", argv[0]);
		usage(stderr, false);
	} else if (argc < 2) {
		hxctl_warn("'%s' needs a subcommand", argv[0]);
		usage_group(stderr, argv[0]);
	} else {
		hxctl_warn("unknown command '%s %s'", argv[0], argv[1]);
		usage_group(stderr, argv[0]);
	}
	return HXCTL_EXIT_USAGE;
}

/* hxctl help [COMMAND [SUBCOMMAND]] */
static int cmd_help(int argc, char **argv)
{
	const struct ctl_command *cmd;

	if (argc == 0) {
		usage(stdout, true);
		return HXCTL_EXIT_OK;
	}
	cmd = find_command(argc, argv);
	if (cmd != NULL) {
		help_command(cmd);
		return HXCTL_EXIT_OK;
	}
	if (argc == 1 && has_group(argv[0])) {
		usage_group(stdout, argv[0]);
		return HXCTL_EXIT_OK;
	}
	return unknown_command(argc, argv);
}

/* Fills the client from the global options and the environment. */
static int setup_client(struct hxctl *c, const struct hxctl_args *g)
{
	const char *env = getenv("HX_DATA_DIR");

	c->data_dir = hxctl_args_get(g, "data-dir");
	if (c->data_dir == NULL)
		c->data_dir = env != NULL && env[0] != '\0'
				      ? env
				      : HXCTL_DEFAULT_DATA_DIR;
	c->url = hxctl_args_get(g, "url");
	c->token = hxctl_args_get(g, "token");
	if (c->token == NULL)
		c->token = getenv("HX_TOKEN");
	if (c->token != NULL && c->token[0] == '\0')
		c->token = NULL;
	c->ca = hxctl_args_get(g, "ca");
	c->insecure = hxctl_args_get(g, "insecure") != NULL;
	if (c->data_dir[0] == '\0' || (c->url != NULL && c->url[0] == '\0')) {
		hxctl_warn("--data-dir and --url need a non-empty value");
		return HXCTL_EXIT_USAGE;
	}
	if (c->token != NULL && strpbrk(c->token, "\r\n") != NULL) {
		hxctl_warn("the token must be a single line");
		return HXCTL_EXIT_USAGE;
	}
	return HXCTL_EXIT_OK;
}

/* Runs @cmd with its arguments argv[0..argc-1] (after the command words). */
static int run_command(const struct ctl_command *cmd, struct hxctl *c, int argc,
		       char **argv)
{
	struct hxctl_args a;
	char errbuf[256] = "";
	int code;
	int r;

	r = hxctl_args_parse(cmd->opts, argc, argv, false, &a, errbuf,
			     sizeof(errbuf));
	if (r < 0) {
		hxctl_warn("%s", r == -ENOMEM ? "out of memory" : errbuf);
		usage_command(stderr, cmd);
		code = r == -ENOMEM ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
		goto out_close_args;
	}
	if (a.help) {
		help_command(cmd);
		code = HXCTL_EXIT_OK;
		goto out_close_args;
	}
	if (a.npos < cmd->min_args ||
	    (cmd->max_args >= 0 && a.npos > cmd->max_args)) {
		hxctl_warn("wrong number of arguments");
		usage_command(stderr, cmd);
		code = HXCTL_EXIT_USAGE;
		goto out_close_args;
	}
	c->json = c->json || a.json;
	if (hxctl_http_init(c) < 0) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
		goto out_close_http;
	}
	code = cmd->fn(c, &a);
out_close_http:
	hxctl_http_close(c);
out_close_args:
	hxctl_args_close(&a);
	return code;
}

/* Sets up the client and libcurl, then runs @cmd. */
static int run_api_command(const struct ctl_command *cmd,
			   const struct hxctl_args *g, int argc, char **argv)
{
	struct hxctl c = {0};
	int words = cmd->name != NULL ? 2 : 1;
	int code;

	code = setup_client(&c, g);
	if (code != HXCTL_EXIT_OK)
		return code;
	c.json = g->json;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		hxctl_warn("cannot initialize libcurl");
		return HXCTL_EXIT_ERROR;
	}
	code = run_command(cmd, &c, argc - words, argv + words);
	curl_global_cleanup();
	return code;
}

int main(int argc, char **argv)
{
	const struct ctl_command *cmd;
	struct hxctl_args g;
	char errbuf[256] = "";
	int code;
	int r;

	r = hxctl_args_parse(HXCTL_GLOBAL_SPEC, argc - 1, argv + 1, true, &g,
			     errbuf, sizeof(errbuf));
	if (r < 0) {
		hxctl_warn("%s", r == -ENOMEM ? "out of memory" : errbuf);
		usage(stderr, false);
		code = r == -ENOMEM ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
		goto out_close_args;
	}
	argc -= 1 + g.next;
	argv += 1 + g.next;
	if (hxctl_args_get(&g, "version") != NULL) {
		printf("hxctl %s\n", PACKAGE_VERSION);
		code = HXCTL_EXIT_OK;
	} else if (g.help) {
		code = cmd_help(argc, argv);
	} else if (argc > 0 && strcmp(argv[0], "help") == 0) {
		code = cmd_help(argc - 1, argv + 1);
	} else if (argc == 0) {
		usage(stderr, false);
		code = HXCTL_EXIT_USAGE;
	} else if ((cmd = find_command(argc, argv)) == NULL) {
		code = unknown_command(argc, argv);
	} else {
		code = run_api_command(cmd, &g, argc, argv);
	}
out_close_args:
	hxctl_args_close(&g);
	if (fflush(stdout) != 0 && code == HXCTL_EXIT_OK)
		code = HXCTL_EXIT_ERROR;
	return code;
}
