/*
 * Storage names: pools, volumes ("POOL:NAME") and snapshots. Pure (no
 * database), so that agent/vmconf.c and the fuzz targets that parse VM
 * configurations can use the same rules without linking the database.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/statedb.h"

bool statedb_pool_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > STATEDB_POOL_NAME_MAX ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return true;
}

int statedb_volume_name_check(const char *name, struct hx_err *err)
{
	size_t n = strlen(name);

	if (n == 0)
		return hx_err_set(err, -EINVAL, "a volume name is required");
	if (n > STATEDB_VOLUME_NAME_MAX)
		return hx_err_set(err, -EINVAL,
				  "volume name is too long (at most %d "
				  "characters)",
				  STATEDB_VOLUME_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return hx_err_set(err, -EINVAL,
				  "volume name '%s' must not start with '.' "
				  "or '-'",
				  name);
	if (strstr(name, "..") != NULL)
		return hx_err_set(err, -EINVAL,
				  "volume name '%s' must not contain '..'",
				  name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '+' || c == '-'))
			return hx_err_set(err, -EINVAL,
					  "volume name '%.*s': character %zu "
					  "is not one of [A-Za-z0-9_.+-]",
					  (int)(n > 64 ? 64 : n), name, i + 1);
	}
	return 0;
}

int statedb_volid_parse(const char *volid, char *ret_pool, size_t pool_len,
			char *ret_name, size_t name_len, struct hx_err *err)
{
	const char *colon = strchr(volid, ':');
	size_t n;
	char pool[STATEDB_POOL_NAME_MAX + 1];

	if (colon == NULL)
		return hx_err_set(err, -EINVAL,
				  "'%.80s' is not a volume (POOL:NAME)", volid);
	n = (size_t)(colon - volid);
	if (n == 0 || n > STATEDB_POOL_NAME_MAX)
		return hx_err_set(err, -EINVAL, "'%.80s': bad pool name",
				  volid);
	memcpy(pool, volid, n);
	pool[n] = '\0';
	if (!statedb_pool_name_ok(pool) && strcmp(pool, "local") != 0)
		return hx_err_set(err, -EINVAL, "'%.80s': bad pool name",
				  volid);
	if (statedb_volume_name_check(colon + 1, err) < 0)
		return err != NULL ? err->code : -EINVAL;
	if (n >= pool_len || strlen(colon + 1) >= name_len)
		return hx_err_set(err, -EINVAL, "'%.80s' is too long", volid);
	memcpy(ret_pool, pool, n + 1);
	memcpy(ret_name, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

int statedb_snapshot_name_check(const char *name, struct hx_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > STATEDB_SNAPSHOT_NAME_MAX ||
	    !((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z')))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		      name[i] == '-'))
			goto bad;
	return 0;
bad:
	return hx_err_set(err, -EINVAL,
			  "snapshot name '%.60s': use [A-Za-z0-9_-], 1-%d "
			  "characters, starting with a letter",
			  name, STATEDB_SNAPSHOT_NAME_MAX);
}

