/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_hex - both hex decoders against a plain reference decoder, on arbitrary text, plus
 * the encoder's round trip on arbitrary bytes. Any disagreement, any byte written outside the
 * output, or a failed decode that leaves output bytes set, aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define MAX_INPUT 4096 /* longer inputs test nothing new and slow the search */
#define CANARY    0xa5

static int
ref_digit(unsigned char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

static int
ref_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0) {
			return 0;
		}
	}
	return 1;
}

/* The strict decoder on text of exactly size bytes, with the right and a wrong out_len. */
static void
check_strict(const uint8_t *text, size_t size, uint8_t *out, char *enc, uint8_t *back)
{
	size_t n = size / 2;
	size_t i;
	int ok = size % 2 == 0;
	int r;

	for (i = 0; i < size; i++) {
		ok &= ref_digit(text[i]) >= 0;
	}
	memset(out, CANARY, n + 2);
	r = kms_hex_decode(out, n, (const char *)text, size);
	CHECK(out[n] == CANARY);
	if (!ok) {
		CHECK(r == (size % 2 != 0 ? KMS_ERR_RANGE : KMS_ERR_ENCODING));
		CHECK(all_zero(out, n));
	} else {
		CHECK(r == KMS_OK);
		for (i = 0; i < n; i++) {
			CHECK(out[i] == ref_digit(text[2 * i]) * 16 + ref_digit(text[2 * i + 1]));
		}
		/* encode: upper case of the input, and back to the same bytes */
		CHECK(kms_hex_encode(enc, 2 * n + 1, out, n) == KMS_OK);
		CHECK(strlen(enc) == size);
		for (i = 0; i < size; i++) {
			unsigned char c = text[i];

			CHECK((unsigned char)enc[i] == (c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c));
		}
		CHECK(kms_hex_decode(back, n, enc, size) == KMS_OK);
		CHECK(memcmp(back, out, n) == 0);
	}

	/* One byte more than the text holds is a wrong length, whatever the text. */
	memset(out, CANARY, n + 2);
	CHECK(kms_hex_decode(out, n + 1, (const char *)text, size) == KMS_ERR_RANGE);
	CHECK(all_zero(out, n + 1));
	CHECK(out[n + 1] == CANARY);
}

/* The loose decoder on the text up to its first NUL. */
static void
check_loose(const uint8_t *text, size_t size, char *str, uint8_t *ref, uint8_t *out)
{
	size_t cap = size / 2 + 1;
	size_t digits = 0, len = 12345;
	int ok = 1, v;
	size_t i;
	int r;

	memcpy(str, text, size);
	str[size] = '\0';
	for (i = 0; str[i] != '\0'; i++) {
		if (ref_space((unsigned char)str[i])) {
			continue;
		}
		v = ref_digit((unsigned char)str[i]);
		if (v < 0) {
			ok = 0;
			continue;
		}
		if (digits % 2 == 0) {
			ref[digits / 2] = (uint8_t)(v << 4);
		} else {
			ref[digits / 2] = (uint8_t)(ref[digits / 2] | v);
		}
		digits++;
	}
	ok &= digits % 2 == 0;

	memset(out, CANARY, cap + 1);
	r = kms_hex_decode_loose(out, cap, &len, str);
	CHECK(out[cap] == CANARY);
	if (!ok) {
		CHECK(r == KMS_ERR_ENCODING);
		CHECK(len == 0);
		CHECK(all_zero(out, cap));
		return;
	}
	CHECK(r == KMS_OK);
	CHECK(len == digits / 2);
	CHECK(memcmp(out, ref, len) == 0);

	/* One byte short of room. */
	if (len > 0) {
		memset(out, CANARY, cap + 1);
		len = 12345;
		CHECK(kms_hex_decode_loose(out, digits / 2 - 1, &len, str) == KMS_ERR_TOO_LARGE);
		CHECK(len == 0);
		CHECK(all_zero(out, digits / 2 - 1));
		CHECK(out[digits / 2 - 1] == CANARY);
	}
}

/* The input as bytes: encode, decode, compare; and a buffer one byte short is refused. */
static void
check_encode(const uint8_t *data, size_t size, char *enc, uint8_t *back)
{
	size_t i;

	memset(enc, 'x', 2 * size + 2);
	CHECK(kms_hex_encode(enc, 2 * size + 1, data, size) == KMS_OK);
	CHECK(enc[2 * size] == '\0');
	CHECK(enc[2 * size + 1] == 'x');
	for (i = 0; i < 2 * size; i++) {
		CHECK((enc[i] >= '0' && enc[i] <= '9') || (enc[i] >= 'A' && enc[i] <= 'F'));
	}
	CHECK(kms_hex_decode(back, size, enc, 2 * size) == KMS_OK);
	CHECK(memcmp(back, data, size) == 0);
	CHECK(kms_hex_encode(enc, 2 * size, data, size) == KMS_ERR_TOO_LARGE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out, *back, *ref;
	char *enc, *str;

	if (size > MAX_INPUT) {
		return 0;
	}
	out = malloc(size + 2);
	back = malloc(size + 1);
	ref = malloc(size + 1);
	enc = malloc(2 * size + 2);
	str = malloc(size + 1);
	CHECK(out != NULL && back != NULL && ref != NULL && enc != NULL && str != NULL);

	check_strict(data, size, out, enc, back);
	check_loose(data, size, str, ref, out);
	check_encode(data, size, enc, back);

	free(str);
	free(enc);
	free(ref);
	free(back);
	free(out);
	return 0;
}
