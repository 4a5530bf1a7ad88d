/* SPDX-License-Identifier: Apache-2.0 */
#include "common/hex.h"

#include <string.h>

#include "common/ct.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * Hex may carry secrets (keys in test vectors, configuration, ceremony transcripts), so the
 * digits are decoded with arithmetic and masks only: no branch and no table index depends on
 * a digit's value (after libsodium's sodium_hex2bin). Validity is accumulated in a mask and
 * tested once at the end.
 */

/*
 * nibble - the value of hex digit c (0..15) in the low 4 bits, and in *valid 0xff if c is
 * a hex digit, 0 otherwise. All arithmetic is on unsigned int with c <= 0xff, so a difference
 * that goes below zero wraps and sets bits 8 and up, which ">> 8" turns into a mask.
 */
static unsigned int
nibble(unsigned char ch, unsigned int *valid)
{
	unsigned int c = ch;
	unsigned int num = c ^ 0x30u;              /* '0'..'9' -> 0..9 */
	unsigned int num_ok = (num - 10u) >> 8;    /* all ones iff num < 10 */
	unsigned int alpha = (c & ~0x20u) - 0x37u; /* 'A'..'F', 'a'..'f' -> 10..15 */
	unsigned int alpha_ok = ((alpha - 10u) ^ (alpha - 16u)) >> 8; /* iff 10 <= alpha < 16 */

	*valid = (num_ok | alpha_ok) & 0xffu;
	return ((num_ok & num) | (alpha_ok & alpha)) & 0x0fu;
}

/* digit - the upper-case hex digit of n (0..15): '0' + n, plus 7 more when n > 9. */
static char
digit(unsigned int n)
{
	return (char)(0x30u + n + (((9u - n) >> 8) & 7u));
}

/* ASCII whitespace, whatever the locale (isspace() is locale-dependent). */
static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int
kms_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len)
{
	const unsigned char *h = (const unsigned char *)hex;
	unsigned int bad = 0;
	unsigned int hi, lo, vhi, vlo;
	size_t i;

	/* hex_len / 2 rather than 2 * out_len, which could overflow. */
	if (hex_len % 2 != 0 || hex_len / 2 != out_len) {
		kms_memzero(out, out_len);
		return KMS_ERR_RANGE;
	}
	for (i = 0; i < out_len; i++) {
		hi = nibble(h[2 * i], &vhi);
		lo = nibble(h[2 * i + 1], &vlo);
		bad |= (vhi & vlo) ^ 0xffu;
		out[i] = (uint8_t)((hi << 4) | lo);
	}
	/* Whether the text was hex is the one thing the result reveals. */
	KMS_CT_DECLASSIFY(&bad, sizeof(bad));
	if (bad != 0) {
		kms_memzero(out, out_len);
		return KMS_ERR_ENCODING;
	}
	return KMS_OK;
}

int
kms_hex_decode_loose(uint8_t *out, size_t cap, size_t *out_len, const char *hex)
{
	const unsigned char *h = (const unsigned char *)hex;
	unsigned int bad = 0;
	unsigned int hi = 0, v, valid;
	size_t n = 0; /* digits seen */
	int r = KMS_ERR_INTERNAL;

	*out_len = 0;
	/* Which characters are whitespace may leak through timing; the digits' values do not. */
	for (; *h != '\0'; h++) {
		if (is_space(*h)) {
			continue;
		}
		if (n / 2 >= cap) {
			r = KMS_ERR_TOO_LARGE;
			goto fail;
		}
		v = nibble(*h, &valid);
		bad |= valid ^ 0xffu;
		if (n % 2 == 0) {
			hi = v;
		} else {
			out[n / 2] = (uint8_t)((hi << 4) | v);
		}
		n++;
	}
	KMS_CT_DECLASSIFY(&bad, sizeof(bad));
	if (n % 2 != 0 || bad != 0) {
		r = KMS_ERR_ENCODING;
		goto fail;
	}
	*out_len = n / 2;
	return KMS_OK;
fail:
	kms_memzero(out, cap);
	return r;
}

int
kms_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t len)
{
	size_t i;

	/* Needs 2 * len + 1 <= out_cap, written so that nothing can overflow. */
	if (out_cap == 0 || len > (out_cap - 1) / 2) {
		if (out_cap > 0) {
			out[0] = '\0';
		}
		return KMS_ERR_TOO_LARGE;
	}
	for (i = 0; i < len; i++) {
		out[2 * i] = digit((unsigned int)in[i] >> 4);
		out[2 * i + 1] = digit((unsigned int)in[i] & 0x0fu);
	}
	out[2 * len] = '\0';
	return KMS_OK;
}
