/*
 * Opening a deploy SOURCE: folders as they are, tarballs unpacked safely
 * with libarchive into scratch space.
 */
#include "core/source.h"
#include "core/config.h"
#include "core/manifest.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/dynlib.h"
#include "util/error.h"
#include "util/format.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The most entries one tarball may hold, whatever the free inodes. */
#define SOURCE_MAX_ENTRIES 1000000L

/*
 * libarchive, loaded by archive_ready (util/dynlib.h) the first time a
 * tarball is unpacked: linked in, it and what it brings (libxml2, ICU,
 * libstdc++, four compressors) cost every command about 5 ms at start-up,
 * most of a `lastgood status`. The functions used, without their
 * "archive_" prefix:
 */
#define ARCHIVE_FUNCTIONS(X) \
	X(entry_filetype) X(entry_hardlink) X(entry_pathname) X(entry_perm) \
	X(entry_set_hardlink) X(entry_set_pathname) X(entry_set_perm) X(entry_size) \
	X(entry_size_is_set) X(entry_symlink) X(error_string) X(read_data_block) \
	X(read_free) X(read_new) X(read_next_header) X(read_open_filename) \
	X(read_support_filter_bzip2) X(read_support_filter_gzip) \
	X(read_support_filter_lz4) X(read_support_filter_lzma) X(read_support_filter_xz) \
	X(read_support_filter_zstd) X(read_support_format_gnutar) \
	X(read_support_format_tar) X(write_close) X(write_data_block) X(write_disk_new) \
	X(write_disk_set_options) X(write_disk_set_standard_lookup) X(write_finish_entry) \
	X(write_free) X(write_header)

static struct {
#define ARCHIVE_MEMBER(name) __typeof__(archive_##name) *name;
	ARCHIVE_FUNCTIONS(ARCHIVE_MEMBER)
#undef ARCHIVE_MEMBER
} la;

/* Load libarchive, once per process. */
static int archive_ready(struct error *err)
{
	static const char soname[] = "libarchive.so.13";
	static int loaded;
	if (loaded)
		return 0;
	void *lib = dynlib_open(soname, "libarchive13", err);
	if (!lib)
		return -1;
#define ARCHIVE_LOAD(name) DYNLIB_LOAD(la, lib, soname, "archive_", name, err)
	ARCHIVE_FUNCTIONS(ARCHIVE_LOAD)
#undef ARCHIVE_LOAD
	loaded = 1;
	return 0;
}

char *source_path_for(const char *root, const char *written)
{
	while (written[0] == '/')
		written++;
	return path_join(root, written);
}

/* The next component of the '/'-separated path at *p, skipping empty ones:
 * its start, with its length in *len; NULL at the end. */
static const char *next_component(const char **p, size_t *len)
{
	const char *s = *p;
	while (*s == '/')
		s++;
	if (!*s)
		return NULL;
	*p = strchrnul(s, '/');
	*len = (size_t)(*p - s);
	return s;
}

static int is_dot(const char *c, size_t len)
{
	return len == 1 && c[0] == '.';
}

static int is_dot_dot(const char *c, size_t len)
{
	return len == 2 && c[0] == '.' && c[1] == '.';
}

/* Names from an archive are untrusted: no absolute paths, no "..". */
static int unsafe_name(const char *name)
{
	const char *c;
	size_t len;
	if (name[0] == '/')
		return 1;
	while ((c = next_component(&name, &len)))
		if (is_dot_dot(c, len))
			return 1;
	return 0;
}

/* How many names deep a safe name lies: "bin/api" and "./bin//api" 2, "." 0. */
static size_t name_depth(const char *name)
{
	const char *c;
	size_t len, depth = 0;
	while ((c = next_component(&name, &len)))
		depth += !is_dot(c, len);
	return depth;
}

/* What is left of a safe name once its first n names are taken off ("."
 * counts for nothing: "./app/bin/api" less 1 is "bin/api"); NULL when
 * nothing is left. */
static const char *strip_names(const char *name, int n)
{
	const char *c;
	size_t len;
	while (n > 0 && (c = next_component(&name, &len)))
		n -= !is_dot(c, len);
	while (n == 0 && (c = next_component(&name, &len)))
		if (!is_dot(c, len))
			return c;
	return NULL;
}

/*
 * A symbolic link unpacked from an archive must lead to a place inside it,
 * or reading the tree for the release would follow it out (a link "bin" to
 * /etc makes "bin/passwd" a file of the release). The target must be
 * relative, and its ".." must all come first and climb no higher than the
 * link's own folder. Checking the text is enough because every folder an
 * entry is unpacked into is a real one (libarchive refuses to write through
 * a link), so leading ".." only climb real folders, and names after them
 * only descend, through links that obey the same rule; a ".." after a name
 * is refused because that name may itself be a link to somewhere higher.
 */
static int link_leaves_tree(const char *name, const char *target)
{
	const char *c;
	size_t len, up = 0, depth = name_depth(name);
	int descended = 0;

	if (!*target || target[0] == '/')
		return 1;
	while ((c = next_component(&target, &len))) {
		if (is_dot(c, len))
			continue;
		if (!is_dot_dot(c, len))
			descended = 1;
		else if (descended || ++up >= depth)
			return 1;
	}
	return 0;
}

/* "'SOURCE': WHAT 'NAME'[ to 'TARGET']: WHY" as an error of code. Names
 * are escaped: an archive can hold any bytes, and control characters must
 * not reach the operator's terminal. */
static int entry_error(struct error *err, int code, const char *source, const char *what,
		       const char *name, const char *target, const char *why)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s '", what);
	strbuf_add_escaped(&sb, name);
	strbuf_addch(&sb, '\'');
	if (target) {
		strbuf_addstr(&sb, " to '");
		strbuf_add_escaped(&sb, target);
		strbuf_addch(&sb, '\'');
	}
	error_set(err, code, "'%s': %s: %s", source, sb.buf, why);
	strbuf_release(&sb);
	return -1;
}

static int check_archive_entry(const char *source, struct archive_entry *ae, struct error *err)
{
	const char *name = la.entry_pathname(ae);
	const char *hardlink = la.entry_hardlink(ae);
	mode_t type = la.entry_filetype(ae);

	if (!name || !*name)
		return error_set(err, ERROR_USAGE, "'%s': entry without a name", source);
	if (unsafe_name(name))
		return entry_error(err, ERROR_USAGE, source, "refusing entry", name, NULL,
				   "absolute or '..' path");
	/* A hard link is a second name for a file unpacked before it (whose
	 * type was checked then); only where its name leads matters. */
	if (hardlink)
		return unsafe_name(hardlink) ?
		       entry_error(err, ERROR_USAGE, source, "refusing hard link", name, hardlink,
				   "it leads out of the archive") : 0;
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return entry_error(err, ERROR_USAGE, source, "refusing special file", name, NULL,
				   "only files, folders and symbolic links are deployed");
	if (type != AE_IFDIR && !name_depth(name))
		return entry_error(err, ERROR_USAGE, source, "refusing entry", name, NULL,
				   "it names the archive's top folder");
	if (type == AE_IFLNK) {
		const char *target = la.entry_symlink(ae);
		if (!target || link_leaves_tree(name, target))
			return entry_error(err, ERROR_USAGE, source, "refusing symbolic link", name,
					   target ? target : "", "it leads out of the archive");
	}
	return 0;
}

/*
 * --strip-components: take the first strip names off the entry's name, as
 * tar does, before it is judged (a link is judged where it lands). Returns
 * 1 for an entry nothing is left of (skipped, like the folders stripped),
 * and refuses a hard link to such a name. Names are checked safe first:
 * stripping must not launder a ".." away.
 */
static int strip_archive_entry(const char *source, struct archive_entry *ae, int strip,
			       struct error *err)
{
	const char *name = la.entry_pathname(ae);
	const char *hardlink = la.entry_hardlink(ae);
	if (!name || !*name || unsafe_name(name) || (hardlink && unsafe_name(hardlink)))
		return 0;   /* check_archive_entry says why */
	const char *rest = strip_names(name, strip);
	if (!rest)
		return 1;
	if (hardlink && !strip_names(hardlink, strip))
		return entry_error(err, ERROR_USAGE, source, "refusing hard link", name, hardlink,
				   "--strip-components removes the name it links to");
	char *stripped = xstrdup(rest);
	char *stripped_link = hardlink ? xstrdup(strip_names(hardlink, strip)) : NULL;
	la.entry_set_pathname(ae, stripped);
	if (stripped_link)
		la.entry_set_hardlink(ae, stripped_link);
	free(stripped);
	free(stripped_link);
	return 0;
}

/*
 * The filters a tarball may be compressed with: those libarchive runs in
 * its own process. Left to itself (archive_read_support_filter_all) it
 * hands lrzip, lzop, grzip and any filter it was built without to an
 * outside program, so each is tried on a scratch reader first and kept only
 * when registering it was clean: ARCHIVE_WARN means "an outside program".
 */
static void support_in_process_filters(struct archive *in)
{
	int (*const in_process[])(struct archive *) = {
		la.read_support_filter_gzip, la.read_support_filter_bzip2,
		la.read_support_filter_xz,   la.read_support_filter_lzma,
		la.read_support_filter_zstd, la.read_support_filter_lz4,
	};
	for (size_t i = 0; i < sizeof(in_process) / sizeof(in_process[0]); i++) {
		struct archive *probe = la.read_new();
		int built_in = in_process[i](probe) == ARCHIVE_OK;
		la.read_free(probe);
		if (built_in)
			in_process[i](in);
	}
}

/*
 * What one tarball may unpack to, fixed before the first entry from the
 * file system the scratch space is on: half its free space and half its
 * free inodes, so that the store can still take a copy of everything
 * unpacked, and never more than SOURCE_MAX_ENTRIES entries. Space is
 * counted in blocks, at least one per entry, as the disk spends it; a file
 * is charged its declared size before a byte is written and whatever it
 * really writes while it is written, so a header that lies gains nothing.
 */
struct unpack_budget {
	const char *state_dir;   /* for messages */
	long long block;         /* the file system's allocation unit */
	long long max_bytes;
	long max_entries;
	int entries_by_inodes;   /* max_entries is half the free inodes */
	long long bytes;         /* charged so far */
	long entries;
};

static int unpack_budget_init(struct unpack_budget *b, const struct state *st,
			      const char *dest, struct error *err)
{
	struct statvfs vfs;
	if (statvfs(dest, &vfs) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot find the free space in '%s'",
				   st->dir);
	memset(b, 0, sizeof(*b));
	b->state_dir = st->dir;
	b->block = vfs.f_frsize ? (long long)vfs.f_frsize : 4096;
	b->max_bytes = (long long)(vfs.f_bavail / 2) * b->block;
	b->max_entries = SOURCE_MAX_ENTRIES;
	/* Some file systems (btrfs) have no fixed inode count and say 0. */
	if (vfs.f_files && vfs.f_favail / 2 < (unsigned long)SOURCE_MAX_ENTRIES) {
		b->max_entries = (long)(vfs.f_favail / 2);
		b->entries_by_inodes = 1;
	}
	return 0;
}

/* size in whole blocks, at least one (size no more than max_bytes). */
static long long unpack_budget_blocks(const struct unpack_budget *b, long long size)
{
	return size <= b->block ? b->block : (size + b->block - 1) / b->block * b->block;
}

/* Whether size bytes more fit what is left (a header may claim any size). */
static int unpack_budget_fits(const struct unpack_budget *b, long long size)
{
	long long left = b->max_bytes - b->bytes;
	return size >= 0 && size <= left && unpack_budget_blocks(b, size) <= left;
}

static int unpack_budget_refuse_bytes(const struct unpack_budget *b, const char *source,
				      const char *name, struct error *err)
{
	char limit[FORMAT_SIZE];
	char *why = xstrfmt("the tarball would take more than %s, half the free space in '%s'",
			    format_bytes(b->max_bytes, limit), b->state_dir);
	entry_error(err, ERROR_USAGE, source, "refusing to unpack", name, NULL, why);
	free(why);
	return -1;
}

/* Charge a new entry declaring size bytes. */
static int unpack_budget_entry(struct unpack_budget *b, const char *source, const char *name,
			       long long size, struct error *err)
{
	if (++b->entries > b->max_entries) {
		char *why = b->entries_by_inodes ?
			    xstrfmt("the tarball holds more than %ld entries, half the free inodes "
				    "in '%s'", b->max_entries, b->state_dir) :
			    xstrfmt("the tarball holds more than %ld entries, the most one may hold",
				    b->max_entries);
		entry_error(err, ERROR_USAGE, source, "refusing to unpack", name, NULL, why);
		free(why);
		return -1;
	}
	if (!unpack_budget_fits(b, size))
		return unpack_budget_refuse_bytes(b, source, name, err);
	return 0;
}

/* The current entry's data now reaches end: it must still fit what is left
 * (its declared size was checked at its header). */
static int unpack_budget_data(const struct unpack_budget *b, const char *source,
			      const char *name, long long end, struct error *err)
{
	if (!unpack_budget_fits(b, end))
		return unpack_budget_refuse_bytes(b, source, name, err);
	return 0;
}

/* Charge the finished entry: its declared size or what it wrote, the larger. */
static void unpack_budget_entry_done(struct unpack_budget *b, long long declared, long long end)
{
	b->bytes += unpack_budget_blocks(b, declared > end ? declared : end);
}

/*
 * Unpack source into dest. Set-user-ID and set-group-ID bits are dropped
 * from every entry: files unpacked here belong to whoever runs lastgood (an
 * archive's owners are not restored), so the bits would lend root's powers
 * to whoever wrote the tarball. The sticky bit is kept; it only narrows who
 * may remove files from a folder.
 */
static int extract_tarball(struct state *st, const char *source, int strip, const char *dest,
			   struct error *err)
{
	struct archive *in = la.read_new();
	struct archive *out = la.write_disk_new();
	struct archive_entry *ae;
	struct unpack_budget budget;
	char *name = NULL;   /* the entry's name in the archive, for messages */
	/* Names are checked by check_archive_entry and then placed below dest,
	 * which makes them absolute: libarchive's own "no absolute paths"
	 * check would refuse every one, so it is the one secure flag left out. */
	int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
		    ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
	int rc = -1;

	if (unpack_budget_init(&budget, st, dest, err) < 0)
		goto out;
	support_in_process_filters(in);
	la.read_support_format_tar(in);
	la.read_support_format_gnutar(in);
	la.write_disk_set_options(out, flags);
	la.write_disk_set_standard_lookup(out);
	if (la.read_open_filename(in, source, 65536) != ARCHIVE_OK) {
		error_set(err, ERROR_USAGE, "cannot read '%s': %s", source, la.error_string(in));
		goto out;
	}
	for (;;) {
		int r = la.read_next_header(in, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			error_set(err, ERROR_USAGE, "cannot read '%s': %s", source,
				  la.error_string(in));
			goto out;
		}
		if (strip) {
			r = strip_archive_entry(source, ae, strip, err);
			if (r < 0)
				goto out;
			if (r > 0)
				continue;   /* a name stripping leaves nothing of */
		}
		if (check_archive_entry(source, ae, err) < 0)
			goto out;
		free(name);
		name = xstrdup(la.entry_pathname(ae));
		long long declared = la.entry_size_is_set(ae) ? la.entry_size(ae) : 0;
		long long end = 0;   /* how far its data reached */
		if (unpack_budget_entry(&budget, source, name, declared, err) < 0)
			goto out;
		la.entry_set_perm(ae, la.entry_perm(ae) & ~(mode_t)(S_ISUID | S_ISGID));
		char *target = path_join(dest, name);
		la.entry_set_pathname(ae, target);
		free(target);
		const char *hardlink = la.entry_hardlink(ae);
		if (hardlink) {
			char *link_target = path_join(dest, hardlink);
			la.entry_set_hardlink(ae, link_target);
			free(link_target);
		}
		/* libarchive still refuses what the checks cannot see from one
		 * entry: a name below a link an earlier entry made. */
		if (la.write_header(out, ae) != ARCHIVE_OK) {
			entry_error(err, ERROR_USAGE, source, "cannot unpack", name, NULL,
				    la.error_string(out));
			goto out;
		}
		const void *buf;
		size_t size;
		la_int64_t offset;
		while ((r = la.read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
			if ((long long)size > LLONG_MAX - offset)
				end = LLONG_MAX;
			else if (offset + (long long)size > end)
				end = offset + (long long)size;
			if (unpack_budget_data(&budget, source, name, end, err) < 0)
				goto out;
			if (la.write_data_block(out, buf, size, offset) != ARCHIVE_OK) {
				entry_error(err, ERROR_FAILED, source, "cannot unpack", name, NULL,
					    la.error_string(out));
				goto out;
			}
		}
		if (r != ARCHIVE_EOF) {
			error_set(err, ERROR_USAGE, "cannot read '%s': %s", source,
				  la.error_string(in));
			goto out;
		}
		if (la.write_finish_entry(out) != ARCHIVE_OK) {
			entry_error(err, ERROR_FAILED, source, "cannot unpack", name, NULL,
				    la.error_string(out));
			goto out;
		}
		unpack_budget_entry_done(&budget, declared, end);
	}
	if (la.write_close(out) != ARCHIVE_OK) {
		error_set(err, ERROR_FAILED, "cannot unpack '%s': %s", source, la.error_string(out));
		goto out;
	}
	rc = 0;
out:
	free(name);
	la.read_free(in);
	la.write_free(out);
	return rc;
}

/* How many of a folder's names messages show. */
#define SOURCE_NAMES_SHOWN 5

static int not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

/*
 * What folder dir holds, for a message: "nothing", or its first names in
 * order, quoted, a folder's ending in "/" ("'myapp-2.0/'", "'README',
 * 'src/' and 3 more"). *single (when not NULL) gets the name of the one
 * real folder it holds, if that is all it holds (caller frees), else NULL.
 */
static int describe_folder(const char *dir, struct strbuf *out, char **single,
			   struct error *err)
{
	struct dirent **names;
	int n = scandir(dir, &names, not_dots, alphasort);
	if (single)
		*single = NULL;
	if (n < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot list folder '%s'", dir);
	if (!n)
		strbuf_addstr(out, "nothing");
	for (int i = 0; i < n; i++) {
		char *path = path_join(dir, names[i]->d_name);
		struct stat sb;
		int folder = lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
		if (i < SOURCE_NAMES_SHOWN) {
			strbuf_addstr(out, i == 0 ? "'" : ", '");
			strbuf_add_escaped(out, names[i]->d_name);
			strbuf_addstr(out, folder ? "/'" : "'");
		}
		if (single && n == 1 && folder)
			*single = xstrdup(names[i]->d_name);
		free(path);
		free(names[i]);
	}
	if (n > SOURCE_NAMES_SHOWN)
		strbuf_addf(out, " and %d more", n - SOURCE_NAMES_SHOWN);
	free(names);
	return 0;
}

/* --strip-components for a folder SOURCE: its files are taken from the
 * folder strip levels down, which must each be the one thing the level
 * above holds (a folder has no names to rename, as a tarball has). */
static int strip_folder(const char *source, int strip, char **root, struct error *err)
{
	char *shown = xstrdup(source);   /* the level as the operator named it */
	int rc = 0;
	for (int level = 0; level < strip && !rc; level++) {
		struct strbuf holds = STRBUF_INIT;
		char *single;
		rc = describe_folder(*root, &holds, &single, err);
		if (!rc && !single)
			rc = error_set(err, ERROR_USAGE, "'%s': cannot take %d leading folder%s off: "
				       "'%s' holds %s, not a single folder", source, strip,
				       strip == 1 ? "" : "s", shown, holds.buf);
		strbuf_release(&holds);
		if (rc)
			break;
		char *inner = path_join(*root, single);
		free(*root);
		*root = inner;
		inner = path_join(shown, single);
		free(shown);
		shown = inner;
		free(single);
	}
	free(shown);
	return rc;
}

int source_open(struct state *st, const char *source, int strip, long op, char **root,
		int *temporary, struct error *err)
{
	struct stat sb;
	*root = NULL;
	*temporary = 0;
	if (stat(source, &sb) < 0)
		return error_errno(err, ERROR_USAGE, errno, "cannot use source '%s'", source);
	if (S_ISDIR(sb.st_mode)) {
		char *cwd = getcwd(NULL, 0);
		*root = path_absolute(cwd ? cwd : "/", source);
		free(cwd);
		if (strip_folder(source, strip, root, err) < 0) {
			free(*root);
			*root = NULL;
			return -1;
		}
		return 0;
	}
	if (!S_ISREG(sb.st_mode))
		return error_set(err, ERROR_USAGE, "source '%s' is neither a folder nor a tarball", source);
	if (archive_ready(err) < 0)
		return -1;

	/* An absolute path without "..": libarchive refuses to unpack below a
	 * ".." (--state-dir ../state), and says so only per entry. */
	char *tmp_dir = realpath(st->store.tmp_dir, NULL);
	if (!tmp_dir)
		return error_errno(err, ERROR_FAILED, errno, "cannot use scratch folder '%s'",
				   st->store.tmp_dir);
	char *dest = xstrfmt("%s/source-%ld", tmp_dir, op);
	free(tmp_dir);
	if (fs_remove_tree(dest, err) < 0 || fs_mkdir_p(dest, 0700, err) < 0 ||
	    extract_tarball(st, source, strip, dest, err) < 0) {
		struct error ignored = ERROR_INIT;
		fs_remove_tree(dest, &ignored);
		free(dest);
		return -1;
	}
	*root = dest;
	*temporary = 1;
	return 0;
}

int source_check_holds_entries(const char *source, const char *root, int strip,
			       const struct config *cfg, const unsigned char *selected,
			       struct error *err)
{
	size_t wanted = 0;
	for (size_t s = 0; s < cfg->nservices; s++) {
		if (selected && !selected[s])
			continue;
		for (size_t f = 0; f < cfg->services[s].nfiles; f++) {
			char *from = source_path_for(root, cfg->services[s].files[f].written);
			int found = path_exists(from);
			free(from);
			if (found)
				return 0;
			wanted++;
		}
	}
	if (!wanted)
		return 0;   /* nothing to look for: nothing to switch */

	struct strbuf holds = STRBUF_INIT;
	char *single;
	if (describe_folder(root, &holds, &single, err) < 0) {
		strbuf_release(&holds);
		return -1;
	}
	struct strbuf hint = STRBUF_INIT;
	if (single)
		strbuf_addf(&hint, "; to deploy the files inside its single folder, add "
			    "--strip-components %d", strip + 1);
	error_set(err, ERROR_USAGE, "'%s' holds none of the files the config lists%s "
		  "(it holds %s)%s", source, selected ? " for the services deployed" : "",
		  holds.buf, hint.buf);
	free(single);
	strbuf_release(&holds);
	strbuf_release(&hint);
	return -1;
}

/* target (absolute) lies inside the entry at entry_path, "." and repeated
 * slashes aside; a ".." anywhere may climb out through a link, so it never
 * counts as inside. */
static int absolute_target_inside(const char *entry_path, const char *target)
{
	const char *e = entry_path, *t = target, *ec, *tc;
	size_t elen, tlen;
	while ((ec = next_component(&e, &elen))) {
		do
			tc = next_component(&t, &tlen);
		while (tc && is_dot(tc, tlen));
		if (!tc || tlen != elen || memcmp(ec, tc, elen))
			return 0;
	}
	while ((tc = next_component(&t, &tlen)))
		if (is_dot_dot(tc, tlen))
			return 0;
	return 1;
}

/*
 * A link deployed at rel below the entry at entry_path leaves the entry:
 * judged from the link's live place by the same rule as links in a
 * tarball (link_leaves_tree, with the entry as the tree), or, for an
 * absolute target, by where it points. An entry that is itself a link
 * leads outside it whatever its target.
 */
static int link_leaves_entry(const char *entry_path, const char *rel, const char *target)
{
	if (!*rel)
		return 1;
	if (target[0] == '/')
		return !absolute_target_inside(entry_path, target);
	return link_leaves_tree(rel, target);
}

int source_check_links(const char *source, const struct config *cfg,
		       const struct manifest *live, const struct manifest *target,
		       struct error *err)
{
	for (size_t i = 0; i < target->n; i++) {
		const struct manifest_entry *e = &target->entries[i];
		const struct manifest_entry *was = manifest_find(live, e->path);
		if (was && !strcmp(was->digest, e->digest))
			continue;   /* live already: the source changes nothing there */
		for (size_t k = 0; k < e->nnodes; k++) {
			const struct manifest_node *node = &e->nodes[k];
			if (node->type != NODE_SYMLINK ||
			    !link_leaves_entry(e->path, node->rel, node->link))
				continue;
			const struct service *svc = config_find_service(cfg, e->service);
			const char *written = e->path;
			for (size_t f = 0; svc && f < svc->nfiles; f++)
				if (!strcmp(svc->files[f].path, e->path))
					written = svc->files[f].written;
			char *name = *node->rel ? xstrfmt("%s/%s", written, node->rel)
						: xstrdup(written);
			char *why = xstrfmt("it leads out of file '%s' of service '%s'", written,
					    e->service);
			entry_error(err, ERROR_USAGE, source, "refusing symbolic link", name,
				    node->link, why);
			free(name);
			free(why);
			return -1;
		}
	}
	return 0;
}

void source_close(char *root, int temporary)
{
	if (root && temporary) {
		struct error ignored = ERROR_INIT;
		fs_remove_tree(root, &ignored);
	}
	free(root);
}

/* The last line of a program's output, for a one-line error. */
static const char *last_line(struct strbuf *out)
{
	while (out->len && out->buf[out->len - 1] == '\n')
		strbuf_setlen(out, out->len - 1);
	const char *nl = strrchr(out->buf, '\n');
	return nl ? nl + 1 : out->buf;
}

int source_git_resolve(const struct config *cfg, const char *rev, char **commit,
		       struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	int status;

	*commit = NULL;
	if (!cfg->source_git)
		return error_set(err, ERROR_USAGE, "%s: deploying 'git:%s' needs 'source: {git: PATH}' "
				 "in the config", cfg->path, rev);
	if (!*rev || rev[0] == '-')
		return error_set(err, ERROR_USAGE, "invalid git revision '%s'", rev);
	char *spec = xstrfmt("%s^{commit}", rev);
	char *argv[] = { "git", "-C", cfg->source_git, "rev-parse", "--verify", "--quiet",
			 "--end-of-options", spec, NULL };
	struct process_options opts = { .merge_stderr = 1 };
	int rc = process_run_with(argv, &opts, &out, &status, err);
	free(spec);
	if (rc == 0 && status != 0)
		rc = error_set(err, ERROR_USAGE, "no commit '%s' in '%s'", rev, cfg->source_git);
	if (rc == 0) {
		*commit = xstrdup(last_line(&out));
		size_t len = strlen(*commit);
		if (strspn(*commit, "0123456789abcdef") != len || (len != 40 && len != 64)) {
			rc = error_set(err, ERROR_FAILED, "git answered '%s' for '%s'", *commit, rev);
			free(*commit);
			*commit = NULL;
		}
	}
	strbuf_release(&out);
	return rc;
}

int source_git_export(struct state *st, const struct config *cfg, const char *commit,
		      long op, char **root, struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	struct process_options opts = { .merge_stderr = 1 };
	char *tarball = xstrfmt("%s/git-%ld.tar", st->store.tmp_dir, op);
	int status, temporary, rc;

	*root = NULL;
	char *archive[] = { "git", "-C", cfg->source_git, "archive", "--format=tar", "-o", tarball,
			    (char *)commit, NULL };
	rc = process_run_with(archive, &opts, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = error_set(err, ERROR_FAILED, "cannot export commit '%.12s': %s", commit,
			       last_line(&out));
	if (rc == 0)
		rc = source_open(st, tarball, 0, op, root, &temporary, err);
	unlink(tarball);
	free(tarball);
	if (rc == 0 && cfg->source_build.n) {
		strbuf_reset(&out);
		opts.cwd = *root;
		rc = process_run_with(cfg->source_build.v, &opts, &out, &status, err);
		if (rc == 0 && status != 0)
			rc = error_set(err, ERROR_FAILED, "build of commit '%.12s' failed (exit %d): %s",
				       commit, status, last_line(&out));
	}
	strbuf_release(&out);
	if (rc < 0 && *root) {
		source_close(*root, 1);
		*root = NULL;
	}
	return rc;
}
