/*
 * gentree: the data the benchmarks run on, made here rather than shipped.
 *
 *   gentree make DIR FILES BYTES [SEED]   a tree of FILES files holding BYTES
 *                                         in all, 100 files per folder
 *   gentree change DIR PERMILLE [SEED]    rewrite that share of its files in
 *                                         place, same size, new bytes
 *
 * Content is pseudo-random (xorshift), so no two files share an object in
 * the store and compression gains nothing, as with real binaries. Sizes
 * vary around the mean (half to one and a half times) so that the tree
 * looks like a release rather than a grid. The same SEED gives the same
 * tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES_PER_FOLDER 100
#define CHUNK (1 << 20)

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gentree: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static void fill(unsigned char *buf, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = rng_next();
		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (unsigned char)rng_next();
}

static void write_content(int fd, const char *path, long long size, unsigned char *buf)
{
	while (size > 0) {
		size_t n = size > CHUNK ? CHUNK : (size_t)size;
		fill(buf, n);
		for (size_t done = 0; done < n;) {
			ssize_t w = write(fd, buf + done, n - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("cannot write", path);
			}
			done += (size_t)w;
		}
		size -= (long long)n;
	}
}

static void file_path(char *out, size_t size, const char *dir, long i)
{
	snprintf(out, size, "%s/d%03ld/f%05ld.bin", dir, i / FILES_PER_FOLDER, i);
}

static int make_tree(const char *dir, long files, long long bytes)
{
	unsigned char *buf = malloc(CHUNK);
	char path[4096];
	long long mean = files ? bytes / files : 0, left = bytes;

	if (!buf)
		return 1;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("cannot create", dir);
	for (long i = 0; i < files; i++) {
		if (i % FILES_PER_FOLDER == 0) {
			snprintf(path, sizeof(path), "%s/d%03ld", dir, i / FILES_PER_FOLDER);
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				die("cannot create", path);
		}
		/* Half to one and a half times the mean; the last file takes
		 * what is left so that the total is exact. */
		long long size = mean / 2 + (mean ? (long long)(rng_next() % (uint64_t)(mean + 1)) : 0);
		if (size > left || i == files - 1)
			size = left;
		left -= size;
		file_path(path, sizeof(path), dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot create", path);
		write_content(fd, path, size, buf);
		close(fd);
	}
	free(buf);
	return 0;
}

/* Every (1000 / permille)-th file, starting at a seed-chosen offset, gets
 * new bytes at its start: same size, new content, new mtime. */
static int change_tree(const char *dir, long permille)
{
	unsigned char buf[4096];
	char path[4096];
	long changed = 0;

	if (permille <= 0)
		return 0;
	long stride = 1000 / permille, start = (long)(rng_next() % (uint64_t)stride);
	for (long i = start;; i += stride) {
		file_path(path, sizeof(path), dir, i);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				break;
			die("cannot open", path);
		}
		struct stat sb;
		if (fstat(fd, &sb) < 0)
			die("cannot inspect", path);
		size_t n = sb.st_size < (off_t)sizeof(buf) ? (size_t)sb.st_size : sizeof(buf);
		fill(buf, n);
		if (pwrite(fd, buf, n, 0) != (ssize_t)n)
			die("cannot write", path);
		close(fd);
		changed++;
	}
	printf("%ld\n", changed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "make")) {
		rng_state = argc == 6 ? strtoull(argv[5], NULL, 10) | 1 : 88172645463325252ULL;
		return make_tree(argv[2], atol(argv[3]), atoll(argv[4]));
	}
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "change")) {
		rng_state = argc == 5 ? strtoull(argv[4], NULL, 10) | 1 : 2463534242ULL;
		return change_tree(argv[2], atol(argv[3]));
	}
	fprintf(stderr, "usage: gentree make DIR FILES BYTES [SEED]\n"
			"       gentree change DIR PERMILLE [SEED]\n");
	return 2;
}
