/*
 * SHA-256 through OpenSSL's libcrypto, as lowercase hex.
 *
 *   struct hasher h;
 *   hasher_init(&h);
 *   hasher_update(&h, buf, len);   (any number of times)
 *   hasher_final(&h, hex);         (hex is HASH_HEX_SIZE bytes, NUL-terminated)
 *
 * hasher_final releases the context; a hasher is used once.
 */
#ifndef LG_HASH_H
#define LG_HASH_H

#include <stddef.h>

#define HASH_SIZE 32       /* a sha256 digest as bytes */
#define HASH_HEX_SIZE 65   /* 64 hex digits and NUL */

struct hasher {
	void *ctx;   /* EVP_MD_CTX */
};

void hasher_init(struct hasher *h);
void hasher_update(struct hasher *h, const void *data, size_t len);
void hasher_final(struct hasher *h, char hex[HASH_HEX_SIZE]);
void hash_buffer(const void *data, size_t len, char hex[HASH_HEX_SIZE]);
/* 1 when s is 64 lowercase hex digits. */
int hash_is_valid_hex(const char *s);
/* The same digest as bytes (what a manifest node holds: half the memory)
 * and as the hex that names it in the store; hash_from_hex returns -1,
 * raw untouched, unless hex is valid. */
void hash_to_hex(const unsigned char raw[HASH_SIZE], char hex[HASH_HEX_SIZE]);
int hash_from_hex(const char *hex, unsigned char raw[HASH_SIZE]);

#endif
