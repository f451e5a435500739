/*
 * Unit tests of hxctl's VM request bodies: disk and NIC specs
 * (tools/hxctl-vmspec.c) and the JSON built from the options of 'vm create'
 * and 'vm set' (tools/hxctl-vmconf.c), parsed with the commands' own option
 * specs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tools/hxctl.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

/* The number of arguments in the NULL-terminated @argv. */
static int argc_of(char **argv)
{
	int n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

/* Asserts that @v equals the JSON text @want; prints both if not. */
static void assert_json(json_t *v, const char *want)
{
	json_error_t jerr;
	json_t *w = json_loads(want, 0, &jerr);
	char *got;

	assert_non_null(w);
	if (!json_equal(v, w)) {
		got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
					    JSON_ENCODE_ANY);
		print_error("got  %s\nwant %s\n", got != NULL ? got : "NULL",
			    want);
		free(got);
		fail();
	}
	json_decref(w);
}

/*
 * Builds the body of 'vm create' (@is_create) or 'vm set' from argv on top
 * of @base (a JSON text or NULL). Returns the result of hxctl_vm_body() and
 * the body in *ret (to be freed) or the message in @err.
 */
static int build(bool is_create, const char *base, int argc, char **argv,
		 json_t **ret, char *err, size_t errlen)
{
	const char *spec = is_create ? HXCTL_VM_CREATE_SPEC : HXCTL_VM_SET_SPEC;
	struct hxctl_args a;
	json_t *body;
	int r;

	err[0] = '\0';
	assert_int_equal(
		hxctl_args_parse(spec, argc, argv, false, &a, err, errlen), 0);
	body = base != NULL ? json_loads(base, 0, NULL) : json_object();
	assert_non_null(body);
	r = hxctl_vm_body(&a, is_create, body, err, errlen);
	hxctl_args_close(&a);
	if (r < 0) {
		json_decref(body);
		*ret = NULL;
	} else {
		*ret = body;
	}
	return r;
}

/* Asserts that the options fail with exactly the message @want. */
static void assert_body_error(bool is_create, char **argv, const char *want)
{
	char err[512];
	json_t *body;

	assert_int_equal(build(is_create, NULL, argc_of(argv), argv, &body, err,
			       sizeof(err)),
			 -EINVAL);
	assert_null(body);
	assert_string_equal(err, want);
}

static void test_size_parse(void **state)
{
	int64_t mb = -1;

	(void)state;
	assert_int_equal(hxctl_vm_size_parse("1024", 1, 1 << 20, &mb), 0);
	assert_int_equal(mb, 1024);
	assert_int_equal(hxctl_vm_size_parse("10G", 1, 1 << 20, &mb), 0);
	assert_int_equal(mb, 10240);
	assert_int_equal(hxctl_vm_size_parse("2g", 1, 1 << 20, &mb), 0);
	assert_int_equal(mb, 2048);
	assert_int_equal(hxctl_vm_size_parse("512M", 1, 1 << 20, &mb), 0);
	assert_int_equal(mb, 512);
	assert_int_equal(hxctl_vm_size_parse("1T", 1, 1 << 20, &mb), 0);
	assert_int_equal(mb, 1 << 20);
	mb = -1;
	assert_int_equal(hxctl_vm_size_parse("2T", 1, 1 << 20, &mb), -ERANGE);
	assert_int_equal(hxctl_vm_size_parse("0", 1, 10, &mb), -ERANGE);
	assert_int_equal(hxctl_vm_size_parse("", 1, 10, &mb), -EINVAL);
	assert_int_equal(hxctl_vm_size_parse("G", 1, 10, &mb), -EINVAL);
	assert_int_equal(hxctl_vm_size_parse("1.5G", 1, 1 << 20, &mb), -EINVAL);
	assert_int_equal(hxctl_vm_size_parse("-1", -10, 10, &mb), -EINVAL);
	assert_int_equal(hxctl_vm_size_parse("10K", 1, 1 << 20, &mb), -EINVAL);
	assert_int_equal(
		hxctl_vm_size_parse("9999999999999999999T", 1, INT64_MAX, &mb),
		-EINVAL);
	assert_int_equal(
		hxctl_vm_size_parse("9007199254740992T", 1, INT64_MAX, &mb),
		-EINVAL); /* would overflow when multiplied */
	assert_int_equal(mb, -1);
}

static void test_disk_parse(void **state)
{
	char err[256] = "";
	json_t *d = NULL;

	(void)state;
	assert_int_equal(hxctl_vm_disk_parse("size=1024", &d, err, sizeof(err)),
			 0);
	assert_json(d, "{\"size_mb\": 1024}");
	json_decref(d);
	assert_int_equal(
		hxctl_vm_disk_parse("volume=local:vm-100-disk-0,size=8G,"
				    "bus=virtio-scsi,format=raw,cache=unsafe",
				    &d, err, sizeof(err)),
		0);
	assert_json(d, "{\"volume\": \"local:vm-100-disk-0\", "
		       "\"size_mb\": 8192, \"bus\": \"virtio-scsi\", "
		       "\"format\": \"raw\", \"cache\": \"unsafe\"}");
	json_decref(d);
	/* An existing file needs no size; its path keeps its '=' signs. */
	assert_int_equal(hxctl_vm_disk_parse("volume=/srv/a=b.qcow2", &d, err,
					     sizeof(err)),
			 0);
	assert_json(d, "{\"volume\": \"/srv/a=b.qcow2\"}");
	json_decref(d);
	/* Bus names are the server's business. */
	assert_int_equal(hxctl_vm_disk_parse("bus=nvme", &d, err, sizeof(err)),
			 0);
	json_decref(d);
}

static void test_disk_parse_errors(void **state)
{
	static const struct {
		const char *spec;
		const char *msg;
	} cases[] = {
		{"", "disk '': empty item"},
		{"size=1,", "disk 'size=1,': empty item"},
		{",size=1", "disk ',size=1': empty item"},
		{"size=1,,bus=ide", "disk 'size=1,,bus=ide': empty item"},
		{"1024", "disk '1024': expected KEY=VALUE, got '1024'"},
		{"=1024", "disk '=1024': expected KEY=VALUE, got '=1024'"},
		{"size=1,speed=9",
		 "disk 'size=1,speed=9': unknown key 'speed' (known: size, "
		 "bus, format, cache, volume, pool)"},
		{"size=1,size=2", "disk 'size=1,size=2': size given twice"},
		{"bus=", "disk 'bus=': bus needs a value"},
		{"size=0",
		 "disk 'size=0': size must be MiB from 1 to 67108864 (or with "
		 "a G or T suffix), got '0'"},
		{"size=65T",
		 "disk 'size=65T': size must be MiB from 1 to 67108864 (or "
		 "with a G or T suffix), got '65T'"},
		{"size=ten",
		 "disk 'size=ten': size must be MiB from 1 to 67108864 (or "
		 "with a G or T suffix), got 'ten'"},
		{"cache=\xff", "disk 'cache=\xff': cache is not valid UTF-8"},
	};
	char err[256];
	json_t *d;

	(void)state;
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cases); i++) {
		d = NULL;
		err[0] = '\0';
		assert_int_equal(hxctl_vm_disk_parse(cases[i].spec, &d, err,
						     sizeof(err)),
				 -EINVAL);
		assert_null(d);
		assert_string_equal(err, cases[i].msg);
	}
}

static void test_nic_parse(void **state)
{
	static const struct {
		const char *spec;
		const char *msg;
	} bad[] = {
		{"model=virtio",
		 "nic 'model=virtio': give bridge=BRIDGE or vnet=VNET"},
		{"bridge=br0,mac=52:54:00:12:34",
		 "nic 'bridge=br0,mac=52:54:00:12:34': mac must look like "
		 "52:54:00:12:34:56, got '52:54:00:12:34'"},
		{"bridge=br0,mac=52-54-00-12-34-56",
		 "nic 'bridge=br0,mac=52-54-00-12-34-56': mac must look like "
		 "52:54:00:12:34:56, got '52-54-00-12-34-56'"},
		{"bridge=br0,mac=52:54:00:12:34:5g",
		 "nic 'bridge=br0,mac=52:54:00:12:34:5g': mac must look like "
		 "52:54:00:12:34:56, got '52:54:00:12:34:5g'"},
		{"bridge=br0,vlan=4095",
		 "nic 'bridge=br0,vlan=4095': vlan must be an integer from 1 "
		 "to 4094, got '4095'"},
		{"bridge=br0,size=1",
		 "nic 'bridge=br0,size=1': unknown key 'size' (known: bridge, "
		 "model, mac, vlan, vnet, ip, ip6)"},
	};
	char err[256];
	json_t *n = NULL;

	(void)state;
	assert_int_equal(hxctl_vm_nic_parse("bridge=br0", &n, err, sizeof(err)),
			 0);
	assert_json(n, "{\"bridge\": \"br0\"}");
	json_decref(n);
	assert_int_equal(hxctl_vm_nic_parse("model=e1000,mac=52:54:00:AB:cd:"
					    "0f,bridge=vmbr1,vlan=10",
					    &n, err, sizeof(err)),
			 0);
	assert_json(n, "{\"model\": \"e1000\", \"mac\": "
		       "\"52:54:00:AB:cd:0f\", \"bridge\": \"vmbr1\", "
		       "\"vlan\": 10}");
	json_decref(n);
	assert_int_equal(hxctl_vm_nic_parse("vnet=v1,ip=10.0.0.5,ip6=none", &n,
					    err, sizeof(err)),
			 0);
	assert_json(n, "{\"vnet\": \"v1\", \"ip\": \"10.0.0.5\", "
		       "\"ip6\": \"none\"}");
	json_decref(n);
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(bad); i++) {
		n = NULL;
		assert_int_equal(
			hxctl_vm_nic_parse(bad[i].spec, &n, err, sizeof(err)),
			-EINVAL);
		assert_null(n);
		assert_string_equal(err, bad[i].msg);
	}
}

static void test_create_body_full(void **state)
{
	char **v =
		ARGV("--name", "web1", "--vmid", "100", "--node", "n1",
		     "--memory", "1G", "--sockets", "2", "--cores", "4",
		     "--cpu", "host", "--arch", "x86_64", "--machine", "q35",
		     "--firmware", "uefi", "--disk", "size=1024", "--disk",
		     "volume=/srv/shared/a.qcow2,bus=sata", "--cdrom",
		     "/srv/iso/debian.iso", "--nic", "bridge=br0", "--nic",
		     "bridge=br1,model=rtl8139,mac=52:54:00:00:00:01", "--boot",
		     "cdrom,disk0,net1", "--kernel", "/boot/vmlinuz",
		     "--initrd", "/boot/initrd.img", "--cmdline",
		     "console=ttyS0 quiet", "--no-serial", "--vnc", "--tag",
		     "web", "--tag", "prod", "--description", "front end",
		     "--onboot", "--restart", "never", "--start", "--wait");
	char err[256];
	json_t *body;

	(void)state;
	assert_int_equal(
		build(true, NULL, argc_of(v), v, &body, err, sizeof(err)), 0);
	assert_json(
		body,
		"{\"name\": \"web1\", \"vmid\": 100, \"node\": \"n1\", "
		"\"memory_mb\": 1024, "
		"\"cpu\": {\"sockets\": 2, \"cores\": 4, \"model\": "
		"\"host\"}, "
		"\"arch\": \"x86_64\", \"machine\": \"q35\", "
		"\"firmware\": \"uefi\", "
		"\"disks\": [{\"size_mb\": 1024}, "
		"{\"volume\": \"/srv/shared/a.qcow2\", \"bus\": \"sata\"}], "
		"\"cdrom\": {\"iso\": \"/srv/iso/debian.iso\"}, "
		"\"nics\": [{\"bridge\": \"br0\"}, {\"bridge\": \"br1\", "
		"\"model\": \"rtl8139\", \"mac\": \"52:54:00:00:00:01\"}], "
		"\"boot\": [\"cdrom\", \"disk0\", \"net1\"], "
		"\"kernel\": {\"path\": \"/boot/vmlinuz\", \"initrd\": "
		"\"/boot/initrd.img\", \"cmdline\": \"console=ttyS0 "
		"quiet\"}, "
		"\"serial\": false, \"vnc\": true, \"tags\": [\"web\", "
		"\"prod\"], \"description\": \"front end\", \"onboot\": "
		"true, \"restart\": \"never\", \"start\": true}");
	json_decref(body);
}

static void test_create_body_minimal(void **state)
{
	char **v = ARGV("--name", "a", "--kernel", "/k");
	char **w = ARGV("--name", "a", "--name", "b", "--no-tags",
			"--description", "");
	char err[256];
	json_t *body;

	(void)state;
	/* A kernel alone gets no initrd and an empty command line. */
	assert_int_equal(
		build(true, NULL, argc_of(v), v, &body, err, sizeof(err)), 0);
	assert_json(body, "{\"name\": \"a\", \"kernel\": {\"path\": \"/k\", "
			  "\"initrd\": null, \"cmdline\": \"\"}}");
	json_decref(body);
	/* The last of a repeated option wins; empty values are values. */
	assert_int_equal(
		build(true, NULL, argc_of(w), w, &body, err, sizeof(err)), 0);
	assert_json(body, "{\"name\": \"b\", \"tags\": [], \"description\": "
			  "\"\"}");
	json_decref(body);
}

/* Options override a --config object, member by member in cpu/kernel. */
static void test_create_body_over_config(void **state)
{
	const char *base =
		"{\"name\": \"tpl\", \"memory_mb\": 128, "
		"\"cpu\": {\"sockets\": 1, \"model\": \"qemu64\"}, "
		"\"kernel\": {\"path\": \"/k\", \"cmdline\": \"x\"}, "
		"\"disks\": [{\"size_mb\": 1}], \"tags\": [\"t\"]}";
	char **v = ARGV("--name", "web2", "--cores", "2", "--initrd", "/i",
			"--disk", "size=2", "--vmid", "101");
	char err[256];
	json_t *body;

	(void)state;
	assert_int_equal(
		build(true, base, argc_of(v), v, &body, err, sizeof(err)), 0);
	assert_json(body, "{\"name\": \"web2\", \"vmid\": 101, "
			  "\"memory_mb\": 128, "
			  "\"cpu\": {\"sockets\": 1, \"cores\": 2, \"model\": "
			  "\"qemu64\"}, "
			  "\"kernel\": {\"path\": \"/k\", \"initrd\": \"/i\", "
			  "\"cmdline\": \"x\"}, "
			  "\"disks\": [{\"size_mb\": 2}], \"tags\": [\"t\"]}");
	json_decref(body);
}

static void test_create_body_errors(void **state)
{
	(void)state;
	assert_body_error(true, ARGV("--vmid", "99"),
			  "--vmid: expected an integer from 100 to 999999999, "
			  "got '99'");
	assert_body_error(true, ARGV("--vmid", "1000000000"),
			  "--vmid: expected an integer from 100 to 999999999, "
			  "got '1000000000'");
	assert_body_error(true, ARGV("--memory", "8"),
			  "--memory: expected MiB from 16 to 4194304 (or with "
			  "a G suffix), got '8'");
	assert_body_error(true, ARGV("--memory", "lots"),
			  "--memory: expected MiB from 16 to 4194304 (or with "
			  "a G suffix), got 'lots'");
	assert_body_error(true, ARGV("--sockets", "0"),
			  "--sockets: expected an integer from 1 to 64, got "
			  "'0'");
	assert_body_error(true, ARGV("--cores", "2x"),
			  "--cores: expected an integer from 1 to 64, got "
			  "'2x'");
	assert_body_error(true, ARGV("--firmware", "efi"),
			  "--firmware: expected one of bios uefi, got 'efi'");
	assert_body_error(true, ARGV("--restart", "always"),
			  "--restart: expected one of on-crash never, got "
			  "'always'");
	assert_body_error(true, ARGV("--serial", "--no-serial"),
			  "--serial and --no-serial contradict each other");
	assert_body_error(true, ARGV("--onboot", "--no-onboot"),
			  "--onboot and --no-onboot contradict each other");
	assert_body_error(true, ARGV("--disk", "none", "--disk", "size=1"),
			  "--disk none cannot be combined with other --disk "
			  "options");
	assert_body_error(true, ARGV("--disk", "size=1,bus"),
			  "disk 'size=1,bus': expected KEY=VALUE, got 'bus'");
	assert_body_error(true, ARGV("--nic", "model=virtio"),
			  "nic 'model=virtio': give bridge=BRIDGE or vnet=VNET");
	assert_body_error(true, ARGV("--tag", "a", "--no-tags"),
			  "--tag and --no-tags contradict each other");
	assert_body_error(true, ARGV("--boot", "disk0,,net0"),
			  "--boot: expected a list like disk0,net0,cdrom, got "
			  "'disk0,,net0'");
	assert_body_error(true, ARGV("--boot", ""),
			  "--boot: expected a list like disk0,net0,cdrom, got "
			  "''");
	assert_body_error(true, ARGV("--cdrom", "debian.iso"),
			  "--cdrom: expected an absolute path or none, got "
			  "'debian.iso'");
	assert_body_error(true, ARGV("--kernel", "vmlinuz"),
			  "--kernel: expected an absolute path, got "
			  "'vmlinuz'");
	assert_body_error(true, ARGV("--initrd", "/i"),
			  "--initrd and --cmdline need --kernel PATH");
	assert_body_error(true, ARGV("--cmdline", "quiet"),
			  "--initrd and --cmdline need --kernel PATH");
	assert_body_error(true, ARGV("--kernel", "none", "--cmdline", "x"),
			  "--kernel none cannot be combined with --initrd or "
			  "--cmdline");
	assert_body_error(true, ARGV("--name", "\xc3"),
			  "--name: not valid UTF-8");
}

static void test_set_body(void **state)
{
	char **v = ARGV("--memory", "256", "--cdrom", "none", "--nic", "none",
			"--kernel", "none", "--no-vnc", "--cores", "2");
	char **w = ARGV("--cmdline", "quiet", "--initrd", "none");
	char err[256];
	struct hxctl_args a;
	json_t *body;

	(void)state;
	assert_int_equal(
		build(false, NULL, argc_of(v), v, &body, err, sizeof(err)), 0);
	assert_json(body, "{\"memory_mb\": 256, \"cdrom\": null, \"nics\": [], "
			  "\"kernel\": null, \"vnc\": false, "
			  "\"cpu\": {\"cores\": 2}}");
	assert_true(hxctl_vm_patch_is_partial(body));
	json_decref(body);
	/* For set, a kernel without a path waits for the merge. */
	assert_int_equal(
		build(false, NULL, argc_of(w), w, &body, err, sizeof(err)), 0);
	assert_json(body, "{\"kernel\": {\"cmdline\": \"quiet\", \"initrd\": "
			  "null}}");
	assert_true(hxctl_vm_patch_is_partial(body));
	json_decref(body);
	/* vmid, node and start are create's only. */
	assert_int_equal(hxctl_args_parse(HXCTL_VM_SET_SPEC, 2,
					  ARGV("--vmid", "100"), false, &a, err,
					  sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "unknown option '--vmid'");
	hxctl_args_close(&a);
	assert_int_equal(hxctl_args_parse(HXCTL_VM_SET_SPEC, 1, ARGV("--start"),
					  false, &a, err, sizeof(err)),
			 -EINVAL);
	hxctl_args_close(&a);
}

static void test_patch_is_partial(void **state)
{
	static const struct {
		const char *body;
		bool is_partial;
	} cases[] = {
		{"{}", false},
		{"{\"memory_mb\": 64}", false},
		{"{\"cpu\": {\"sockets\": 1, \"cores\": 2, \"model\": \"x\"}}",
		 false},
		{"{\"cpu\": {\"sockets\": 1, \"cores\": 2}}", true},
		{"{\"kernel\": null}", false},
		{"{\"kernel\": {\"path\": \"/k\", \"initrd\": null, "
		 "\"cmdline\": \"\"}}",
		 false},
		{"{\"kernel\": {\"path\": \"/k\"}}", true},
	};

	(void)state;
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cases); i++) {
		json_t *body = json_loads(cases[i].body, 0, NULL);

		assert_non_null(body);
		assert_int_equal(hxctl_vm_patch_is_partial(body),
				 cases[i].is_partial);
		json_decref(body);
	}
}

static void test_patch_merge(void **state)
{
	/* A pending cpu wins over the configuration's. */
	const char *vm =
		"{\"config\": {\"vmid\": 100, \"cpu\": {\"sockets\": 1, "
		"\"cores\": 1, \"model\": \"qemu64\"}, \"kernel\": {\"path\": "
		"\"/k\", \"initrd\": \"/i\", \"cmdline\": \"a\"}}, "
		"\"pending\": {\"cpu\": {\"sockets\": 2, \"cores\": 1, "
		"\"model\": \"max\"}}, \"digest\": \"d1\"}";
	json_t *v = json_loads(vm, 0, NULL);
	json_t *body = json_loads("{\"cpu\": {\"cores\": 4}, \"kernel\": "
				  "{\"cmdline\": \"b\"}, \"name\": \"x\"}",
				  0, NULL);
	char err[256];

	(void)state;
	assert_int_equal(hxctl_vm_patch_merge(body, v, err, sizeof(err)), 0);
	assert_json(body, "{\"cpu\": {\"sockets\": 2, \"cores\": 4, \"model\": "
			  "\"max\"}, \"kernel\": {\"path\": \"/k\", "
			  "\"initrd\": \"/i\", \"cmdline\": \"b\"}, "
			  "\"name\": \"x\"}");
	assert_false(hxctl_vm_patch_is_partial(body));
	json_decref(body);
	json_decref(v);
}

static void test_patch_merge_no_kernel(void **state)
{
	json_t *vm = json_loads("{\"config\": {\"kernel\": null}, \"pending\": "
				"null}",
				0, NULL);
	json_t *body =
		json_loads("{\"kernel\": {\"cmdline\": \"quiet\"}}", 0, NULL);
	json_t *body2 = json_loads("{\"kernel\": {\"path\": \"/k\"}}", 0, NULL);
	char err[256];

	(void)state;
	assert_int_equal(hxctl_vm_patch_merge(body, vm, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "the VM boots no kernel directly: --initrd "
				 "and --cmdline need --kernel PATH");
	/* A new kernel on a VM without one is completed with defaults. */
	assert_int_equal(hxctl_vm_patch_merge(body2, vm, err, sizeof(err)), 0);
	assert_json(body2, "{\"kernel\": {\"path\": \"/k\", \"initrd\": null, "
			   "\"cmdline\": \"\"}}");
	json_decref(body2);
	json_decref(body);
	json_decref(vm);
}

/* Writes @text into a new temporary file whose name is left in @path. */
static void write_tmp(char *path, const char *text, size_t len)
{
	int fd;

	strcpy(path, "/tmp/test_hxctl_vm.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_config_load(void **state)
{
	static const char ok[] = "{\"name\": \"a\",\n \"memory_mb\": 128}\n";
	char path[64];
	char err[512];
	json_t *v = NULL;

	(void)state;
	write_tmp(path, ok, sizeof(ok) - 1);
	assert_int_equal(hxctl_vm_config_load(path, &v, err, sizeof(err)), 0);
	assert_json(v, ok);
	json_decref(v);
	unlink(path);
	assert_int_equal(hxctl_vm_config_load("/nonexistent/vm.json", &v, err,
					      sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "--config: cannot open /nonexistent/vm.json: "
				 "No such file or directory");
}

static void test_config_load_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "--config: FILE" */
	} cases[] = {
		{"[1, 2]", ": expected a JSON object"},
		{"\"vm\"", ": expected a JSON object"},
		{"{\"name\": \"a\",\n \"name\": \"b\"}",
		 ":2:7: duplicate object key near '\"name\"'"},
		{"{\"name\": }", ":1:10: unexpected token near '}'"},
		{"", " is empty"},
		{" \n", " is empty"},
	};
	char path[64];
	char want[256];
	char err[512];
	json_t *v;

	(void)state;
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cases); i++) {
		v = NULL;
		write_tmp(path, cases[i].text, strlen(cases[i].text));
		assert_int_equal(
			hxctl_vm_config_load(path, &v, err, sizeof(err)),
			-EINVAL);
		unlink(path);
		assert_null(v);
		snprintf(want, sizeof(want), "--config: %s%s", path,
			 cases[i].msg);
		assert_string_equal(err, want);
	}
}

/* A file over the API's 64 KiB body limit is refused before sending. */
static void test_config_load_too_large(void **state)
{
	size_t len = 64 * 1024 + 2;
	char *text = malloc(len);
	char path[64];
	char want[256];
	char err[512];
	json_t *v = NULL;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	write_tmp(path, text, len);
	free(text);
	assert_int_equal(hxctl_vm_config_load(path, &v, err, sizeof(err)),
			 -EFBIG);
	unlink(path);
	assert_null(v);
	snprintf(want, sizeof(want),
		 "--config: %s: larger than the API's 64 KiB body limit", path);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_disk_parse),
		cmocka_unit_test(test_disk_parse_errors),
		cmocka_unit_test(test_nic_parse),
		cmocka_unit_test(test_create_body_full),
		cmocka_unit_test(test_create_body_minimal),
		cmocka_unit_test(test_create_body_over_config),
		cmocka_unit_test(test_create_body_errors),
		cmocka_unit_test(test_set_body),
		cmocka_unit_test(test_patch_is_partial),
		cmocka_unit_test(test_patch_merge),
		cmocka_unit_test(test_patch_merge_no_kernel),
		cmocka_unit_test(test_config_load),
		cmocka_unit_test(test_config_load_errors),
		cmocka_unit_test(test_config_load_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
