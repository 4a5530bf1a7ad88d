/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_p11uri - the RFC 7512 parser on arbitrary bytes. A failed parse must leave its output
 * untouched and say where (an offset inside the input) and why; an accepted URI must respect
 * every bound, hold no pin-value, and match a token, slot and library built from its own
 * values (and not one with the label changed). Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/p11uri.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define MAX_INPUT (2 * KMS_P11URI_MAX_LEN) /* room to reach the length limit */
#define CANARY    0x5a

static int
all_canary(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (b[i] != CANARY) {
			return 0;
		}
	}
	return 1;
}

/*
 * Whether a component of the input is named pin-value (the parser must refuse those): one that
 * starts after the scheme or a ';' in the path, or after the first '?' or a '&' in the query
 * ('&' is an ordinary character in path values, and '?' in query values).
 */
static int
names_pin_value(const uint8_t *data, size_t size)
{
	static const char name[] = "pin-value=";
	const uint8_t *q = memchr(data, '?', size);
	size_t query = q != NULL ? (size_t)(q - data) : size;
	size_t i, n = sizeof(name) - 1;
	int starts;

	for (i = 7; i + n <= size; i++) {
		if (i == 7 || i == query + 1) {
			starts = 1;
		} else if (i < query) {
			starts = data[i - 1] == ';';
		} else {
			starts = data[i - 1] == '&'; /* '?' inside the query is a plain character */
		}
		if (starts && memcmp(data + i, name, n) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
fill(unsigned char *field, size_t cap, const uint8_t *v, size_t len)
{
	memset(field, ' ', cap);
	memcpy(field, v, len);
}

static void
check_accepted(const uint8_t *data, size_t size, struct kms_p11uri *u)
{
	CK_ATTRIBUTE t[KMS_P11URI_MAX_TEMPLATE];
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_INFO info;
	CK_ULONG num = 99;
	int r;

	CHECK(size <= KMS_P11URI_MAX_LEN);
	CHECK(!names_pin_value(data, size));
	CHECK((u->has & ~0xffffu) == 0);
	CHECK(u->token_len <= sizeof(u->token));
	CHECK(u->manufacturer_len <= sizeof(u->manufacturer));
	CHECK(u->serial_len <= sizeof(u->serial));
	CHECK(u->model_len <= sizeof(u->model));
	CHECK(u->lib_manufacturer_len <= sizeof(u->lib_manufacturer));
	CHECK(u->lib_description_len <= sizeof(u->lib_description));
	CHECK(u->slot_description_len <= sizeof(u->slot_description));
	CHECK(u->slot_manufacturer_len <= sizeof(u->slot_manufacturer));
	CHECK(u->object_len <= sizeof(u->object));
	CHECK(u->id_len <= sizeof(u->id));
	CHECK(memchr(u->token, 0, u->token_len) == NULL);
	CHECK(memchr(u->object, 0, u->object_len) == NULL);
	if ((u->has & KMS_P11URI_MODULE_PATH) != 0) {
		CHECK(memchr(u->module_path, 0, sizeof(u->module_path)) != NULL);
		CHECK(u->module_path[0] == '/');
	}
	if ((u->has & KMS_P11URI_MODULE_NAME) != 0) {
		CHECK(memchr(u->module_name, 0, sizeof(u->module_name)) != NULL);
		CHECK(strchr(u->module_name, '/') == NULL);
	}
	if ((u->has & KMS_P11URI_PIN_SOURCE) != 0) {
		CHECK(memchr(u->pin_source, 0, sizeof(u->pin_source)) != NULL);
	}
	if ((u->has & KMS_P11URI_TYPE) != 0) {
		CHECK(u->type == CKO_PUBLIC_KEY || u->type == CKO_PRIVATE_KEY ||
		      u->type == CKO_CERTIFICATE || u->type == CKO_SECRET_KEY ||
		      u->type == CKO_DATA);
	}

	/* the template: present iff the URI names an object by label or id */
	r = kms_p11uri_object_template(u, t, &num);
	if ((u->has & (KMS_P11URI_OBJECT | KMS_P11URI_ID)) == 0) {
		CHECK(r == KMS_ERR_INVALID_ARG && num == 0);
	} else {
		CHECK(r == KMS_OK && num >= 1 && num <= KMS_P11URI_MAX_TEMPLATE);
	}

	/* a token, slot and library made of the URI's own values match it */
	memset(&ti, 0, sizeof(ti));
	fill(ti.label, sizeof(ti.label), u->token, u->token_len);
	fill(ti.manufacturerID, sizeof(ti.manufacturerID), u->manufacturer, u->manufacturer_len);
	fill(ti.serialNumber, sizeof(ti.serialNumber), u->serial, u->serial_len);
	fill(ti.model, sizeof(ti.model), u->model, u->model_len);
	CHECK(kms_p11uri_match_token(u, &ti) == 1);
	if ((u->has & KMS_P11URI_TOKEN) != 0) {
		ti.label[0] ^= 1;
		CHECK(kms_p11uri_match_token(u, &ti) == 0);
	}
	memset(&si, 0, sizeof(si));
	fill(si.slotDescription, sizeof(si.slotDescription), u->slot_description,
	     u->slot_description_len);
	fill(si.manufacturerID, sizeof(si.manufacturerID), u->slot_manufacturer,
	     u->slot_manufacturer_len);
	CHECK(kms_p11uri_match_slot(u, u->slot_id, &si) == 1);
	memset(&info, 0, sizeof(info));
	fill(info.manufacturerID, sizeof(info.manufacturerID), u->lib_manufacturer,
	     u->lib_manufacturer_len);
	fill(info.libraryDescription, sizeof(info.libraryDescription), u->lib_description,
	     u->lib_description_len);
	info.libraryVersion = u->lib_version;
	CHECK(kms_p11uri_match_library(u, &info) == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_p11uri *u;
	struct kms_p11uri_diag diag;
	int r;

	if (size > MAX_INPUT) {
		return 0;
	}
	u = malloc(sizeof(*u));
	CHECK(u != NULL);
	memset(u, CANARY, sizeof(*u));
	r = kms_p11uri_parse(u, &diag, (const char *)data, size);
	if (r != KMS_OK) {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_ENCODING || r == KMS_ERR_TOO_LARGE ||
		      r == KMS_ERR_RANGE || r == KMS_ERR_UNSUPPORTED);
		CHECK(all_canary(u, sizeof(*u)));
		CHECK(diag.reason != NULL);
		CHECK(diag.offset <= size);
		CHECK(size <= KMS_P11URI_MAX_LEN || r == KMS_ERR_TOO_LARGE);
	} else {
		check_accepted(data, size, u);
	}
	free(u);
	return 0;
}
