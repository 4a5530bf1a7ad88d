/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the KMS interface (tools/kmsclient.h). Everything here reads bytes a server
 * sent: the HTTP framing and the XML are outside input, parsed under fixed limits, and nothing
 * is believed before it is checked. Written from ../shared/spec/kms-interface.md and the XML
 * signature and encryption recommendations, never from the server's code, so that a mistake
 * on one side shows up on the other.
 */
#include "tools/kmsclient.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "common/cbs.h"
#include "common/hex.h"

#include "common/banned.h"

#define ALG_C14N        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define ALG_HMAC        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
#define ALG_SHA256      "http://www.w3.org/2001/04/xmlenc#sha256"
#define ALG_ENVELOPED   "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define ALG_KW_PAD      "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad"
#define ALG_KW_LEGACY   "http://www.w3.org/2001/04/xmlenc#kw-aes256"
#define REF_ROOT        "#xmldoc"
#define ROOT_ID         "xmldoc"
#define REQ_REF         "#kmsreq" /* what a signed request's Reference names */
#define REQ_ID          "kmsreq"
#define MAX_INTERIM     8u    /* 1xx responses before the final one */
#define MAX_NAME        256u  /* a KeyName, a Role, a UserIdFormat */
#define MAX_DOMAINS     64u   /* KmsDomain elements in a KmsDomainList */
#define NTP_UNIX_DAYS   25567 /* days from 1900-01-01 to 1970-01-01 */
#define SECONDS_PER_DAY 86400u

/* libxml2 strings are unsigned char; its BAD_CAST would also cast const away */
#define XC(s) ((const xmlChar *)(s))

static int __attribute__((format(printf, 4, 5)))
failf(char *err, size_t err_len, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void
err_clear(char *err, size_t err_len)
{
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP/1.x responses */

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int
hex_value(uint8_t c)
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

static bool
is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field-vchar, SP and HTAB (RFC 9110 5.5); obs-text is allowed, every control is not. */
static bool
is_field_char(uint8_t c)
{
	return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static uint8_t
ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Case-insensitive equality of p[0..len) and the lower-case literal s. */
static bool
ci_equal(const uint8_t *p, size_t len, const char *s)
{
	size_t i;

	if (len != strlen(s)) {
		return false;
	}
	for (i = 0; i < len; i++) {
		if (ascii_lower(p[i]) != (uint8_t)s[i]) {
			return false;
		}
	}
	return true;
}

/*
 * get_line - the next line, without its CRLF, as a sub-cursor, if its CRLF ends within max
 * bytes; KMS_ERR_TRUNCATED if the input ends first, KMS_ERR_TOO_LARGE if max bytes hold no CRLF.
 */
static int
get_line(struct kms_cbs *cbs, struct kms_cbs *line, size_t max)
{
	size_t n = kms_cbs_len(cbs);
	size_t lim = n < max ? n : max;
	size_t i;

	for (i = 0; i + 1 < lim; i++) {
		if (cbs->data[i] == '\r' && cbs->data[i + 1] == '\n') {
			if (kms_cbs_get_bytes(cbs, line, i) != KMS_OK ||
			    kms_cbs_skip(cbs, 2) != KMS_OK) {
				return KMS_ERR_INTERNAL;
			}
			return KMS_OK;
		}
	}
	return n < max ? KMS_ERR_TRUNCATED : KMS_ERR_TOO_LARGE;
}

struct http_head {
	int status;
	int minor;
	struct kms_cbs reason;
	bool has_cl, has_te, has_ctype, has_retry;
	uint64_t cl;
	struct kms_cbs ctype, retry;
};

/* "HTTP/1.x SP 3DIGIT [SP reason-phrase]" */
static int
parse_status_line(struct http_head *h, const struct kms_cbs *line)
{
	const uint8_t *p = line->data;
	size_t len = line->len;
	size_t i;

	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || !is_digit(p[10]) || !is_digit(p[11])) {
		return KMS_ERR_PARSE;
	}
	if (len > 12 && p[12] != ' ') {
		return KMS_ERR_PARSE;
	}
	for (i = 13; i < len; i++) {
		if (!is_field_char(p[i])) {
			return KMS_ERR_PARSE;
		}
	}
	h->minor = p[7] - '0';
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	kms_cbs_init(&h->reason, len > 13 ? p + 13 : p, len > 13 ? len - 13 : 0);
	return KMS_OK;
}

/*
 * parse_field - one "name: value" line. With h, record the fields that frame the body or that
 * the client reports; without it (interim responses, trailers), only check the syntax.
 */
static int
parse_field(struct http_head *h, const struct kms_cbs *line)
{
	const uint8_t *p = line->data;
	size_t len = line->len;
	size_t name_len = 0;
	size_t v, v_end;
	size_t i;

	while (name_len < len && is_tchar(p[name_len])) {
		name_len++;
	}
	/* No name (an obs-fold line starts with a space), or no colon right after it. */
	if (name_len == 0 || name_len == len || p[name_len] != ':') {
		return KMS_ERR_PARSE;
	}
	for (i = name_len + 1; i < len; i++) {
		if (!is_field_char(p[i])) {
			return KMS_ERR_PARSE;
		}
	}
	v = name_len + 1;
	while (v < len && (p[v] == ' ' || p[v] == '\t')) {
		v++;
	}
	v_end = len;
	while (v_end > v && (p[v_end - 1] == ' ' || p[v_end - 1] == '\t')) {
		v_end--;
	}
	if (h == NULL) {
		return KMS_OK;
	}
	if (ci_equal(p, name_len, "content-length")) {
		uint64_t cl = 0;

		if (h->has_cl || v == v_end) {
			return KMS_ERR_PARSE;
		}
		for (i = v; i < v_end; i++) {
			if (!is_digit(p[i])) {
				return KMS_ERR_PARSE;
			}
			cl = cl * 10 + (uint64_t)(p[i] - '0');
			if (cl > KMS_CLIENT_MAX_BODY) {
				return KMS_ERR_TOO_LARGE;
			}
		}
		h->has_cl = true;
		h->cl = cl;
	} else if (ci_equal(p, name_len, "transfer-encoding")) {
		if (h->has_te) {
			return KMS_ERR_PARSE;
		}
		if (!ci_equal(p + v, v_end - v, "chunked")) {
			return KMS_ERR_UNSUPPORTED;
		}
		h->has_te = true;
	} else if (ci_equal(p, name_len, "content-type")) {
		if (h->has_ctype) {
			return KMS_ERR_PARSE;
		}
		h->has_ctype = true;
		kms_cbs_init(&h->ctype, p + v, v_end - v);
	} else if (ci_equal(p, name_len, "retry-after")) {
		if (h->has_retry) {
			return KMS_ERR_PARSE;
		}
		h->has_retry = true;
		kms_cbs_init(&h->retry, p + v, v_end - v);
	}
	return KMS_OK;
}

/* One head: a status line, fields, an empty line; *budget is what KMS_CLIENT_MAX_HEAD leaves. */
static int
parse_head(struct http_head *h, struct kms_cbs *cbs, size_t *budget)
{
	struct kms_cbs line;
	size_t start = kms_cbs_len(cbs);
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = get_line(cbs, &line, *budget)) != KMS_OK ||
	    (r = parse_status_line(h, &line)) != KMS_OK) {
		return r;
	}
	for (;;) {
		if ((r = get_line(cbs, &line, *budget - (start - kms_cbs_len(cbs)))) != KMS_OK) {
			return r;
		}
		if (kms_cbs_len(&line) == 0) {
			break;
		}
		if ((r = parse_field(h->status >= 200 ? h : NULL, &line)) != KMS_OK) {
			return r;
		}
	}
	*budget -= start - kms_cbs_len(cbs);
	return KMS_OK;
}

/*
 * read_chunked - decode a chunked body from cbs: into dst when it is not NULL (the caller sized
 * it from a first pass without dst). *out_len is the body's length.
 */
static int
read_chunked(struct kms_cbs *cbs, uint8_t *dst, size_t *out_len)
{
	size_t total = 0;
	size_t framing = 0;
	struct kms_cbs line;
	int r;

	for (;;) {
		size_t before = kms_cbs_len(cbs);
		uint64_t size = 0;
		size_t i = 0;

		if ((r = get_line(cbs, &line, KMS_CLIENT_MAX_FRAMING - framing)) != KMS_OK) {
			return r;
		}
		framing += before - kms_cbs_len(cbs);
		while (i < line.len && hex_value(line.data[i]) >= 0) {
			size = size * 16 + (uint64_t)hex_value(line.data[i]);
			if (size > KMS_CLIENT_MAX_BODY) {
				return KMS_ERR_TOO_LARGE;
			}
			i++;
		}
		if (i == 0) {
			return KMS_ERR_PARSE;
		}
		/* chunk-ext: BWS ";" ..., read and ignored */
		while (i < line.len && (line.data[i] == ' ' || line.data[i] == '\t')) {
			i++;
		}
		if (i < line.len && line.data[i] != ';') {
			return KMS_ERR_PARSE;
		}
		for (; i < line.len; i++) {
			if (!is_field_char(line.data[i])) {
				return KMS_ERR_PARSE;
			}
		}
		if (size == 0) {
			/* the trailer section, then the empty line */
			for (;;) {
				before = kms_cbs_len(cbs);
				if ((r = get_line(cbs, &line, KMS_CLIENT_MAX_FRAMING - framing)) !=
				    KMS_OK) {
					return r;
				}
				framing += before - kms_cbs_len(cbs);
				if (kms_cbs_len(&line) == 0) {
					*out_len = total;
					return KMS_OK;
				}
				if ((r = parse_field(NULL, &line)) != KMS_OK) {
					return r;
				}
			}
		}
		if (size > KMS_CLIENT_MAX_BODY - total) {
			return KMS_ERR_TOO_LARGE;
		}
		if (kms_cbs_len(cbs) < size) {
			return KMS_ERR_TRUNCATED;
		}
		if (dst != NULL) {
			memcpy(dst + total, cbs->data, (size_t)size);
		}
		if (kms_cbs_skip(cbs, (size_t)size) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		total += (size_t)size;
		if (kms_cbs_len(cbs) < 2) {
			return KMS_ERR_TRUNCATED;
		}
		if (cbs->data[0] != '\r' || cbs->data[1] != '\n') {
			return KMS_ERR_PARSE;
		}
		if (kms_cbs_skip(cbs, 2) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		framing += 2;
		if (framing > KMS_CLIENT_MAX_FRAMING) {
			return KMS_ERR_TOO_LARGE;
		}
	}
}

/* Copy a header value into a fixed field; KMS_ERR_RANGE if it does not fit. */
static int
copy_value(char *out, size_t cap, const struct kms_cbs *v, bool cut)
{
	size_t n = v->len;

	if (n >= cap) {
		if (!cut) {
			return KMS_ERR_RANGE;
		}
		n = cap - 1;
	}
	memcpy(out, v->data, n);
	out[n] = '\0';
	return KMS_OK;
}

int
kms_http_response_parse(struct kms_http_response *out, const uint8_t *in, size_t in_len,
			bool at_eof)
{
	struct kms_http_response res;
	struct http_head h;
	struct kms_cbs cbs, body_start;
	size_t budget = KMS_CLIENT_MAX_HEAD;
	size_t body_len = 0;
	unsigned int interim = 0;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (in == NULL && in_len > 0) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&res, 0, sizeof(res));
	kms_cbs_init(&cbs, in, in_len);
	for (;;) {
		if ((r = parse_head(&h, &cbs, &budget)) != KMS_OK) {
			return r;
		}
		if (h.status >= 200) {
			break;
		}
		/* 101 switches protocols, which a POST without Upgrade never asked for. */
		if (h.status == 101 || ++interim > MAX_INTERIM) {
			return KMS_ERR_PARSE;
		}
	}
	if (h.status != 204 && h.status != 304) {
		if (h.has_cl && h.has_te) {
			return KMS_ERR_PARSE;
		}
		if (h.has_te && h.minor == 0) {
			return KMS_ERR_PARSE;
		}
	}
	body_start = cbs;
	if (h.status == 204 || h.status == 304) {
		body_len = 0;
	} else if (h.has_te) {
		if ((r = read_chunked(&cbs, NULL, &body_len)) != KMS_OK) {
			return r;
		}
	} else if (h.has_cl) {
		if (kms_cbs_len(&cbs) < h.cl) {
			return KMS_ERR_TRUNCATED;
		}
		body_len = (size_t)h.cl;
		if (kms_cbs_skip(&cbs, body_len) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
	} else {
		/* delimited by the end of the connection */
		if (kms_cbs_len(&cbs) > KMS_CLIENT_MAX_BODY) {
			return KMS_ERR_TOO_LARGE;
		}
		if (!at_eof) {
			return KMS_ERR_TRUNCATED;
		}
		body_len = kms_cbs_len(&cbs);
		if (kms_cbs_skip(&cbs, body_len) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
	}
	if (kms_cbs_len(&cbs) != 0) {
		return KMS_ERR_TRAILING;
	}

	res.status = h.status;
	if (copy_value(res.reason, sizeof(res.reason), &h.reason, true) != KMS_OK ||
	    (h.has_ctype &&
	     copy_value(res.content_type, sizeof(res.content_type), &h.ctype, false) != KMS_OK) ||
	    (h.has_retry &&
	     copy_value(res.retry_after, sizeof(res.retry_after), &h.retry, false) != KMS_OK)) {
		return KMS_ERR_RANGE;
	}
	if ((res.body = malloc(body_len + 1)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if (h.has_te && h.status != 204 && h.status != 304) {
		size_t again = 0;

		if (read_chunked(&body_start, res.body, &again) != KMS_OK || again != body_len) {
			free(res.body);
			return KMS_ERR_INTERNAL;
		}
	} else if (body_len > 0) {
		memcpy(res.body, body_start.data, body_len);
	}
	res.body[body_len] = '\0';
	res.body_len = body_len;
	*out = res;
	return KMS_OK;
}

void
kms_http_response_cleanup(struct kms_http_response *r)
{
	if (r == NULL) {
		return;
	}
	if (r->body != NULL) {
		kms_memzero(r->body, r->body_len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

int
kms_http_media_is_xml(const char *ct)
{
	const uint8_t *p = (const uint8_t *)ct;
	size_t n = 0;

	if (ct == NULL) {
		return 0;
	}
	while (*p == ' ' || *p == '\t') {
		p++;
	}
	while (p[n] != '\0' && p[n] != ';' && p[n] != ' ' && p[n] != '\t') {
		n++;
	}
	if (ci_equal(p, n, "application/xml") || ci_equal(p, n, "text/xml")) {
		return 1;
	}
	return n > 4 && memchr(p, '/', n) != NULL && ci_equal(p + n - 4, 4, "+xml");
}

/* ------------------------------------------------------------------------------------------ */
/* Times: xsd:dateTime <-> NTP seconds (proleptic Gregorian calendar, days counted in closed form)
 */

static bool
is_leap(uint64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned int
days_in_month(uint64_t y, unsigned int m)
{
	static const unsigned int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 1900-01-01 to y-m-d, y >= 1900 (a March-based year puts the leap day last). */
static uint64_t
ntp_days(uint64_t y, unsigned int m, unsigned int d)
{
	uint64_t ym = m <= 2 ? y - 1 : y;          /* the March-based year */
	uint64_t mp = m <= 2 ? m + 9u : m - 3u;    /* months since March */
	uint64_t doy = (153 * mp + 2) / 5 + d - 1; /* day of that year */
	uint64_t days = ym * 365 + ym / 4 - ym / 100 + ym / 400 + doy;

	/* the same count for 1900-01-01 (March-based year 1899, day 306) */
	return days - (1899ULL * 365 + 1899 / 4 - 1899 / 100 + 1899 / 400 + 306);
}

static bool
digits(const char *s, size_t n, unsigned int *out)
{
	unsigned int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_digit((uint8_t)s[i])) {
			return false;
		}
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	*out = v;
	return true;
}

int
kms_client_datetime_parse(uint64_t *out, const char *s, size_t len)
{
	unsigned int y, mo, d, h, mi, sec, zh = 0, zm = 0;
	uint64_t t;
	uint64_t zone = 0;
	bool zone_east = false;
	size_t i = 19;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if (s == NULL || len < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec)) {
		return KMS_ERR_PARSE;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59) {
		return KMS_ERR_PARSE;
	}
	if (i < len && s[i] == '.') {
		size_t f = ++i;

		while (i < len && is_digit((uint8_t)s[i])) {
			i++;
		}
		if (i == f) {
			return KMS_ERR_PARSE;
		}
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		if (len - i != 6 || s[i + 3] != ':' || !digits(s + i + 1, 2, &zh) ||
		    !digits(s + i + 4, 2, &zm) || zh > 14 || zm > 59 || (zh == 14 && zm != 0)) {
			return KMS_ERR_PARSE;
		}
		zone_east = s[i] == '+';
		zone = (uint64_t)zh * 3600 + (uint64_t)zm * 60;
		i += 6;
	}
	if (i != len) {
		return KMS_ERR_PARSE;
	}
	if (y < 1900) {
		return KMS_ERR_RANGE;
	}
	t = ntp_days(y, mo, d) * SECONDS_PER_DAY + (uint64_t)h * 3600 + (uint64_t)mi * 60 + sec;
	/* local time = UTC + offset: an east zone is ahead of UTC */
	if (zone_east) {
		if (t < zone) {
			return KMS_ERR_RANGE;
		}
		t -= zone;
	} else {
		t += zone;
	}
	*out = t;
	return KMS_OK;
}

int
kms_client_datetime_format(char *out, size_t out_cap, uint64_t ntp_seconds)
{
	uint64_t days = ntp_seconds / SECONDS_PER_DAY;
	uint64_t rem = ntp_seconds % SECONDS_PER_DAY;
	uint64_t y = 1900;
	unsigned int m = 1;
	int n;

	if (out == NULL || out_cap < KMS_CLIENT_DATETIME_LEN) {
		if (out != NULL && out_cap > 0) {
			out[0] = '\0';
		}
		return out == NULL ? KMS_ERR_INVALID_ARG : KMS_ERR_TOO_LARGE;
	}
	out[0] = '\0';
	/* whole 400-year cycles (146097 days), then years, then months */
	y += days / 146097 * 400;
	days %= 146097;
	while (days >= (is_leap(y) ? 366u : 365u)) {
		days -= is_leap(y) ? 366u : 365u;
		y++;
	}
	while (days >= days_in_month(y, m)) {
		days -= days_in_month(y, m);
		m++;
	}
	if (y > 9999) {
		return KMS_ERR_RANGE;
	}
	n = snprintf(out, out_cap, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned int)y, m,
		     (unsigned int)days + 1, (unsigned int)(rem / 3600),
		     (unsigned int)(rem / 60 % 60), (unsigned int)(rem % 60));
	if (n != (int)KMS_CLIENT_DATETIME_LEN - 1) {
		out[0] = '\0';
		return KMS_ERR_INTERNAL;
	}
	return KMS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* URLs and the request */

static bool
is_printable_ascii(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max || (uint8_t)s[i] < 0x21 || (uint8_t)s[i] > 0x7e) {
			return false;
		}
	}
	return i > 0;
}

int
kms_client_url_parse(struct kms_client_url *out, const char *url)
{
	struct kms_client_url u;
	const char *p, *auth_end, *port = NULL;
	size_t host_len, port_len = 0, path_len;
	unsigned int port_no = 0;
	uint8_t addr[16];
	int n;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (url == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&u, 0, sizeof(u));
	if (strlen(url) < 8 || !ci_equal((const uint8_t *)url, 8, "https://")) {
		return strstr(url, "://") != NULL ? KMS_ERR_UNSUPPORTED : KMS_ERR_PARSE;
	}
	p = url + 8;
	auth_end = p + strcspn(p, "/");
	if (p[0] == '[') {
		const char *close = memchr(p, ']', (size_t)(auth_end - p));

		if (close == NULL) {
			return KMS_ERR_PARSE;
		}
		host_len = (size_t)(close - p - 1);
		if (host_len == 0 || host_len >= sizeof(u.host)) {
			return KMS_ERR_PARSE;
		}
		memcpy(u.host, p + 1, host_len);
		if (inet_pton(AF_INET6, u.host, addr) != 1) {
			return KMS_ERR_PARSE;
		}
		u.host_is_ip = true;
		if (close + 1 < auth_end) {
			if (close[1] != ':') {
				return KMS_ERR_PARSE;
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(auth_end - p));
		const char *host_end = colon != NULL ? colon : auth_end;
		size_t i;

		host_len = (size_t)(host_end - p);
		if (host_len == 0 || host_len >= sizeof(u.host)) {
			return KMS_ERR_PARSE;
		}
		for (i = 0; i < host_len; i++) {
			uint8_t c = (uint8_t)p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			      c == '-' || c == '.' || c == '_')) {
				return KMS_ERR_PARSE;
			}
		}
		memcpy(u.host, p, host_len);
		u.host_is_ip = inet_pton(AF_INET, u.host, addr) == 1;
		if (colon != NULL) {
			port = colon + 1;
		}
	}
	if (port != NULL) {
		port_len = (size_t)(auth_end - port);
		if (port_len == 0 || port_len > 5 || port[0] == '0' ||
		    !digits(port, port_len, &port_no) || port_no > 65535) {
			return KMS_ERR_PARSE;
		}
		memcpy(u.port, port, port_len);
	} else {
		memcpy(u.port, "443", 4);
	}
	path_len = strlen(auth_end);
	while (path_len > 0 && auth_end[path_len - 1] == '/') {
		path_len--;
	}
	if (path_len >= sizeof(u.path)) {
		return KMS_ERR_TOO_LARGE;
	}
	for (size_t i = 0; i < path_len; i++) {
		uint8_t c = (uint8_t)auth_end[i];

		if (c < 0x21 || c > 0x7e || c == '?' || c == '#') {
			return KMS_ERR_PARSE;
		}
	}
	memcpy(u.path, auth_end, path_len);
	n = snprintf(u.authority, sizeof(u.authority), "%s%s%s%s%s", p[0] == '[' ? "[" : "", u.host,
		     p[0] == '[' ? "]" : "", strcmp(u.port, "443") != 0 ? ":" : "",
		     strcmp(u.port, "443") != 0 ? u.port : "");
	if (n < 0 || (size_t)n >= sizeof(u.authority)) {
		return KMS_ERR_TOO_LARGE;
	}
	*out = u;
	return KMS_OK;
}

/* Append s[0..n) to out; *off is the length so far. */
static int
append(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
	if (n >= cap - *off) {
		return KMS_ERR_TOO_LARGE;
	}
	memcpy(out + *off, s, n);
	*off += n;
	out[*off] = '\0';
	return KMS_OK;
}

static int
append_pct(char *out, size_t cap, size_t *off, const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	int r;

	for (; *s != '\0'; s++) {
		uint8_t c = (uint8_t)*s;
		char enc[3];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		    strchr("-._~:@", c) != NULL) {
			r = append(out, cap, off, s, 1);
		} else {
			enc[0] = '%';
			enc[1] = hexd[c >> 4];
			enc[2] = hexd[c & 15];
			r = append(out, cap, off, enc, 3);
		}
		if (r != KMS_OK) {
			return r;
		}
	}
	return KMS_OK;
}

int
kms_client_request_target(char *out, size_t out_cap, const struct kms_client_url *base,
			  const char *resource, const char *uri, const char *tail)
{
	size_t off = 0;
	bool keyprov, certcache;
	uint64_t ntp;
	int r = KMS_ERR_INVALID_ARG;

	if (out == NULL || out_cap == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	out[0] = '\0';
	if (base == NULL || resource == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	keyprov = strcmp(resource, "keyprov") == 0;
	certcache = strcmp(resource, "certcache") == 0;
	if (!keyprov && !certcache && strcmp(resource, "init") != 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if (uri != NULL && (!keyprov || !is_printable_ascii(uri, KMS_UID_MAX_URI_LEN))) {
		return KMS_ERR_INVALID_ARG;
	}
	if (tail != NULL) {
		size_t len = strlen(tail);
		unsigned int dummy;

		if (keyprov && (uri == NULL || kms_ntp_parse_hex(&ntp, tail, len) != KMS_OK)) {
			return KMS_ERR_INVALID_ARG;
		}
		if (certcache && (len == 0 || len > 9 || !digits(tail, len, &dummy))) {
			return KMS_ERR_INVALID_ARG;
		}
		if (!keyprov && !certcache) {
			return KMS_ERR_INVALID_ARG;
		}
	}
	if ((r = append(out, out_cap, &off, base->path, strlen(base->path))) != KMS_OK ||
	    (r = append(out, out_cap, &off, "/", 1)) != KMS_OK ||
	    (r = append(out, out_cap, &off, resource, strlen(resource))) != KMS_OK) {
		goto out;
	}
	if (uri != NULL && ((r = append(out, out_cap, &off, "/", 1)) != KMS_OK ||
			    (r = append_pct(out, out_cap, &off, uri)) != KMS_OK)) {
		goto out;
	}
	if (tail != NULL && ((r = append(out, out_cap, &off, "/", 1)) != KMS_OK ||
			     (r = append(out, out_cap, &off, tail, strlen(tail))) != KMS_OK)) {
		goto out;
	}
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		out[0] = '\0';
	}
	return r;
}

int
kms_client_request_build(char **out, size_t *out_len, const char *user_uri, const char *kms_uri,
			 uint64_t now_ntp_seconds, const char *client_req_url)
{
	char now[KMS_CLIENT_DATETIME_LEN];
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	xmlNsPtr ns;
	xmlChar *mem = NULL;
	int size = 0;
	int r = KMS_ERR_NOMEM;

	if (out == NULL || out_len == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	*out_len = 0;
	if (user_uri == NULL || kms_uri == NULL || client_req_url == NULL ||
	    !is_printable_ascii(user_uri, KMS_UID_MAX_URI_LEN) ||
	    !is_printable_ascii(kms_uri, KMS_UID_MAX_URI_LEN) ||
	    !is_printable_ascii(client_req_url, KMS_CLIENT_MAX_STR)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_client_datetime_format(now, sizeof(now), now_ntp_seconds)) != KMS_OK) {
		return r;
	}
	r = KMS_ERR_NOMEM;
	if ((doc = xmlNewDoc(XC("1.0"))) == NULL ||
	    (root = xmlNewNode(NULL, XC("KmsRequest"))) == NULL) {
		goto out;
	}
	xmlDocSetRootElement(doc, root);
	if ((ns = xmlNewNs(root, XC(KMS_CLIENT_NS), NULL)) == NULL) {
		goto out;
	}
	xmlSetNs(root, ns);
	if (xmlNewProp(root, XC("Version"), XC("1.1.0")) == NULL ||
	    xmlNewTextChild(root, ns, XC("UserUri"), XC(user_uri)) == NULL ||
	    xmlNewTextChild(root, ns, XC("KmsUri"), XC(kms_uri)) == NULL ||
	    xmlNewTextChild(root, ns, XC("Time"), XC(now)) == NULL ||
	    xmlNewTextChild(root, ns, XC("ClientReqUrl"), XC(client_req_url)) == NULL) {
		goto out;
	}
	xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
	if (mem == NULL || size <= 0 || (*out = malloc((size_t)size + 1)) == NULL) {
		goto out;
	}
	memcpy(*out, mem, (size_t)size);
	(*out)[size] = '\0';
	*out_len = (size_t)size;
	r = KMS_OK;
out:
	xmlFree(mem);
	xmlFreeDoc(doc);
	return r;
}

static bool
is_xml_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* base64 (RFC 4648, strict; XML whitespace skipped: xsd:base64Binary), common/base64.h */
static int
b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *s, size_t len)
{
	return kms_b64_decode(out, cap, out_len, s, len, KMS_B64_STD | KMS_B64_XML_SPACE);
}

/* ------------------------------------------------------------------------------------------ */
/* The KmsResponse reader */

struct rd {
	char *err;
	size_t err_len;
	xmlDocPtr doc;
};

#define rd_fail(rd, code, ...) failf((rd)->err, (rd)->err_len, (code), __VA_ARGS__)

static const char *
name_of(const xmlNode *n)
{
	return n != NULL && n->name != NULL ? (const char *)n->name : "?";
}

static bool
in_ns(const xmlNode *n, const char *ns)
{
	return n != NULL && n->ns != NULL && n->ns->href != NULL &&
	       strcmp((const char *)n->ns->href, ns) == 0;
}

static bool
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && in_ns(n, ns) &&
	       strcmp((const char *)n->name, name) == 0;
}

static bool
is_blank(const xmlChar *s)
{
	if (s == NULL) {
		return true;
	}
	for (; *s != '\0'; s++) {
		if (!is_xml_space(*s)) {
			return false;
		}
	}
	return true;
}

/* The first element at or after n among its siblings; between elements only blank text,
 * comments and processing instructions may stand. */
static int
next_element(struct rd *rd, xmlNode *n, const char *where, xmlNode **out)
{
	*out = NULL;
	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case XML_ELEMENT_NODE:
			*out = n;
			return KMS_OK;
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			if (!is_blank(n->content)) {
				return rd_fail(rd, KMS_ERR_PARSE, "%s: text where elements belong",
					       where);
			}
			break;
		case XML_COMMENT_NODE:
		case XML_PI_NODE:
			break;
		default:
			return rd_fail(rd, KMS_ERR_PARSE, "%s: unexpected node (type %d)", where,
				       (int)n->type);
		}
	}
	return KMS_OK;
}

/* A cursor over the element children of one element, which follow the schema's sequence. */
struct seq {
	struct rd *rd;
	const char *where;
	xmlNode *cur; /* the next element, or NULL */
};

static int
seq_start(struct seq *s, struct rd *rd, xmlNode *parent, const char *where)
{
	s->rd = rd;
	s->where = where;
	s->cur = NULL;
	if (parent == NULL) {
		return KMS_ERR_INTERNAL;
	}
	return next_element(rd, parent->children, where, &s->cur);
}

static int
seq_next(struct seq *s)
{
	return next_element(s->rd, s->cur->next, s->where, &s->cur);
}

/* Take the next element if it is ns:name; *out is NULL otherwise. */
static int
seq_opt(struct seq *s, const char *ns, const char *name, xmlNode **out)
{
	*out = NULL;
	if (!is_el(s->cur, ns, name)) {
		return KMS_OK;
	}
	*out = s->cur;
	return seq_next(s);
}

static int
seq_req(struct seq *s, const char *ns, const char *name, xmlNode **out)
{
	int r;

	if ((r = seq_opt(s, ns, name, out)) != KMS_OK) {
		return r;
	}
	if (*out != NULL) {
		return KMS_OK;
	}
	if (s->cur == NULL) {
		return rd_fail(s->rd, KMS_ERR_PARSE, "%s: missing %s", s->where, name);
	}
	return rd_fail(s->rd, KMS_ERR_PARSE, "%s: expected %s, found %.64s", s->where, name,
		       name_of(s->cur));
}

/* Skip extension elements: those of a namespace other than own (the schema's ##other). */
static int
seq_skip_other(struct seq *s, const char *own)
{
	int r;

	while (s->cur != NULL && s->cur->ns != NULL && !in_ns(s->cur, own)) {
		if ((r = seq_next(s)) != KMS_OK) {
			return r;
		}
	}
	return KMS_OK;
}

static int
seq_end(struct seq *s)
{
	if (s->cur != NULL) {
		return rd_fail(s->rd, KMS_ERR_PARSE, "%s: unexpected element %.64s", s->where,
			       name_of(s->cur));
	}
	return KMS_OK;
}

/*
 * text_of - the text of a simple element (text children only; comments and processing
 * instructions between them are skipped), XML whitespace trimmed at both ends, 1..max octets.
 * *out is owned (free()).
 */
static int
text_of(struct rd *rd, const xmlNode *el, size_t max, const char *what, char **out, size_t *out_len)
{
	const xmlNode *c;
	size_t total = 0, start = 0, end;
	char *buf;

	*out = NULL;
	*out_len = 0;
	for (c = el->children; c != NULL; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			size_t n = c->content != NULL ? strlen((const char *)c->content) : 0;

			/* room for surrounding whitespace, but bounded before any copy */
			if (n > max + 1024 - total) {
				return rd_fail(rd, KMS_ERR_TOO_LARGE, "%s: longer than %zu octets",
					       what, max);
			}
			total += n;
		} else if (c->type == XML_ELEMENT_NODE) {
			return rd_fail(rd, KMS_ERR_PARSE, "%s: element %.64s where text belongs",
				       what, name_of(c));
		} else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
			return rd_fail(rd, KMS_ERR_PARSE, "%s: unexpected node (type %d)", what,
				       (int)c->type);
		}
	}
	if ((buf = malloc(total + 1)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	total = 0;
	for (c = el->children; c != NULL; c = c->next) {
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
		    c->content != NULL) {
			size_t n = strlen((const char *)c->content);

			memcpy(buf + total, c->content, n);
			total += n;
		}
	}
	end = total;
	while (start < end && is_xml_space((uint8_t)buf[start])) {
		start++;
	}
	while (end > start && is_xml_space((uint8_t)buf[end - 1])) {
		end--;
	}
	if (end == start || end - start > max) {
		free(buf);
		return rd_fail(rd, end == start ? KMS_ERR_PARSE : KMS_ERR_TOO_LARGE, "%s: %s", what,
			       end == start ? "empty" : "too long");
	}
	memmove(buf, buf + start, end - start);
	buf[end - start] = '\0';
	*out = buf;
	*out_len = end - start;
	return KMS_OK;
}

static int
get_str(struct rd *rd, const xmlNode *el, size_t max, const char *what, char **out)
{
	size_t len;

	return text_of(rd, el, max, what, out, &len);
}

/* A URI: 1..KMS_UID_MAX_URI_LEN octets without whitespace or controls. */
static int
get_uri(struct rd *rd, const xmlNode *el, const char *what, char **out)
{
	size_t len, i;
	int r;

	if ((r = text_of(rd, el, KMS_UID_MAX_URI_LEN, what, out, &len)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)(*out)[i];

		if (c <= 0x20 || c == 0x7f) {
			free(*out);
			*out = NULL;
			return rd_fail(rd, KMS_ERR_PARSE, "%s: whitespace or control character",
				       what);
		}
	}
	return KMS_OK;
}

/* xsd:integer without a sign, or with '+', into a uint64_t. */
static int
parse_u64(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;

	*out = 0;
	if (len > 0 && s[0] == '+') {
		i++;
	}
	if (i == len) {
		return KMS_ERR_PARSE;
	}
	for (; i < len; i++) {
		if (!is_digit((uint8_t)s[i])) {
			return KMS_ERR_PARSE;
		}
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
			return KMS_ERR_RANGE;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return KMS_OK;
}

static int
get_u64(struct rd *rd, const xmlNode *el, const char *what, uint64_t *out)
{
	char *s = NULL;
	size_t len;
	int r;

	*out = 0;
	if ((r = text_of(rd, el, 64, what, &s, &len)) != KMS_OK) {
		return r;
	}
	if ((r = parse_u64(out, s, len)) != KMS_OK) {
		r = rd_fail(rd, r, "%s: not a non-negative integer below 2^64", what);
	}
	free(s);
	return r;
}

static int
get_i64(struct rd *rd, const xmlNode *el, const char *what, int64_t *out)
{
	char *s = NULL;
	size_t len;
	uint64_t mag = 0;
	bool neg;
	int r;

	*out = 0;
	if ((r = text_of(rd, el, 64, what, &s, &len)) != KMS_OK) {
		return r;
	}
	neg = s[0] == '-';
	r = parse_u64(&mag, neg ? s + 1 : s, neg ? len - 1 : len);
	if (r == KMS_OK && neg && len > 1 && s[1] == '+') {
		r = KMS_ERR_PARSE;
	}
	if (r == KMS_OK && mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
		r = KMS_ERR_RANGE;
	}
	if (r != KMS_OK) {
		r = rd_fail(rd, r, "%s: not an integer of 64 bits", what);
	} else if (neg) {
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		*out = (int64_t)mag;
	}
	free(s);
	return r;
}

static int
get_bool(struct rd *rd, const xmlNode *el, const char *what, bool *out)
{
	char *s = NULL;
	int r;

	*out = false;
	if ((r = get_str(rd, el, 8, what, &s)) != KMS_OK) {
		return r;
	}
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
		*out = true;
	} else if (strcmp(s, "false") != 0 && strcmp(s, "0") != 0) {
		r = rd_fail(rd, KMS_ERR_PARSE, "%s: not an xsd:boolean", what);
	}
	free(s);
	return r;
}

static int
get_time(struct rd *rd, const xmlNode *el, const char *what, uint64_t *out)
{
	char *s = NULL;
	size_t len;
	int r;

	*out = 0;
	if ((r = text_of(rd, el, 64, what, &s, &len)) != KMS_OK) {
		return r;
	}
	if ((r = kms_client_datetime_parse(out, s, len)) != KMS_OK) {
		r = rd_fail(rd, r, "%s: not an xsd:dateTime from 1900 to 9999", what);
	}
	free(s);
	return r;
}

/* Exactly want_len octets in hex. */
static int
get_hex(struct rd *rd, const xmlNode *el, const char *what, uint8_t *out, size_t want_len)
{
	char *s = NULL;
	size_t len;
	int r;

	if ((r = text_of(rd, el, 2 * want_len, what, &s, &len)) != KMS_OK) {
		return r;
	}
	if ((r = kms_hex_decode(out, want_len, s, len)) != KMS_OK) {
		r = rd_fail(rd, r, "%s: expected %zu octets in hex (%zu digits)", what, want_len,
			    2 * want_len);
	}
	free(s);
	return r;
}

/* An optional unqualified attribute, copied (owned), at most max octets. */
static int
get_attr(struct rd *rd, const xmlNode *el, const char *name, size_t max, char **out)
{
	xmlChar *v = xmlGetNoNsProp(el, XC(name));
	size_t n;

	*out = NULL;
	if (v == NULL) {
		return KMS_OK;
	}
	n = strlen((const char *)v);
	if (n > max) {
		xmlFree(v);
		return rd_fail(rd, KMS_ERR_TOO_LARGE, "%s/@%s: too long", name_of(el), name);
	}
	*out = malloc(n + 1);
	if (*out != NULL) {
		memcpy(*out, v, n + 1);
	}
	xmlFree(v);
	return *out != NULL ? KMS_OK : KMS_ERR_NOMEM;
}

static bool
all_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (hex_value((uint8_t)s[i]) < 0) {
			return false;
		}
	}
	return true;
}

/*
 * A plain key (KeyContentType): one text node of exactly 2 * want_len hex digits (surrounding
 * whitespace allowed), decoded straight into locked memory; the text is never copied.
 */
static int
read_plain_key(struct rd *rd, const xmlNode *el, size_t want_len, const char *what,
	       struct kms_client_key *k)
{
	const xmlNode *c = el->children;
	const char *s;
	size_t len;
	int r;

	if (c == NULL || c->next != NULL || c->type != XML_TEXT_NODE || c->content == NULL) {
		return rd_fail(rd, KMS_ERR_PARSE, "%s: a plain key is one text of hex digits",
			       what);
	}
	s = (const char *)c->content;
	len = strlen(s);
	while (len > 0 && is_xml_space((uint8_t)s[len - 1])) {
		len--;
	}
	while (len > 0 && is_xml_space((uint8_t)s[0])) {
		s++;
		len--;
	}
	if ((k->plain = kms_secret_new(want_len)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_hex_decode(k->plain->data, want_len, s, len)) != KMS_OK) {
		kms_secret_free(k->plain);
		k->plain = NULL;
		return rd_fail(rd, r, "%s: expected %zu octets in hex (%zu digits)", what, want_len,
			       2 * want_len);
	}
	k->wrap = KMS_CLIENT_KEY_PLAIN;
	return KMS_OK;
}

/*
 * A key id we keep: xenc:CarriedKeyName, 1..KMS_CLIENT_MAX_KEY_NAME visible ASCII octets (XML
 * whitespace around it trimmed), so that it can be printed, written to a file and sent back
 * as a KeyName.
 */
static int
get_key_id(struct rd *rd, const xmlNode *el, const char *what, char **out)
{
	size_t len, i;
	int r;

	if ((r = text_of(rd, el, KMS_CLIENT_MAX_KEY_NAME, what, out, &len)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)(*out)[i];

		if (c < 0x21 || c > 0x7e) {
			free(*out);
			*out = NULL;
			return rd_fail(rd, KMS_ERR_PARSE, "%s: not visible ASCII", what);
		}
	}
	return KMS_OK;
}

/*
 * xenc:EncryptedKey: EncryptionMethod, ds:KeyInfo?, CipherData/CipherValue, and, when carried is
 * true (a new key of a rotation), CarriedKeyName?.
 */
static int
read_encrypted_key(struct rd *rd, xmlNode *ek, const char *what, bool carried,
		   struct kms_client_key *k)
{
	struct seq s, sub;
	xmlNode *method, *info, *data, *value, *name, *carried_name = NULL;
	char *alg = NULL;
	char *text = NULL;
	size_t len;
	int r;

	if ((r = seq_start(&s, rd, ek, what)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS_XENC, "EncryptionMethod", &method)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS_DS, "KeyInfo", &info)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS_XENC, "CipherData", &data)) != KMS_OK ||
	    (carried &&
	     (r = seq_opt(&s, KMS_CLIENT_NS_XENC, "CarriedKeyName", &carried_name)) != KMS_OK) ||
	    (r = seq_end(&s)) != KMS_OK) {
		goto out;
	}
	if (carried_name != NULL &&
	    (r = get_key_id(rd, carried_name, "CarriedKeyName", &k->carried_name)) != KMS_OK) {
		goto out;
	}
	if ((r = get_attr(rd, method, "Algorithm", KMS_CLIENT_MAX_STR, &alg)) != KMS_OK) {
		goto out;
	}
	if (alg == NULL) {
		r = rd_fail(rd, KMS_ERR_PARSE, "%s: EncryptionMethod without Algorithm", what);
		goto out;
	}
	k->wrap = strcmp(alg, ALG_KW_PAD) == 0      ? KMS_CLIENT_KEY_KW_AES256_PAD
		  : strcmp(alg, ALG_KW_LEGACY) == 0 ? KMS_CLIENT_KEY_KW_AES256
						    : KMS_CLIENT_KEY_UNKNOWN;
	/* no KeySize, OAEPparams or anything else inside EncryptionMethod */
	if ((r = seq_start(&sub, rd, method, what)) != KMS_OK || (r = seq_end(&sub)) != KMS_OK) {
		goto out;
	}
	if (info != NULL) {
		if ((r = seq_start(&sub, rd, info, what)) != KMS_OK ||
		    (r = seq_req(&sub, KMS_CLIENT_NS_DS, "KeyName", &name)) != KMS_OK ||
		    (r = seq_end(&sub)) != KMS_OK ||
		    (r = get_str(rd, name, MAX_NAME, what, &k->key_name)) != KMS_OK) {
			goto out;
		}
	}
	if ((r = seq_start(&sub, rd, data, what)) != KMS_OK ||
	    (r = seq_req(&sub, KMS_CLIENT_NS_XENC, "CipherValue", &value)) != KMS_OK ||
	    (r = seq_end(&sub)) != KMS_OK ||
	    (r = text_of(rd, value, 2 * KMS_CLIENT_MAX_WRAPPED, what, &text, &len)) != KMS_OK) {
		goto out;
	}
	if ((k->wrapped = malloc(KMS_CLIENT_MAX_WRAPPED)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	/*
	 * Hex (a server setting) or base64 (the default). The lengths of wrapped keys are never
	 * multiples of 3 octets (RFC 5649 output is a multiple of 8, and 257, 32 and 65 wrap to
	 * 272, 40 and 80), so base64 of them always ends in '=' and cannot look like hex.
	 */
	if (len % 2 == 0 && all_hex(text, len)) {
		k->cipher_hex = true;
		k->wrapped_len = len / 2;
		if (k->wrapped_len > KMS_CLIENT_MAX_WRAPPED) {
			r = KMS_ERR_TOO_LARGE;
		} else {
			r = kms_hex_decode(k->wrapped, k->wrapped_len, text, len);
		}
	} else {
		r = b64_decode(k->wrapped, KMS_CLIENT_MAX_WRAPPED, &k->wrapped_len, text, len);
	}
	if (r != KMS_OK || k->wrapped_len == 0) {
		r = rd_fail(rd, r != KMS_OK ? r : KMS_ERR_PARSE,
			    "%s: CipherValue is not base64 or hex of 1..%u octets", what,
			    KMS_CLIENT_MAX_WRAPPED);
	}
out:
	free(alg);
	free(text);
	return r;
}

/*
 * The xsi:type of el, a QName that must name a type of KMS_CLIENT_NS: its local name into
 * local (cap octets; "" when el has none). KMS_OK, or KMS_ERR_PARSE (another namespace, or a
 * name longer than cap - 1), said in rd.
 */
static int
xsi_type_local(struct rd *rd, xmlNode *el, const char *what, char *local, size_t cap)
{
	xmlChar *type = xmlGetNsProp(el, XC("type"), XC(KMS_CLIENT_NS_XSI));
	int r = KMS_OK;

	local[0] = '\0';
	if (type != NULL) {
		char *colon = strchr((char *)type, ':');
		const char *name = colon != NULL ? colon + 1 : (const char *)type;
		xmlNsPtr ns;

		if (colon != NULL) {
			*colon = '\0';
		}
		ns = xmlSearchNs(rd->doc, el, colon != NULL ? type : NULL);
		if (ns == NULL || ns->href == NULL ||
		    strcmp((const char *)ns->href, KMS_CLIENT_NS) != 0) {
			r = rd_fail(rd, KMS_ERR_PARSE, "%s: xsi:type is not a type of %s", what,
				    KMS_CLIENT_NS);
		} else if (strlen(name) >= cap) {
			r = rd_fail(rd, KMS_ERR_PARSE, "%s: xsi:type %.64s is not known", what,
				    name);
		} else {
			memcpy(local, name, strlen(name) + 1);
		}
		xmlFree(type);
	}
	return r;
}

/*
 * The xsi:type of a key element: *enc is 0 for KeyContentType, 1 for EncKeyContentType, -1 when
 * there is none; another type is refused.
 */
static int
key_type(struct rd *rd, xmlNode *el, const char *what, int *enc)
{
	char local[32];
	int r;

	*enc = -1;
	if ((r = xsi_type_local(rd, el, what, local, sizeof(local))) != KMS_OK ||
	    local[0] == '\0') {
		return r;
	}
	if (strcmp(local, "KeyContentType") == 0) {
		*enc = 0;
	} else if (strcmp(local, "EncKeyContentType") == 0) {
		*enc = 1;
	} else {
		r = rd_fail(rd, KMS_ERR_UNSUPPORTED, "%s: xsi:type %.64s is not supported", what,
			    local);
	}
	return r;
}

/* The one xenc:EncryptedKey of an EncKeyContentType element. */
static int
read_enc_key_content(struct rd *rd, xmlNode *el, const char *what, bool carried,
		     struct kms_client_key *k)
{
	struct seq s;
	xmlNode *ek;
	int r;

	if ((r = seq_start(&s, rd, el, what)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS_XENC, "EncryptedKey", &ek)) != KMS_OK ||
	    (r = seq_end(&s)) != KMS_OK) {
		return r;
	}
	return read_encrypted_key(rd, ek, what, carried, k);
}

/* A key element: xsi:type KeyContentType (hex) or EncKeyContentType (xenc:EncryptedKey). */
static int
read_key(struct rd *rd, xmlNode *el, size_t want_len, const char *what, struct kms_client_key *k)
{
	int enc = -1;
	int r;

	if ((r = key_type(rd, el, what, &enc)) != KMS_OK) {
		return r;
	}
	if (enc == -1) {
		/* no xsi:type (the schema's type is abstract, but be clear): go by the content */
		const xmlNode *c;

		enc = 0;
		for (c = el->children; c != NULL; c = c->next) {
			enc |= c->type == XML_ELEMENT_NODE;
		}
	}
	if (enc == 0) {
		return read_plain_key(rd, el, want_len, what, k);
	}
	return read_enc_key_content(rd, el, what, false, k);
}

static int
read_cert(struct rd *rd, xmlNode *el, struct kms_client_cert *c)
{
	static const char what[] = "KmsCertificate";
	struct seq s, sub;
	xmlNode *n;
	int r;

	if ((r = get_attr(rd, el, "Role", MAX_NAME, &c->role)) != KMS_OK ||
	    (r = seq_start(&s, rd, el, what)) != KMS_OK) {
		return r;
	}
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "CertUri", &n)) != KMS_OK ||
	    (n != NULL && (r = get_uri(rd, n, "KmsCertificate/CertUri", &c->cert_uri)) != KMS_OK) ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "KmsUri", &n)) != KMS_OK ||
	    (r = get_uri(rd, n, "KmsCertificate/KmsUri", &c->kms_uri)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "Issuer", &n)) != KMS_OK ||
	    (n != NULL && (r = get_str(rd, n, KMS_CLIENT_MAX_STR, "KmsCertificate/Issuer",
				       &c->issuer)) != KMS_OK)) {
		return r;
	}
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "ValidFrom", &n)) != KMS_OK ||
	    (n != NULL &&
	     (r = get_time(rd, n, "KmsCertificate/ValidFrom", &c->valid_from)) != KMS_OK)) {
		return r;
	}
	c->has_valid_from = n != NULL;
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "ValidTo", &n)) != KMS_OK ||
	    (n != NULL &&
	     (r = get_time(rd, n, "KmsCertificate/ValidTo", &c->valid_to)) != KMS_OK)) {
		return r;
	}
	c->has_valid_to = n != NULL;
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "Revoked", &n)) != KMS_OK ||
	    (n != NULL && (r = get_bool(rd, n, "KmsCertificate/Revoked", &c->revoked)) != KMS_OK) ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserIdFormat", &n)) != KMS_OK ||
	    (r = get_str(rd, n, MAX_NAME, "KmsCertificate/UserIdFormat", &c->user_id_format)) !=
		    KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserKeyPeriod", &n)) != KMS_OK ||
	    (r = get_u64(rd, n, "KmsCertificate/UserKeyPeriod", &c->period)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserKeyOffset", &n)) != KMS_OK ||
	    (r = get_u64(rd, n, "KmsCertificate/UserKeyOffset", &c->offset)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "PubEncKey", &n)) != KMS_OK ||
	    (r = get_hex(rd, n, "KmsCertificate/PubEncKey", c->z_pub, sizeof(c->z_pub))) !=
		    KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "PubAuthKey", &n)) != KMS_OK ||
	    (r = get_hex(rd, n, "KmsCertificate/PubAuthKey", c->kpak, sizeof(c->kpak))) != KMS_OK) {
		return r;
	}
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "ParameterSet", &n)) != KMS_OK ||
	    (n != NULL &&
	     (r = get_u64(rd, n, "KmsCertificate/ParameterSet", &c->parameter_set)) != KMS_OK)) {
		return r;
	}
	c->has_parameter_set = n != NULL;
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "KmsDomainList", &n)) != KMS_OK) {
		return r;
	}
	if (n != NULL) {
		xmlNode *d;
		char *dom = NULL;

		if ((r = seq_start(&sub, rd, n, "KmsDomainList")) != KMS_OK) {
			return r;
		}
		do {
			if (c->num_domains == MAX_DOMAINS) {
				return rd_fail(rd, KMS_ERR_TOO_LARGE,
					       "KmsDomainList: more than %u KmsDomain",
					       MAX_DOMAINS);
			}
			if ((r = seq_req(&sub, KMS_CLIENT_NS, "KmsDomain", &d)) != KMS_OK ||
			    (r = get_uri(rd, d, "KmsDomainList/KmsDomain", &dom)) != KMS_OK) {
				return r;
			}
			free(dom);
			c->num_domains++;
		} while (sub.cur != NULL);
	}
	if ((r = seq_skip_other(&s, KMS_CLIENT_NS)) != KMS_OK || (r = seq_end(&s)) != KMS_OK) {
		return r;
	}
	return KMS_OK;
}

/* KmsCertificate, or SignedKmsCertificate (KmsCertificate, ds:Signature?) */
static int
read_cert_or_signed(struct rd *rd, xmlNode *el, struct kms_client_cert *c)
{
	struct seq s;
	xmlNode *inner, *sig;
	int r;

	if (is_el(el, KMS_CLIENT_NS, "KmsCertificate")) {
		return read_cert(rd, el, c);
	}
	if ((r = seq_start(&s, rd, el, "SignedKmsCertificate")) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "KmsCertificate", &inner)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS_DS, "Signature", &sig)) != KMS_OK ||
	    (r = seq_end(&s)) != KMS_OK) {
		return r;
	}
	c->signed_cert = true;
	return read_cert(rd, inner, c);
}

static int
read_keyset(struct rd *rd, xmlNode *el, struct kms_client_keyset *k)
{
	struct seq s;
	xmlNode *n;
	char *uid = NULL;
	size_t len = 0, got = 0;
	int r;

	if ((r = seq_start(&s, rd, el, "KmsKeySet")) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "KmsUri", &n)) != KMS_OK ||
	    (r = get_uri(rd, n, "KmsKeySet/KmsUri", &k->kms_uri)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "CertUri", &n)) != KMS_OK ||
	    (n != NULL && (r = get_uri(rd, n, "KmsKeySet/CertUri", &k->cert_uri)) != KMS_OK) ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "Issuer", &n)) != KMS_OK ||
	    (n != NULL &&
	     (r = get_str(rd, n, KMS_CLIENT_MAX_STR, "KmsKeySet/Issuer", &k->issuer)) != KMS_OK) ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserUri", &n)) != KMS_OK ||
	    (r = get_uri(rd, n, "KmsKeySet/UserUri", &k->user_uri)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserID", &n)) != KMS_OK ||
	    (r = text_of(rd, n, 2 * KMS_UID_LEN, "KmsKeySet/UserID", &uid, &len)) != KMS_OK) {
		goto out;
	}
	if (len == 2 * KMS_UID_LEN) {
		r = kms_hex_decode(k->user_id, KMS_UID_LEN, uid, len);
	} else {
		uint8_t tmp[KMS_UID_LEN + 3];

		k->user_id_base64 = true;
		r = b64_decode(tmp, sizeof(tmp), &got, uid, len);
		if (r == KMS_OK && got != KMS_UID_LEN) {
			r = KMS_ERR_RANGE;
		}
		if (r == KMS_OK) {
			memcpy(k->user_id, tmp, KMS_UID_LEN);
		}
	}
	if (r != KMS_OK) {
		r = rd_fail(rd, r, "KmsKeySet/UserID: expected 32 octets in hex or base64");
		goto out;
	}
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "ValidFrom", &n)) != KMS_OK ||
	    (n != NULL && (r = get_time(rd, n, "KmsKeySet/ValidFrom", &k->valid_from)) != KMS_OK)) {
		goto out;
	}
	k->has_valid_from = n != NULL;
	if ((r = seq_opt(&s, KMS_CLIENT_NS, "ValidTo", &n)) != KMS_OK ||
	    (n != NULL && (r = get_time(rd, n, "KmsKeySet/ValidTo", &k->valid_to)) != KMS_OK)) {
		goto out;
	}
	k->has_valid_to = n != NULL;
	if ((r = seq_req(&s, KMS_CLIENT_NS, "KeyPeriodNo", &n)) != KMS_OK ||
	    (r = get_u64(rd, n, "KmsKeySet/KeyPeriodNo", &k->key_period_no)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "Revoked", &n)) != KMS_OK ||
	    (n != NULL && (r = get_bool(rd, n, "KmsKeySet/Revoked", &k->revoked)) != KMS_OK) ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserDecryptKey", &n)) != KMS_OK ||
	    (r = read_key(rd, n, KMS_SAKKE_POINT_LEN, "UserDecryptKey", &k->rsk)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserSigningKeySSK", &n)) != KMS_OK ||
	    (r = read_key(rd, n, KMS_ECCSI_SCALAR_LEN, "UserSigningKeySSK", &k->ssk)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserPubTokenPVT", &n)) != KMS_OK ||
	    (r = read_key(rd, n, KMS_ECCSI_POINT_LEN, "UserPubTokenPVT", &k->pvt)) != KMS_OK ||
	    (r = seq_end(&s)) != KMS_OK) {
		goto out;
	}
out:
	free(uid);
	return r;
}

/*
 * NewTransportKey* or NewIntegrityKey* (name), at most KMS_CLIENT_MAX_NEW_KEYS, into keys. The
 * schema types them EncKeyContentType: a plain key is refused (a new TrK or InK in the clear).
 * The response's cleanup frees every slot, so a failed read leaves nothing behind.
 */
static int
read_new_key_list(struct seq *s, const char *name, struct kms_client_key *keys, size_t *num)
{
	int enc = -1;
	int r;

	while (is_el(s->cur, KMS_CLIENT_NS, name)) {
		if (*num == KMS_CLIENT_MAX_NEW_KEYS) {
			return rd_fail(s->rd, KMS_ERR_TOO_LARGE, "more than %u %s elements",
				       KMS_CLIENT_MAX_NEW_KEYS, name);
		}
		if ((r = key_type(s->rd, s->cur, name, &enc)) != KMS_OK) {
			return r;
		}
		if (enc == 0) {
			return rd_fail(s->rd, KMS_ERR_UNSUPPORTED,
				       "%s: a new key must be an xenc:EncryptedKey "
				       "(EncKeyContentType), not KeyContentType",
				       name);
		}
		if ((r = read_enc_key_content(s->rd, s->cur, name, true, &keys[(*num)++])) !=
			    KMS_OK ||
		    (r = seq_next(s)) != KMS_OK) {
			return r;
		}
	}
	return KMS_OK;
}

/*
 * After the base content of KmsInit and KmsKeyProv (msg): NewTransportKey*, NewIntegrityKey*.
 * Only the schema's extension type tkik (KmsInitTkIkType, KmsKeyProvTkIkType) has them, so a
 * message that carries new keys must say xsi:type tkik.
 */
static int
read_new_keys(struct seq *s, struct kms_client_response *res, xmlNode *msg, const char *tkik)
{
	char local[32];
	int r;

	if ((r = seq_skip_other(s, KMS_CLIENT_NS)) != KMS_OK ||
	    (r = read_new_key_list(s, "NewTransportKey", res->new_trk, &res->num_new_trk)) !=
		    KMS_OK ||
	    (r = read_new_key_list(s, "NewIntegrityKey", res->new_ink, &res->num_new_ink)) !=
		    KMS_OK ||
	    (r = seq_end(s)) != KMS_OK) {
		return r;
	}
	if (res->num_new_trk + res->num_new_ink == 0) {
		return KMS_OK;
	}
	if ((r = xsi_type_local(s->rd, msg, name_of(msg), local, sizeof(local))) != KMS_OK) {
		return r;
	}
	if (strcmp(local, tkik) != 0) {
		return rd_fail(s->rd, KMS_ERR_PARSE,
			       "%s: new keys, but the message is not xsi:type %s", name_of(msg),
			       tkik);
	}
	return KMS_OK;
}

static int
read_message(struct rd *rd, xmlNode *msg, struct kms_client_response *res)
{
	struct seq s, body;
	xmlNode *n = NULL;
	int r;

	if ((r = seq_start(&s, rd, msg, "KmsMessage")) != KMS_OK) {
		return r;
	}
	/* a choice of KmsInit, KmsKeyProv, KmsCertCache, or extension elements */
	for (; s.cur != NULL; r = seq_next(&s)) {
		if (r != KMS_OK) {
			return r;
		}
		if (s.cur->ns != NULL && !in_ns(s.cur, KMS_CLIENT_NS)) {
			continue;
		}
		if (n != NULL) {
			return rd_fail(rd, KMS_ERR_PARSE, "KmsMessage: more than one message");
		}
		n = s.cur;
		if (!is_el(n, KMS_CLIENT_NS, "KmsInit") && !is_el(n, KMS_CLIENT_NS, "KmsKeyProv") &&
		    !is_el(n, KMS_CLIENT_NS, "KmsCertCache")) {
			return rd_fail(rd, KMS_ERR_PARSE, "KmsMessage: unexpected element %.64s",
				       name_of(n));
		}
	}
	if (r != KMS_OK) {
		return r;
	}
	if (n == NULL) {
		return KMS_OK;
	}
	if (is_el(n, KMS_CLIENT_NS, "KmsInit")) {
		xmlNode *c;

		res->msg = KMS_CLIENT_MSG_INIT;
		if ((res->certs = calloc(1, sizeof(*res->certs))) == NULL) {
			return KMS_ERR_NOMEM;
		}
		if ((r = seq_start(&body, rd, n, "KmsInit")) != KMS_OK) {
			return r;
		}
		c = body.cur;
		if (!is_el(c, KMS_CLIENT_NS, "KmsCertificate") &&
		    !is_el(c, KMS_CLIENT_NS, "SignedKmsCertificate")) {
			return rd_fail(rd, KMS_ERR_PARSE, "KmsInit: missing KmsCertificate");
		}
		res->num_certs = 1;
		if ((r = read_cert_or_signed(rd, c, &res->certs[0])) != KMS_OK ||
		    (r = seq_next(&body)) != KMS_OK) {
			return r;
		}
		return read_new_keys(&body, res, n, "KmsInitTkIkType");
	}
	if (is_el(n, KMS_CLIENT_NS, "KmsKeyProv")) {
		res->msg = KMS_CLIENT_MSG_KEYPROV;
		if ((res->keysets = calloc(KMS_CLIENT_MAX_KEYSETS, sizeof(*res->keysets))) ==
		    NULL) {
			return KMS_ERR_NOMEM;
		}
		if ((r = seq_start(&body, rd, n, "KmsKeyProv")) != KMS_OK) {
			return r;
		}
		while (is_el(body.cur, KMS_CLIENT_NS, "KmsKeySet")) {
			if (res->num_keysets == KMS_CLIENT_MAX_KEYSETS) {
				return rd_fail(rd, KMS_ERR_TOO_LARGE,
					       "KmsKeyProv: more than %u key sets",
					       KMS_CLIENT_MAX_KEYSETS);
			}
			if ((r = read_keyset(rd, body.cur, &res->keysets[res->num_keysets++])) !=
				    KMS_OK ||
			    (r = seq_next(&body)) != KMS_OK) {
				return r;
			}
		}
		return read_new_keys(&body, res, n, "KmsKeyProvTkIkType");
	}
	res->msg = KMS_CLIENT_MSG_CERTCACHE;
	{
		char *num = NULL;

		if ((r = get_attr(rd, n, "CacheNum", 64, &num)) != KMS_OK) {
			return r;
		}
		if (num != NULL) {
			res->has_cache_num = true;
			r = parse_u64(&res->cache_num, num, strlen(num));
			free(num);
			if (r != KMS_OK) {
				return rd_fail(rd, r, "KmsCertCache/@CacheNum: not an integer");
			}
		}
	}
	if ((res->certs = calloc(KMS_CLIENT_MAX_CERTS, sizeof(*res->certs))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = seq_start(&body, rd, n, "KmsCertCache")) != KMS_OK) {
		return r;
	}
	/* SignedKmsCertificate*, then KmsCertificate* */
	for (int pass = 0; pass < 2; pass++) {
		const char *name = pass == 0 ? "SignedKmsCertificate" : "KmsCertificate";

		while (is_el(body.cur, KMS_CLIENT_NS, name)) {
			if (res->num_certs == KMS_CLIENT_MAX_CERTS) {
				return rd_fail(rd, KMS_ERR_TOO_LARGE,
					       "KmsCertCache: more than %u certificates",
					       KMS_CLIENT_MAX_CERTS);
			}
			if ((r = read_cert_or_signed(rd, body.cur,
						     &res->certs[res->num_certs++])) != KMS_OK ||
			    (r = seq_next(&body)) != KMS_OK) {
				return r;
			}
		}
	}
	if ((r = seq_skip_other(&body, KMS_CLIENT_NS)) != KMS_OK) {
		return r;
	}
	return seq_end(&body);
}

static int
read_error(struct rd *rd, xmlNode *el, struct kms_client_response *res)
{
	struct seq s;
	xmlNode *n;
	int r;

	if ((r = seq_start(&s, rd, el, "KmsError")) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "ErrorCode", &n)) != KMS_OK ||
	    (r = get_i64(rd, n, "KmsError/ErrorCode", &res->error_code)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "ErrorMsg", &n)) != KMS_OK ||
	    (r = get_str(rd, n, KMS_CLIENT_MAX_STR, "KmsError/ErrorMsg", &res->error_msg)) !=
		    KMS_OK ||
	    (r = seq_skip_other(&s, KMS_CLIENT_NS)) != KMS_OK || (r = seq_end(&s)) != KMS_OK) {
		return r;
	}
	res->has_error = true;
	return KMS_OK;
}

/* The KeyName of the signature, for display; the structure is checked by kms_client_verify. */
static int
read_sig_key_name(struct rd *rd, xmlNode *sig, struct kms_client_response *res)
{
	xmlNode *c, *k;

	for (c = sig->children; c != NULL; c = c->next) {
		if (!is_el(c, KMS_CLIENT_NS_DS, "KeyInfo")) {
			continue;
		}
		for (k = c->children; k != NULL; k = k->next) {
			if (is_el(k, KMS_CLIENT_NS_DS, "KeyName")) {
				return get_str(rd, k, MAX_NAME, "Signature/KeyInfo/KeyName",
					       &res->sig_key_name);
			}
		}
	}
	return KMS_OK;
}

static int
read_response(struct rd *rd, xmlNode *root, struct kms_client_response *res)
{
	struct seq s;
	xmlNode *n;
	int r;

	if (!is_el(root, KMS_CLIENT_NS, "KmsResponse")) {
		return rd_fail(rd, KMS_ERR_PARSE,
			       "the root element is %.64s, not KmsResponse of %s", name_of(root),
			       KMS_CLIENT_NS);
	}
	if ((r = get_attr(rd, root, "Version", 64, &res->version)) != KMS_OK ||
	    (r = seq_start(&s, rd, root, "KmsResponse")) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "UserUri", &n)) != KMS_OK ||
	    (r = get_uri(rd, n, "KmsResponse/UserUri", &res->user_uri)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "KmsUri", &n)) != KMS_OK ||
	    (r = get_uri(rd, n, "KmsResponse/KmsUri", &res->kms_uri)) != KMS_OK ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "Time", &n)) != KMS_OK ||
	    (r = get_time(rd, n, "KmsResponse/Time", &res->time)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "KmsId", &n)) != KMS_OK ||
	    (n != NULL && (r = get_str(rd, n, KMS_CLIENT_MAX_STR, "KmsResponse/KmsId",
				       &res->kms_id)) != KMS_OK) ||
	    (r = seq_req(&s, KMS_CLIENT_NS, "ClientReqUrl", &n)) != KMS_OK ||
	    (r = get_str(rd, n, KMS_CLIENT_MAX_STR, "KmsResponse/ClientReqUrl",
			 &res->client_req_url)) != KMS_OK ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "KmsMessage", &n)) != KMS_OK ||
	    (n != NULL && (r = read_message(rd, n, res)) != KMS_OK) ||
	    (r = seq_opt(&s, KMS_CLIENT_NS, "KmsError", &n)) != KMS_OK ||
	    (n != NULL && (r = read_error(rd, n, res)) != KMS_OK)) {
		return r;
	}
	/* extension elements; ds:Signature, once, as the last child */
	for (; s.cur != NULL; r = seq_next(&s)) {
		if (r != KMS_OK) {
			return r;
		}
		if (res->sig_ != NULL) {
			return rd_fail(rd, KMS_ERR_PARSE,
				       "KmsResponse: ds:Signature must be the last child element "
				       "(found %.64s after it)",
				       name_of(s.cur));
		}
		if (is_el(s.cur, KMS_CLIENT_NS_DS, "Signature")) {
			res->sig_ = s.cur;
			res->has_signature = true;
		} else if (s.cur->ns == NULL || in_ns(s.cur, KMS_CLIENT_NS)) {
			return rd_fail(rd, KMS_ERR_PARSE, "KmsResponse: unexpected element %.64s",
				       name_of(s.cur));
		}
	}
	if (r != KMS_OK) {
		return r;
	}
	if (res->sig_ != NULL) {
		return read_sig_key_name(rd, res->sig_, res);
	}
	return KMS_OK;
}

struct parse_state {
	bool dtd;
};

/* SAX: a DOCTYPE stops the parser before its internal subset (and any entity) is read. */
static void
refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	(void)name;
	(void)external_id;
	(void)system_id;
	st->dtd = true;
	xmlStopParser(ctxt);
}

/* Wipe every text node (plain keys are text) before libxml2 frees it, without recursion. */
static void
wipe_text(xmlNode *n)
{
	while (n != NULL) {
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content != NULL) {
			kms_memzero(n->content, strlen((const char *)n->content));
		}
		if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
			n = n->children;
			continue;
		}
		while (n != NULL && n->next == NULL) {
			n = n->parent;
			if (n != NULL && n->type == XML_DOCUMENT_NODE) {
				return;
			}
		}
		if (n != NULL) {
			n = n->next;
		}
	}
}

static void
key_cleanup(struct kms_client_key *k)
{
	free(k->key_name);
	free(k->wrapped);
	free(k->carried_name);
	kms_secret_free(k->plain);
}

static void
cert_cleanup(struct kms_client_cert *c)
{
	free(c->cert_uri);
	free(c->kms_uri);
	free(c->issuer);
	free(c->role);
	free(c->user_id_format);
}

void
kms_client_response_free(struct kms_client_response *r)
{
	size_t i;

	if (r == NULL) {
		return;
	}
	free(r->version);
	free(r->user_uri);
	free(r->kms_uri);
	free(r->kms_id);
	free(r->client_req_url);
	free(r->error_msg);
	free(r->sig_key_name);
	if (r->certs != NULL) {
		for (i = 0; i < r->num_certs; i++) {
			cert_cleanup(&r->certs[i]);
		}
		free(r->certs);
	}
	if (r->keysets != NULL) {
		for (i = 0; i < r->num_keysets; i++) {
			struct kms_client_keyset *k = &r->keysets[i];

			free(k->kms_uri);
			free(k->user_uri);
			free(k->cert_uri);
			free(k->issuer);
			key_cleanup(&k->rsk);
			key_cleanup(&k->ssk);
			key_cleanup(&k->pvt);
		}
		free(r->keysets);
	}
	/* every slot: one that a failed read left half filled is not counted as read */
	for (i = 0; i < KMS_CLIENT_MAX_NEW_KEYS; i++) {
		key_cleanup(&r->new_trk[i]);
		key_cleanup(&r->new_ink[i]);
	}
	if (r->doc_ != NULL) {
		wipe_text(xmlDocGetRootElement(r->doc_));
		xmlFreeDoc(r->doc_);
	}
	memset(r, 0, sizeof(*r));
	free(r);
}

/* Wipe the text of doc (it may hold plain keys) and free it. NULL is a no-op. */
static void
free_doc(xmlDocPtr doc)
{
	if (doc != NULL) {
		wipe_text(xmlDocGetRootElement(doc));
		xmlFreeDoc(doc);
	}
}

/*
 * read_doc - parse xml[0..len) (len <= KMS_CLIENT_MAX_BODY) with libxml2 into *out (owned:
 * free_doc() it). No network, no entity substitution, no DTD loading or attribute defaults (none
 * of those options is set), no dictionary (so text can be wiped), CDATA as text, and libxml2's
 * default limits (depth 256, text 10 MB). A DOCTYPE stops the parser before its internal subset
 * is read. KMS_OK; KMS_ERR_PARSE (err says why; what names the document), KMS_ERR_NOMEM.
 */
static int
read_doc(char *err, size_t err_len, const uint8_t *xml, size_t len, const char *what,
	 xmlDocPtr *out)
{
	struct parse_state st = {.dtd = false};
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	int well_formed = 0;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	if ((ctxt = xmlCreateMemoryParserCtxt((const char *)xml, (int)len)) == NULL) {
		goto out;
	}
	(void)xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NODICT | XML_PARSE_NOCDATA |
					      XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctxt->sax->internalSubset = refuse_dtd;
	ctxt->_private = &st;
	(void)xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	well_formed = ctxt->wellFormed;
	if (st.dtd || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
		r = failf(err, err_len, KMS_ERR_PARSE, "a DOCTYPE is not allowed in %s", what);
		goto out;
	}
	if (doc == NULL || !well_formed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[128] = "";

		if (e != NULL && e->message != NULL) {
			size_t n = strcspn(e->message, "\n");

			(void)snprintf(msg, sizeof(msg), "%.*s", (int)(n < 120 ? n : 120),
				       e->message);
		}
		r = failf(err, err_len, KMS_ERR_PARSE, "not well-formed XML (line %d): %s",
			  e != NULL ? e->line : 0, msg);
		goto out;
	}
	*out = doc;
	doc = NULL;
	r = KMS_OK;
out:
	free_doc(doc);
	if (ctxt != NULL) {
		xmlFreeParserCtxt(ctxt);
	}
	return r;
}

int
kms_client_response_parse(struct kms_client_response **out, char *err, size_t err_len,
			  const uint8_t *xml, size_t len)
{
	struct kms_client_response *res = NULL;
	struct rd rd = {.err = err, .err_len = err_len, .doc = NULL};
	xmlDocPtr doc = NULL;
	int r = KMS_ERR_NOMEM;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	err_clear(err, err_len);
	if (xml == NULL || len == 0) {
		return failf(err, err_len, KMS_ERR_PARSE, "empty response body");
	}
	if (len > KMS_CLIENT_MAX_BODY) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "response body over %u octets",
			     KMS_CLIENT_MAX_BODY);
	}
	if ((r = read_doc(err, err_len, xml, len, "a response", &doc)) != KMS_OK) {
		goto out;
	}
	r = KMS_ERR_NOMEM;
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		goto out;
	}
	res->doc_ = doc;
	doc = NULL;
	rd.doc = res->doc_;
	if ((r = read_response(&rd, xmlDocGetRootElement(res->doc_), res)) != KMS_OK) {
		goto out;
	}
	*out = res;
	res = NULL;
	r = KMS_OK;
out:
	free_doc(doc);
	kms_client_response_free(res);
	if (r == KMS_ERR_NOMEM) {
		(void)failf(err, err_len, r, "out of memory");
	}
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* The signature (XML-DSig core validation, for the one profile the interface uses) */

/* The node-set C14N renders: the subtree of top, without the subtree of excl. */
struct c14n_set {
	const xmlNode *top;
	const xmlNode *excl;
};

static bool
within(const xmlNode *n, const xmlNode *top)
{
	for (; n != NULL; n = n->parent) {
		if (n == top) {
			return true;
		}
	}
	return false;
}

/*
 * libxml2 asks about every node, attribute and namespace node; a namespace node (an xmlNs,
 * whose second member is its type, like a node's) is asked about with the element it is on
 * as parent.
 */
static int
c14n_visible(void *user, xmlNodePtr node, xmlNodePtr parent)
{
	const struct c14n_set *set = user;
	const xmlNode *n = node;

	if (node == NULL) {
		return 0;
	}
	if (node->type == XML_NAMESPACE_DECL) {
		n = parent;
	} else if (node->type == XML_ATTRIBUTE_NODE) {
		n = node->parent;
	}
	return n != NULL && within(n, set->top) && (set->excl == NULL || !within(n, set->excl));
}

/*
 * c14n_mac - inclusive C14N 1.0 without comments of the set (top minus excl), then SHA-256 of
 * it (key NULL) or HMAC-SHA256 under the 32-octet key, into md.
 */
static int
c14n_mac(xmlDocPtr doc, const xmlNode *top, const xmlNode *excl, const uint8_t *key, uint8_t md[32])
{
	struct c14n_set set = {.top = top, .excl = excl};
	xmlOutputBufferPtr buf = xmlAllocOutputBuffer(NULL);
	const xmlChar *data;
	size_t n;
	unsigned int md_len = 0;
	int r = KMS_ERR_CRYPTO;

	if (buf == NULL) {
		return KMS_ERR_NOMEM;
	}
	if (xmlC14NExecute(doc, c14n_visible, &set, XML_C14N_1_0, NULL, 0, buf) < 0 ||
	    (data = xmlOutputBufferGetContent(buf)) == NULL) {
		r = KMS_ERR_PARSE;
		goto out;
	}
	n = xmlOutputBufferGetSize(buf);
	if (key == NULL) {
		if (SHA256(data, n, md) != NULL) {
			r = KMS_OK;
		}
	} else if (HMAC(EVP_sha256(), key, 32, data, n, md, &md_len) != NULL && md_len == 32) {
		r = KMS_OK;
	}
out:
	(void)xmlOutputBufferClose(buf);
	return r;
}

/* The Algorithm attribute of el must be alg. */
static int
check_alg(struct rd *rd, const xmlNode *el, const char *alg)
{
	char *got = NULL;
	int r;

	if ((r = get_attr(rd, el, "Algorithm", KMS_CLIENT_MAX_STR, &got)) != KMS_OK) {
		return r;
	}
	if (got == NULL) {
		return rd_fail(rd, KMS_ERR_PARSE, "%.64s without Algorithm", name_of(el));
	}
	if (strcmp(got, alg) != 0) {
		r = rd_fail(rd, KMS_ERR_UNSUPPORTED, "%.64s %.128s is not supported (only %s)",
			    name_of(el), got, alg);
	}
	free(got);
	return r;
}

/* A base64 element of exactly 32 octets. */
static int
get_b64_32(struct rd *rd, const xmlNode *el, const char *what, uint8_t out[32])
{
	uint8_t tmp[48];
	char *s = NULL;
	size_t len, got = 0;
	int r;

	if ((r = text_of(rd, el, 64, what, &s, &len)) != KMS_OK) {
		return r;
	}
	r = b64_decode(tmp, sizeof(tmp), &got, s, len);
	free(s);
	if (r != KMS_OK || got != 32) {
		return rd_fail(rd, r != KMS_OK ? r : KMS_ERR_RANGE,
			       "%s: expected 32 octets in base64 (a truncated HMAC or digest is "
			       "refused)",
			       what);
	}
	memcpy(out, tmp, 32);
	return KMS_OK;
}

/* Does any element but root carry Id="xmldoc"? (A second one would make "#xmldoc" ambiguous.) */
static bool
id_elsewhere(const xmlNode *root)
{
	const xmlNode *n = root->children;

	while (n != NULL && n != root) {
		if (n->type == XML_ELEMENT_NODE) {
			xmlChar *id = xmlGetNoNsProp(n, XC("Id"));
			bool hit = id != NULL && strcmp((const char *)id, ROOT_ID) == 0;

			xmlFree(id);
			if (hit) {
				return true;
			}
			if (n->children != NULL) {
				n = n->children;
				continue;
			}
		}
		while (n != root && n->next == NULL) {
			n = n->parent;
		}
		if (n != root) {
			n = n->next;
		}
	}
	return false;
}

int
kms_client_verify(char *err, size_t err_len, const struct kms_client_response *r,
		  const uint8_t key[32])
{
	struct rd rd = {.err = err, .err_len = err_len, .doc = NULL};
	struct seq s, si, ref, tr;
	xmlNode *root, *signed_info, *sig_value, *key_info, *method, *reference, *extra;
	xmlNode *transforms, *t1, *t2, *digest_method, *digest_value, *out_len;
	uint8_t want_digest[32], digest[32], want_mac[32], mac[32];
	char *uri = NULL;
	char *id = NULL;
	int rc;

	err_clear(err, err_len);
	if (r == NULL || key == NULL || r->doc_ == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	rd.doc = r->doc_;
	if (r->sig_ == NULL) {
		return failf(err, err_len, KMS_ERR_AUTH,
			     "the response is not signed (no ds:Signature), but a key was given "
			     "to check it");
	}
	root = xmlDocGetRootElement(r->doc_);

	/* Signature: SignedInfo, SignatureValue, KeyInfo? */
	if ((rc = seq_start(&s, &rd, r->sig_, "Signature")) != KMS_OK ||
	    (rc = seq_req(&s, KMS_CLIENT_NS_DS, "SignedInfo", &signed_info)) != KMS_OK ||
	    (rc = seq_req(&s, KMS_CLIENT_NS_DS, "SignatureValue", &sig_value)) != KMS_OK ||
	    (rc = seq_opt(&s, KMS_CLIENT_NS_DS, "KeyInfo", &key_info)) != KMS_OK ||
	    (rc = seq_end(&s)) != KMS_OK) {
		goto out;
	}
	/* SignedInfo: CanonicalizationMethod, SignatureMethod, exactly one Reference */
	if ((rc = seq_start(&si, &rd, signed_info, "SignedInfo")) != KMS_OK ||
	    (rc = seq_req(&si, KMS_CLIENT_NS_DS, "CanonicalizationMethod", &method)) != KMS_OK ||
	    (rc = check_alg(&rd, method, ALG_C14N)) != KMS_OK ||
	    (rc = seq_start(&tr, &rd, method, "CanonicalizationMethod")) != KMS_OK ||
	    (rc = seq_end(&tr)) != KMS_OK ||
	    (rc = seq_req(&si, KMS_CLIENT_NS_DS, "SignatureMethod", &method)) != KMS_OK ||
	    (rc = check_alg(&rd, method, ALG_HMAC)) != KMS_OK ||
	    (rc = seq_start(&tr, &rd, method, "SignatureMethod")) != KMS_OK ||
	    (rc = seq_opt(&tr, KMS_CLIENT_NS_DS, "HMACOutputLength", &out_len)) != KMS_OK ||
	    (rc = seq_end(&tr)) != KMS_OK) {
		goto out;
	}
	if (out_len != NULL) {
		uint64_t bits = 0;

		if ((rc = get_u64(&rd, out_len, "HMACOutputLength", &bits)) != KMS_OK) {
			goto out;
		}
		if (bits != 256) {
			rc = failf(err, err_len, KMS_ERR_UNSUPPORTED,
				   "SignatureMethod: HMACOutputLength %llu refused (only the full "
				   "256 bits)",
				   (unsigned long long)bits);
			goto out;
		}
	}
	if ((rc = seq_req(&si, KMS_CLIENT_NS_DS, "Reference", &reference)) != KMS_OK ||
	    (rc = seq_opt(&si, KMS_CLIENT_NS_DS, "Reference", &extra)) != KMS_OK) {
		goto out;
	}
	if (extra != NULL) {
		rc = failf(err, err_len, KMS_ERR_PARSE,
			   "SignedInfo: more than one Reference (only #xmldoc is signed)");
		goto out;
	}
	if ((rc = seq_end(&si)) != KMS_OK) {
		goto out;
	}

	/* Reference URI="#xmldoc": Transforms (enveloped-signature [, C14N 1.0]), SHA-256 */
	if ((rc = get_attr(&rd, reference, "URI", KMS_CLIENT_MAX_STR, &uri)) != KMS_OK) {
		goto out;
	}
	if (uri == NULL || strcmp(uri, REF_ROOT) != 0) {
		rc = failf(err, err_len, KMS_ERR_PARSE,
			   "Reference URI '%.128s' is not \"#xmldoc\" (the KmsResponse)",
			   uri != NULL ? uri : "");
		goto out;
	}
	if ((rc = seq_start(&ref, &rd, reference, "Reference")) != KMS_OK ||
	    (rc = seq_req(&ref, KMS_CLIENT_NS_DS, "Transforms", &transforms)) != KMS_OK ||
	    (rc = seq_req(&ref, KMS_CLIENT_NS_DS, "DigestMethod", &digest_method)) != KMS_OK ||
	    (rc = check_alg(&rd, digest_method, ALG_SHA256)) != KMS_OK ||
	    (rc = seq_req(&ref, KMS_CLIENT_NS_DS, "DigestValue", &digest_value)) != KMS_OK ||
	    (rc = seq_end(&ref)) != KMS_OK ||
	    (rc = get_b64_32(&rd, digest_value, "DigestValue", want_digest)) != KMS_OK) {
		goto out;
	}
	if ((rc = seq_start(&tr, &rd, transforms, "Transforms")) != KMS_OK ||
	    (rc = seq_req(&tr, KMS_CLIENT_NS_DS, "Transform", &t1)) != KMS_OK ||
	    (rc = check_alg(&rd, t1, ALG_ENVELOPED)) != KMS_OK ||
	    (rc = seq_opt(&tr, KMS_CLIENT_NS_DS, "Transform", &t2)) != KMS_OK ||
	    (t2 != NULL && (rc = check_alg(&rd, t2, ALG_C14N)) != KMS_OK) ||
	    (rc = seq_end(&tr)) != KMS_OK) {
		goto out;
	}
	if ((rc = get_b64_32(&rd, sig_value, "SignatureValue", want_mac)) != KMS_OK) {
		goto out;
	}

	/* "#xmldoc" names the root, and nothing else */
	if ((rc = get_attr(&rd, root, "Id", KMS_CLIENT_MAX_STR, &id)) != KMS_OK) {
		goto out;
	}
	if (id == NULL || strcmp(id, ROOT_ID) != 0) {
		rc = failf(
			err, err_len, KMS_ERR_PARSE,
			"Reference #xmldoc: the KmsResponse element does not have Id=\"xmldoc\"");
		goto out;
	}
	if (id_elsewhere(root)) {
		rc = failf(err, err_len, KMS_ERR_PARSE,
			   "Reference #xmldoc: another element also has Id=\"xmldoc\"");
		goto out;
	}

	/* Reference validation, then signature validation */
	if ((rc = c14n_mac(r->doc_, root, r->sig_, NULL, digest)) != KMS_OK) {
		rc = failf(err, err_len, rc, "cannot canonicalise the response");
		goto out;
	}
	if (CRYPTO_memcmp(digest, want_digest, sizeof(digest)) != 0) {
		rc = failf(err, err_len, KMS_ERR_AUTH,
			   "Reference digest mismatch: the response is not what was signed (its "
			   "content or DigestValue was changed)");
		goto out;
	}
	if ((rc = c14n_mac(r->doc_, signed_info, NULL, key, mac)) != KMS_OK) {
		rc = failf(err, err_len, rc, "cannot canonicalise SignedInfo");
		goto out;
	}
	if (CRYPTO_memcmp(mac, want_mac, sizeof(mac)) != 0) {
		rc = failf(
			err, err_len, KMS_ERR_AUTH,
			"SignatureValue mismatch: SignedInfo was not signed with this key (wrong "
			"InK/TrK, or SignedInfo or SignatureValue was changed)");
		goto out;
	}
	rc = KMS_OK;
out:
	kms_memzero(mac, sizeof(mac));
	free(uri);
	free(id);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Signing a request (how a client proves that it holds an InK) */

/* The node after n in document order within top's subtree (top excluded), or NULL. */
static xmlNode *
next_within(xmlNode *n, const xmlNode *top)
{
	if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
		return n->children;
	}
	while (n != top && n->next == NULL) {
		n = n->parent;
	}
	return n != top ? n->next : NULL;
}

/*
 * rebind - the children of the caller's KmsRequest, copied under top in the new document, take
 * the root's declarations: every element must be in the interface namespace and is bound to ns,
 * every attribute is unqualified, and text and comments are the only other nodes. Then the
 * declarations the copy made are dropped (a second pass: the first still reads them), so that
 * nothing below the root declares a namespace. KMS_ERR_INVALID_ARG for another shape.
 */
static int
rebind(xmlNode *top, xmlNsPtr ns)
{
	xmlNode *n;
	xmlAttr *a;

	for (n = top->children; n != NULL; n = next_within(n, top)) {
		if (n->type == XML_TEXT_NODE || n->type == XML_COMMENT_NODE) {
			continue;
		}
		if (n->type != XML_ELEMENT_NODE || !in_ns(n, KMS_CLIENT_NS)) {
			return KMS_ERR_INVALID_ARG;
		}
		for (a = n->properties; a != NULL; a = a->next) {
			if (a->ns != NULL) {
				return KMS_ERR_INVALID_ARG;
			}
		}
		n->ns = ns;
	}
	for (n = top->children; n != NULL; n = next_within(n, top)) {
		if (n->type == XML_ELEMENT_NODE && n->nsDef != NULL) {
			xmlFreeNsList(n->nsDef);
			n->nsDef = NULL;
		}
	}
	return KMS_OK;
}

/* The first element child of parent that is ns:name, or NULL. */
static xmlNode *
child_el(const xmlNode *parent, const char *ns, const char *name)
{
	xmlNode *c;

	for (c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next) {
		if (is_el(c, ns, name)) {
			return c;
		}
	}
	return NULL;
}

/* A ds: child of parent with the Algorithm attribute alg. */
static xmlNode *
new_alg(xmlNode *parent, xmlNsPtr ds, const char *name, const char *alg)
{
	xmlNode *n = xmlNewChild(parent, ds, XC(name), NULL);

	return n != NULL && xmlNewProp(n, XC("Algorithm"), XC(alg)) != NULL ? n : NULL;
}

/*
 * The serialized request, parsed anew, canonicalises to what was signed: the digest of its
 * KmsRequest and the HMAC of its SignedInfo are those computed on the tree.
 */
static int
check_signed_request(const xmlChar *mem, int size, const uint8_t ink[32], const uint8_t digest[32],
		     const uint8_t mac[32])
{
	xmlDocPtr doc = NULL;
	xmlNode *root, *req, *si;
	uint8_t again[32];
	int r;

	if ((r = read_doc(NULL, 0, mem, (size_t)size, "a request", &doc)) != KMS_OK) {
		r = r == KMS_ERR_NOMEM ? r : KMS_ERR_INTERNAL;
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	req = child_el(root, KMS_CLIENT_NS, "KmsRequest");
	si = child_el(child_el(root, KMS_CLIENT_NS_DS, "Signature"), KMS_CLIENT_NS_DS,
		      "SignedInfo");
	r = KMS_ERR_INTERNAL;
	if (req == NULL || si == NULL || c14n_mac(doc, req, NULL, NULL, again) != KMS_OK ||
	    CRYPTO_memcmp(again, digest, sizeof(again)) != 0 ||
	    c14n_mac(doc, si, NULL, ink, again) != KMS_OK ||
	    CRYPTO_memcmp(again, mac, sizeof(again)) != 0) {
		goto out;
	}
	r = KMS_OK;
out:
	kms_memzero(again, sizeof(again));
	free_doc(doc);
	return r;
}

int
kms_client_request_sign(char **out, size_t *out_len, const char *body, size_t body_len,
			const uint8_t ink[32], const char *ink_id)
{
	xmlDocPtr in = NULL, doc = NULL;
	xmlNode *req_in, *root, *req, *sig, *si, *ref, *key_info, *copy;
	xmlNsPtr ns, ds;
	xmlAttr *a;
	xmlChar *mem = NULL;
	uint8_t digest[32], mac[32];
	char digest_b64[48], mac_b64[48];
	int size = 0;
	int r;

	if (out == NULL || out_len == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	*out_len = 0;
	if (body == NULL || body_len == 0 || ink == NULL || ink_id == NULL ||
	    !is_printable_ascii(ink_id, KMS_CLIENT_MAX_KEY_NAME)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (body_len > KMS_CLIENT_MAX_REQUEST) {
		return KMS_ERR_TOO_LARGE;
	}
	if ((r = read_doc(NULL, 0, (const uint8_t *)body, body_len, "a request", &in)) != KMS_OK) {
		goto out;
	}
	/* a KmsRequest without an Id ("#kmsreq" names the one this function adds) */
	r = KMS_ERR_INVALID_ARG;
	req_in = xmlDocGetRootElement(in);
	if (!is_el(req_in, KMS_CLIENT_NS, "KmsRequest")) {
		goto out;
	}
	for (a = req_in->properties; a != NULL; a = a->next) {
		if (a->ns != NULL || strcmp((const char *)a->name, "Id") == 0) {
			goto out;
		}
	}

	/* SignedKmsRequest, declaring both namespaces; KmsRequest Id="kmsreq", its attributes */
	r = KMS_ERR_NOMEM;
	if ((doc = xmlNewDoc(XC("1.0"))) == NULL ||
	    (root = xmlNewDocNode(doc, NULL, XC("SignedKmsRequest"), NULL)) == NULL) {
		goto out;
	}
	xmlDocSetRootElement(doc, root);
	if ((ns = xmlNewNs(root, XC(KMS_CLIENT_NS), NULL)) == NULL ||
	    (ds = xmlNewNs(root, XC(KMS_CLIENT_NS_DS), XC("ds"))) == NULL) {
		goto out;
	}
	xmlSetNs(root, ns);
	if ((req = xmlNewChild(root, ns, XC("KmsRequest"), NULL)) == NULL ||
	    xmlNewProp(req, XC("Id"), XC(REQ_ID)) == NULL) {
		goto out;
	}
	for (a = req_in->properties; a != NULL; a = a->next) {
		xmlChar *v = xmlNodeListGetString(in, a->children, 1);
		bool ok = v != NULL && xmlNewProp(req, a->name, v) != NULL;

		xmlFree(v);
		if (!ok) {
			goto out;
		}
	}
	/* the children, bound to the root's namespace declarations */
	if (req_in->children != NULL) {
		if ((copy = xmlDocCopyNodeList(doc, req_in->children)) == NULL) {
			goto out;
		}
		(void)xmlAddChildList(req, copy);
		if ((r = rebind(req, ns)) != KMS_OK) {
			goto out;
		}
	}

	/* Reference: SHA-256 of the C14N of KmsRequest (with the namespaces in scope) */
	if ((r = c14n_mac(doc, req, NULL, NULL, digest)) != KMS_OK) {
		goto out;
	}
	(void)EVP_EncodeBlock((unsigned char *)digest_b64, digest, sizeof(digest));
	r = KMS_ERR_NOMEM;
	if ((sig = xmlNewChild(root, ds, XC("Signature"), NULL)) == NULL ||
	    (si = xmlNewChild(sig, ds, XC("SignedInfo"), NULL)) == NULL ||
	    new_alg(si, ds, "CanonicalizationMethod", ALG_C14N) == NULL ||
	    new_alg(si, ds, "SignatureMethod", ALG_HMAC) == NULL ||
	    (ref = xmlNewChild(si, ds, XC("Reference"), NULL)) == NULL ||
	    xmlNewProp(ref, XC("URI"), XC(REQ_REF)) == NULL ||
	    new_alg(ref, ds, "DigestMethod", ALG_SHA256) == NULL ||
	    xmlNewTextChild(ref, ds, XC("DigestValue"), XC(digest_b64)) == NULL) {
		goto out;
	}
	/* SignatureValue: HMAC-SHA256 under the InK of the C14N of SignedInfo, as it stands */
	if ((r = c14n_mac(doc, si, NULL, ink, mac)) != KMS_OK) {
		goto out;
	}
	(void)EVP_EncodeBlock((unsigned char *)mac_b64, mac, sizeof(mac));
	r = KMS_ERR_NOMEM;
	if (xmlNewTextChild(sig, ds, XC("SignatureValue"), XC(mac_b64)) == NULL ||
	    (key_info = xmlNewChild(sig, ds, XC("KeyInfo"), NULL)) == NULL ||
	    xmlNewTextChild(key_info, ds, XC("KeyName"), XC(ink_id)) == NULL) {
		goto out;
	}
	xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
	if (mem == NULL || size <= 0) {
		goto out;
	}
	if ((r = check_signed_request(mem, size, ink, digest, mac)) != KMS_OK) {
		goto out;
	}
	r = KMS_ERR_NOMEM;
	if ((*out = malloc((size_t)size + 1)) == NULL) {
		goto out;
	}
	memcpy(*out, mem, (size_t)size);
	(*out)[size] = '\0';
	*out_len = (size_t)size;
	r = KMS_OK;
out:
	kms_memzero(mac, sizeof(mac));
	xmlFree(mem);
	free_doc(in);
	free_doc(doc);
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Certificates and key sets */

static bool
p256_point_ok(const uint8_t p[KMS_ECCSI_POINT_LEN])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = g != NULL ? EC_POINT_new(g) : NULL;
	bool ok = pt != NULL && p[0] == 0x04 &&
		  EC_POINT_oct2point(g, pt, p, KMS_ECCSI_POINT_LEN, NULL) == 1 &&
		  !EC_POINT_is_at_infinity(g, pt) && EC_POINT_is_on_curve(g, pt, NULL) == 1;

	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return ok;
}

int
kms_client_cert_check(char *err, size_t err_len, const struct kms_client_cert *cert)
{
	err_clear(err, err_len);
	if (cert == NULL || cert->kms_uri == NULL || cert->user_id_format == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cert->revoked) {
		return failf(err, err_len, KMS_ERR_AUTH, "the KMS certificate is revoked");
	}
	if (strcmp(cert->user_id_format, "2") != 0) {
		return failf(err, err_len, KMS_ERR_UNSUPPORTED,
			     "UserIdFormat '%.32s' is not supported (only 2, TS 33.180 F.2.1)",
			     cert->user_id_format);
	}
	if (cert->has_parameter_set && cert->parameter_set != 1) {
		return failf(err, err_len, KMS_ERR_UNSUPPORTED,
			     "ParameterSet %llu is not supported (only 1, RFC 6509)",
			     (unsigned long long)cert->parameter_set);
	}
	if (cert->period == 0) {
		return failf(err, err_len, KMS_ERR_RANGE, "UserKeyPeriod is 0");
	}
	if (kms_sakke_point_check(cert->z_pub, sizeof(cert->z_pub)) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_POINT,
			     "PubEncKey (Z_T) is not a point of the SAKKE curve");
	}
	if (!p256_point_ok(cert->kpak)) {
		return failf(err, err_len, KMS_ERR_POINT,
			     "PubAuthKey (KPAK) is not a point of P-256");
	}
	return KMS_OK;
}

static int
keyset_uid(uint8_t uid[KMS_UID_LEN], const struct kms_client_keyset *ks,
	   const struct kms_client_cert *cert)
{
	return kms_uid_compute(uid, ks->user_uri, strlen(ks->user_uri), ks->kms_uri,
			       strlen(ks->kms_uri), cert->period, cert->offset, ks->key_period_no);
}

int
kms_client_keyset_check(char *err, size_t err_len, const struct kms_client_keyset *ks,
			const struct kms_client_cert *cert, const char *expected_uri,
			uint64_t at_ntp_seconds)
{
	uint8_t uid[KMS_UID_LEN];
	uint64_t start = 0, end = 0, at_no = 0;
	int r;

	err_clear(err, err_len);
	if (ks == NULL || cert == NULL || ks->kms_uri == NULL || ks->user_uri == NULL ||
	    cert->kms_uri == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (strcmp(ks->kms_uri, cert->kms_uri) != 0) {
		return failf(err, err_len, KMS_ERR_AUTH,
			     "KmsKeySet/KmsUri is not the KmsUri of the KMS certificate");
	}
	if (expected_uri != NULL && strcmp(ks->user_uri, expected_uri) != 0) {
		return failf(err, err_len, KMS_ERR_AUTH,
			     "KmsKeySet/UserUri is not the identity that was asked for");
	}
	if (ks->revoked) {
		return failf(err, err_len, KMS_ERR_AUTH, "the key set is revoked");
	}
	if ((r = keyset_uid(uid, ks, cert)) != KMS_OK) {
		return failf(err, err_len, r,
			     "cannot compute the UID (period 0, or a URI too long)");
	}
	if (memcmp(uid, ks->user_id, sizeof(uid)) != 0) {
		return failf(err, err_len, KMS_ERR_AUTH,
			     "UserID is not the UID of UserUri, KmsUri, the certificate's period "
			     "and offset and KeyPeriodNo %llu",
			     (unsigned long long)ks->key_period_no);
	}
	if (kms_key_period_bounds(&start, &end, ks->key_period_no, cert->period, cert->offset) !=
	    KMS_OK) {
		return failf(err, err_len, KMS_ERR_RANGE, "KeyPeriodNo %llu is out of range",
			     (unsigned long long)ks->key_period_no);
	}
	if (ks->has_valid_from && (ks->valid_from < start || ks->valid_from >= end)) {
		return failf(err, err_len, KMS_ERR_AUTH, "ValidFrom is outside key period %llu",
			     (unsigned long long)ks->key_period_no);
	}
	if (ks->has_valid_to && (ks->valid_to <= start || ks->valid_to > end)) {
		return failf(err, err_len, KMS_ERR_AUTH, "ValidTo is outside key period %llu",
			     (unsigned long long)ks->key_period_no);
	}
	if (ks->has_valid_from && ks->has_valid_to && ks->valid_from >= ks->valid_to) {
		return failf(err, err_len, KMS_ERR_AUTH, "ValidFrom is not before ValidTo");
	}
	if (at_ntp_seconds != 0) {
		if (kms_key_period_no(&at_no, at_ntp_seconds, cert->period, cert->offset) !=
		    KMS_OK) {
			return failf(err, err_len, KMS_ERR_RANGE,
				     "the requested time is before the KMS's UserKeyOffset");
		}
		if (ks->key_period_no != at_no && ks->key_period_no - 1 != at_no) {
			return failf(
				err, err_len, KMS_ERR_AUTH,
				"KeyPeriodNo %llu is neither the requested period %llu nor the "
				"next",
				(unsigned long long)ks->key_period_no, (unsigned long long)at_no);
		}
	}
	return KMS_OK;
}

/* The octets a key of key_len octets wraps to (RFC 5649: padded to 8, plus 8). */
static size_t
wrapped_len_of(size_t key_len)
{
	return (key_len + 7) / 8 * 8 + 8;
}

static int
open_key(char *err, size_t err_len, const struct kms_client_key *k, const uint8_t *trk,
	 uint8_t *out, size_t want, const char *what)
{
	struct kms_secret *tmp = NULL;
	EVP_CIPHER_CTX *c = NULL;
	int l1 = 0, l2 = 0;
	int r;

	if (k->wrap == KMS_CLIENT_KEY_PLAIN) {
		if (k->plain == NULL || k->plain->len != want) {
			return failf(err, err_len, KMS_ERR_RANGE, "%s: not %zu octets", what, want);
		}
		memcpy(out, k->plain->data, want);
		return KMS_OK;
	}
	if (k->wrap == KMS_CLIENT_KEY_UNKNOWN) {
		return failf(err, err_len, KMS_ERR_UNSUPPORTED,
			     "%s: EncryptionMethod is not supported (only %s, or the label %s)",
			     what, ALG_KW_PAD, ALG_KW_LEGACY);
	}
	if (trk == NULL) {
		return failf(err, err_len, KMS_ERR_INVALID_ARG,
			     "%s is wrapped under a TrK, and none was given", what);
	}
	if (k->wrapped == NULL || k->wrapped_len != wrapped_len_of(want)) {
		return failf(err, err_len, KMS_ERR_RANGE,
			     "%s: CipherValue is %zu octets; a wrapped %zu-octet key is %zu", what,
			     k->wrapped_len, want, wrapped_len_of(want));
	}
	if ((tmp = kms_secret_new(k->wrapped_len)) == NULL || (c = EVP_CIPHER_CTX_new()) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, trk, NULL) != 1) {
		r = failf(err, err_len, KMS_ERR_CRYPTO, "%s: cannot set up AES key unwrap", what);
		goto out;
	}
	if (EVP_DecryptUpdate(c, tmp->data, &l1, k->wrapped, (int)k->wrapped_len) != 1 ||
	    EVP_DecryptFinal_ex(c, tmp->data + l1, &l2) != 1) {
		r = failf(err, err_len, KMS_ERR_AUTH,
			  "%s: unwrap failed (RFC 5649 integrity check): wrong TrK, or the "
			  "CipherValue was changed",
			  what);
		goto out;
	}
	if ((size_t)l1 + (size_t)l2 != want) {
		r = failf(err, err_len, KMS_ERR_RANGE, "%s: unwrapped to %zu octets, expected %zu",
			  what, (size_t)l1 + (size_t)l2, want);
		goto out;
	}
	memcpy(out, tmp->data, want);
	r = KMS_OK;
out:
	EVP_CIPHER_CTX_free(c);
	kms_secret_free(tmp);
	return r;
}

int
kms_client_keyset_open(struct kms_client_keys **out, char *err, size_t err_len,
		       const struct kms_client_keyset *ks, const struct kms_client_cert *cert,
		       const uint8_t *trk, enum kms_id_format fmt)
{
	struct kms_client_keys *keys = NULL;
	uint8_t uid[KMS_UID_LEN];
	uint8_t id[KMS_ID_MAX_LEN];
	size_t id_len = 0;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	err_clear(err, err_len);
	if (ks == NULL || cert == NULL || ks->kms_uri == NULL || ks->user_uri == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = keyset_uid(uid, ks, cert)) != KMS_OK ||
	    (r = kms_uid_identifier(id, &id_len, uid, fmt)) != KMS_OK) {
		return failf(err, err_len, r, "cannot compute the identifier");
	}
	if ((keys = kms_secmem_alloc(sizeof(*keys))) == NULL) {
		return failf(err, err_len, KMS_ERR_NOMEM, "out of locked memory");
	}
	if ((r = open_key(err, err_len, &ks->rsk, trk, keys->rsk, sizeof(keys->rsk),
			  "UserDecryptKey")) != KMS_OK ||
	    (r = open_key(err, err_len, &ks->ssk, trk, keys->ssk, sizeof(keys->ssk),
			  "UserSigningKeySSK")) != KMS_OK ||
	    (r = open_key(err, err_len, &ks->pvt, trk, keys->pvt, sizeof(keys->pvt),
			  "UserPubTokenPVT")) != KMS_OK) {
		goto out;
	}
	r = kms_eccsi_validate(cert->kpak, id, id_len, keys->ssk, keys->pvt);
	if (r == KMS_ERR_AUTH) {
		r = failf(
			err, err_len, r,
			"ECCSI pair invalid: [SSK]G != KPAK + [HS]PVT for this identity (RFC 6507 "
			"5.1.2)");
		goto out;
	}
	if (r != KMS_OK) {
		r = failf(err, err_len, r, "ECCSI pair malformed: %s (SSK, PVT or KPAK)",
			  kms_strerror(r));
		goto out;
	}
	if (kms_sakke_point_check(keys->rsk, sizeof(keys->rsk)) != KMS_OK) {
		r = failf(err, err_len, KMS_ERR_POINT, "SAKKE RSK is not a point of the curve");
		goto out;
	}
	r = kms_sakke_validate(cert->z_pub, id, id_len, keys->rsk);
	if (r != KMS_OK) {
		r = failf(err, err_len, r,
			  r == KMS_ERR_AUTH ? "SAKKE RSK invalid: the pairing check of RFC 6508 "
					      "6.1.2 fails for this identity and Z_T"
					    : "SAKKE RSK or Z_T malformed");
		goto out;
	}
	*out = keys;
	keys = NULL;
	r = KMS_OK;
out:
	kms_client_keys_free(keys);
	return r;
}

void
kms_client_keys_free(struct kms_client_keys *keys)
{
	kms_secmem_free(keys, sizeof(*keys));
}

/* ------------------------------------------------------------------------------------------ */
/* Key rotation */

int
kms_client_new_key_open(struct kms_secret **out, char *err, size_t err_len,
			const struct kms_client_key *k, const uint8_t trk[32],
			const char *expected_key_name, const char *what)
{
	struct kms_secret *key = NULL;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	err_clear(err, err_len);
	if (k == NULL || trk == NULL || what == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	/* the reader never keeps a plain new key; a struct filled by hand might */
	if (k->wrap == KMS_CLIENT_KEY_PLAIN) {
		return failf(err, err_len, KMS_ERR_UNSUPPORTED,
			     "%s: a new key must come wrapped under the TrK", what);
	}
	/* KeyName is outside any integrity check: compared only so that a mix-up shows */
	if (expected_key_name != NULL &&
	    (k->key_name == NULL || strcmp(k->key_name, expected_key_name) != 0)) {
		return failf(err, err_len, KMS_ERR_AUTH,
			     "%s: its ds:KeyName is %s the id of the current TrK", what,
			     k->key_name == NULL ? "missing, not" : "not");
	}
	if ((key = kms_secret_new(KMS_CLIENT_NEW_KEY_LEN)) == NULL) {
		return failf(err, err_len, KMS_ERR_NOMEM, "out of locked memory");
	}
	if ((r = open_key(err, err_len, k, trk, key->data, KMS_CLIENT_NEW_KEY_LEN, what)) !=
	    KMS_OK) {
		goto out;
	}
	*out = key;
	key = NULL;
	r = KMS_OK;
out:
	kms_secret_free(key);
	return r;
}
