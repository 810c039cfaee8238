/*
 * Capturing live trees: every file's content into the store, a folder's
 * entries inspected on a pool of threads, files read in parallel, the
 * stat cache sparing the unchanged ones. See manifest.h for what a
 * capture refuses and guarantees.
 */
#include "core/manifest.h"
#include "core/store/manifest_internal.h"
#include "core/store/statcache.h"
#include "core/config.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mounts.h"
#include "util/parallel.h"
#include "util/strbuf.h"
#include "util/xattr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Files to read are queued as jobs and read a queue at a time, on
 * parallel_threads() threads when the queue holds enough bytes to be worth
 * it: hashing is most of a first snapshot's work, and a CPU each halves
 * it. The queue spans folders, so that the few files a small change left
 * in many folders are read together too: a job names its file relative to
 * a duplicate of its folder's descriptor, which the queue holds until it
 * is run. It is run when it holds CAPTURE_QUEUE_JOBS files or
 * CAPTURE_QUEUE_BYTES (which bounds what waits in tmp/ for the batch to
 * commit), and at the end. The results are taken in the order queued, so
 * the first failure reported is the first one met.
 */
#define CAPTURE_QUEUE_JOBS 64
#define CAPTURE_QUEUE_BYTES (64LL << 20)
#define CAPTURE_PARALLEL_MIN_BYTES (1LL << 20)
/* Reads of a file that changes while it is read, before giving up. */
#define CAPTURE_READ_TRIES 3

struct capture_job {
	int at_fd;                 /* the folder holding name (one of dir_fds) */
	char *name;
	char *rel;
	struct stat sb;            /* fstat of the open file, the same after it was read */
	struct store_written written;
	struct xattr_list *xattrs; /* read with it; taken by its node */
	int rc;
	struct error err;
};

/* A file with more than one name: its names in one entry become one file
 * and hard links to it (capture_link_names). */
struct capture_inode {
	dev_t dev;
	ino_t ino;
	const char *rel;           /* its node's rel (the node owns it) */
};

struct capture {
	struct state *st;
	const char *source;
	struct manifest_entry *entry;
	struct capture_stats *stats;
	struct error *err;
	struct store_batch batch;
	struct stat_cache cache;   /* live captures only (source is the live path) */
	struct strbuf live;        /* scratch: a node's live path */
	struct capture_job *jobs;  /* queued files */
	size_t njobs, jobs_alloc;
	long long job_bytes;       /* their sizes when queued */
	int dir_fds[CAPTURE_QUEUE_JOBS];  /* the folders the jobs name files in */
	size_t ndir_fds;
	int dir_fd_of;             /* the descriptor dir_fds' last duplicates */
	struct parallel_pool pool; /* for reading queued files and inspecting folders */
	struct capture_inode *inodes;   /* files seen with several names */
	size_t ninodes, inodes_alloc;
};

/* The node's path as the user knows it, for messages (allocated). */
static char *capture_path(const struct capture *c, const char *rel)
{
	return *rel ? xstrfmt("%s/%s", c->source, rel) : xstrdup(c->source);
}

/* What a node of any type takes from its stat: owner and mtime. */
static void capture_stat_fields(struct manifest_node *n, const struct stat *sb)
{
	n->uid = sb->st_uid;
	n->gid = sb->st_gid;
	n->mtime_sec = (long long)sb->st_mtim.tv_sec;
	n->mtime_nsec = (int)sb->st_mtim.tv_nsec;
}

static int capture_node(struct capture *c, int at_fd, const char *name, const char *rel,
			const struct stat *sb);

/* The node's live path, the stat cache's key (valid until the next call). */
static const char *capture_live_path(struct capture *c, const char *rel)
{
	strbuf_reset(&c->live);
	strbuf_addstr(&c->live, c->entry->path);
	if (*rel) {
		strbuf_addch(&c->live, '/');
		strbuf_addstr(&c->live, rel);
	}
	return c->live.buf;
}

/* Takes xattrs. */
static void capture_add_file(struct capture *c, const char *rel, const struct stat *sb,
			     long long size, const unsigned char digest[HASH_SIZE],
			     struct xattr_list *xattrs, int added)
{
	struct manifest_node *n = manifest_entry_add_node(c->entry, rel, NODE_FILE);
	n->mode = sb->st_mode & 07777;
	capture_stat_fields(n, sb);
	n->size = size;
	memcpy(n->digest, digest, HASH_SIZE);
	n->xattrs = xattrs;
	if (sb->st_nlink > 1) {
		ALLOC_GROW(c->inodes, c->ninodes + 1, c->inodes_alloc);
		c->inodes[c->ninodes++] = (struct capture_inode){ sb->st_dev, sb->st_ino, n->rel };
	}
	if (c->stats) {
		c->stats->files++;
		c->stats->bytes += size;
		if (added)
			c->stats->added_bytes += size;
	}
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       stat_ns(&a->st_mtim) == stat_ns(&b->st_mtim) &&
	       stat_ns(&a->st_ctim) == stat_ns(&b->st_ctim);
}

/* Read the open file once: its stat, its bytes into the store, its
 * attributes. 1 when it held still meanwhile (the same size, mtime and
 * ctime after as before: what any write or attribute change moves), 0
 * when it did not (what was written is dropped), -1 on failure. */
static int capture_read_once(struct capture *c, struct capture_job *job, int fd,
			     const char *path)
{
	struct stat after;
	if (fstat(fd, &job->sb) < 0)
		return error_errno(&job->err, ERROR_FAILED, errno, "cannot inspect '%s'", path);
	if (!S_ISREG(job->sb.st_mode))
		return error_set(&job->err, ERROR_FAILED, "'%s' changed while it was being recorded",
				 path);
	if (store_batch_write(&c->batch, fd, path, &job->written, &job->err) < 0)
		return -1;
	int rc = xattr_read_fd(fd, path, &job->xattrs, &job->err);
	if (rc == 0 && fstat(fd, &after) == 0 && same_stat(&job->sb, &after) &&
	    job->written.size == (long long)job->sb.st_size)
		return 1;
	store_written_drop(&c->batch, &job->written);
	xattr_list_free(job->xattrs);
	job->xattrs = NULL;
	return rc;
}

/* One job, on any thread: open the file with O_NOFOLLOW | O_NONBLOCK and
 * check it again, since the tree is live and a name swapped for a symlink
 * or a fifo since the walk saw it must neither be followed nor block us;
 * then write it to the store. A file that changed while it was read is
 * read again: what is stored is always one version of it, never a mix. */
static void capture_read_job(void *ctx, size_t i)
{
	struct capture *c = ctx;
	struct capture_job *job = &c->jobs[i];
	char *path = capture_path(c, job->rel);
	int held = 0;

	job->rc = -1;
	int fd = openat(job->at_fd, job->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		error_errno(&job->err, ERROR_FAILED, errno, "cannot open '%s'", path);
		goto out;
	}
	for (int tries = 0; tries < CAPTURE_READ_TRIES && !held; tries++)
		if ((held = capture_read_once(c, job, fd, path)) < 0)
			goto out;
	if (!held) {
		error_set(&job->err, ERROR_FAILED, "'%s' changed each of the %d times it was read; "
			  "nothing was recorded", path, CAPTURE_READ_TRIES);
		goto out;
	}
	job->rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
}

static void capture_drop_queue(struct capture *c)
{
	for (size_t i = 0; i < c->njobs; i++) {
		free(c->jobs[i].name);
		free(c->jobs[i].rel);
		xattr_list_free(c->jobs[i].xattrs);
	}
	for (size_t i = 0; i < c->ndir_fds; i++)
		close(c->dir_fds[i]);
	c->njobs = 0;
	c->job_bytes = 0;
	c->ndir_fds = 0;
	c->dir_fd_of = -1;
}

/* Read every queued file, then record them in the order queued. After a
 * failure the rest are dropped (those read, their temporaries too). */
static int capture_run_queue(struct capture *c)
{
	int rc = 0;

	if (!c->njobs)
		return 0;
	if (store_batch_prepare(&c->batch, c->err) < 0)
		rc = -1;
	else
		parallel_pool_run(c->job_bytes >= CAPTURE_PARALLEL_MIN_BYTES ? &c->pool : NULL,
				  c->njobs, capture_read_job, NULL, c);
	for (size_t i = 0; i < c->njobs; i++) {
		struct capture_job *job = &c->jobs[i];
		int added;
		if (rc == 0 && job->rc < 0) {
			*c->err = job->err;
			rc = -1;
		} else if (rc < 0) {
			if (job->rc == 0)
				store_written_drop(&c->batch, &job->written);
		} else if (store_batch_add(&c->batch, &job->written, &added, c->err) < 0) {
			rc = -1;
		} else {
			unsigned char raw[HASH_SIZE];
			hash_from_hex(job->written.digest, raw);   /* the store's: well formed */
			if (c->cache.st)
				stat_cache_remember(&c->cache, capture_live_path(c, job->rel),
						    &job->sb, job->written.digest, job->xattrs);
			capture_add_file(c, job->rel, &job->sb, job->written.size, raw, job->xattrs,
					 added);
			job->xattrs = NULL;
			if (c->stats)
				c->stats->files_read++;
		}
	}
	capture_drop_queue(c);
	return rc;
}

/* Queue a file to be read (capture_read_job); once read it is remembered
 * by the stat cache. */
static int capture_file(struct capture *c, int at_fd, const char *name, const char *rel,
			const struct stat *lsb)
{
	/* the folder's descriptor, duplicated once for all its jobs in the
	 * queue (the top of a single-file entry is AT_FDCWD) */
	if (at_fd != AT_FDCWD && (!c->ndir_fds || c->dir_fd_of != at_fd)) {
		int fd = fcntl(at_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			char *path = capture_path(c, rel);
			error_errno(c->err, ERROR_FAILED, errno, "cannot open folder of '%s'", path);
			free(path);
			return -1;
		}
		c->dir_fds[c->ndir_fds++] = fd;
		c->dir_fd_of = at_fd;
	}
	ALLOC_GROW(c->jobs, c->njobs + 1, c->jobs_alloc);
	struct capture_job *job = &c->jobs[c->njobs++];
	memset(job, 0, sizeof(*job));
	job->at_fd = at_fd == AT_FDCWD ? AT_FDCWD : c->dir_fds[c->ndir_fds - 1];
	job->name = xstrdup(name);
	job->rel = xstrdup(rel);
	job->rc = -1;   /* not read yet */
	c->job_bytes += (long long)lsb->st_size;
	/* a job per thread at least, so that big files are read together */
	if (c->njobs >= CAPTURE_QUEUE_JOBS ||
	    (c->job_bytes >= CAPTURE_QUEUE_BYTES && c->njobs >= (size_t)c->pool.threads))
		return capture_run_queue(c);
	return 0;
}

static int capture_link(struct capture *c, int at_fd, const char *name, const char *rel,
			const struct stat *sb)
{
	size_t size = sb->st_size > 0 ? (size_t)sb->st_size + 1 : 256;
	char *path = capture_path(c, rel), *target = NULL;
	struct xattr_list *xattrs;

	for (;;) {
		target = xrealloc(target, size);
		ssize_t n = readlinkat(at_fd, name, target, size);
		if (n < 0) {
			error_errno(c->err, ERROR_FAILED, errno, "cannot read link '%s'", path);
			free(path);
			free(target);
			return -1;
		}
		if ((size_t)n < size) {
			target[n] = '\0';
			break;
		}
		size *= 2;   /* the link grew since lstat */
	}
	int rc = xattr_read_link(at_fd, name, path, &xattrs, c->err);
	free(path);
	if (rc < 0) {
		free(target);
		return -1;
	}
	struct manifest_node *n = manifest_entry_add_node(c->entry, rel, NODE_SYMLINK);
	capture_stat_fields(n, sb);
	n->link = target;
	n->xattrs = xattrs;
	return 0;
}

/*
 * A folder's entries are taken CAPTURE_CHUNK at a time. Their names are
 * listed; then, for a chunk of CAPTURE_PARALLEL_MIN_CHILDREN or more, the
 * pool's helpers lstat them (statx, which also tells a mount point) while
 * this thread, which owns the database
 * connection, looks up their stat cache rows and then lstats the rest:
 * those are most of a snapshot's time when few files changed. Then each
 * row is compared with its file's stat (and, for a capture that checks
 * the store, its object stat'ed there, on the pool too). Then each is
 * recorded in the order listed: a file the cache vouches for unopened,
 * the rest by capture_node. The chunk bounds the memory a big folder
 * takes.
 */
#define CAPTURE_CHUNK 256
#define CAPTURE_PARALLEL_MIN_CHILDREN 32

struct capture_child {
	char *name;
	char *rel;
	int maybe_file;            /* the folder listing did not say it is something else */
	struct stat_cache_row row;
	struct stat sb;            /* its lstat */
	int stat_errno;            /* the lstat failed */
	int mount_root;            /* it is a mount point */
	int vouched;               /* the row vouches for it: taken unopened */
};

struct capture_chunk {
	struct capture *c;
	int at_fd;                 /* the folder holding the names */
	const struct stat *folder; /* its stat (NULL for an entry's top) */
	struct capture_child *children;
	size_t n;
};

/* rel is the child's (allocated). */
static void capture_child_init(struct capture_child *ch, const char *name, char *rel,
			       int maybe_file)
{
	memset(ch, 0, sizeof(*ch));
	ch->name = xstrdup(name);
	ch->rel = rel;
	ch->maybe_file = maybe_file;
}

static void capture_child_free(struct capture_child *ch)
{
	free(ch->name);
	free(ch->rel);
	xattr_list_free(ch->row.xattrs);
}

/* A node on another device than its folder is a mount point too, for a
 * kernel without STATX_ATTR_MOUNT_ROOT. */
static void capture_lstat_job(void *ctx, size_t i)
{
	const struct capture_chunk *k = ctx;
	struct capture_child *ch = &k->children[i];
	if (mounts_stat_at(k->at_fd, ch->name, &ch->sb, &ch->mount_root) < 0)
		ch->stat_errno = errno;
	else if (k->folder && ch->sb.st_dev != k->folder->st_dev)
		ch->mount_root = 1;
}

/* On the thread that owns the database, while the helpers lstat. */
static void capture_fetch_rows(void *ctx)
{
	const struct capture_chunk *k = ctx;
	for (size_t i = 0; i < k->n; i++) {
		struct capture_child *ch = &k->children[i];
		if (ch->maybe_file)
			stat_cache_fetch(&k->c->cache, capture_live_path(k->c, ch->rel), &ch->row);
	}
}

static void capture_vouch_job(void *ctx, size_t i)
{
	const struct capture_chunk *k = ctx;
	struct capture_child *ch = &k->children[i];
	if (!ch->stat_errno)
		ch->vouched = stat_cache_vouches(&k->c->cache, &ch->row, &ch->sb);
}

static void capture_inspect(struct capture *c, int at_fd, const struct stat *folder,
			    struct capture_child *children, size_t n)
{
	struct capture_chunk k = { .c = c, .at_fd = at_fd, .folder = folder, .children = children,
				   .n = n };
	struct parallel_pool *pool = n >= CAPTURE_PARALLEL_MIN_CHILDREN ? &c->pool : NULL;
	parallel_pool_run(pool, n, capture_lstat_job, capture_fetch_rows, &k);
	parallel_pool_run(c->cache.check_store ? pool : NULL, n, capture_vouch_job, NULL, &k);
}

/* A switch renames an entry's top and moves its tree whole: a mount point
 * cannot be renamed, and one below would move along with the old tree. */
static int capture_mount_error(const struct capture *c, const char *rel)
{
	char *path = capture_path(c, rel);
	if (*rel)
		error_set(c->err, ERROR_USAGE, "'%s' is a mount point inside '%s' (a 'files' entry of "
			  "service '%s'): a switch would move it with the old tree; refusing", path,
			  c->source, c->entry->service);
	else
		error_set(c->err, ERROR_USAGE, "'%s' (a 'files' entry of service '%s') is a mount "
			  "point, which a switch cannot rename; refusing", path, c->entry->service);
	free(path);
	return -1;
}

static int capture_child(struct capture *c, int at_fd, struct capture_child *ch)
{
	if (ch->stat_errno) {
		char *path = capture_path(c, ch->rel);
		error_errno(c->err, ERROR_FAILED, ch->stat_errno, "cannot inspect '%s'", path);
		free(path);
		return -1;
	}
	if (ch->mount_root)
		return capture_mount_error(c, ch->rel);
	if (ch->vouched) {
		capture_add_file(c, ch->rel, &ch->sb, (long long)ch->sb.st_size, ch->row.digest,
				 ch->row.xattrs, 0);
		ch->row.xattrs = NULL;
		return 0;
	}
	return capture_node(c, at_fd, ch->name, ch->rel, &ch->sb);
}

/* The next chunk of the folder's entries into children (*n of them): 1
 * when the chunk is full (more may follow), 0 at the end of the folder. */
static int capture_list(struct capture *c, DIR *d, const char *path, const char *rel,
			struct capture_child *children, size_t *n)
{
	*n = 0;
	while (*n < CAPTURE_CHUNK) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return error_errno(c->err, ERROR_FAILED, errno,
						   "cannot list folder '%s'", path);
			return 0;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		capture_child_init(&children[(*n)++], de->d_name, path_join(rel, de->d_name),
				   de->d_type == DT_REG || de->d_type == DT_UNKNOWN);
	}
	return 1;
}

static int capture_dir(struct capture *c, int at_fd, const char *name, const char *rel)
{
	char *path = capture_path(c, rel);
	struct stat sb;
	int rc = -1;
	DIR *d = NULL;
	struct capture_child *children = NULL;
	size_t n = 0;

	int fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		error_errno(c->err, ERROR_FAILED, errno, "cannot open folder '%s'", path);
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		error_errno(c->err, ERROR_FAILED, errno, "cannot inspect '%s'", path);
		close(fd);
		goto out;
	}
	struct manifest_node *node = manifest_entry_add_node(c->entry, rel, NODE_DIR);
	node->mode = sb.st_mode & 07777;
	capture_stat_fields(node, &sb);
	if (xattr_read_fd(fd, path, &node->xattrs, c->err) < 0) {
		close(fd);
		goto out;
	}

	d = fdopendir(fd);
	if (!d) {
		error_errno(c->err, ERROR_FAILED, errno, "cannot open folder '%s'", path);
		close(fd);
		goto out;
	}
	children = xcalloc(CAPTURE_CHUNK, sizeof(*children));
	int more;
	do {
		if ((more = capture_list(c, d, path, rel, children, &n)) < 0)
			goto out;
		capture_inspect(c, dirfd(d), &sb, children, n);
		for (size_t i = 0; i < n; i++)
			if (capture_child(c, dirfd(d), &children[i]) < 0)
				goto out;
		for (; n; n--)
			capture_child_free(&children[n - 1]);
	} while (more);
	rc = 0;
out:
	for (; n; n--)
		capture_child_free(&children[n - 1]);
	free(children);
	/* its number may be another folder's next */
	c->dir_fd_of = -1;
	if (d)
		closedir(d);
	free(path);
	return rc;
}

static const char *capture_special_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "fifo";
	if (S_ISSOCK(mode))
		return "socket";
	if (S_ISCHR(mode))
		return "character device";
	if (S_ISBLK(mode))
		return "block device";
	return "unknown type";
}

/* at_fd + name locate the node (AT_FDCWD and the source for the top). */
static int capture_node(struct capture *c, int at_fd, const char *name, const char *rel,
			const struct stat *sb)
{
	if (S_ISREG(sb->st_mode))
		return capture_file(c, at_fd, name, rel, sb);
	if (S_ISLNK(sb->st_mode))
		return capture_link(c, at_fd, name, rel, sb);
	if (S_ISDIR(sb->st_mode))
		return capture_dir(c, at_fd, name, rel);
	char *path = capture_path(c, rel);
	error_set(c->err, ERROR_FAILED, "'%s': special file (%s) cannot be recorded",
		  path, capture_special_kind(sb->st_mode));
	free(path);
	return -1;
}

static int capture_node_pointer_order(const void *a, const void *b)
{
	return manifest_node_order(*(const struct manifest_node *const *)a,
				   *(const struct manifest_node *const *)b);
}

/*
 * Sort an entry's nodes by rel. glibc's qsort merges through a copy of
 * the whole array, which for 100,000 nodes would add 11 MB to a snapshot's
 * peak; sorting pointers instead and then moving the nodes into place
 * along the permutation's cycles costs a word per node.
 */
static void capture_sort_nodes(struct manifest_entry *entry)
{
	size_t n = entry->nnodes;
	if (n < 2)
		return;
	struct manifest_node **order = xcalloc(n, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = &entry->nodes[i];
	qsort(order, n, sizeof(*order), capture_node_pointer_order);
	/* order[i] names the node that belongs at i; as an index it marks
	 * the places done (order[i] == &nodes[i]). */
	for (size_t i = 0; i < n; i++) {
		if (order[i] == &entry->nodes[i])
			continue;
		struct manifest_node held = entry->nodes[i];
		size_t j = i;
		for (;;) {
			size_t k = (size_t)(order[j] - entry->nodes);
			order[j] = &entry->nodes[j];
			if (k == i) {
				entry->nodes[j] = held;
				break;
			}
			entry->nodes[j] = entry->nodes[k];
			j = k;
		}
	}
	free(order);
}

static int capture_inode_order(const void *a, const void *b)
{
	const struct capture_inode *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static struct manifest_node *capture_find_node(struct manifest_entry *entry, const char *rel)
{
	struct manifest_node key;
	memset(&key, 0, sizeof(key));
	key.rel = (char *)rel;
	return bsearch(&key, entry->nodes, entry->nnodes, sizeof(*entry->nodes),
		       manifest_node_order);
}

/* Two names of one file, read at different moments, that disagree: it
 * changed in between. */
static int capture_same_file(const struct manifest_node *a, const struct manifest_node *b)
{
	return a->size == b->size && !memcmp(a->digest, b->digest, HASH_SIZE) &&
	       a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       xattr_list_equal(a->xattrs, b->xattrs);
}

/*
 * Names of one file within the entry (after the nodes are sorted): the
 * first in order keeps the file, the others become hard links to it, so
 * that a switch makes them one file again. Names outside the entry are
 * not the entry's business: there the file is a file of its own.
 */
static int capture_link_names(struct capture *c)
{
	if (c->ninodes > 1)
		qsort(c->inodes, c->ninodes, sizeof(*c->inodes), capture_inode_order);
	for (size_t i = 0, j; i < c->ninodes; i = j) {
		const struct manifest_node *first = capture_find_node(c->entry, c->inodes[i].rel);
		for (j = i + 1; j < c->ninodes && c->inodes[j].dev == c->inodes[i].dev &&
				c->inodes[j].ino == c->inodes[i].ino; j++) {
			struct manifest_node *other = capture_find_node(c->entry, c->inodes[j].rel);
			if (!capture_same_file(first, other)) {
				char *path = capture_path(c, other->rel);
				error_set(c->err, ERROR_FAILED, "'%s' changed while it was being "
					  "recorded", path);
				free(path);
				return -1;
			}
			other->link = xstrdup(first->rel);
		}
	}
	return 0;
}

int manifest_capture_entry(struct state *st, const char *service, const char *path,
			   const char *source, int flags, struct manifest_entry *entry,
			   struct capture_stats *stats, struct error *err)
{
	struct capture c = { .st = st, .source = source, .entry = entry, .stats = stats,
			     .err = err, .live = STRBUF_INIT, .dir_fd_of = -1 };
	struct capture_child top;
	int rc = -1;

	memset(entry, 0, sizeof(*entry));
	entry->service = xstrdup(service);
	entry->path = xstrdup(path);
	parallel_pool_init(&c.pool, parallel_threads());
	store_batch_begin(&st->store, &c.batch);
	/* Only a live path is worth remembering: a deploy's source is
	 * unpacked afresh each time. */
	stat_cache_open(!strcmp(source, path) ? st : NULL, &c.cache);
	/* (without its objects folder the cache vouches for nothing, and
	 * every file is read) */
	if (c.cache.st && (flags & CAPTURE_CHECK_STORE)) {
		c.cache.check_store = 1;
		c.cache.objects_fd = store_open_objects(&st->store);
	}
	/* the top, as a folder's entry is taken (see capture_dir); a live one
	 * below its folder's descriptor, reached without following a link
	 * (fs_open_parent), so that nothing on the way is resolved by name
	 * again. A source lastgood unpacked is its own. */
	int top_at = AT_FDCWD, missing = 0;
	if (!strcmp(source, path) && fs_open_parent(path, 0, &top_at, &missing, err) < 0)
		goto done;
	if (missing)
		top_at = AT_FDCWD;   /* its folder is not there: the inspection says so */
	capture_child_init(&top, top_at == AT_FDCWD ? source : path_basename(source), xstrdup(""), 1);
	capture_inspect(&c, top_at, NULL, &top, 1);
	if (capture_child(&c, top_at, &top) == 0 && capture_run_queue(&c) == 0 &&
	    store_batch_commit(&c.batch, err) == 0)
		rc = 0;
	capture_drop_queue(&c);   /* what a failure left queued */
	capture_child_free(&top);
	if (top_at != AT_FDCWD)
		close(top_at);
done:
	if (rc == 0) {
		capture_sort_nodes(entry);
		rc = capture_link_names(&c);
	}
	if (rc == 0) {
		manifest_entry_finish(entry);
		if (!(flags & CAPTURE_CACHE_READ_ONLY))
			stat_cache_prune(&c.cache, entry);
	}
	store_batch_abort(&c.batch);
	if (stat_cache_close(&c.cache, rc == 0 && !(flags & CAPTURE_CACHE_READ_ONLY), err) < 0)
		rc = -1;
	parallel_pool_destroy(&c.pool);
	strbuf_release(&c.live);
	free(c.jobs);
	free(c.inodes);
	if (rc < 0)
		manifest_entry_free(entry);
	return rc;
}

int manifest_entry_present(const char *path, int *present, struct error *err)
{
	int dir_fd, missing;
	struct stat sb;
	*present = 0;
	if (fs_open_parent(path, 0, &dir_fd, &missing, err) < 0)
		return -1;
	if (missing)
		return 0;
	*present = fstatat(dir_fd, path_basename(path), &sb, AT_SYMLINK_NOFOLLOW) == 0;
	close(dir_fd);
	return 0;
}

int manifest_capture(struct state *st, const struct config *cfg, int flags,
		     struct manifest *m, struct capture_stats *stats, struct error *err)
{
	if (stats)
		memset(stats, 0, sizeof(*stats));
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *s = &cfg->services[i];
		for (size_t j = 0; j < s->nfiles; j++) {
			int present;
			if (manifest_entry_present(s->files[j].path, &present, err) < 0) {
				manifest_free(m);
				return -1;
			}
			if (!present)
				continue;   /* absent: a release records it by having no entry */
			struct manifest_entry *e = manifest_add_entry(m);
			if (manifest_capture_entry(st, s->name, s->files[j].path, s->files[j].path,
						   flags, e, stats, err) < 0) {
				m->n--;   /* capture left it empty */
				manifest_free(m);
				return -1;
			}
		}
	}
	manifest_sort(m);
	/* One path in two entries would make a release ambiguous. */
	for (size_t i = 1; i < m->n; i++)
		if (!strcmp(m->entries[i - 1].path, m->entries[i].path)) {
			error_set(err, ERROR_USAGE, "'%s' is listed twice (services '%s' and '%s')",
				  m->entries[i].path, m->entries[i - 1].service,
				  m->entries[i].service);
			manifest_free(m);
			return -1;
		}
	return 0;
}

/* path is below folder (or is it, when equal is set). */
static int path_is_inside(const char *path, const char *folder, int equal)
{
	size_t n = strlen(folder);
	if (strncmp(path, folder, n))
		return 0;
	return path[n] == '/' ? n > 1 || path[1] : path[n] == '\0' && equal;
}

int manifest_check_mounts(const struct config *cfg, struct error *err)
{
	struct mount_points mounts;
	int rc = 0;

	if (mounts_read(&mounts, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		for (size_t j = 0; rc == 0 && j < svc->nfiles; j++) {
			const struct service_file *file = &svc->files[j];
			/* mountinfo names mounts by their real paths */
			char *real = realpath(file->path, NULL);
			for (size_t k = 0; real && rc == 0 && k < mounts.n; k++) {
				if (!strcmp(mounts.paths[k], real))
					rc = error_set(err, ERROR_USAGE, "%s:%d:%d: '%s' (a 'files' entry "
						       "of service '%s') is a mount point, which a "
						       "switch cannot rename", cfg->path,
						       file->mark.line, file->mark.column, file->path,
						       svc->name);
				else if (path_is_inside(mounts.paths[k], real, 0))
					rc = error_set(err, ERROR_USAGE, "%s:%d:%d: '%s' is a mount point "
						       "inside '%s' (a 'files' entry of service '%s'): "
						       "a switch would move it with the old tree",
						       cfg->path, file->mark.line, file->mark.column,
						       mounts.paths[k], file->path, svc->name);
			}
			free(real);
		}
	}
	mounts_free(&mounts);
	return rc;
}
