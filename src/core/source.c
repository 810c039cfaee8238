/*
 * Opening a deploy SOURCE: folders as they are, tarballs unpacked safely
 * with libarchive into scratch space.
 */
#include "core/source.h"
#include "core/config.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *source_path_for(const char *root, const char *written)
{
	while (written[0] == '/')
		written++;
	return path_join(root, written);
}

/* Names from an archive are untrusted: no absolute paths, no "..". */
static int unsafe_name(const char *name)
{
	if (name[0] == '/')
		return 1;
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int check_archive_entry(const char *source, struct archive_entry *ae, struct error *err)
{
	const char *name = archive_entry_pathname(ae);
	mode_t type = archive_entry_filetype(ae);
	const char *hardlink = archive_entry_hardlink(ae);

	if (!name || !*name)
		return error_set(err, EXIT_USAGE, "'%s': entry without a name", source);
	if (unsafe_name(name))
		return error_set(err, EXIT_USAGE, "'%s': refusing entry '%s': absolute or "
				 "'..' path", source, name);
	if (hardlink && unsafe_name(hardlink))
		return error_set(err, EXIT_USAGE, "'%s': refusing hard link '%s' to '%s' "
				 "outside the archive", source, name, hardlink);
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return error_set(err, EXIT_USAGE, "'%s': refusing special file '%s'", source, name);
	return 0;
}

static int extract_tarball(const char *source, const char *dest, struct error *err)
{
	struct archive *in = archive_read_new();
	struct archive *out = archive_write_disk_new();
	struct archive_entry *ae;
	/* Names are checked by check_archive_entry and then placed below dest,
	 * which makes them absolute: libarchive's own "no absolute paths"
	 * check would refuse every one, so it is the one secure flag left out. */
	int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
		    ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
	int rc = -1;

	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	archive_write_disk_set_options(out, flags);
	archive_write_disk_set_standard_lookup(out);
	if (archive_read_open_filename(in, source, 65536) != ARCHIVE_OK) {
		error_set(err, EXIT_USAGE, "cannot read '%s': %s", source, archive_error_string(in));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(in, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			error_set(err, EXIT_USAGE, "cannot read '%s': %s", source,
				  archive_error_string(in));
			goto out;
		}
		if (check_archive_entry(source, ae, err) < 0)
			goto out;
		char *target = path_join(dest, archive_entry_pathname(ae));
		archive_entry_set_pathname(ae, target);
		free(target);
		const char *hardlink = archive_entry_hardlink(ae);
		if (hardlink) {
			char *link_target = path_join(dest, hardlink);
			archive_entry_set_hardlink(ae, link_target);
			free(link_target);
		}
		if (archive_write_header(out, ae) != ARCHIVE_OK) {
			error_set(err, EXIT_USAGE, "cannot unpack '%s' from '%s': %s",
				  archive_entry_pathname(ae), source, archive_error_string(out));
			goto out;
		}
		const void *buf;
		size_t size;
		la_int64_t offset;
		while ((r = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
			if (archive_write_data_block(out, buf, size, offset) != ARCHIVE_OK) {
				error_set(err, EXIT_FAILED, "cannot unpack '%s': %s", source,
					  archive_error_string(out));
				goto out;
			}
		}
		if (r != ARCHIVE_EOF) {
			error_set(err, EXIT_USAGE, "cannot read '%s': %s", source,
				  archive_error_string(in));
			goto out;
		}
		if (archive_write_finish_entry(out) != ARCHIVE_OK) {
			error_set(err, EXIT_FAILED, "cannot unpack '%s': %s", source,
				  archive_error_string(out));
			goto out;
		}
	}
	if (archive_write_close(out) != ARCHIVE_OK) {
		error_set(err, EXIT_FAILED, "cannot unpack '%s': %s", source, archive_error_string(out));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

int source_open(struct state *st, const char *source, long op, char **root,
		int *temporary, struct error *err)
{
	struct stat sb;
	*root = NULL;
	*temporary = 0;
	if (stat(source, &sb) < 0)
		return error_errno(err, EXIT_USAGE, errno, "cannot use source '%s'", source);
	if (S_ISDIR(sb.st_mode)) {
		char *cwd = getcwd(NULL, 0);
		*root = path_absolute(cwd ? cwd : "/", source);
		free(cwd);
		return 0;
	}
	if (!S_ISREG(sb.st_mode))
		return error_set(err, EXIT_USAGE, "source '%s' is neither a folder nor a tarball", source);

	char *dest = xstrfmt("%s/source-%ld", st->tmp_dir, op);
	if (fs_remove_tree(dest, err) < 0 || fs_mkdir_p(dest, 0700, err) < 0 ||
	    extract_tarball(source, dest, err) < 0) {
		struct error ignored = ERROR_INIT;
		fs_remove_tree(dest, &ignored);
		free(dest);
		return -1;
	}
	*root = dest;
	*temporary = 1;
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
		return error_set(err, EXIT_USAGE, "%s: deploying 'git:%s' needs 'source: {git: PATH}' "
				 "in the config", cfg->path, rev);
	if (!*rev || rev[0] == '-')
		return error_set(err, EXIT_USAGE, "invalid git revision '%s'", rev);
	char *spec = xstrfmt("%s^{commit}", rev);
	char *argv[] = { "git", "-C", cfg->source_git, "rev-parse", "--verify", "--quiet",
			 "--end-of-options", spec, NULL };
	struct process_options opts = { .merge_stderr = 1 };
	int rc = process_run_with(argv, &opts, &out, &status, err);
	free(spec);
	if (rc == 0 && status != 0)
		rc = error_set(err, EXIT_USAGE, "no commit '%s' in '%s'", rev, cfg->source_git);
	if (rc == 0) {
		*commit = xstrdup(last_line(&out));
		size_t len = strlen(*commit);
		if (strspn(*commit, "0123456789abcdef") != len || (len != 40 && len != 64)) {
			rc = error_set(err, EXIT_FAILED, "git answered '%s' for '%s'", *commit, rev);
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
	char *tarball = xstrfmt("%s/git-%ld.tar", st->tmp_dir, op);
	int status, temporary, rc;

	*root = NULL;
	char *archive[] = { "git", "-C", cfg->source_git, "archive", "--format=tar", "-o", tarball,
			    (char *)commit, NULL };
	rc = process_run_with(archive, &opts, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = error_set(err, EXIT_FAILED, "cannot export commit '%.12s': %s", commit,
			       last_line(&out));
	if (rc == 0)
		rc = source_open(st, tarball, op, root, &temporary, err);
	unlink(tarball);
	free(tarball);
	if (rc == 0 && cfg->source_build.n) {
		strbuf_reset(&out);
		opts.cwd = *root;
		rc = process_run_with(cfg->source_build.v, &opts, &out, &status, err);
		if (rc == 0 && status != 0)
			rc = error_set(err, EXIT_FAILED, "build of commit '%.12s' failed (exit %d): %s",
				       commit, status, last_line(&out));
	}
	strbuf_release(&out);
	if (rc < 0 && *root) {
		source_close(*root, 1);
		*root = NULL;
	}
	return rc;
}
