/*
 * libvirt domain XML from a VM configuration. Pure: no I/O, golden-tested.
 *
 * DESIGN: the domain is persistent (defined, then started) so that libvirt
 * keeps the reason a VM stopped (guest power-off versus QEMU crash), which
 * the executor needs to decide between "stopped" and "restart". Boot order
 * is per device (<boot order='N'/>), the only form that covers disks, NICs
 * and CD-ROM together. Every string from the user is XML-escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/vm.h"
#include "lib/lib.h"
#include "net/net.h"

struct xbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void xadd(struct xbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void xadd(struct xbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	if (b->s == NULL) {
		/* never NULL + 0 below: that is undefined behaviour */
		b->s = malloc(256);
		b->cap = 256;
		b->len = 0;
		if (b->s == NULL) {
			b->oom = true;
			return;
		}
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* Appends @s escaped for XML text and attribute values. */
static void xesc(struct xbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': xadd(b, "&amp;"); break;
		case '<': xadd(b, "&lt;"); break;
		case '>': xadd(b, "&gt;"); break;
		case '\'': xadd(b, "&apos;"); break;
		case '"': xadd(b, "&quot;"); break;
		/* as references: XML parsers turn a literal CR into LF, and
		 * tab and LF in attribute values into spaces */
		case '\t': xadd(b, "&#9;"); break;
		case '\n': xadd(b, "&#10;"); break;
		case '\r': xadd(b, "&#13;"); break;
		default: xadd(b, "%c", *s); break;
		}
	}
}

void vmxml_domain_name(int64_t vmid, char *buf, size_t len)
{
	snprintf(buf, len, "hx-%" PRId64, vmid);
}

int vmxml_volume_path(const struct vm_paths *p, const struct vm_disk *d,
		      char *buf, size_t len)
{
	int n;

	if (d->volume[0] != '/' && strncmp(d->volume, "local:", 6) != 0)
		return p->resolve != NULL
			       ? p->resolve(p->resolve_data, d->volume, buf, len)
			       : -ENOENT;
	if (strncmp(d->volume, "local:", 6) != 0)
		n = snprintf(buf, len, "%s", d->volume);
	else
		n = snprintf(buf, len, "%s/%s.%s", p->images_dir, d->volume + 6,
			     d->format);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int boot_order(const struct vm_config *c, const char *dev)
{
	for (unsigned i = 0; i < c->nboot; i++)
		if (strcmp(c->boot[i], dev) == 0)
			return (int)i + 1;
	return 0;
}

static void boot_elem(struct xbuf *b, const struct vm_config *c,
		      const char *dev)
{
	int order = boot_order(c, dev);

	if (order > 0)
		xadd(b, "      <boot order='%d'/>\n", order);
}

/* Target device name and libvirt bus for disk bus @bus, @n-th of it. */
static void disk_target(const char *bus, unsigned n, char *dev, size_t len,
			const char **ret_bus)
{
	const char *prefix = "vd";

	*ret_bus = "virtio";
	if (strcmp(bus, "virtio-scsi") == 0) {
		prefix = "sd";
		*ret_bus = "scsi";
	} else if (strcmp(bus, "sata") == 0) {
		prefix = "sd";
		*ret_bus = "sata";
	} else if (strcmp(bus, "ide") == 0) {
		prefix = "hd";
		*ret_bus = "ide";
	}
	if (n < 26)
		snprintf(dev, len, "%s%c", prefix, 'a' + n);
	else
		snprintf(dev, len, "%s%c%c", prefix, 'a' + n / 26 - 1,
			 'a' + n % 26);
}

char *vmxml_rewrite_paths(const char *xml, const char *const from[],
			  const char *const to[], unsigned n)
{
	struct xbuf b = {0};
	const char *p = xml;

	xadd(&b, "%s", ""); /* an empty document stays a valid string */
	while (*p != '\0') {
		unsigned i = n;

		if (p > xml && (p[-1] == '\'' || p[-1] == '"' || p[-1] == '>'))
			for (i = 0; i < n; i++) {
				size_t fl = strlen(from[i]);
				if (fl > 0 && strncmp(p, from[i], fl) == 0 &&
				    p[fl] == '/')
					break;
			}
		if (i < n) {
			xadd(&b, "%s", to[i]);
			p += strlen(from[i]);
			continue;
		}
		/* up to and with the next quote or '>', then look again */
		size_t run = strcspn(p, "'\">");
		if (p[run] != '\0')
			run++;
		xadd(&b, "%.*s", (int)run, p);
		p += run;
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

void vmxml_disk_dev(const struct vm_config *c, unsigned i, char *buf,
		    size_t len)
{
	unsigned n = 0;
	const char *bus;
	bool blk = strcmp(c->disks[i].bus, "virtio-blk") == 0;
	bool ide = strcmp(c->disks[i].bus, "ide") == 0;

	/* the same counters as render_disks() */
	for (unsigned k = 0; k < i; k++) {
		bool kblk = strcmp(c->disks[k].bus, "virtio-blk") == 0;
		bool kide = strcmp(c->disks[k].bus, "ide") == 0;
		if (kblk == blk && kide == ide)
			n++;
	}
	disk_target(c->disks[i].bus, n, buf, len, &bus);
}

/*
 * Where a disk's data is: a file, or for the volumes of network pools
 * (storage_resolve() answers with QEMU's own names) an NFS file
 * "nfs://HOST/PATH" or a Ceph RBD image "rbd:POOL/IMAGE:conf=FILE", which
 * QEMU opens itself (libvirt's network disks).
 */
static bool is_network(const char *path)
{
	return strncmp(path, "nfs://", 6) == 0 || strncmp(path, "rbd:", 4) == 0;
}

static void disk_source(struct xbuf *b, const char *path)
{
	if (strncmp(path, "nfs://", 6) == 0) {
		const char *host = path + 6, *slash = strchr(host, '/');
		size_t hl = slash != NULL ? (size_t)(slash - host) : strlen(host);

		xadd(b, "      <source protocol='nfs' name='");
		xesc(b, slash != NULL ? slash : "/");
		xadd(b, "'>\n        <host name='%.*s'/>\n      </source>\n",
		     (int)hl, host);
	} else if (strncmp(path, "rbd:", 4) == 0) {
		const char *conf = strstr(path, ":conf=");
		char name[256];

		snprintf(name, sizeof(name), "%.*s",
			 (int)(conf != NULL ? (size_t)(conf - path - 4)
					    : strlen(path + 4)),
			 path + 4);
		xadd(b, "      <source protocol='rbd' name='");
		xesc(b, name);
		xadd(b, "'>\n");
		if (conf != NULL) {
			xadd(b, "        <config file='");
			xesc(b, conf + 6);
			xadd(b, "'/>\n");
		}
		xadd(b, "      </source>\n");
	} else {
		xadd(b, "      <source file='");
		xesc(b, path);
		xadd(b, "'/>\n");
	}
}

char *vmxml_disk_xml(const char *path, const char *format)
{
	struct xbuf b = {0};

	xadd(&b, "<disk type='%s'>\n", is_network(path) ? "network" : "file");
	disk_source(&b, path);
	xadd(&b, "  <driver type='%s'/>\n</disk>\n", format);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static int render_disks(struct xbuf *b, const struct vm_config *c,
			const struct vm_paths *p, struct hx_err *err)
{
	unsigned nvirtio = 0, nsd = 0, nhd = 0;
	bool scsi = false;
	char path[1024], dev[8], name[8];
	int r;
	const char *bus;

	for (unsigned i = 0; i < c->ndisks; i++) {
		const struct vm_disk *d = &c->disks[i];
		unsigned *counter = strcmp(d->bus, "virtio-blk") == 0 ? &nvirtio
				    : strcmp(d->bus, "ide") == 0     ? &nhd
								     : &nsd;

		if ((r = vmxml_volume_path(p, d, path, sizeof(path))) < 0)
			return hx_err_set(err, -EINVAL,
					  "disks[%u]: volume '%s': %s", i,
					  d->volume, hx_strerror(r));
		disk_target(d->bus, (*counter)++, dev, sizeof(dev), &bus);
		scsi = scsi || strcmp(bus, "scsi") == 0;
		xadd(b, "    <disk type='%s' device='disk'>\n",
		     is_network(path) ? "network" : "file");
		xadd(b, "      <driver name='qemu' type='%s' cache='%s' "
			"discard='unmap'/>\n",
		     d->format, d->cache);
		disk_source(b, path);
		xadd(b, "      <target dev='%s' bus='%s'/>\n", dev, bus);
		snprintf(name, sizeof(name), "disk%u", i % 100);
		boot_elem(b, c, name);
		xadd(b, "      <alias name='ua-disk%u'/>\n", i);
		xadd(b, "    </disk>\n");
	}
	if (c->cdrom[0] != '\0') {
		bool ide = strcmp(c->machine, "pc") == 0;
		char iso[1024];

		if (c->cdrom[0] == '/')
			snprintf(iso, sizeof(iso), "%s", c->cdrom);
		else if (p->resolve == NULL ||
			 (r = p->resolve(p->resolve_data, c->cdrom, iso,
					 sizeof(iso))) < 0)
			return hx_err_set(err, -EINVAL,
					  "cdrom: volume '%s' cannot be resolved",
					  c->cdrom);
		/* The CD-ROM sits after the disks of its bus. */
		if (ide)
			disk_target("ide", nhd + (nhd < 2 ? 2 - nhd : 0), dev,
				    sizeof(dev), &bus);
		else
			disk_target(strcmp(c->arch, "aarch64") == 0
					    ? "virtio-scsi"
					    : "sata",
				    nsd, dev, sizeof(dev), &bus);
		scsi = scsi || strcmp(bus, "scsi") == 0;
		xadd(b, "    <disk type='file' device='cdrom'>\n"
			"      <driver name='qemu' type='raw'/>\n"
			"      <source file='");
		xesc(b, iso);
		xadd(b, "'/>\n      <target dev='%s' bus='%s'/>\n"
			"      <readonly/>\n",
		     dev, bus);
		boot_elem(b, c, "cdrom");
		xadd(b, "    </disk>\n");
	}
	if (scsi)
		xadd(b, "    <controller type='scsi' model='virtio-scsi'/>\n");
	return 0;
}

static void render_cpu(struct xbuf *b, const struct vm_config *c,
		       const struct vm_paths *p)
{
	if (strcmp(c->cpu_model, "host") == 0 && p->kvm)
		xadd(b, "  <cpu mode='host-passthrough' check='none'>\n");
	else if (strcmp(c->cpu_model, "host") == 0 ||
		 strcmp(c->cpu_model, "max") == 0)
		xadd(b, "  <cpu mode='maximum' check='none'>\n");
	else {
		xadd(b, "  <cpu mode='custom' match='exact' check='none'>\n"
			"    <model fallback='forbid'>");
		xesc(b, c->cpu_model);
		xadd(b, "</model>\n");
	}
	xadd(b, "    <topology sockets='%d' dies='1' cores='%d' threads='1'/>\n"
		"  </cpu>\n",
	     c->sockets, c->cores);
}

int vmxml_render(const struct vm_config *c, const struct vm_paths *p,
		 char **ret_xml, struct hx_err *err)
{
	struct xbuf b = {0};
	char name[32];
	bool x86 = strcmp(c->arch, "x86_64") == 0;
	int r;

	vmxml_domain_name(c->vmid, name, sizeof(name));
	xadd(&b, "<domain type='%s'>\n  <name>%s</name>\n",
	     p->kvm ? "kvm" : "qemu", name);
	if (p->uuid != NULL) /* redefining keeps the domain's identity */
		xadd(&b, "  <uuid>%s</uuid>\n", p->uuid);
	xadd(&b, "  <title>");
	xesc(&b, c->name);
	xadd(&b, "</title>\n  <description>");
	xesc(&b, c->description);
	xadd(&b, "</description>\n"
		 "  <metadata>\n"
		 "    <hx:vm xmlns:hx='urn:horcrux:vm:1'>\n"
		 "      <hx:vmid>%" PRId64 "</hx:vmid>\n"
		 "    </hx:vm>\n"
		 "  </metadata>\n",
	     c->vmid);
	xadd(&b, "  <memory unit='MiB'>%" PRId64 "</memory>\n"
		 "  <vcpu placement='static'>%d</vcpu>\n",
	     c->memory_mb, c->sockets * c->cores);
	xadd(&b, "  <os%s>\n    <type arch='%s' machine='%s'>hvm</type>\n",
	     strcmp(c->firmware, "uefi") == 0 ? " firmware='efi'" : "",
	     c->arch, c->machine);
	if (c->has_kernel) {
		xadd(&b, "    <kernel>");
		xesc(&b, c->kernel);
		xadd(&b, "</kernel>\n");
		if (c->initrd[0] != '\0') {
			xadd(&b, "    <initrd>");
			xesc(&b, c->initrd);
			xadd(&b, "</initrd>\n");
		}
		xadd(&b, "    <cmdline>");
		xesc(&b, c->cmdline);
		xadd(&b, "</cmdline>\n");
	}
	xadd(&b, "  </os>\n  <features>\n    <acpi/>\n%s  </features>\n",
	     x86 ? "    <apic/>\n" : "    <gic version='3'/>\n");
	render_cpu(&b, c, p);
	xadd(&b, "  <clock offset='utc'/>\n"
		 "  <on_poweroff>destroy</on_poweroff>\n"
		 "  <on_reboot>restart</on_reboot>\n"
		 "  <on_crash>destroy</on_crash>\n"
		 "  <devices>\n");
	if ((r = render_disks(&b, c, p, err)) < 0) {
		free(b.s);
		return r;
	}
	for (unsigned i = 0; i < c->nnics; i++) {
		char dev[8], tap[NET_IFNAMSIZ];

		xadd(&b, "    <interface type='bridge'>\n"
			 "      <source bridge='");
		xesc(&b, c->nics[i].bridge);
		net_tap_name(c->vmid, i, tap);
		xadd(&b, "'/>\n      <target dev='%s'/>\n"
			 "      <mac address='%s'/>\n"
			 "      <model type='%s'/>\n",
		     tap, c->nics[i].mac, c->nics[i].model);
		snprintf(dev, sizeof(dev), "net%u", i % 100);
		boot_elem(&b, c, dev);
		xadd(&b, "      <alias name='ua-net%u'/>\n    </interface>\n", i);
	}
	if (c->serial) {
		xadd(&b, "    <serial type='file'>\n      <source path='");
		xesc(&b, p->vm_dir);
		xadd(&b, "/serial.log' append='on'/>\n"
			 "      <target port='0'/>\n    </serial>\n");
	}
	if (c->vnc)
		xadd(&b, "    <graphics type='vnc' autoport='yes' "
			 "listen='127.0.0.1'/>\n"
			 "    <video><model type='%s'/></video>\n",
		     x86 ? "vga" : "virtio");
	else
		xadd(&b, "    <video><model type='none'/></video>\n");
	xadd(&b, "    <controller type='usb' model='none'/>\n"
		 "    <memballoon model='virtio'>\n"
		 "      <stats period='5'/>\n"
		 "    </memballoon>\n"
		 "  </devices>\n</domain>\n");
	if (b.oom) {
		free(b.s);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	*ret_xml = b.s;
	return 0;
}
