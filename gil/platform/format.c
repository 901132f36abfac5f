/*
 * platform/format.c - the library's own formatting of strings and numbers
 * (gil__fmt_*), so that it never calls the printf family.
 *
 * Layer: platform (the bottom; includes nothing of libgil above it).
 *
 * Why.  libgil is embedded in other people's processes.  A host may define
 * its own snprintf/vsnprintf/fprintf (issue 14: a statically linked
 * interpreter had its own, without %llu; gil_stats_format picked them up
 * and crashed in strlen).  Symbols named gil__fmt_* and hidden cannot be
 * interposed; tests/check_no_printf.sh checks that libgil.a references no
 * printf-family function, and tests/interpose_host.c runs every writer in
 * a host that replaces them.
 *
 * Doubles are converted exactly, as glibc's printf does: a finite double is
 * m x 2^e with integer m, so its decimal expansion is finite: m x 2^e for
 * e >= 0, and m x 5^-e / 10^-e for e < 0.  That integer is built in base
 * 10^9 limbs (at most 767 digits, for the smallest subnormals), and the
 * digits are rounded to the precision wanted, ties to even (the default
 * rounding mode's rule).  tests/test_format.c compares the results with the
 * C library's printf over half a million values.  The cost is a few
 * multiplications per limb: microseconds for the extreme exponents, far
 * less for the figures the library prints.
 */
#include "platform/platform.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* The buffer                                                               */

void gil__fmt_init(gil__fmt_t *f, char *buf, size_t cap)
{
    memset(f, 0, sizeof *f);
    f->buf = cap > 0 ? buf : NULL;
    f->cap = f->buf != NULL ? cap : 0;
    if (f->cap > 0)
        f->buf[0] = '\0';
}

void gil__fmt_init_stream(gil__fmt_t *f, char *buf, size_t cap, FILE *out)
{
    memset(f, 0, sizeof *f);
    f->buf = buf;
    f->cap = cap;
    f->out = out;
}

bool gil__fmt_flush(gil__fmt_t *f)
{
    if (f->out != NULL && f->used > 0) {
        if (fwrite(f->buf, 1, f->used, f->out) != f->used)
            f->error = true;
        f->used = 0;
    }
    return !f->error;
}

void gil__fmt_mem(gil__fmt_t *f, const char *s, size_t n)
{
    f->len += n;
    if (f->out != NULL) {
        while (n > 0) {
            if (f->used == f->cap)
                gil__fmt_flush(f);
            size_t k = f->cap - f->used < n ? f->cap - f->used : n;
            memcpy(f->buf + f->used, s, k);
            f->used += k;
            s += k;
            n -= k;
        }
        return;
    }
    if (f->used + 1 >= f->cap)
        return; /* full (or no buffer): only counted */
    size_t k = f->cap - 1 - f->used < n ? f->cap - 1 - f->used : n;
    memcpy(f->buf + f->used, s, k);
    f->used += k;
    f->buf[f->used] = '\0';
}

void gil__fmt_str(gil__fmt_t *f, const char *s)
{
    gil__fmt_mem(f, s, strlen(s));
}

void gil__fmt_char(gil__fmt_t *f, char c)
{
    gil__fmt_mem(f, &c, 1);
}

static void put_zeros(gil__fmt_t *f, unsigned n)
{
    static const char zeros[16] = "0000000000000000";
    for (; n > 16; n -= 16)
        gil__fmt_mem(f, zeros, 16);
    gil__fmt_mem(f, zeros, n);
}

/* ------------------------------------------------------------------------ */
/* Integers                                                                 */

/* The digits of v in base (10 or 16), at least min_digits of them. */
static void put_unsigned(gil__fmt_t *f, uint64_t v, unsigned base, unsigned min_digits)
{
    char tmp[64];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    if (min_digits > n)
        put_zeros(f, min_digits - (unsigned)n);
    gil__fmt_mem(f, tmp + sizeof tmp - n, n);
}

void gil__fmt_u64(gil__fmt_t *f, uint64_t v)
{
    put_unsigned(f, v, 10, 1);
}

void gil__fmt_i64(gil__fmt_t *f, int64_t v)
{
    if (v < 0)
        gil__fmt_char(f, '-');
    put_unsigned(f, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10, 1);
}

void gil__fmt_hex(gil__fmt_t *f, uint64_t v, unsigned min_digits)
{
    put_unsigned(f, v, 16, min_digits);
}

void gil__fmt_scaled(gil__fmt_t *f, uint64_t v, unsigned scale, bool trim)
{
    if (scale > 18)
        scale = 18;
    uint64_t div = 1;
    for (unsigned i = 0; i < scale; i++)
        div *= 10;
    uint64_t frac = v % div;
    put_unsigned(f, v / div, 10, 1);
    if (trim) {
        for (; scale > 0 && frac % 10 == 0; scale--)
            frac /= 10;
    }
    if (scale > 0) {
        gil__fmt_char(f, '.');
        put_unsigned(f, frac, 10, scale);
    }
}

/* ------------------------------------------------------------------------ */
/* Doubles: the exact decimal expansion                                     */

#define DEC_DIGITS 800         /* digits of any finite double: at most 767 */
#define LIMB_BASE 1000000000u  /* 10^9 */
#define LIMBS 96               /* DEC_DIGITS / 9, rounded up, and some */
#define MAX_PRECISION 40u

/* value = 0.d[0] d[1] ... d[n-1] x 10^point, d[0] != '0' (n > 0). */
typedef struct decimal {
    char d[DEC_DIGITS];
    int n;
    int point;
} decimal_t;

/* big *= mul (mul < 2^32), base-10^9 limbs, least significant first. */
static void big_mul(uint32_t *limb, int *nl, uint32_t mul)
{
    uint64_t carry = 0;
    for (int i = 0; i < *nl; i++) {
        uint64_t p = (uint64_t)limb[i] * mul + carry;
        limb[i] = (uint32_t)(p % LIMB_BASE);
        carry = p / LIMB_BASE;
    }
    while (carry != 0 && *nl < LIMBS) {
        limb[(*nl)++] = (uint32_t)(carry % LIMB_BASE);
        carry /= LIMB_BASE;
    }
}

/* The exact digits of a finite x > 0. */
static void exact_decimal(double x, decimal_t *out)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    int e = -1074; /* subnormal */
    if (biased != 0) {
        m |= UINT64_C(1) << 52;
        e = biased - 1075;
    }
    while ((m & 1) == 0) { /* fewer factors to multiply in */
        m >>= 1;
        e++;
    }
    uint32_t limb[LIMBS];
    int nl = 1;
    limb[0] = (uint32_t)(m % LIMB_BASE);
    if (m >= LIMB_BASE)
        limb[nl++] = (uint32_t)(m / LIMB_BASE); /* m < 2^53 < 10^18 */
    static const uint32_t pow5[14] = {1,       5,        25,        125,        625,        3125,      15625,
                                      78125,   390625,   1953125,   9765625,    48828125,  244140625,
                                      1220703125};
    int shift = e < 0 ? -e : 0; /* value = big / 10^shift */
    for (int left = e; left > 0; left -= 29)
        big_mul(limb, &nl, (uint32_t)1 << (left > 29 ? 29 : left));
    for (int left = shift; left > 0; left -= 13)
        big_mul(limb, &nl, pow5[left > 13 ? 13 : left]);

    gil__fmt_t f;
    gil__fmt_init(&f, out->d, sizeof out->d);
    put_unsigned(&f, limb[nl - 1], 10, 1);
    for (int i = nl - 2; i >= 0; i--)
        put_unsigned(&f, limb[i], 10, 9);
    out->n = (int)f.used;
    out->point = out->n - shift;
}

/* x rounded to `keep` digits (ties to even) in r: r_len digits (missing ones
 * are zeros), value 0.r x 10^point.  keep <= 0 rounds to units of
 * 10^point: 0 or 1 of them. */
typedef struct rounded {
    char r[DEC_DIGITS + MAX_PRECISION + 2];
    int len;
    int point;
} rounded_t;

static bool round_up(const decimal_t *x, int keep)
{
    if (keep < 0 || keep >= x->n)
        return false;
    char next = x->d[keep];
    if (next != '5')
        return next > '5';
    for (int i = keep + 1; i < x->n; i++)
        if (x->d[i] != '0')
            return true;
    return keep > 0 && (x->d[keep - 1] - '0') % 2 == 1; /* a tie */
}

static void round_decimal(const decimal_t *x, int keep, rounded_t *out)
{
    out->point = x->point;
    out->len = keep <= 0 ? 0 : keep < x->n ? keep : x->n;
    memcpy(out->r, x->d, (size_t)out->len);
    if (!round_up(x, keep))
        return;
    int i = out->len - 1;
    while (i >= 0 && out->r[i] == '9')
        out->r[i--] = '0';
    if (i >= 0) {
        out->r[i]++;
        return;
    }
    /* 999 -> 1000: one more integer digit; the trailing zero is implied. */
    memmove(out->r + 1, out->r, (size_t)out->len);
    out->r[0] = '1';
    out->point++;
    if (out->len == 0)
        out->len = 1;
}

static char digit_at(const rounded_t *r, int i)
{
    return i >= 0 && i < r->len ? r->r[i] : '0';
}

/* Integer part, then `decimals` digits after the point (the last
 * significant ones only, if trim). */
static void put_positional(gil__fmt_t *f, const rounded_t *r, int decimals, bool trim)
{
    if (r->point <= 0)
        gil__fmt_char(f, '0');
    else if (r->len >= r->point)
        gil__fmt_mem(f, r->r, (size_t)r->point);
    else {
        gil__fmt_mem(f, r->r, (size_t)r->len);
        put_zeros(f, (unsigned)(r->point - r->len));
    }
    if (trim)
        while (decimals > 0 && digit_at(r, r->point + decimals - 1) == '0')
            decimals--;
    if (decimals <= 0)
        return;
    gil__fmt_char(f, '.');
    for (int j = 0; j < decimals; j++)
        gil__fmt_char(f, digit_at(r, r->point + j));
}

/* Sign, nan, inf; returns true if nothing else is to be written. */
static bool put_special(gil__fmt_t *f, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (bits >> 63)
        gil__fmt_char(f, '-');
    if (v != v) {
        gil__fmt_str(f, "nan");
        return true;
    }
    if (v - v != 0.0) { /* inf - inf is nan */
        gil__fmt_str(f, "inf");
        return true;
    }
    return false;
}

void gil__fmt_fixed(gil__fmt_t *f, double v, unsigned decimals)
{
    if (put_special(f, v))
        return;
    if (decimals > MAX_PRECISION)
        decimals = MAX_PRECISION;
    decimal_t x;
    rounded_t r;
    if (v == 0.0) {
        r.len = 0;
        r.point = 0;
    } else {
        exact_decimal(v < 0 ? -v : v, &x);
        round_decimal(&x, x.point + (int)decimals, &r);
    }
    put_positional(f, &r, (int)decimals, false);
}

void gil__fmt_sig(gil__fmt_t *f, double v, unsigned digits)
{
    if (put_special(f, v))
        return;
    int p = digits == 0 ? 1 : digits > MAX_PRECISION ? (int)MAX_PRECISION : (int)digits;
    decimal_t x;
    rounded_t r;
    if (v == 0.0) {
        gil__fmt_char(f, '0');
        return;
    }
    exact_decimal(v < 0 ? -v : v, &x);
    round_decimal(&x, p, &r);
    int exp10 = r.point - 1; /* the exponent style e would print */
    if (exp10 >= -4 && exp10 < p) {
        put_positional(f, &r, p - 1 - exp10, true);
        return;
    }
    gil__fmt_char(f, r.r[0]);
    int last = p - 1;
    while (last > 0 && digit_at(&r, last) == '0')
        last--;
    if (last > 0) {
        gil__fmt_char(f, '.');
        for (int i = 1; i <= last; i++)
            gil__fmt_char(f, digit_at(&r, i));
    }
    gil__fmt_str(f, exp10 < 0 ? "e-" : "e+");
    put_unsigned(f, (uint64_t)(exp10 < 0 ? -exp10 : exp10), 10, 2);
}

void gil__fmt_duration(gil__fmt_t *f, uint64_t ns)
{
    static const struct { const char *unit; double div; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
    };
    size_t u = 0;
    /* Move up while the value would print as 1000 or more. */
    while (u + 1 < sizeof units / sizeof units[0] && (double)ns / units[u].div >= 999.5)
        u++;
    gil__fmt_sig(f, (double)ns / units[u].div, 3);
    gil__fmt_str(f, units[u].unit);
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

void gil__fmt_vformat(gil__fmt_t *f, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
            gil__fmt_mem(f, p, n);
            p += n - 1;
            continue;
        }
        const char *start = p++;
        int longs = 0;
        bool size = false;
        for (; *p == 'l'; p++)
            longs++;
        if (*p == 'z')
            size = true, p++;
        switch (*p) {
        case '%': gil__fmt_char(f, '%'); break;
        case 'c': gil__fmt_char(f, (char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            gil__fmt_str(f, s != NULL ? s : "(null)");
            break;
        }
        case 'p':
            gil__fmt_str(f, "0x");
            gil__fmt_hex(f, (uintptr_t)va_arg(ap, void *), 1);
            break;
        case 'd':
        case 'i':
            gil__fmt_i64(f, size ? (int64_t)va_arg(ap, ptrdiff_t)
                            : longs >= 2 ? (int64_t)va_arg(ap, long long)
                            : longs == 1 ? (int64_t)va_arg(ap, long)
                                         : (int64_t)va_arg(ap, int));
            break;
        case 'u':
        case 'x': {
            uint64_t v = size ? (uint64_t)va_arg(ap, size_t)
                         : longs >= 2 ? (uint64_t)va_arg(ap, unsigned long long)
                         : longs == 1 ? (uint64_t)va_arg(ap, unsigned long)
                                      : (uint64_t)va_arg(ap, unsigned);
            put_unsigned(f, v, *p == 'x' ? 16 : 10, 1);
            break;
        }
        default: /* not ours: shown as written, nothing consumed */
            if (*p == '\0')
                p--;
            gil__fmt_mem(f, start, (size_t)(p - start + 1));
            break;
        }
    }
}
