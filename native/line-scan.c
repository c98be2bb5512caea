/*
 * Native twin of scoring/fast-bytes.ts + the JS line scanner in
 * scoring/line-scan.ts: finds the lines of a JSONL chunk and parses the
 * common record shape {"id","text","probs":{label:p},"model"} straight from
 * UTF-8 bytes. It must accept exactly the lines the JS scanner accepts and
 * produce the same doubles (test/unit/line-scan.test.ts compares them on
 * random bytes); scoring itself stays in JS so Math.log is the only log.
 *
 * Build: scripts/build-native.mjs (optional; without it the JS scanner runs).
 * Compiled with -ffp-contract=off so m * 10 + d is never fused into an FMA:
 * the same IEEE operations as the JS parser, the same bits.
 */
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

#define MAX_ID_LENGTH 1024
#define META 8
#define MAX_LABELS 256

static const double POW10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
  const uint8_t *labels;   /* label bytes, concatenated */
  const int32_t *offsets;  /* k + 1 offsets into labels */
  int k;
  int single;
  double tolerance;
} config_t;

static inline int ws(uint8_t c) { return c == 0x20 || c == 0x09 || c == 0x0d; }

static inline int label_matches(const uint8_t *b, int64_t i, int64_t end, const config_t *c, int j) {
  int64_t n = c->offsets[j + 1] - c->offsets[j];
  if (i + n >= end || b[i + n] != 0x22) return 0;
  /* Labels are short: an inline loop beats a memcmp call, six times a line. */
  const uint8_t *l = c->labels + c->offsets[j];
  for (int64_t x = 0; x < n; x++) if (b[i + x] != l[x]) return 0;
  return 1;
}

/* After a member: whitespace, then `,` (1, whitespace after it skipped) or `}` (0); -1 for anything else. */
static inline int separator(const uint8_t *b, int64_t *at, int64_t end) {
  int64_t i = *at;
  while (i < end && ws(b[i])) i++;
  if (i >= end) return -1;
  uint8_t ch = b[i++];
  if (ch == 0x2c) {
    while (i < end && ws(b[i])) i++;
    *at = i;
    return 1;
  }
  *at = i;
  return ch == 0x7d ? 0 : -1;
}

/* Eight digit values (first digit in the lowest byte) as one number: the SWAR steps of fast_float. */
static inline uint64_t eight_digits(uint64_t x) {
  x = (x * 10) + (x >> 8);
  x = (((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) + (((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
  return x;
}

static const uint64_t POW10I[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/*
 * The run of ASCII digits at b[i…end): appends them to *m (wrapping past 2^64, which the
 * caller's digit count rules out) and returns where the run ends. Eight bytes at a time while
 * eight are left: a digit byte minus '0' is at most 9, anything else sets its high bit in
 * (x | x + 0x76), and a borrow can only come from a byte after the first non-digit.
 */
static inline int64_t digit_run(const uint8_t *b, int64_t i, int64_t end, uint64_t *m) {
  uint64_t acc = *m;
  while (end - i >= 8) {
    uint64_t v;
    memcpy(&v, b + i, 8);
    uint64_t x = v - 0x3030303030303030ULL;
    uint64_t stop = (x | (x + 0x7676767676767676ULL)) & 0x8080808080808080ULL;
    int n = stop ? __builtin_ctzll(stop) >> 3 : 8;
    if (n == 0) { *m = acc; return i; }
    acc = acc * POW10I[n] + eight_digits(x << (8 * (8 - n)));
    i += n;
    if (n < 8) { *m = acc; return i; }
  }
  uint8_t ch;
  while (i < end && (ch = b[i]) >= 0x30 && ch <= 0x39) { acc = acc * 10 + (ch - 0x30); i++; }
  *m = acc;
  return i;
}

static inline int in_range(const uint8_t *b, int64_t i, int64_t end, int lo, int hi) {
  return i < end && b[i] >= lo && b[i] <= hi;
}

/* Number() of a JSON number's text: correctly rounded, as glibc strtod is. */
static double slow_number(const uint8_t *b, int64_t from, int64_t to) {
  char small[128];
  size_t n = (size_t)(to - from);
  char *s = n < sizeof small ? small : malloc(n + 1);
  if (s == NULL) return NAN;
  memcpy(s, b + from, n);
  s[n] = 0;
  double v = strtod(s, NULL);
  if (s != small) free(s);
  return v;
}

/*
 * A JSON number at b[i…] with the JS parser's grammar: its end, and the exact operands of its
 * value (*mant times or divided by 10^|*pw|, done by finish_line); -1 when malformed.
 * The JS parser accumulates the mantissa in doubles; below 2^53 every step is exact there, so an
 * integer gives the same value (and is far quicker). With at most 18 digits in all the integer is
 * exact; past that (or past 2^53) both take the slow, correctly rounded path, as does the JS
 * parser: the same double either way.
 */
static inline int64_t parse_number(const uint8_t *b, int64_t i, int64_t end, double *mant, int *pw) {
  int64_t n0 = i;
  int neg = i < end && b[i] == 0x2d;
  if (neg) i++;
  if (i >= end) return -1;
  uint8_t ch = b[i];
  uint64_t m = 0;
  int64_t d0 = i;
  if (ch == 0x30) i++;
  else if (ch >= 0x31 && ch <= 0x39) i = digit_run(b, i, end, &m);
  else return -1;
  int64_t digits = i - d0;
  double exp = 0;
  if (i < end && b[i] == 0x2e) {
    i++;
    int64_t f0 = i;
    i = digit_run(b, i, end, &m);
    if (i == f0) return -1;
    digits += i - f0;
    exp = (double)(f0 - i);
  }
  if (i < end && (b[i] | 0x20) == 0x65) {
    i++;
    int eneg = 0;
    if (i < end && (b[i] == 0x2b || b[i] == 0x2d)) { eneg = b[i] == 0x2d; i++; }
    int64_t e0 = i;
    double e = 0;
    while (i < end && (ch = b[i]) >= 0x30 && ch <= 0x39) { if (e < 1e6) e = e * 10 + (ch - 0x30); i++; }
    if (i == e0) return -1;
    exp += eneg ? -e : e;
  }
  /* Divided later, all of a line's together: one division after another's parse waited on the
   * divider each time; issued back to back they overlap. */
  if (digits <= 18 && m < 9007199254740992ULL && exp >= -22 && exp <= 22) {
    *mant = neg ? -(double)m : (double)m;
    *pw = (int)exp;
  } else {
    *mant = slow_number(b, n0, i);
    *pw = 0;
  }
  return i;
}

/*
 * A string's content from b[v0…]: the index of the quote that ends it, and its length in UTF-16
 * units; -1 when the fast path cannot take it. The first quote ends the string unless an escape
 * comes before it, and escapes, control characters and malformed UTF-8 all send the line to the
 * slow path, as the JS scanner does. (A quote byte never occurs inside a UTF-8 sequence.) The
 * check loop vectorises.
 */
/* UTF-16 length of b[from, to) when it is well-formed UTF-8 (Unicode table 3-7, as TextDecoder's fatal mode checks), else -1. */
static int64_t utf8_units(const uint8_t *b, int64_t from, int64_t to) {
  int64_t units = 0;
  for (int64_t i = from; i < to;) {
    uint8_t ch = b[i];
    if (ch < 0x80) { i++; units++; }
    else if (ch >= 0xc2 && ch <= 0xdf) {
      if (!in_range(b, i + 1, to, 0x80, 0xbf)) return -1;
      i += 2;
      units++;
    } else if (ch >= 0xe0 && ch <= 0xef) {
      if (!in_range(b, i + 1, to, ch == 0xe0 ? 0xa0 : 0x80, ch == 0xed ? 0x9f : 0xbf) || !in_range(b, i + 2, to, 0x80, 0xbf)) return -1;
      i += 3;
      units++;
    } else if (ch >= 0xf0 && ch <= 0xf4) {
      if (!in_range(b, i + 1, to, ch == 0xf0 ? 0x90 : 0x80, ch == 0xf4 ? 0x8f : 0xbf) || !in_range(b, i + 2, to, 0x80, 0xbf) || !in_range(b, i + 3, to, 0x80, 0xbf)) return -1;
      i += 4;
      units += 2; /* a surrogate pair */
    } else {
      return -1;
    }
  }
  return units;
}

static inline int64_t parse_string(const uint8_t *b, int64_t v0, int64_t end, int64_t *unitsOut) {
  const uint8_t *q = memchr(b + v0, 0x22, (size_t)(end - v0));
  if (q == NULL) return -1;
  int64_t qe = q - b, units = 0;
  unsigned bad = 0, high = 0;
  for (int64_t p = v0; p < qe; p++) {
    uint8_t x = b[p];
    bad |= (unsigned)(x < 0x20) | (unsigned)(x == 0x5c);
    high |= x;
  }
  if (bad) return -1;
  if ((high & 0x80) == 0) units = qe - v0;
  else if ((units = utf8_units(b, v0, qe)) < 0) return -1;
  *unitsOut = units;
  return qe;
}

/*
 * The checks and outputs both parsers share once a line's structure is read: the id's length,
 * each value in [0, 1] (divided now, see parse_number), the sum for single-label tasks, the meta
 * slots. Returns lineEnd, or -1.
 */
static int64_t finish_line(const config_t *c, int count, const int *order, const double *mant, const int *pw, double *row,
                           int64_t idUnits, const int64_t spans[6], int32_t *meta, int64_t lineEnd) {
  if (idUnits == 0 || idUnits > MAX_ID_LENGTH) return -1;
  for (int j = 0; j < count; j++) {
    /* m * 10^p or m / 10^-p: one correctly rounded operation on exact operands (m < 2^53, p <= 22). */
    double v = pw[j] >= 0 ? mant[j] * POW10[pw[j]] : mant[j] / POW10[-pw[j]];
    if (!(v >= 0 && v <= 1)) return -1;
    row[order[j]] = v;
  }
  if (c->single) {
    double sum = 0;
    for (int j = 0; j < count; j++) sum += row[order[j]];
    if (fabs(sum - 1) > c->tolerance) return -1;
  }
  for (int x = 0; x < 6; x++) meta[2 + x] = (int32_t)spans[x];
  return lineEnd;
}

/* Where parse_line found each number (by order of appearance), for learning a template. */
typedef struct {
  int64_t numStart[MAX_LABELS], numEnd[MAX_LABELS];
  int label[MAX_LABELS];
} learn_t;

/* One line at b[start…]; its end (newline or `end`) when it takes the fast path, else -1. With `learn`, records where its numbers are. */
static int64_t parse_line(const uint8_t *b, int64_t start, int64_t end, const config_t *c, double *row, uint8_t *present, int32_t *meta, learn_t *learn) {
  const int k = c->k;
  int order[MAX_LABELS];
  double mant[MAX_LABELS];
  int pw[MAX_LABELS];
  int count = 0;
  for (int j = 0; j < k; j++) { row[j] = 0; present[j] = 0; }
  int64_t id0 = -1, id1 = -1, t0 = -1, t1 = -1, m0 = -1, m1 = -1, idUnits = 0;
  int seen = 0;
  int64_t i = start;
  while (i < end && ws(b[i])) i++;
  if (i >= end || b[i] != 0x7b) return -1;
  i++;
  while (i < end && ws(b[i])) i++;
  for (;;) {
    if (i >= end || b[i] != 0x22) return -1;
    int64_t k0 = i + 1, k1 = k0;
    while (k1 < end && b[k1] != 0x22) k1++;
    if (k1 >= end) return -1;
    int64_t len = k1 - k0;
    int bit = 0;
    if (len == 2) { if (b[k0] == 'i' && b[k0 + 1] == 'd') bit = 1; }
    else if (len == 4) { if (memcmp(b + k0, "text", 4) == 0) bit = 2; }
    else if (len == 5) {
      if (memcmp(b + k0, "probs", 5) == 0) bit = 4;
      else if (memcmp(b + k0, "model", 5) == 0) bit = 8;
    }
    if (bit == 0 || (seen & bit) != 0) return -1;
    seen |= bit;
    i = k1 + 1;
    while (i < end && ws(b[i])) i++;
    if (i >= end || b[i] != 0x3a) return -1;
    i++;
    while (i < end && ws(b[i])) i++;
    if (i >= end) return -1;
    if (bit == 4) {
      if (b[i] != 0x7b) return -1;
      i++;
      while (i < end && ws(b[i])) i++;
      if (i >= end || b[i] == 0x7d) return -1;
      for (;;) {
        if (i >= end || b[i] != 0x22) return -1;
        int li = -1;
        if (count < k && label_matches(b, i + 1, end, c, count)) li = count;
        else for (int j = 0; j < k; j++) if (j != count && label_matches(b, i + 1, end, c, j)) { li = j; break; }
        if (li == -1 || present[li]) return -1;
        i += (c->offsets[li + 1] - c->offsets[li]) + 2;
        while (i < end && ws(b[i])) i++;
        if (i >= end || b[i] != 0x3a) return -1;
        i++;
        while (i < end && ws(b[i])) i++;
        int64_t n0 = i;
        i = parse_number(b, i, end, &mant[count], &pw[count]);
        if (i < 0) return -1;
        if (learn != NULL) { learn->numStart[count] = n0; learn->numEnd[count] = i; learn->label[count] = li; }
        present[li] = 1;
        order[count++] = li;
        int more = separator(b, &i, end);
        if (more < 0) return -1;
        if (!more) break;
      }
    } else {
      if (b[i] != 0x22) return -1;
      int64_t v0 = i + 1, units = 0;
      int64_t qe = parse_string(b, v0, end, &units);
      if (qe < 0) return -1;
      i = qe;
      if (bit == 1) { id0 = v0; id1 = i; idUnits = units; }
      else if (bit == 2) { t0 = v0; t1 = i; }
      else { m0 = v0; m1 = i; }
      i++;
    }
    int more = separator(b, &i, end);
    if (more < 0) return -1;
    if (!more) break;
  }
  while (i < end && ws(b[i])) i++;
  if (i != end && b[i] != 0x0a) return -1;
  if ((seen & 7) != 7) return -1;
  const int64_t spans[6] = {id0, id1, t0, t1, m0, m1};
  return finish_line(c, count, order, mant, pw, row, idUnits, spans, meta, i);
}


/*
 * A line's shape, learned from one parse_line accepted: the bytes between its values (keys,
 * punctuation, whitespace, exactly as they were) and what each value is. A later line with the
 * same bytes between values that parse as the same kinds is the line parse_line would have read
 * the same way, since its structure is those bytes; reading it by template skips the key and
 * label matching, which took half of parse_line's time on files written by one program.
 */
#define TEMPLATE_BYTES 2048
#define SLOT_ID (-1)
#define SLOT_TEXT (-2)
#define SLOT_MODEL (-3)

typedef struct {
  int valid, slots;
  int kind[MAX_LABELS + 3];            /* SLOT_ID/TEXT/MODEL, or the label index of a number */
  int32_t litOff[MAX_LABELS + 4], litLen[MAX_LABELS + 4]; /* literal before each slot; [slots]: after the last */
  uint8_t lit[TEMPLATE_BYTES];
} template_t;

/* Whether a[0, len) equals b[0, len): eight bytes at a time, inline (a memcmp call per literal was a fifth of the time). */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, int32_t len) {
  int32_t x = 0;
  for (; x + 8 <= len; x += 8) {
    uint64_t u, v;
    memcpy(&u, a + x, 8);
    memcpy(&v, b + x, 8);
    if (u != v) return 0;
  }
  for (; x < len; x++) if (a[x] != b[x]) return 0;
  return 1;
}

/* Learns `t` from the line at b[start, lineEnd) that parse_line accepted (meta: its string spans). */
static void learn_template(template_t *t, const uint8_t *b, int64_t start, int64_t lineEnd, const int32_t *meta, const learn_t *l, int count) {
  int64_t from[MAX_LABELS + 3], to[MAX_LABELS + 3];
  int kind[MAX_LABELS + 3], n = 0;
  const int kinds[3] = {SLOT_ID, SLOT_TEXT, SLOT_MODEL};
  for (int x = 0; x < 3; x++) {
    if (meta[2 + 2 * x] < 0) continue;
    from[n] = meta[2 + 2 * x]; to[n] = meta[3 + 2 * x]; kind[n++] = kinds[x];
  }
  for (int j = 0; j < count; j++) { from[n] = l->numStart[j]; to[n] = l->numEnd[j]; kind[n++] = l->label[j]; }
  /* By position (insertion sort: a few slots). */
  for (int x = 1; x < n; x++) {
    int64_t f = from[x], e = to[x];
    int kk = kind[x], y = x - 1;
    while (y >= 0 && from[y] > f) { from[y + 1] = from[y]; to[y + 1] = to[y]; kind[y + 1] = kind[y]; y--; }
    from[y + 1] = f; to[y + 1] = e; kind[y + 1] = kk;
  }
  t->valid = 0;
  int32_t used = 0;
  int64_t at = start;
  for (int x = 0; x <= n; x++) {
    int64_t until = x < n ? from[x] : lineEnd;
    int64_t len = until - at;
    if (len < 0 || used + len > TEMPLATE_BYTES) return;
    memcpy(t->lit + used, b + at, (size_t)len);
    t->litOff[x] = used;
    t->litLen[x] = (int32_t)len;
    used += (int32_t)len;
    if (x < n) { t->kind[x] = kind[x]; at = to[x]; }
  }
  t->slots = n;
  t->valid = 1;
}

/* The line at b[start…] read by template: its end as parse_line would return it, or -1 when it does not fit (parse_line then decides). */
static int64_t match_template(const template_t *t, const uint8_t *b, int64_t start, int64_t end, const config_t *c, double *row, uint8_t *present, int32_t *meta) {
  int order[MAX_LABELS];
  double mant[MAX_LABELS];
  int pw[MAX_LABELS];
  int count = 0;
  int64_t spans[6] = {-1, -1, -1, -1, -1, -1}, idUnits = 0;
  int64_t i = start;
  for (int x = 0; x <= t->slots; x++) {
    int32_t len = t->litLen[x];
    if (end - i < len || !same_bytes(b + i, t->lit + t->litOff[x], len)) return -1;
    i += len;
    if (x == t->slots) break;
    int kind = t->kind[x];
    if (kind >= 0) {
      i = parse_number(b, i, end, &mant[count], &pw[count]);
      if (i < 0) return -1;
      order[count++] = kind;
    } else {
      int64_t units = 0, q = parse_string(b, i, end, &units);
      if (q < 0) return -1;
      int at = kind == SLOT_ID ? 0 : kind == SLOT_TEXT ? 2 : 4;
      spans[at] = i; spans[at + 1] = q;
      if (kind == SLOT_ID) idUnits = units;
      i = q;
    }
  }
  if (i != end && b[i] != 0x0a) return -1;
  for (int j = 0; j < c->k; j++) { row[j] = 0; present[j] = 0; }
  for (int j = 0; j < count; j++) present[order[j]] = 1;
  return finish_line(c, count, order, mant, pw, row, idUnits, spans, meta, i);
}

static int count_present(const uint8_t *present, int k) {
  int n = 0;
  for (int j = 0; j < k; j++) n += present[j];
  return n;
}

/* MurmurHash3 x86 32-bit, as scoring/hash.ts murmur3 (same integer steps, so the same bits). */
static uint32_t murmur3(const uint8_t *data, size_t len, uint32_t seed) {
  const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
  uint32_t h = seed;
  size_t blocks = len & ~(size_t)3;
  for (size_t i = 0; i < blocks; i += 4) {
    uint32_t k = (uint32_t)data[i] | ((uint32_t)data[i + 1] << 8) | ((uint32_t)data[i + 2] << 16) | ((uint32_t)data[i + 3] << 24);
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
    h = (h << 13) | (h >> 19);
    h = h * 5 + 0xe6546b64u;
  }
  size_t tail = len & 3;
  if (tail > 0) {
    uint32_t k = 0;
    if (tail == 3) k ^= (uint32_t)data[blocks + 2] << 16;
    if (tail >= 2) k ^= (uint32_t)data[blocks + 1] << 8;
    k ^= data[blocks];
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
  }
  h ^= (uint32_t)len;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* Bytes a + b + c in one buffer (the stack one when they fit); NULL when out of memory. */
static uint8_t *concat3(uint8_t *stack, size_t room, const uint8_t *a, size_t na, const uint8_t *b, size_t nb, const uint8_t *c, size_t nc) {
  size_t n = na + nb + nc;
  uint8_t *out = n <= room ? stack : malloc(n);
  if (out == NULL) return NULL;
  if (na > 0) memcpy(out, a, na);
  if (nb > 0) memcpy(out + na, b, nb);
  if (nc > 0) memcpy(out + na + nb, c, nc);
  return out;
}

/* GCC cannot see that concat3 fills every byte murmur3 reads (n = nseed + nid of them) once this is inlined into keys_js. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* uniform01Key of scoring/hash.ts over seed bytes + id bytes: 53 bits from two hashes. */
static double audit_draw(const uint8_t *seed, size_t nseed, const uint8_t *id, size_t nid) {
  uint8_t stack[1024];
  uint8_t *key = concat3(stack, sizeof stack, seed, nseed, id, nid, NULL, 0);
  if (key == NULL) return NAN;
  size_t n = nseed + nid;
  double hi = (double)(murmur3(key, n, 0x9747b28cu) >> 5);
  double lo = (double)(murmur3(key, n, 0x5bd1e995u) >> 6);
  if (key != stack) free(key);
  return (hi * 67108864.0 + lo) / 9007199254740992.0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int has_key(const uint64_t *sorted, size_t n, uint64_t key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] == key) return 1;
    if (sorted[mid] < key) lo = mid + 1; else hi = mid;
  }
  return 0;
}

/* exclusionKey(id, model) of scoring/hash.ts: murmur3 of `${id}\0${model}` under two seeds; -1 when out of memory. */
static int exclusion_hit(const uint64_t *sorted, size_t n, const uint8_t *id, size_t nid, const uint8_t *model, size_t nmodel) {
  static const uint8_t zero = 0;
  uint8_t stack[1024];
  uint8_t *key = concat3(stack, sizeof stack, id, nid, &zero, 1, model, nmodel);
  if (key == NULL) return -1;
  size_t len = nid + 1 + nmodel;
  uint64_t k = ((uint64_t)murmur3(key, len, 0x2545f491u) << 32) | murmur3(key, len, 0x9e3779b9u);
  if (key != stack) free(key);
  return has_key(sorted, n, k);
}

/* isExcluded of scoring/hash.ts: (id, model), and for a record with a model (non-NULL) also (id, no model); -1 when out of memory. */
static int is_excluded(const uint64_t *sorted, size_t n, const uint8_t *id, size_t nid, const uint8_t *model, size_t nmodel) {
  int hit = exclusion_hit(sorted, n, id, nid, model, model == NULL ? 0 : nmodel);
  if (hit == 0 && model != NULL) hit = exclusion_hit(sorted, n, id, nid, NULL, 0);
  return hit;
}

/*
 * scan(buf, from, labelBytes, labelOffsets, single, tolerance, maxLineBytes, meta, probs, present
 *      [, seedBytes, exclude, draws]) → lines
 * Scans lines from byte `from` until `buf` ends or `meta` is full (8 int32 per line:
 * end, fast, idStart, idEnd, textStart, textEnd, modelStart, modelEnd). With the three
 * optional arguments, a fast line whose (id, model) is in `exclude` (sorted keys, see
 * exclusionKey in scoring/hash.ts) gets fast = 3, and `draws` (when not empty) receives
 * each other fast line's audit draw, uniform01 of seedBytes + id bytes.
 */
napi_value scan_js(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 10 && argc != 13) { napi_throw_error(env, NULL, "line-scan: 10 or 13 arguments expected"); return NULL; }
  size_t n, nl, no, nmeta, nprobs, npresent;
  void *pb, *plabels, *poffsets, *pmeta, *pprobs, *ppresent;
  int ok = typed(env, argv[0], napi_uint8_array, &pb, &n)
    && typed(env, argv[2], napi_uint8_array, &plabels, &nl)
    && typed(env, argv[3], napi_int32_array, &poffsets, &no)
    && typed(env, argv[7], napi_int32_array, &pmeta, &nmeta)
    && typed(env, argv[8], napi_float64_array, &pprobs, &nprobs)
    && typed(env, argv[9], napi_uint8_array, &ppresent, &npresent);
  const uint8_t *b = pb;
  const uint8_t *labels = plabels;
  const int32_t *offsets = poffsets;
  int32_t *meta = pmeta;
  double *probs = pprobs;
  uint8_t *present = ppresent;
  int64_t from, maxLine;
  bool single;
  double tolerance;
  CHECK(napi_get_value_int64(env, argv[1], &from));
  CHECK(napi_get_value_bool(env, argv[4], &single));
  CHECK(napi_get_value_double(env, argv[5], &tolerance));
  CHECK(napi_get_value_int64(env, argv[6], &maxLine));
  int k = ok ? (int)no - 1 : 0;
  if (!ok || k < 1 || k > MAX_LABELS || offsets[k] > (int32_t)nl || n > INT32_MAX || from < 0 || from > (int64_t)n) {
    napi_throw_error(env, NULL, "line-scan: bad arguments");
    return NULL;
  }
  for (int j = 0; j < k; j++) {
    if (offsets[j] < 0 || offsets[j + 1] < offsets[j]) { napi_throw_error(env, NULL, "line-scan: bad label offsets"); return NULL; }
  }
  config_t c = { labels, offsets, k, single, tolerance };
  /* Optional: audit draws (seed bytes, one double per line) and the exclusion keys. */
  const uint8_t *seed = NULL;
  const uint64_t *exclude = NULL;
  double *draws = NULL;
  size_t nseed = 0, nexclude = 0, ndraws = 0;
  if (argc == 13) {
    void *pseed, *pexclude, *pdraws;
    if (!typed(env, argv[10], napi_uint8_array, &pseed, &nseed) || !typed(env, argv[11], napi_biguint64_array, &pexclude, &nexclude)
        || !typed(env, argv[12], napi_float64_array, &pdraws, &ndraws)) {
      napi_throw_error(env, NULL, "line-scan: bad draw/exclusion arguments");
      return NULL;
    }
    seed = pseed;
    exclude = pexclude;
    draws = ndraws > 0 ? pdraws : NULL;
  }
  size_t cap = nmeta / META;
  if (draws != NULL && ndraws < cap) cap = ndraws;
  if (nprobs / (size_t)k < cap) cap = nprobs / (size_t)k;
  if (npresent / (size_t)k < cap) cap = npresent / (size_t)k;
  int64_t start = from;
  size_t lines = 0;
  /* Per call, on the stack (thread-local storage in a loaded module costs a call per access): a
   * batch's lines come from one chunk, most often from one writer. */
  template_t tpl;
  learn_t learn;
  tpl.valid = 0;
  while (start <= (int64_t)n && lines < cap) {
    int32_t *mt = meta + lines * META;
    int64_t e = tpl.valid ? match_template(&tpl, b, start, (int64_t)n, &c, probs + lines * k, present + lines * k, mt) : -1;
    if (e == -1) {
      e = parse_line(b, start, (int64_t)n, &c, probs + lines * k, present + lines * k, mt, &learn);
      /* The next lines likely share this one's shape. */
      if (e != -1) learn_template(&tpl, b, start, e, mt, &learn, count_present(present + lines * k, k));
    }
    if (e != -1 && e - start <= maxLine) {
      mt[1] = 1;
      const uint8_t *id = b + mt[2];
      size_t nid = (size_t)(mt[3] - mt[2]);
      if (nexclude > 0) {
        int hit = is_excluded(exclude, nexclude, id, nid, mt[6] < 0 ? NULL : b + mt[6], (size_t)(mt[7] - mt[6]));
        if (hit < 0) { napi_throw_error(env, NULL, "line-scan: out of memory"); return NULL; }
        if (hit) mt[1] = 3;
      }
      if (draws != NULL) draws[lines] = mt[1] == 3 ? NAN : audit_draw(seed, nseed, id, nid);
    } else {
      const uint8_t *hit = start < (int64_t)n ? memchr(b + start, 0x0a, (size_t)((int64_t)n - start)) : NULL;
      e = hit ? hit - b : (int64_t)n;
      mt[1] = 0;
    }
    mt[0] = (int32_t)e;
    lines++;
    start = e + 1;
  }
  napi_value out;
  CHECK(napi_create_int64(env, (int64_t)lines, &out));
  return out;
}

/* Whether bytes decode to the same string with and without BOM handling, i.e. do not start with one (apache-arrow's decoder drops it). */
static inline int no_bom(const uint8_t *p, size_t n) {
  return !(n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf);
}

/*
 * keys(seedBytes, exclude, n, idData, idOffsets, modelData, modelOffsets, modelValid, hasModel, auditing, draws)
 * For Arrow rows with UTF-8 ids: draws[i] = the audit draw of row i's id (uniform01 of seed + id
 * bytes), or +Infinity when not auditing; -Infinity when (id, model) may be excluded (isExcluded),
 * or when the bytes would not decode to the string JS hashes (bad UTF-8, a leading BOM). The
 * settler never settles a row whose draw is -Infinity, so JS decides those exactly.
 */
napi_value keys_js(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) { napi_throw_error(env, NULL, "keys: 11 arguments expected"); return NULL; }
  void *pseed, *pexclude, *pid, *pidOff, *pmodel, *pmodelOff, *pvalid, *pdraws;
  size_t nseed, nexclude, nid, nidOff, nmodel, nmodelOff, nvalid, ndraws;
  int64_t n;
  bool hasModel, auditing;
  int ok = typed(env, argv[0], napi_uint8_array, &pseed, &nseed)
    && typed(env, argv[1], napi_biguint64_array, &pexclude, &nexclude)
    && typed(env, argv[3], napi_uint8_array, &pid, &nid)
    && typed(env, argv[4], napi_int32_array, &pidOff, &nidOff)
    && typed(env, argv[5], napi_uint8_array, &pmodel, &nmodel)
    && typed(env, argv[6], napi_int32_array, &pmodelOff, &nmodelOff)
    && typed(env, argv[7], napi_uint8_array, &pvalid, &nvalid)
    && typed(env, argv[10], napi_float64_array, &pdraws, &ndraws);
  CHECK(napi_get_value_int64(env, argv[2], &n));
  CHECK(napi_get_value_bool(env, argv[8], &hasModel));
  CHECK(napi_get_value_bool(env, argv[9], &auditing));
  const int32_t *idOff = pidOff, *modelOff = pmodelOff;
  if (!ok || n < 0 || nidOff < (size_t)n + 1 || ndraws < (size_t)n || (hasModel && nmodelOff < (size_t)n + 1)
      || (nvalid != 0 && nvalid * 8 < (size_t)n)) {
    napi_throw_error(env, NULL, "keys: bad arguments");
    return NULL;
  }
  const uint8_t *ids = pid, *models = pmodel, *valid = pvalid, *seed = pseed;
  const uint64_t *exclude = pexclude;
  double *draws = pdraws;
  for (int64_t i = 0; i < n; i++) {
    int64_t a = idOff[i], z = idOff[i + 1];
    if (a < 0 || z < a || (size_t)z > nid || utf8_units(ids, a, z) < 0 || !no_bom(ids + a, (size_t)(z - a))) { draws[i] = -INFINITY; continue; }
    if (nexclude > 0) {
      const uint8_t *m = NULL;
      size_t nm = 0;
      if (hasModel && (nvalid == 0 || (valid[i >> 3] >> (i & 7)) & 1)) {
        int64_t ma = modelOff[i], mz = modelOff[i + 1];
        if (ma < 0 || mz < ma || (size_t)mz > nmodel || utf8_units(models, ma, mz) < 0 || !no_bom(models + ma, (size_t)(mz - ma))) { draws[i] = -INFINITY; continue; }
        m = models + ma;
        nm = (size_t)(mz - ma);
      }
      int hit = is_excluded(exclude, nexclude, ids + a, (size_t)(z - a), m, nm);
      if (hit < 0) { napi_throw_error(env, NULL, "keys: out of memory"); return NULL; }
      if (hit) { draws[i] = -INFINITY; continue; }
    }
    draws[i] = auditing ? audit_draw(seed, nseed, ids + a, (size_t)(z - a)) : INFINITY;
  }
  return NULL;
}
