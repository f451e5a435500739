/* Unit tests: VM configuration parsing/validation and domain XML. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/vm.h"
#include "lib/lib.h"

static json_t *js(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

static int parse(const char *text, struct vm_config *c, struct hx_err *err)
{
	json_t *j = js(text);
	int r = vmconf_parse(j, c, err);

	json_decref(j);
	return r;
}

static void test_defaults(void **state)
{
	struct vm_config c;
	struct hx_err err = {0};

	(void)state;
	assert_int_equal(parse("{\"vmid\":100,\"name\":\"a\"}", &c, &err), 0);
	assert_string_equal(c.arch, "x86_64");
	assert_string_equal(c.machine, "pc");
	assert_string_equal(c.firmware, "bios");
	assert_string_equal(c.cpu_model, "qemu64");
	assert_int_equal(c.sockets, 1);
	assert_int_equal(c.cores, 1);
	assert_int_equal(c.memory_mb, 512);
	assert_true(c.serial);
	assert_false(c.vnc);
	assert_string_equal(c.restart, "on-crash");
	assert_int_equal(c.ndisks, 0);
	assert_int_equal(c.nboot, 0);
	assert_int_equal(parse("{\"vmid\":100,\"name\":\"a\",\"arch\":"
			       "\"aarch64\"}",
			       &c, &err),
			 0);
	assert_string_equal(c.machine, "virt");
	assert_string_equal(c.firmware, "uefi");
}

static void test_disks_nics_boot(void **state)
{
	struct vm_config c;
	struct hx_err err = {0};

	(void)state;
	assert_int_equal(
		parse("{\"vmid\":123,\"name\":\"a\",\"disks\":[{\"size_mb\":8},"
		      "{\"size_mb\":9,\"bus\":\"sata\",\"format\":\"raw\"}],"
		      "\"cdrom\":{\"iso\":\"/isos/x.iso\"},"
		      "\"nics\":[{\"bridge\":\"br0\",\"mac\":\"52:54:00:AB:"
		      "CD:EF\"},{\"bridge\":\"br1\"}]}",
		      &c, &err),
		0);
	assert_string_equal(c.disks[0].volume, "local:vm-123-disk-0");
	assert_string_equal(c.disks[1].volume, "local:vm-123-disk-1");
	assert_string_equal(c.disks[1].format, "raw");
	assert_string_equal(c.nics[0].mac, "52:54:00:ab:cd:ef");
	assert_int_equal(strncmp(c.nics[1].mac, "52:54:00:", 9), 0);
	assert_int_equal(strlen(c.nics[1].mac), 17);
	assert_int_equal(c.nboot, 5);
	assert_string_equal(c.boot[0], "disk0");
	assert_string_equal(c.boot[2], "cdrom");
	assert_string_equal(c.boot[4], "net1");
}

/* Pool volumes: "pool" names a new volume, "volume" an existing one whose
 * suffix sets the format. */
static void test_pool_disks(void **state)
{
	struct vm_config c, next;
	struct hx_err err = {0};
	json_t *p;

	(void)state;
	assert_int_equal(
		parse("{\"vmid\":123,\"name\":\"a\",\"disks\":[{\"size_mb\":8,"
		      "\"pool\":\"fast\",\"format\":\"raw\"},{\"volume\":"
		      "\"tank:base.qcow2\"}]}",
		      &c, &err),
		0);
	assert_string_equal(c.disks[0].volume, "fast:vm-123-disk-0.raw");
	assert_string_equal(c.disks[0].format, "raw");
	assert_string_equal(c.disks[1].volume, "tank:base.qcow2");
	assert_string_equal(c.disks[1].format, "qcow2");
	/* A disk added later gets a number no disk uses. */
	p = json_loads("{\"disks\":[{\"volume\":\"fast:vm-123-disk-0.raw\"},"
		       "{\"pool\":\"fast\",\"size_mb\":4}]}",
		       0, NULL);
	assert_int_equal(vmconf_patch(&c, p, &next, &err), 0);
	json_decref(p);
	assert_string_equal(next.disks[1].volume, "fast:vm-123-disk-1.qcow2");
}

static void test_round_trip(void **state)
{
	struct vm_config a, b;
	struct hx_err err = {0};
	char *text;

	(void)state;
	assert_int_equal(
		parse("{\"vmid\":100,\"name\":\"web\",\"node\":\"n1\",\"cpu\":"
		      "{\"sockets\":2,\"cores\":2,\"model\":\"EPYC\"},"
		      "\"memory_mb\":1024,\"disks\":[{\"size_mb\":8,\"cache\":"
		      "\"writeback\"}],\"nics\":[{\"bridge\":\"br0\"}],"
		      "\"kernel\":{\"path\":\"/k\",\"initrd\":\"/i\","
		      "\"cmdline\":\"console=ttyS0\"},\"tags\":[\"x\",\"y\","
		      "\"x\"],\"description\":\"d\",\"onboot\":true,\"vnc\":"
		      "true,\"boot\":[\"net0\",\"disk0\"]}",
		      &a, &err),
		0);
	assert_int_equal(a.ntags, 2); /* duplicates folded */
	text = vmconf_dump(&a);
	assert_non_null(text);
	assert_int_equal(vmconf_load(text, &b, &err), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

static void test_rejections(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{"{\"name\":\"a\"}", "vmid: required"},
		{"{\"vmid\":99,\"name\":\"a\"}", "vmid"},
		{"{\"vmid\":100}", "name: required"},
		{"{\"vmid\":100,\"name\":\"A\"}", "name"},
		{"{\"vmid\":100,\"name\":\"-a\"}", "name"},
		{"{\"vmid\":100,\"name\":\"42\"}", "all digits"},
		{"{\"vmid\":100,\"name\":\"a\",\"x\":1}", "x: unknown field"},
		{"{\"vmid\":100,\"name\":\"a\",\"memory_mb\":0}", "memory_mb"},
		{"{\"vmid\":100,\"name\":\"a\",\"memory_mb\":1.5}", "integer"},
		{"{\"vmid\":100,\"name\":\"a\",\"arch\":\"mips\"}", "arch"},
		{"{\"vmid\":100,\"name\":\"a\",\"machine\":\"virt\"}", "machine"},
		{"{\"vmid\":100,\"name\":\"a\",\"cpu\":{\"sockets\":0}}",
		 "cpu.sockets"},
		{"{\"vmid\":100,\"name\":\"a\",\"cpu\":{\"model\":\"a b\"}}",
		 "cpu.model"},
		{"{\"vmid\":100,\"name\":\"a\",\"cpu\":{\"threads\":2}}",
		 "cpu.threads: unknown"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":{}}", "disks: must be"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"bus\":\"usb\","
		 "\"size_mb\":1}]}",
		 "disks[0].bus: unknown value 'usb'"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{}]}",
		 "disks[0].size_mb: required"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"local:a/b\",\"size_mb\":1}]}",
		 "disks[0].volume"},
		/* pool volumes: no path tricks, the suffix gives the format */
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"fast:../../etc/passwd.raw\"}]}",
		 "disks[0].volume"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"fast:a/b.raw\"}]}",
		 "disks[0].volume"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"Fast:a.raw\"}]}",
		 "bad pool name"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"fast:a.img\"}]}",
		 "ends in .qcow2 or .raw"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"fast:a.raw\",\"format\":\"qcow2\"}]}",
		 "disks[0].format: 'qcow2' does not match"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"pool\":"
		 "\"fast\"}]}",
		 "disks[0].size_mb: required"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"pool\":"
		 "\"fast\",\"volume\":\"fast:x.raw\",\"size_mb\":1}]}",
		 "disks[0].pool: give either"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"pool\":"
		 "\"f/x\",\"size_mb\":1}]}",
		 "bad pool name"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"local:..\",\"size_mb\":1}]}",
		 "disks[0].volume"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"/a/../b\"}]}",
		 "disks[0].volume"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		 "\"/a,b\"}]}",
		 "disks[0].volume"},
		{"{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":\"/x\"},"
		 "{\"volume\":\"/x\"}]}",
		 "used by disks[0]"},
		{"{\"vmid\":100,\"name\":\"a\",\"machine\":\"q35\",\"disks\":"
		 "[{\"bus\":\"ide\",\"size_mb\":1}]}",
		 "'ide' needs machine 'pc'"},
		{"{\"vmid\":100,\"name\":\"a\",\"nics\":[{}]}",
		 "nics[0].bridge: required"},
		{"{\"vmid\":100,\"name\":\"a\",\"nics\":[{\"bridge\":\"br0\","
		 "\"mac\":\"zz:00:00:00:00:00\"}]}",
		 "nics[0].mac"},
		{"{\"vmid\":100,\"name\":\"a\",\"nics\":[{\"bridge\":\"br0\","
		 "\"mac\":\"00:00:00:00:00:00\"}]}",
		 "nics[0].mac"},
		{"{\"vmid\":100,\"name\":\"a\",\"nics\":[{\"bridge\":\"br0\","
		 "\"mac\":\"52:54:00:00:00:01\"},{\"bridge\":\"br0\",\"mac\":"
		 "\"52:54:00:00:00:01\"}]}",
		 "nics[1].mac"},
		{"{\"vmid\":100,\"name\":\"a\",\"nics\":[{\"bridge\":\"br0\","
		 "\"vlan\":5}]}",
		 "nics[0].vlan"},
		{"{\"vmid\":100,\"name\":\"a\",\"boot\":[\"cdrom\"]}", "boot"},
		{"{\"vmid\":100,\"name\":\"a\",\"boot\":[\"disk00\"]}", "boot"},
		{"{\"vmid\":100,\"name\":\"a\",\"kernel\":{\"path\":\"rel\"}}",
		 "kernel.path"},
		{"{\"vmid\":100,\"name\":\"a\",\"kernel\":{\"path\":\"/k\","
		 "\"cmdline\":\"a\\nb\"}}",
		 "kernel.cmdline"},
		{"{\"vmid\":100,\"name\":\"a\",\"tags\":[\"Bad Tag\"]}", "tags"},
		{"{\"vmid\":100,\"name\":\"a\",\"restart\":\"always\"}", "restart"},
		{"{\"vmid\":100,\"name\":\"a\",\"serial\":1}", "serial"},
		{"{\"vmid\":100,\"name\":\"a\",\"cdrom\":{\"iso\":\"x.iso\"}}",
		 "cdrom.iso"},
		{"{\"vmid\":100,\"name\":\"a\",\"arch\":\"aarch64\",\"firmware\":"
		 "\"bios\"}",
		 "firmware"},
		{"[]", "must be an object"},
		/* found by fuzzing: these made the domain XML unreadable */
		{"{\"vmid\":100,\"name\":\"a\",\"description\":\"a\\u0001\"}",
		 "description: must not contain control characters"},
		{"{\"vmid\":100,\"name\":\"a\",\"description\":\"\\ufffe\"}",
		 "description: must not contain"},
		{"{\"vmid\":100,\"name\":\"a\",\"kernel\":{\"path\":\"/k\","
		 "\"cmdline\":\"x\\uffff\"}}",
		 "kernel.cmdline: must not contain"},
		{"{\"vmid\":100,\"name\":\"a\",\"cdrom\":{\"iso\":"
		 "\"/a\\uffff.iso\"}}",
		 "cdrom.iso: must not contain"},
	};
	struct vm_config c;

	(void)state;
	for (size_t i = 0; i < HX_ARRAY_SIZE(cases); i++) {
		struct hx_err err = {0};
		int r = parse(cases[i].json, &c, &err);

		if (r != -EINVAL || strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("%s: got %d '%s', want -EINVAL '%s'",
				 cases[i].json, r, err.msg, cases[i].msg);
	}
}

static void test_patch(void **state)
{
	struct vm_config cur, next;
	struct hx_err err = {0};
	json_t *p;

	(void)state;
	assert_int_equal(parse("{\"vmid\":100,\"name\":\"a\",\"node\":\"n1\","
			       "\"disks\":[{\"size_mb\":8},{\"size_mb\":8}]}",
			       &cur, &err),
			 0);
	p = js("{\"memory_mb\":256}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), 0);
	json_decref(p);
	assert_int_equal(next.memory_mb, 256);
	assert_true(vmconf_needs_restart(&cur, &next));
	p = js("{\"description\":\"x\",\"tags\":[\"t\"],\"onboot\":true}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), 0);
	json_decref(p);
	assert_false(vmconf_needs_restart(&cur, &next));
	/* Dropping disk0 and adding one: the new disk must not land on the
	 * detached disk's file. */
	p = js("{\"disks\":[{\"volume\":\"local:vm-100-disk-1\",\"size_mb\":"
	       "8},{\"size_mb\":4}]}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), 0);
	json_decref(p);
	assert_string_equal(next.disks[1].volume, "local:vm-100-disk-2");
	p = js("{\"vmid\":101}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), -EINVAL);
	json_decref(p);
	p = js("{\"node\":\"n2\"}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "migrate"));
	json_decref(p);
	p = js("{\"memory_mb\":-1}");
	assert_int_equal(vmconf_patch(&cur, p, &next, &err), -EINVAL);
	json_decref(p);
}

/* A NIC on a vnet: its bridge is derived, its addresses come from IPAM. */
static void test_nic_vnet(void **state)
{
	struct vm_config c, back;
	struct hx_err err = {0};
	char *text;

	(void)state;
	assert_int_equal(parse("{\"vmid\":100,\"name\":\"a\",\"nics\":["
			       "{\"vnet\":\"v1\",\"ip\":\"10.1.0.5\","
			       "\"ip6\":\"FD00::5\"},{\"vnet\":\"v2\"}]}",
			       &c, &err),
			 0);
	assert_string_equal(c.nics[0].bridge, "hxb-v1");
	assert_string_equal(c.nics[0].ip4, "10.1.0.5");
	assert_string_equal(c.nics[0].ip6, "fd00::5");
	assert_string_equal(c.nics[1].ip4, "auto");
	text = vmconf_dump(&c);
	assert_non_null(strstr(text, "\"vnet\":\"v1\""));
	assert_null(strstr(text, "\"bridge\""));
	assert_int_equal(vmconf_load(text, &back, &err), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	free(text);
	static const char *const bad[][2] = {
		{"{\"vnet\":\"v1\",\"bridge\":\"br0\"}", "not both"},
		{"{\"vnet\":\"V1\"}", "not a vnet name"},
		{"{\"vnet\":\"toolongvn\"}", "not a vnet name"},
		{"{\"vnet\":\"v1\",\"ip\":\"fd00::1\"}", "not an IPv4"},
		{"{\"vnet\":\"v1\",\"ip6\":\"10.0.0.1\"}", "not an IPv6"},
		{"{\"vnet\":\"v1\",\"ip\":\"10.0.0.300\"}", "not an IPv4"},
		{"{\"bridge\":\"br0\",\"ip\":\"10.0.0.3\"}", "only NICs on a vnet"},
		{"{}", "required"},
	};
	for (size_t i = 0; i < HX_ARRAY_SIZE(bad); i++) {
		char json[256];

		snprintf(json, sizeof(json),
			 "{\"vmid\":100,\"name\":\"a\",\"nics\":[%s]}",
			 bad[i][0]);
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(json, &c, &err), -EINVAL);
		if (strstr(err.msg, bad[i][1]) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i][0], err.msg,
				 bad[i][1]);
	}
}

static char *render(const char *json, bool kvm)
{
	struct vm_paths p = {.images_dir = "/img", .vm_dir = "/vms/100",
			     .kvm = kvm};
	struct vm_config c;
	struct hx_err err = {0};
	char *xml = NULL;

	assert_int_equal(parse(json, &c, &err), 0);
	assert_int_equal(vmxml_render(&c, &p, &xml, &err), 0);
	return xml;
}

/* The full domain is compared with a golden file. */
static void test_xml_golden(void **state)
{
	const char *srcdir = getenv("srcdir");
	char path[1024], *want = NULL, *xml;

	(void)state;
	xml = render("{\"vmid\":100,\"name\":\"web\",\"memory_mb\":128,"
		     "\"cpu\":{\"sockets\":1,\"cores\":2},"
		     "\"description\":\"a <b> & 'c'\","
		     "\"disks\":[{\"size_mb\":8},{\"volume\":\"/shared/d.raw\","
		     "\"format\":\"raw\",\"bus\":\"virtio-scsi\",\"cache\":"
		     "\"writeback\"}],\"cdrom\":{\"iso\":\"/iso/x.iso\"},"
		     "\"nics\":[{\"bridge\":\"br0\",\"mac\":"
		     "\"52:54:00:00:00:01\"}],\"boot\":[\"net0\",\"disk0\"],"
		     "\"kernel\":{\"path\":\"/k/vmlinuz\",\"initrd\":"
		     "\"/k/initrd\",\"cmdline\":\"console=ttyS0 hx.id=1\"}}",
		     false);
	snprintf(path, sizeof(path), "%s/tests/golden/vmxml/full.xml",
		 srcdir != NULL ? srcdir : ".");
	if (getenv("HX_GOLDEN_UPDATE") != NULL)
		assert_int_equal(hx_file_write_atomic(path, xml, strlen(xml),
						      0644),
				 0);
	assert_int_equal(hx_file_read(path, 1 << 20, &want, NULL), 0);
	if (strcmp(want, xml) != 0)
		fail_msg("domain XML differs from %s (HX_GOLDEN_UPDATE=1 to "
			 "regenerate):\n%s",
			 path, xml);
	free(want);
	free(xml);
}

static void test_xml_variants(void **state)
{
	char *xml;

	(void)state;
	xml = render("{\"vmid\":100,\"name\":\"a\",\"cpu\":{\"model\":"
		     "\"host\"},\"firmware\":\"uefi\",\"machine\":\"q35\","
		     "\"vnc\":true,\"serial\":false}",
		     true);
	assert_non_null(strstr(xml, "<domain type='kvm'>"));
	assert_non_null(strstr(xml, "host-passthrough"));
	assert_non_null(strstr(xml, "firmware='efi'"));
	assert_non_null(strstr(xml, "machine='q35'"));
	assert_non_null(strstr(xml, "<graphics type='vnc'"));
	assert_null(strstr(xml, "<serial"));
	free(xml);
	/* "host" without KVM falls back to QEMU's maximum model. */
	xml = render("{\"vmid\":100,\"name\":\"a\",\"cpu\":{\"model\":"
		     "\"host\"}}",
		     false);
	assert_non_null(strstr(xml, "<domain type='qemu'>"));
	assert_non_null(strstr(xml, "mode='maximum'"));
	free(xml);
	/* Found by fuzzing: a CR in the description came back from the XML
	 * as LF; whitespace other than spaces goes as references. */
	xml = render("{\"vmid\":100,\"name\":\"a\",\"description\":"
		     "\"a\\r\\nb\\tc\"}",
		     false);
	assert_non_null(
		strstr(xml, "<description>a&#13;&#10;b&#9;c</description>"));
	free(xml);
}

/* Pool volumes as network pools resolve them: QEMU's nfs:// and rbd:
 * names become libvirt network disks; others stay files. */
static int net_resolve(void *data, const char *volume, char *buf, size_t len)
{
	(void)data;
	if (strncmp(volume, "share:", 6) == 0)
		snprintf(buf, len, "nfs://10.1.2.3/srv/exp/%s", volume + 6);
	else if (strncmp(volume, "ceph:", 5) == 0)
		snprintf(buf, len, "rbd:rbd/%s:conf=/etc/ceph/c'1.conf",
			 volume + 5);
	else
		snprintf(buf, len, "/pool/%s", strchr(volume, ':') + 1);
	return 0;
}

static void test_xml_network_disks(void **state)
{
	struct vm_paths p = {.images_dir = "/img",
			     .vm_dir = "/vms/100",
			     .resolve = net_resolve};
	struct vm_config c;
	struct hx_err err = {0};
	char *xml = NULL;

	(void)state;
	assert_int_equal(
		parse("{\"vmid\":100,\"name\":\"a\",\"disks\":[{\"volume\":"
		      "\"share:a.qcow2\"},{\"volume\":\"ceph:b.raw\"},"
		      "{\"volume\":\"fast:c.raw\"}]}",
		      &c, &err),
		0);
	assert_int_equal(vmxml_render(&c, &p, &xml, &err), 0);
	assert_non_null(strstr(xml, "<disk type='network' device='disk'>\n"
				    "      <driver name='qemu' type='qcow2'"));
	assert_non_null(strstr(xml, "<source protocol='nfs' "
				    "name='/srv/exp/a.qcow2'>\n"
				    "        <host name='10.1.2.3'/>\n"
				    "      </source>"));
	assert_non_null(strstr(xml, "<source protocol='rbd' name='rbd/b.raw'>"
				    "\n        <config "
				    "file='/etc/ceph/c&apos;1.conf'/>"));
	assert_non_null(strstr(xml, "<disk type='file' device='disk'>"));
	assert_non_null(strstr(xml, "<source file='/pool/c.raw'/>"));
	free(xml);
	/* the block copy target of a disk move */
	xml = vmxml_disk_xml("rbd:p/x.raw:conf=/c.conf", "raw");
	assert_string_equal(xml, "<disk type='network'>\n"
				 "      <source protocol='rbd' name='p/x.raw'>\n"
				 "        <config file='/c.conf'/>\n"
				 "      </source>\n"
				 "  <driver type='raw'/>\n</disk>\n");
	free(xml);
	xml = vmxml_disk_xml("/a/b'c.qcow2", "qcow2");
	assert_non_null(strstr(xml, "<source file='/a/b&apos;c.qcow2'/>"));
	free(xml);
}

/* What a migration needs from the XML: disk targets as rendered, and the
 * node's directories swapped for the destination's. */
static void test_xml_migration(void **state)
{
	struct vm_config c;
	char dev[8];
	(void)state;
	json_t *j = json_pack(
		"{s:I, s:s, s:s, s:[{s:s, s:I}, {s:s, s:s}, {s:s, s:I}, "
		"{s:s, s:I}]}",
		"vmid", (json_int_t)100, "name", "m", "node", "n1", "disks",
		"bus", "virtio-blk", "size_mb", (json_int_t)8, "bus", "sata",
		"volume", "/shared/a.qcow2", "bus", "virtio-blk", "size_mb",
		(json_int_t)8, "bus", "virtio-scsi", "size_mb", (json_int_t)8);
	const char *from[] = {"/d1/vms/100", "/d1/images"};
	const char *to[] = {"/other/dir/vms/100", "/i2"};
	const char *xml =
		"<domain><disk><source file='/d1/images/vm-100-disk-0.qcow2'/>"
		"</disk><disk><source file=\"/d1/images2/x.qcow2\"/></disk>"
		"<serial><source path='/d1/vms/100/serial.log'/></serial>"
		"<nvram>/d1/vms/100/VARS.fd</nvram><x a='/d1/images'/>"
		"<kernel>/shared/d1/images/k</kernel></domain>";
	char *out;

	assert_int_equal(vmconf_parse(j, &c, NULL), 0);
	json_decref(j);
	vmxml_disk_dev(&c, 0, dev, sizeof(dev));
	assert_string_equal(dev, "vda");
	vmxml_disk_dev(&c, 1, dev, sizeof(dev));
	assert_string_equal(dev, "sda");
	vmxml_disk_dev(&c, 2, dev, sizeof(dev));
	assert_string_equal(dev, "vdb");
	vmxml_disk_dev(&c, 3, dev, sizeof(dev));
	assert_string_equal(dev, "sdb");

	out = vmxml_rewrite_paths(xml, from, to, 2);
	assert_non_null(out);
	assert_string_equal(
		out,
		"<domain><disk><source file='/i2/vm-100-disk-0.qcow2'/>"
		"</disk><disk><source file=\"/d1/images2/x.qcow2\"/></disk>"
		"<serial><source path='/other/dir/vms/100/serial.log'/>"
		"</serial><nvram>/other/dir/vms/100/VARS.fd</nvram>"
		"<x a='/d1/images'/><kernel>/shared/d1/images/k</kernel>"
		"</domain>");
	free(out);
	out = vmxml_rewrite_paths("", from, to, 2);
	assert_string_equal(out, "");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_disks_nics_boot),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_pool_disks),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_nic_vnet),
		cmocka_unit_test(test_xml_golden),
		cmocka_unit_test(test_xml_variants),
		cmocka_unit_test(test_xml_migration),
		cmocka_unit_test(test_xml_network_disks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
