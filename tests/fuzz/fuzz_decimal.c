/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_decimal - kms_conf_decimal (common/conf.h), the number parser of argv and the
 * environment (kms-hsmd's --fd, LISTEN_PID, LISTEN_FDS, peer_user; kmsd's listen port;
 * kms-client's --timeout; kms-devsetup, kms-ceremony, kms-bench), on arbitrary bytes: the
 * first 8 are the bound, the rest the text. Checked against an independent reading in 128-bit
 * arithmetic: accepted exactly when the text is 1 to 20 digits without a leading zero and the
 * value is at most the bound, with that value; refused with KMS_ERR_PARSE or KMS_ERR_RANGE by
 * the same rule, *out untouched. Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/err.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t untouched = 0x5a5a5a5a5a5a5a5aULL;
	unsigned __int128 ref = 0;
	uint64_t max = 0;
	uint64_t out = untouched;
	const char *s;
	size_t len;
	size_t i;
	int digits = 1;
	int overflow = 0;
	int r;

	if (size < 8) {
		return 0;
	}
	for (i = 0; i < 8; i++) {
		max = (max << 8) | data[i];
	}
	/* small bounds are the interesting ones: a first octet of 0xff picks one */
	if (data[0] == 0xff) {
		max &= 0xffff;
	}
	s = (const char *)data + 8;
	len = size - 8;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			digits = 0;
			break;
		}
		if (!overflow) {
			ref = ref * 10 + (unsigned int)(s[i] - '0');
			overflow = ref > UINT64_MAX;
		}
	}
	r = kms_conf_decimal(s, len, max, &out);
	if (len == 0 || !digits || (len > 1 && s[0] == '0')) {
		CHECK(r == KMS_ERR_PARSE);
		CHECK(out == untouched);
	} else if (overflow || ref > max) {
		CHECK(r == KMS_ERR_RANGE);
		CHECK(out == untouched);
	} else {
		CHECK(r == KMS_OK);
		CHECK(out == (uint64_t)ref);
		CHECK(len <= 20);
	}
	return 0;
}
