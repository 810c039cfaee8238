/*
 * SHA-256 digests with libcrypto's EVP interface.
 */
#include "util/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hasher_init(struct hasher *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "lastgood: libcrypto cannot start a sha256 digest\n");
		abort();
	}
}

void hasher_update(struct hasher *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1) {
		fprintf(stderr, "lastgood: libcrypto sha256 update failed\n");
		abort();
	}
}

void hasher_final(struct hasher *h, char hex[HASH_HEX_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != 32) {
		fprintf(stderr, "lastgood: libcrypto sha256 final failed\n");
		abort();
	}
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	hash_to_hex(md, hex);
}

void hash_to_hex(const unsigned char raw[HASH_SIZE], char hex[HASH_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < HASH_SIZE; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[2 * HASH_SIZE] = '\0';
}

void hash_buffer(const void *data, size_t len, char hex[HASH_HEX_SIZE])
{
	struct hasher h;
	hasher_init(&h);
	hasher_update(&h, data, len);
	hasher_final(&h, hex);
}

int hash_is_valid_hex(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

int hash_from_hex(const char *hex, unsigned char raw[HASH_SIZE])
{
	size_t len = 0;
	/* libcrypto decodes; lastgood's own check keeps names lowercase. */
	if (!hash_is_valid_hex(hex) ||
	    OPENSSL_hexstr2buf_ex(raw, HASH_SIZE, &len, hex, '\0') != 1 || len != HASH_SIZE)
		return -1;
	return 0;
}
