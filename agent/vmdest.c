/*
 * The destination side of VM migrations, and the volume stream of offline
 * migrations.
 *
 * DESIGN: the source drives; the destination answers three internal
 * requests that only cluster members can send (forwarded API calls over
 * the peer channel): prepare (check that this node can run the VM, create
 * its directory and the empty volumes a live migration copies into), probe
 * (what libvirt here knows of the VM's domain) and abort (remove what a
 * failed migration left). Each checks the replicated lock first: a node
 * prepares or receives only for a VM locked "migrate" towards itself, and
 * never removes anything of a VM it owns.
 *
 * Offline volumes travel on one MSG connection: a header map, then frames
 * 'D' + 8-byte offset + data for the allocated extents only (sparse files
 * stay sparse), then 'E' + the SHA-256 of all data frames. The receiver
 * writes NAME.part, hashes what it wrote, and renames it into place only
 * when size and hash match; it answers one map, {"ok"} or {"error"}.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <sodium.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/storage.h"
#include "agent/msg.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define CHUNK (1u << 20)

/* ---- checks ---- */

/* The VM, locked "migrate" from @source towards this node. */
static int incoming(struct vmexec *x, int64_t vmid, const char *source,
		    bool need_lock, struct statedb_vm *vm,
		    struct vm_config *conf, struct hx_err *err)
{
	int r;

	if ((r = vmexec_load(x, vmid, vm, conf, err)) < 0)
		return r;
	if (strcmp(vm->node, x->a->cfg.name) == 0)
		r = hx_err_set(err, -EINVAL, "VM %" PRId64 " is already on "
					     "node '%s'",
			       vmid, vm->node);
	else if (source != NULL && strcmp(vm->node, source) != 0)
		r = hx_err_set(err, -EBUSY, "VM %" PRId64 " is on node '%s', "
					    "not '%s'",
			       vmid, vm->node, source);
	else if (need_lock && (strcmp(vm->lock, "migrate") != 0 ||
			       strcmp(vm->target, x->a->cfg.name) != 0))
		r = hx_err_set(err, -EBUSY,
			       "VM %" PRId64 " is not migrating to node '%s'",
			       vmid, x->a->cfg.name);
	if (r < 0)
		statedb_vm_clear(vm);
	return r;
}

/* What the VM needs from this node: bridges, files given by path. */
static int node_check(struct vmexec *x, const struct vm_config *c,
		      struct hx_err *err)
{
	const char *me = x->a->cfg.name;
	struct stat st;

	for (unsigned i = 0; i < c->nnics; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge",
			 c->nics[i].bridge);
		if (stat(path, &st) < 0)
			return hx_err_set(err, -EINVAL,
					  "nics[%u].bridge: no bridge '%s' on "
					  "node '%s'",
					  i, c->nics[i].bridge, me);
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		const char *v = c->disks[i].volume;
		struct hx_err e = {0};

		if (v[0] == '/' || vmexec_is_local(&c->disks[i]))
			continue;
		/* Pool volumes travel only on shared pools. */
		if (storage_volume_reachable(x->a, v, &e) < 0)
			return hx_err_set(err, -EINVAL,
					  "disks[%u]: '%s' cannot move to node "
					  "'%s': %s",
					  i, v, me,
					  e.msg[0] ? e.msg : "not found there");
	}
	for (unsigned i = 0; i < c->ndisks; i++)
		if (c->disks[i].volume[0] == '/' &&
		    stat(c->disks[i].volume, &st) < 0)
			return hx_err_set(err, -EINVAL,
					  "disks[%u]: '%s' is not on node '%s' "
					  "(local disks are copied, others "
					  "must be shared)",
					  i, c->disks[i].volume, me);
	if (c->cdrom[0] != '\0' && c->cdrom[0] != '/') {
		struct hx_err e = {0};

		if (storage_volume_reachable(x->a, c->cdrom, &e) < 0)
			return hx_err_set(err, -EINVAL,
					  "cdrom '%s' cannot move to node '%s': "
					  "%s",
					  c->cdrom, me,
					  e.msg[0] ? e.msg : "not found there");
	}
	const char *files[] = {c->cdrom[0] == '/' ? c->cdrom : "",
			       c->has_kernel ? c->kernel : "",
			       c->has_kernel ? c->initrd : ""};
	for (size_t i = 0; i < HX_ARRAY_SIZE(files); i++)
		if (files[i][0] != '\0' && stat(files[i], &st) < 0)
			return hx_err_set(err, -EINVAL,
					  "'%s' is not on node '%s'", files[i],
					  me);
	return 0;
}

/* Whether another VM of this node uses "local:" volume @volume. */
static int volume_taken(struct vmexec *x, int64_t vmid, const char *volume,
			int64_t *ret_owner)
{
	struct statedb_vm *vms = NULL;
	struct vm_config *c = calloc(1, sizeof(*c));
	unsigned n = 0;
	int r;

	if (c == NULL)
		return -ENOMEM;
	if ((r = statedb_vm_list(x->a->db, x->a->cfg.name, &vms, &n, NULL)) <
	    0) {
		free(c);
		return r;
	}
	r = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		if (vms[i].vmid == vmid || vmconf_load(vms[i].config, c, NULL) < 0)
			continue;
		for (unsigned k = 0; k < c->ndisks; k++)
			if (strcmp(c->disks[k].volume, volume) == 0) {
				*ret_owner = vms[i].vmid;
				r = 1;
			}
	}
	statedb_vm_list_free(vms, n);
	free(c);
	return r;
}

static int volumes_free(struct vmexec *x, const struct vm_config *c,
			struct hx_err *err)
{
	for (unsigned i = 0; i < c->ndisks; i++) {
		int64_t owner = 0;
		int r;

		if (!vmexec_is_local(&c->disks[i]))
			continue;
		r = volume_taken(x, c->vmid, c->disks[i].volume, &owner);
		if (r < 0)
			return hx_err_set(err, r, "cannot list this node's VMs");
		if (r > 0)
			return hx_err_set(err, -EBUSY,
					  "volume %s is used by VM %" PRId64
					  " on node '%s'",
					  c->disks[i].volume, owner,
					  x->a->cfg.name);
	}
	return 0;
}

/* ---- prepare, probe, abort ---- */

static int create_volume(struct vmexec *x, const struct vm_config *c,
			 json_t *v, struct hx_err *err)
{
	const char *name = json_string_value(json_object_get(v, "volume"));
	json_int_t size = json_integer_value(json_object_get(v, "size"));
	char vm_dir[1100], path[1100], sz[32], out[512];
	const struct vm_disk *d = NULL;
	struct vm_paths p;

	for (unsigned i = 0; name != NULL && i < c->ndisks; i++)
		if (strcmp(c->disks[i].volume, name) == 0 &&
		    vmexec_is_local(&c->disks[i]))
			d = &c->disks[i];
	if (d == NULL || size <= 0)
		return hx_err_set(err, -EINVAL, "volumes: '%s' is not a local "
						"volume of the VM",
				  name != NULL ? name : "?");
	vmexec_paths(x, c->vmid, vm_dir, sizeof(vm_dir), &p);
	if (vmxml_volume_path(&p, d, path, sizeof(path)) < 0)
		return hx_err_set(err, -ENAMETOOLONG, "path too long");
	(void)unlink(path); /* left over by an earlier attempt */
	snprintf(sz, sizeof(sz), "%" JSON_INTEGER_FORMAT, size);
	const char *argv[] = {"qemu-img", "create", "-q", "-f", d->format,
			      path,	  sz,	    NULL};
	if (vmexec_run(argv, 60000, out, sizeof(out)) < 0)
		return hx_err_set(err, -EIO, "cannot create volume %s: %s",
				  name, out);
	return 0;
}

int vmexec_migrate_prepare(struct vmexec *x, int64_t vmid, json_t *body,
			   json_t **ret, struct hx_err *err)
{
	const char *source = json_string_value(json_object_get(body, "source"));
	bool check = json_is_true(json_object_get(body, "check"));
	bool offline = json_is_true(json_object_get(body, "offline"));
	json_t *vols = json_object_get(body, "volumes"), *v;
	struct vm_config *c = calloc(1, sizeof(*c));
	char vm_dir[1100], sock[256];
	struct statedb_vm vm;
	struct vm_paths p;
	size_t i;
	int r;

	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if (source == NULL) {
		r = hx_err_set(err, -EINVAL, "source: required");
		goto out;
	}
	if ((r = incoming(x, vmid, source, !check, &vm, c, err)) < 0)
		goto out;
	/* An HA VM may only come to a node that holds its lease (and has
	 * armed its watchdog), or a fence of this node would miss it. */
	if (vm.ha && !agent_ha_lease_valid(x->a)) {
		statedb_vm_clear(&vm);
		r = hx_err_set(err, -EAGAIN,
			       "node '%s' holds no valid HA lease: it cannot "
			       "take HA VM %" PRId64 " now",
			       x->a->cfg.name, vmid);
		goto out;
	}
	statedb_vm_clear(&vm);
	if (!offline &&
	    vmtunnel_libvirt_socket(x->cfg.uri, sock, sizeof(sock)) < 0) {
		r = hx_err_set(err, -EINVAL,
			       "node '%s' uses libvirt at '%s': live migration "
			       "needs a local libvirtd (qemu:///system)",
			       x->a->cfg.name, x->cfg.uri);
		goto out;
	}
	if ((r = node_check(x, c, err)) < 0 || (r = volumes_free(x, c, err)) < 0)
		goto out;
	vmexec_paths(x, vmid, vm_dir, sizeof(vm_dir), &p);
	if (!check) {
		if (mkdir(vm_dir, 0750) < 0 && errno != EEXIST) {
			r = hx_err_set(err, -errno, "cannot create '%s': %s",
				       vm_dir, strerror(errno));
			goto out;
		}
		json_array_foreach(offline ? NULL : vols, i, v)
			if ((r = create_volume(x, c, v, err)) < 0)
				goto out;
	}
	*ret = json_pack("{s:s, s:s, s:s}", "vm_dir", vm_dir, "images_dir",
			 p.images_dir, "address", x->a->cfg.address);
	r = *ret != NULL ? 0 : hx_err_set(err, -ENOMEM, "out of memory");
out:
	free(c);
	return r;
}

int vmexec_migrate_probe(struct vmexec *x, int64_t vmid, json_t **ret,
			 struct hx_err *err)
{
	virConnectPtr c = vmexec_conn(x, err);
	const char *state = "absent";
	virDomainJobInfo job = {0};
	int st, reason;
	virDomainPtr d;

	if (c == NULL)
		return err != NULL ? err->code : -ECONNREFUSED;
	d = vmexec_domain(c, vmid);
	if (d != NULL) {
		if (virDomainGetState(d, &st, &reason, 0) < 0)
			state = "unknown";
		else
			state = st == VIR_DOMAIN_SHUTOFF ? "stopped" : "active";
		if (virDomainGetJobInfo(d, &job) < 0)
			job.type = VIR_DOMAIN_JOB_NONE;
		virDomainFree(d);
	}
	virConnectClose(c);
	*ret = json_pack("{s:s, s:b}", "state", state, "job",
			 job.type != VIR_DOMAIN_JOB_NONE);
	return 0;
}

int vmexec_migrate_abort(struct vmexec *x, int64_t vmid, struct hx_err *err)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	char vm_dir[1100], path[1100], part[1200];
	struct statedb_vm vm;
	struct vm_paths p;
	virConnectPtr conn;
	virDomainPtr d;
	int r;

	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = incoming(x, vmid, NULL, false, &vm, c, err)) < 0)
		goto out;
	statedb_vm_clear(&vm);
	if ((conn = vmexec_conn(x, err)) == NULL) {
		r = err != NULL ? err->code : -ECONNREFUSED;
		goto out;
	}
	if ((d = vmexec_domain(conn, vmid)) != NULL) {
		if (virDomainIsActive(d) == 1) {
			hx_log(LOG_NOTICE, "vm=%" PRId64 " migration failed: "
					   "destroying the copy here",
			       vmid);
			(void)virDomainDestroy(d);
		}
		(void)virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_NVRAM);
		virDomainFree(d);
	}
	virConnectClose(conn);
	vmexec_paths(x, vmid, vm_dir, sizeof(vm_dir), &p);
	for (unsigned i = 0; i < c->ndisks; i++) {
		int64_t owner;
		if (!vmexec_is_local(&c->disks[i]) ||
		    volume_taken(x, vmid, c->disks[i].volume, &owner) != 0 ||
		    vmxml_volume_path(&p, &c->disks[i], path, sizeof(path)) < 0)
			continue;
		snprintf(part, sizeof(part), "%s.part", path);
		(void)unlink(path);
		(void)unlink(part);
	}
	vmexec_vm_dir_delete(x, vmid);
	r = 0;
out:
	free(c);
	return r;
}

/* ---- volume stream ---- */

static void put_be64(unsigned char *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static int reply(int fd, const char *error)
{
	struct msg_out m;
	int r;

	msg_out_init(&m, 1);
	if (error != NULL)
		msg_put_str(&m, "error", error);
	else
		msg_put_int(&m, "ok", 1);
	r = hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	return r;
}

static int read_reply(int fd, struct hx_err *err)
{
	char msg[512];
	struct msg_in in;
	void *buf;
	size_t len;
	int r;

	if ((r = hxraft_frame_recv(fd, 120000, &buf, &len)) < 0)
		return hx_err_set(err, r, "no answer: %s", hx_strerror(r));
	if ((r = msg_in_parse(&in, buf, len)) < 0)
		return hx_err_set(err, r, "bad answer");
	if (msg_get_str(&in, "error", msg, sizeof(msg)) == 0)
		r = hx_err_set(err, -EIO, "%s", msg);
	msg_in_close(&in);
	return r;
}

/* Sends the allocated extents of @fd (@size bytes). */
/* Sleeps as long as @sent bytes since @start_ms run ahead of @mibs. */
static void throttle(uint64_t start_ms, uint64_t sent, int64_t mibs)
{
	uint64_t due_ms;

	if (mibs <= 0)
		return;
	due_ms = start_ms + sent * 1000 / ((uint64_t)mibs << 20);
	while (hx_now_ms() < due_ms)
		usleep(10000);
}

static int send_extents(int sock, int fd, uint64_t size,
			crypto_hash_sha256_state *h, struct vmvolume_ctl *ctl,
			struct hx_err *err)
{
	unsigned char *buf = malloc(CHUNK + 9);
	uint64_t start = hx_now_ms(), sent = 0, tick = start;
	off_t off = 0;
	int r = 0;

	if (buf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	while ((uint64_t)off < size && r == 0) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;
		if (data < 0)
			break; /* only a hole is left */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = (off_t)size;
		for (off = data; off < hole && r == 0;) {
			size_t n = (size_t)(hole - off) < CHUNK
					   ? (size_t)(hole - off)
					   : CHUNK;
			ssize_t got = pread(fd, buf + 9, n, off);
			if (*ctl->cancel) {
				r = hx_err_set(err, -ECANCELED, "cancelled");
				break;
			}
			if (got <= 0) {
				r = hx_err_set(err, -EIO, "read: %s",
					       got < 0 ? strerror(errno)
						       : "short file");
				break;
			}
			buf[0] = 'D';
			put_be64(buf + 1, (uint64_t)off);
			crypto_hash_sha256_update(h, buf + 1, 8 + (size_t)got);
			if ((r = hxraft_frame_send(sock, buf,
						   9 + (size_t)got)) < 0)
				hx_err_set(err, r, "send: %s", hx_strerror(r));
			off += got;
			ctl->done += (uint64_t)got;
			sent += (uint64_t)got;
			throttle(start, sent, ctl->mibs);
			if (ctl->tick != NULL && hx_now_ms() - tick >= 1000) {
				tick = hx_now_ms();
				ctl->tick(ctl->arg);
			}
		}
	}
	free(buf);
	return r;
}

int vmvolume_send(struct vmexec *x, const char *peer, int64_t vmid,
		  const struct vm_disk *d, const char *path,
		  struct vmvolume_ctl *ctl, struct hx_err *err)
{
	unsigned char end[1 + crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state h;
	struct msg_out m;
	struct stat st;
	int fd, sock, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return hx_err_set(err, r, "cannot read '%s': %s", path,
				  strerror(-r));
	}
	if ((r = hxraft_peer_dial(x->a->peer, peer, HXRAFT_SVC_MSG, 5000,
				  &sock, err)) < 0) {
		close(fd);
		return r;
	}
	msg_out_init(&m, 7);
	msg_put_str(&m, "t", "vol");
	msg_put_int(&m, "vmid", vmid);
	msg_put_str(&m, "source", x->a->cfg.name);
	msg_put_str(&m, "volume", d->volume);
	msg_put_str(&m, "format", d->format);
	msg_put_int(&m, "size", (int64_t)st.st_size);
	msg_put_str(&m, "v", "1");
	r = hxraft_frame_send(sock, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (r < 0 || (r = read_reply(sock, err)) < 0) {
		hx_err_prefix(err, "volume %s", d->volume);
		goto out;
	}
	crypto_hash_sha256_init(&h);
	if ((r = send_extents(sock, fd, (uint64_t)st.st_size, &h, ctl, err)) <
	    0)
		goto out;
	end[0] = 'E';
	crypto_hash_sha256_final(&h, end + 1);
	if ((r = hxraft_frame_send(sock, end, sizeof(end))) < 0 ||
	    (r = read_reply(sock, err)) < 0)
		hx_err_prefix(err, "volume %s", d->volume);
out:
	close(sock);
	close(fd);
	return r;
}

/* Receives data frames into @fd until 'E'; checks the hash. */
static int recv_extents(int sock, int fd, const char **why)
{
	unsigned char got[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state h;
	unsigned char *buf;
	size_t len;
	int r;

	crypto_hash_sha256_init(&h);
	for (;;) {
		if ((r = hxraft_frame_recv(sock, 120000, (void **)&buf, &len)) <
		    0) {
			*why = "the sender went away";
			return r;
		}
		if (len == 1 + sizeof(got) && buf[0] == 'E') {
			crypto_hash_sha256_final(&h, got);
			r = sodium_memcmp(got, buf + 1, sizeof(got)) == 0
				    ? 0
				    : -EIO;
			free(buf);
			if (r < 0)
				*why = "checksum mismatch";
			return r;
		}
		if (len < 9 || buf[0] != 'D') {
			free(buf);
			*why = "malformed frame";
			return HX_EPROTO;
		}
		crypto_hash_sha256_update(&h, buf + 1, len - 1);
		if (hx_pwrite_all(fd, buf + 9, len - 9,
				  (off_t)get_be64(buf + 1)) < 0) {
			free(buf);
			*why = "cannot write";
			return -EIO;
		}
		free(buf);
	}
}

int vmexec_volume_receive(struct vmexec *x, int fd, const struct msg_in *hdr)
{
	char source[64], volume[512], path[1100], part[1200], vm_dir[1100];
	struct vm_config *c = calloc(1, sizeof(*c));
	struct hx_err err = {0};
	const struct vm_disk *d = NULL;
	const char *why = NULL;
	struct statedb_vm vm;
	struct vm_paths p;
	int64_t vmid, size;
	int out = -1, r;

	if (c == NULL || x == NULL || msg_get_int(hdr, "vmid", &vmid) < 0 ||
	    msg_get_int(hdr, "size", &size) < 0 || size < 0 ||
	    msg_get_str(hdr, "source", source, sizeof(source)) < 0 ||
	    msg_get_str(hdr, "volume", volume, sizeof(volume)) < 0) {
		free(c);
		return reply(fd, "malformed volume header");
	}
	if (incoming(x, vmid, source, true, &vm, c, &err) < 0) {
		free(c);
		return reply(fd, err.msg);
	}
	statedb_vm_clear(&vm);
	for (unsigned i = 0; i < c->ndisks; i++)
		if (strcmp(c->disks[i].volume, volume) == 0 &&
		    vmexec_is_local(&c->disks[i]))
			d = &c->disks[i];
	vmexec_paths(x, vmid, vm_dir, sizeof(vm_dir), &p);
	if (d == NULL || vmxml_volume_path(&p, d, path, sizeof(path)) < 0) {
		free(c);
		return reply(fd, "not a local volume of the VM");
	}
	snprintf(part, sizeof(part), "%s.part", path);
	out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || reply(fd, NULL) < 0) {
		why = "cannot create the file";
		r = -EIO;
	} else {
		r = recv_extents(fd, out, &why);
	}
	if (r == 0 && (ftruncate(out, (off_t)size) < 0 || fsync(out) < 0)) {
		why = "cannot write";
		r = -EIO;
	}
	if (out >= 0)
		close(out);
	if (r == 0 && rename(part, path) < 0) {
		why = "cannot rename";
		r = -EIO;
	}
	if (r < 0)
		(void)unlink(part);
	hx_log(r < 0 ? LOG_WARNING : LOG_INFO,
	       "vm=%" PRId64 " volume %s from '%s': %s", vmid, volume, source,
	       r < 0 ? why : "received");
	free(c);
	r = reply(fd, r < 0 ? why : NULL);
	return r;
}
