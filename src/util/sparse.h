/*
 * Copying a file's bytes with its holes kept: a sparse file (a disk image,
 * a database's preallocated tail) takes the room of its data alone, in the
 * store and live alike. SEEK_DATA/SEEK_HOLE find the data; only that is
 * copied (in the kernel, copy_file_range, else pread/pwrite), and the copy
 * is then given the source's size, which leaves every hole a hole. On a
 * file system that does not report holes, the whole file is data.
 */
#ifndef LG_SPARSE_H
#define LG_SPARSE_H

struct error;

/* Fill out_fd (an empty regular file open for writing) with in_fd's
 * bytes, holes kept. Both descriptors are used at explicit offsets, so
 * their file positions do not matter and are left as they were. A source
 * that changes meanwhile gives a copy of no particular moment: callers
 * that copy live files compare its stat before and after. what names the
 * source in errors. */
int sparse_copy(int in_fd, int out_fd, const char *what, struct error *err);

#endif
