/*
 * libFuzzer target: VM configurations (agent/vmconf.c) and the libvirt
 * domain XML made from them (agent/vmxml.c).
 *
 * The input is JSON text:
 *  - an object: the body of POST /vms, through vmconf_parse();
 *  - an array [config, change]: PATCH /vms/VMID, through vmconf_patch();
 *  - anything else: an XML document through vmxml_rewrite_paths().
 *
 * Checks beyond the sanitizers, for every configuration accepted: it
 * survives dump and load unchanged (what is stored is what was checked),
 * needs no restart against itself, a patch keeps vmid and node, and its
 * domain XML is well-formed with the name and description read back as
 * they were given (libxml2 as the reference parser).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "agent/vm.h"
#include "lib/lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_vmconf: %s\n%s\n", what, detail);
	abort();
}

/* Text of the first element named @name under @node, or NULL. */
static xmlNode *find(xmlNode *node, const char *name)
{
	for (; node != NULL; node = node->next) {
		xmlNode *c;

		if (node->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)node->name, name) == 0)
			return node;
		if ((c = find(node->children, name)) != NULL)
			return c;
	}
	return NULL;
}

static void check_text(xmlDoc *doc, const char *elem, const char *want,
		       const char *xml)
{
	xmlNode *n = find(xmlDocGetRootElement(doc), elem);
	xmlChar *got = n != NULL ? xmlNodeGetContent(n) : NULL;

	if (got == NULL || strcmp((const char *)got, want) != 0)
		fail("domain XML does not carry the value given", xml);
	xmlFree(got);
}

static void check_xml(const struct vm_config *c)
{
	struct vm_paths p = {.images_dir = "/var/lib/horcrux/images",
			     .vm_dir = "/var/lib/horcrux/vms/100",
			     .kvm = c->vmid % 2 == 0,
			     .uuid = c->vmid % 3 == 0 ? "uuid-1" : NULL};
	char *xml = NULL, dev[8];
	xmlDoc *doc;

	for (unsigned i = 0; i < c->ndisks; i++)
		vmxml_disk_dev(c, i, dev, sizeof(dev));
	if (vmxml_render(c, &p, &xml, NULL) < 0)
		return;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	if (doc == NULL)
		fail("domain XML is not well-formed", xml);
	check_text(doc, "title", c->name, xml);
	check_text(doc, "description", c->description, xml);
	if (c->has_kernel)
		check_text(doc, "cmdline", c->cmdline, xml);
	xmlFreeDoc(doc);
	free(xml);
}

/* Everything that must hold for a configuration vmconf accepted. */
static void check_config(const struct vm_config *c)
{
	struct vm_config again;
	char *text = vmconf_dump(c), tags[VM_MAX_TAGS * 66 + 4];

	if (text == NULL)
		return;
	if (vmconf_load(text, &again, NULL) < 0)
		fail("a dumped configuration does not load", text);
	if (memcmp(c, &again, sizeof(again)) != 0)
		fail("a configuration changes through dump and load", text);
	if (vmconf_needs_restart(c, &again))
		fail("a configuration needs a restart against itself", text);
	free(text);
	vmconf_tags_text(c, tags, sizeof(tags));
	check_xml(c);
}

static void fuzz_patch(json_t *base, json_t *change)
{
	struct vm_config cur, next;

	if (vmconf_parse(base, &cur, NULL) < 0)
		return;
	if (vmconf_patch(&cur, change, &next, NULL) < 0)
		return;
	if (next.vmid != cur.vmid || strcmp(next.node, cur.node) != 0)
		fail("a patch changed vmid or node", "");
	(void)vmconf_needs_restart(&cur, &next);
	check_config(&next);
}

static void fuzz_rewrite(const uint8_t *data, size_t size)
{
	static const char *const from[] = {"/var/lib/a", "/srv/a/images"};
	static const char *const to[] = {"/var/lib/b", "/b"};
	char *xml = malloc(size + 1), *out;

	if (xml == NULL)
		return;
	memcpy(xml, data, size);
	xml[size] = '\0';
	out = vmxml_rewrite_paths(xml, from, to, 2);
	/* Without a path to move, the document comes back as it was. */
	if (out != NULL && strstr(xml, "/var/lib/a/") == NULL &&
	    strstr(xml, "/srv/a/images/") == NULL && strcmp(out, xml) != 0)
		fail("rewrite changed a document without paths to move", xml);
	free(out);
	free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c;
	json_t *j;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j)) {
		struct hx_err err = {0};

		if (vmconf_parse(j, &c, &err) == 0)
			check_config(&c);
		else if (getenv("FUZZ_VERBOSE") != NULL)
			fprintf(stderr, "rejected: %s\n", err.msg);
	} else if (json_is_array(j) && json_array_size(j) == 2) {
		fuzz_patch(json_array_get(j, 0), json_array_get(j, 1));
	} else if (j == NULL) {
		fuzz_rewrite(data, size);
	}
	json_decref(j);
	return 0;
}
