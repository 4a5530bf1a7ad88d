/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml.c - libxml2 set-up and xsd:dateTime. The response renderer and signature are in
 * xml-render.c, the request parser in xml-request.c (docs/xml.md).
 */
#include "proto/xml.h"
#include "proto/internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "common/secmem.h"

#include "common/banned.h"

/* libxml2 reports nothing itself: every error becomes a return code of ours. */
static void
silent_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
silent_structured(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/* The running library's version as a number (xmlParserVersion is "20914" for 2.9.14). */
static long
runtime_version(void)
{
	const char *v = xmlParserVersion;
	long n = 0;
	int i;

	for (i = 0; v != NULL && i < 8 && v[i] >= '0' && v[i] <= '9'; i++) {
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = KMS_ERR_INTERNAL;

static void
init_libxml2(void)
{
	if (!xmlHasFeature(XML_WITH_C14N) || !xmlHasFeature(XML_WITH_THREAD) ||
	    !xmlHasFeature(XML_WITH_OUTPUT)) {
		init_result = KMS_ERR_UNSUPPORTED;
		return;
	}
	/* The library must be that of the headers' major version, and not older than them. */
	if (runtime_version() / 10000 != LIBXML_VERSION / 10000 ||
	    runtime_version() < LIBXML_VERSION) {
		init_result = KMS_ERR_UNSUPPORTED;
		return;
	}
	/* libxml2 copies the text of plaintext keys (KeyContentType) into its nodes and output
	 * buffers: what it frees is wiped (common/secmem.h) */
	if (xmlMemSetup(kms_wipe_free, malloc, kms_wipe_realloc, kms_wipe_strdup) != 0) {
		init_result = KMS_ERR_INTERNAL;
		return;
	}
	xmlInitParser();
	/* This thread, and the default of threads created later (libxml2 keeps them per thread). */
	xmlSetGenericErrorFunc(NULL, silent_generic);
	xmlThrDefSetGenericErrorFunc(NULL, silent_generic);
	xmlSetStructuredErrorFunc(NULL, silent_structured);
	xmlThrDefSetStructuredErrorFunc(NULL, silent_structured);
	init_result = KMS_OK;
}

int
kms_xml_init(void)
{
	if (pthread_once(&init_once, init_libxml2) != 0) {
		return KMS_ERR_INTERNAL;
	}
	return init_result;
}

/* ------------------------------------------------------------------------------------------ */
/* xsd:dateTime. Civil dates in the proleptic Gregorian calendar (H. Hinnant's algorithms). */

static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2 ? 1 : 0;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t
days_in_month(int64_t y, int64_t m)
{
	static const int8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && is_leap(y)) {
		return 29;
	}
	return days[m - 1];
}

/* n decimal digits at s[*pos], advancing *pos; false (and *pos unchanged) if not all digits. */
static bool
get_digits(const char *s, size_t len, size_t *pos, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n > len - *pos) {
		return false;
	}
	for (i = 0; i < n; i++) {
		char c = s[*pos + i];

		if (c < '0' || c > '9') {
			return false;
		}
		v = v * 10 + (c - '0');
	}
	*pos += n;
	*out = v;
	return true;
}

static bool
get_char(const char *s, size_t len, size_t *pos, char c)
{
	if (*pos >= len || s[*pos] != c) {
		return false;
	}
	*pos += 1;
	return true;
}

#define MAX_FRACTION_DIGITS 12

int
kms_xml_datetime_parse(int64_t *out, const char *s, size_t len)
{
	int64_t year, month, day, hour, minute, second, t;
	int64_t tz_h = 0, tz_m = 0, tz_sign = 0;
	bool fraction_zero = true;
	size_t pos = 0;

	*out = 0;
	if (s == NULL) {
		return KMS_ERR_RANGE;
	}
	while (len > 0 && kms_xml_is_space(s[len - 1])) {
		len--;
	}
	while (pos < len && kms_xml_is_space(s[pos])) {
		pos++;
	}
	if (!get_digits(s, len, &pos, 4, &year) || !get_char(s, len, &pos, '-') ||
	    !get_digits(s, len, &pos, 2, &month) || !get_char(s, len, &pos, '-') ||
	    !get_digits(s, len, &pos, 2, &day) || !get_char(s, len, &pos, 'T') ||
	    !get_digits(s, len, &pos, 2, &hour) || !get_char(s, len, &pos, ':') ||
	    !get_digits(s, len, &pos, 2, &minute) || !get_char(s, len, &pos, ':') ||
	    !get_digits(s, len, &pos, 2, &second)) {
		return KMS_ERR_RANGE;
	}
	if (get_char(s, len, &pos, '.')) {
		size_t n = 0;

		while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
			if (s[pos] != '0') {
				fraction_zero = false;
			}
			pos++;
			n++;
		}
		if (n == 0 || n > MAX_FRACTION_DIGITS) {
			return KMS_ERR_RANGE;
		}
	}
	if (get_char(s, len, &pos, 'Z')) {
		tz_sign = 0;
	} else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
		tz_sign = s[pos] == '+' ? 1 : -1;
		pos++;
		if (!get_digits(s, len, &pos, 2, &tz_h) || !get_char(s, len, &pos, ':') ||
		    !get_digits(s, len, &pos, 2, &tz_m)) {
			return KMS_ERR_RANGE;
		}
		if (tz_h > 14 || tz_m > 59 || (tz_h == 14 && tz_m != 0)) {
			return KMS_ERR_RANGE;
		}
	}
	if (pos != len) {
		return KMS_ERR_RANGE;
	}
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
		return KMS_ERR_RANGE;
	}
	/* XSD 1.0: 24:00:00 (and only that, without a fraction) is the end of the day. */
	if (hour == 24) {
		if (minute != 0 || second != 0 || !fraction_zero) {
			return KMS_ERR_RANGE;
		}
	} else if (hour > 23 || minute > 59 || second > 59) {
		return KMS_ERR_RANGE;
	}
	t = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
	t -= tz_sign * (tz_h * 3600 + tz_m * 60);
	if (t < KMS_XML_DATETIME_MIN || t > KMS_XML_DATETIME_MAX) {
		return KMS_ERR_RANGE;
	}
	*out = t;
	return KMS_OK;
}

int
kms_xml_datetime_format(char out[static KMS_XML_DATETIME_LEN + 1], int64_t t)
{
	int64_t days, secs, y, m, d;
	int n;

	out[0] = '\0';
	if (t < KMS_XML_DATETIME_MIN || t > KMS_XML_DATETIME_MAX) {
		return KMS_ERR_RANGE;
	}
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days -= 1;
	}
	civil_from_days(days, &y, &m, &d);
	n = snprintf(out, KMS_XML_DATETIME_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y,
		     (int)m, (int)d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	if (n != KMS_XML_DATETIME_LEN) {
		out[0] = '\0';
		return KMS_ERR_INTERNAL;
	}
	return KMS_OK;
}
