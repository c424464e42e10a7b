/*
 * onnx_pb.c - bounded decoding of ONNX's protobuf messages and protobuf
 * writing helpers; see onnx_pb.h for what is decoded and the bounds.
 *
 * Protobuf wire format in brief: a message is a sequence of fields, each a
 * varint key (field number << 3 | wire type) followed by the value: wire
 * type 0 a varint (7 bits per byte, low bits first, high bit set on every
 * byte but the last, at most 10 bytes), 1 eight little-endian bytes, 2 a
 * varint length and that many bytes (strings, bytes, nested messages and
 * packed repeated scalars), 5 four little-endian bytes. Wire types 3 and 4
 * (groups) are obsolete and never used by ONNX; they are refused.
 */
#include "onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------------ */

struct onnxArenaBlock {
    onnxArenaBlock *next;
    size_t size, used;
    /* data follows, aligned for any type */
};

#define ARENA_BLOCK 65536
#define ARENA_ALIGN 16
#define ARENA_HEADER ((sizeof(onnxArenaBlock) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

void *graftOnnxArenaAlloc(onnxModel *m, size_t n)
{
    /* Rounding up to ARENA_ALIGN would wrap a request within ARENA_ALIGN - 1
     * of SIZE_MAX to a tiny block: refuse it, as memory that cannot exist. */
    if (n > SIZE_MAX - (ARENA_ALIGN - 1)) return NULL;
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (n == 0) n = ARENA_ALIGN;
    onnxArenaBlock *b = m->arena;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
        if (size > SIZE_MAX - ARENA_HEADER) return NULL;
        b = graftAlloc(m->ctx, ARENA_HEADER + size);
        if (!b) return NULL;
        b->size = size;
        b->used = 0;
        if (n > ARENA_BLOCK / 2 && m->arena) {
            /* A big block goes second so the current block keeps serving
             * small allocations. */
            b->next = m->arena->next;
            m->arena->next = b;
        } else {
            b->next = m->arena;
            m->arena = b;
        }
    }
    unsigned char *p = (unsigned char *)b + ARENA_HEADER + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void graftOnnxModelDispose(onnxModel *m)
{
    onnxArenaBlock *b = m->arena;
    while (b) {
        onnxArenaBlock *next = b->next;
        graftFree(m->ctx, b);
        b = next;
    }
    m->arena = NULL;
}

/* ---- cursor ------------------------------------------------------------------ */

typedef struct pb {
    onnxModel *m;
    const char *func;
    const unsigned char *base; /* start of the whole buffer, for offsets */
    const unsigned char *p, *end;
} pb;

typedef struct pbField {
    uint32_t num;
    int wire;
    uint64_t v;      /* wire types 0, 1, 5 */
    onnxBytes bytes; /* wire type 2 */
    size_t offset;   /* of the key */
} pbField;

static int pb_fail(const pb *c, size_t offset, const char *what)
{
    return graftError(c->m->ctx, GRAFT_E_FORMAT, c->func,
                      "malformed ONNX protobuf at offset %zu: %s", offset, what);
}

static size_t pb_offset(const pb *c, const unsigned char *at) { return (size_t)(at - c->base); }

static pb pb_sub(const pb *c, onnxBytes b)
{
    pb s = *c;
    s.p = b.p;
    s.end = b.p + b.n;
    return s;
}

/* Reads a varint at *pp (before end) into *v. */
static int read_varint(const unsigned char **pp, const unsigned char *end, uint64_t *v)
{
    const unsigned char *p = *pp;
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return -1; /* truncated */
        unsigned char b = *p++;
        if (i == 9 && b > 1) return -2; /* more than 64 bits */
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *v = r;
            return 0;
        }
    }
    return -2;
}

static int pb_varint(pb *c, uint64_t *v, const char *what)
{
    const unsigned char *at = c->p;
    int r = read_varint(&c->p, c->end, v);
    if (r == 0) return GRAFT_OK;
    char msg[96];
    snprintf(msg, sizeof msg, "%s %s", r == -1 ? "truncated varint in" : "varint over 64 bits in",
             what);
    return pb_fail(c, pb_offset(c, at), msg);
}

/* Reads the next field into *f. Returns 1 when a field was read, 0 at the
 * end of the message, or a negative status. */
static int pb_next(pb *c, pbField *f, const char *msg_name)
{
    if (c->p >= c->end) return 0;
    memset(f, 0, sizeof *f);
    f->offset = pb_offset(c, c->p);
    uint64_t key;
    GRAFT_FORWARD_IF_ERROR(pb_varint(c, &key, msg_name));
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
        char msg[96];
        snprintf(msg, sizeof msg, "field number %llu in %s", (unsigned long long)(key >> 3),
                 msg_name);
        return pb_fail(c, f->offset, msg);
    }
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    char msg[128];
    switch (f->wire) {
    case PB_VARINT:
        GRAFT_FORWARD_IF_ERROR(pb_varint(c, &f->v, msg_name));
        return 1;
    case PB_FIXED64:
    case PB_FIXED32: {
        size_t n = f->wire == PB_FIXED64 ? 8 : 4;
        if ((size_t)(c->end - c->p) < n) {
            snprintf(msg, sizeof msg, "truncated %zu-byte value of field %u in %s", n, f->num,
                     msg_name);
            return pb_fail(c, f->offset, msg);
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= (uint64_t)c->p[i] << (8 * i);
        c->p += n;
        f->v = v;
        return 1;
    }
    case PB_LEN: {
        uint64_t len;
        GRAFT_FORWARD_IF_ERROR(pb_varint(c, &len, msg_name));
        if (len > (uint64_t)(c->end - c->p)) {
            snprintf(msg, sizeof msg,
                     "field %u of %s declares %llu bytes but only %zu remain in the enclosing "
                     "message",
                     f->num, msg_name, (unsigned long long)len, (size_t)(c->end - c->p));
            return pb_fail(c, f->offset, msg);
        }
        f->bytes.p = c->p;
        f->bytes.n = (size_t)len;
        c->p += len;
        return 1;
    }
    default:
        snprintf(msg, sizeof msg, "wire type %d of field %u in %s is not supported", f->wire,
                 f->num, msg_name);
        return pb_fail(c, f->offset, msg);
    }
}

static int pb_expect(const pb *c, const pbField *f, int wire, const char *what)
{
    if (f->wire == wire) return GRAFT_OK;
    char msg[128];
    snprintf(msg, sizeof msg, "%s has wire type %d, expected %d", what, f->wire, wire);
    return pb_fail(c, f->offset, msg);
}

/* A NUL-terminated copy of a string field in the arena. */
static int pb_string(pb *c, const pbField *f, const char *what, const char **out)
{
    GRAFT_FORWARD_IF_ERROR(pb_expect(c, f, PB_LEN, what));
    if (memchr(f->bytes.p, 0, f->bytes.n)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s contains a NUL byte", what);
        return pb_fail(c, f->offset, msg);
    }
    char *s = graftOnnxArenaAlloc(c->m, f->bytes.n + 1);
    if (!s) return graftError(c->m->ctx, GRAFT_E_NOMEM, c->func, "cannot allocate a string");
    memcpy(s, f->bytes.p, f->bytes.n);
    s[f->bytes.n] = '\0';
    *out = s;
    return GRAFT_OK;
}

static int pb_int(pb *c, const pbField *f, const char *what, int64_t *out)
{
    GRAFT_FORWARD_IF_ERROR(pb_expect(c, f, PB_VARINT, what));
    *out = (int64_t)f->v;
    return GRAFT_OK;
}

/* An int32 or enum field. */
static int pb_int32(pb *c, const pbField *f, const char *what, int *out)
{
    int64_t v;
    GRAFT_FORWARD_IF_ERROR(pb_int(c, f, what, &v));
    if (v < INT32_MIN || v > INT32_MAX) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s is %lld, outside int32", what, (long long)v);
        return pb_fail(c, f->offset, msg);
    }
    *out = (int)v;
    return GRAFT_OK;
}

static void *pb_array(pb *c, size_t count, size_t size)
{
    if (count == 0) return NULL;
    if (count > SIZE_MAX / size) return NULL;
    void *p = graftOnnxArenaAlloc(c->m, count * size);
    if (!p) graftError(c->m->ctx, GRAFT_E_NOMEM, c->func, "cannot allocate %zu entries", count);
    return p;
}

#define PB_ARRAY(c, ptr, count) \
    ((count) == 0 || ((ptr) = pb_array((c), (size_t)(count), sizeof *(ptr))) != NULL)

/* Number of varints in a packed run, checking that the run is whole. */
static int packed_varint_count(pb *c, const pbField *f, const char *what, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < f->bytes.n; i++)
        if (!(f->bytes.p[i] & 0x80)) n++;
    if (f->bytes.n && (f->bytes.p[f->bytes.n - 1] & 0x80)) {
        char msg[128];
        snprintf(msg, sizeof msg, "packed %s ends inside a varint", what);
        return pb_fail(c, f->offset, msg);
    }
    *count = n;
    return GRAFT_OK;
}

/* Counts the values of a repeated varint field occurrence (packed or not). */
static int count_varints(pb *c, const pbField *f, const char *what, size_t *count)
{
    if (f->wire == PB_VARINT) {
        *count = 1;
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(pb_expect(c, f, PB_LEN, what));
    return packed_varint_count(c, f, what, count);
}

/* Appends the values of one occurrence of a repeated varint field to out
 * (room for *n + its count values). */
static int take_varints(pb *c, const pbField *f, const char *what, int64_t *out, size_t *n)
{
    if (f->wire == PB_VARINT) {
        out[(*n)++] = (int64_t)f->v;
        return GRAFT_OK;
    }
    pb s = pb_sub(c, f->bytes);
    while (s.p < s.end) {
        uint64_t v;
        GRAFT_FORWARD_IF_ERROR(pb_varint(&s, &v, what));
        out[(*n)++] = (int64_t)v;
    }
    return GRAFT_OK;
}

static int count_fixed(pb *c, const pbField *f, int wire, const char *what, size_t *count)
{
    size_t size = wire == PB_FIXED32 ? 4 : 8;
    if (f->wire == wire) {
        *count = 1;
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(pb_expect(c, f, PB_LEN, what));
    if (f->bytes.n % size) {
        char msg[128];
        snprintf(msg, sizeof msg, "packed %s holds %zu bytes, not a multiple of %zu", what,
                 f->bytes.n, size);
        return pb_fail(c, f->offset, msg);
    }
    *count = f->bytes.n / size;
    return GRAFT_OK;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double f64_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- TensorProto ------------------------------------------------------------- */

static int decode_tensor(pb *c, onnxBytes body, size_t offset, onnxTensor *t)
{
    const char *what = "TensorProto";
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    memset(t, 0, sizeof *t);
    t->name = "";
    t->body = body;
    t->offset = offset;
    size_t ndim = 0;
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1: {
            size_t n;
            GRAFT_FORWARD_IF_ERROR(count_varints(&s, &f, "TensorProto.dims", &n));
            if (ndim + n > ONNX_MAX_RANK)
                return graftError(c->m->ctx, GRAFT_E_UNSUPPORTED, c->func,
                                  "the tensor at offset %zu has more than %d dimensions", offset,
                                  ONNX_MAX_RANK);
            GRAFT_FORWARD_IF_ERROR(take_varints(&s, &f, "TensorProto.dims", t->dims, &ndim));
            break;
        }
        case 2:
            GRAFT_FORWARD_IF_ERROR(pb_int32(&s, &f, "TensorProto.data_type", &t->data_type));
            break;
        case 3:
            return graftError(c->m->ctx, GRAFT_E_UNSUPPORTED, c->func,
                              "the tensor at offset %zu is segmented, which graft does not read",
                              offset);
        case 8: GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "TensorProto.name", &t->name)); break;
        case 9:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "TensorProto.raw_data"));
            t->has_raw = 1;
            t->raw = f.bytes;
            break;
        case 13: t->external = 1; break;
        case 14: {
            int loc = 0;
            GRAFT_FORWARD_IF_ERROR(pb_int32(&s, &f, "TensorProto.data_location", &loc));
            if (loc != 0) t->external = 1;
            break;
        }
        default: break; /* typed data (read on demand), doc_string, unknown fields */
        }
    }
    if (r < 0) return r;
    t->ndim = (int)ndim;
    return GRAFT_OK;
}

int graftOnnxTensorNumel(graft_ctx *ctx, const char *func, const onnxTensor *t, size_t *numel)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t v = t->dims[d];
        if (v < 0 || v > GRAFT_MAX_NUMEL || (v > 0 && n > GRAFT_MAX_NUMEL / v))
            return graftError(ctx, GRAFT_E_FORMAT, func,
                              "tensor \"%s\": dimension %d is %lld, or the element count exceeds "
                              "2^40",
                              t->name, d, (long long)v);
        n *= v;
    }
    *numel = (size_t)n;
    return GRAFT_OK;
}

const char *graftOnnxTypeName(int type)
{
    static const char *const names[] = {"undefined", "float",   "uint8",     "int8",
                                        "uint16",    "int16",   "int32",     "int64",
                                        "string",    "bool",    "float16",   "double",
                                        "uint32",    "uint64",  "complex64", "complex128",
                                        "bfloat16"};
    if (type >= 0 && type < (int)(sizeof names / sizeof names[0])) return names[type];
    return "unknown";
}

/* Bytes per element in raw_data, 0 for types graft cannot read. */
static size_t raw_size(int type)
{
    switch (type) {
    case ONNX_UINT8: case ONNX_INT8: case ONNX_BOOL: return 1;
    case ONNX_UINT16: case ONNX_INT16: case ONNX_FLOAT16: case ONNX_BFLOAT16: return 2;
    case ONNX_FLOAT: case ONNX_INT32: case ONNX_UINT32: return 4;
    case ONNX_INT64: case ONNX_UINT64: case ONNX_DOUBLE: return 8;
    default: return 0;
    }
}

/* The typed field that holds a type's values, its wire type when unpacked. */
static uint32_t typed_field(int type, int *wire)
{
    switch (type) {
    case ONNX_FLOAT: *wire = PB_FIXED32; return 4;
    case ONNX_INT32: case ONNX_INT16: case ONNX_INT8: case ONNX_UINT16: case ONNX_UINT8:
    case ONNX_BOOL: case ONNX_FLOAT16: case ONNX_BFLOAT16:
        *wire = PB_VARINT;
        return 5;
    case ONNX_INT64: *wire = PB_VARINT; return 7;
    case ONNX_DOUBLE: *wire = PB_FIXED64; return 10;
    case ONNX_UINT32: case ONNX_UINT64: *wire = PB_VARINT; return 11;
    default: *wire = -1; return 0;
    }
}

static float half_to_float(uint32_t h)
{
    uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

/* One element as both a double and (for integer types, exactly) an int64;
 * *is_int tells which is exact. raw: a pointer to the element's bytes; or
 * bits: the value from a typed field. */
typedef struct elem {
    double d;
    int64_t i;
    int is_int;
} elem;

static elem elem_from_raw(int type, const unsigned char *p)
{
    elem e = {0, 0, 1};
    switch (type) {
    case ONNX_UINT8: case ONNX_BOOL: e.i = p[0]; break;
    case ONNX_INT8: e.i = (int8_t)p[0]; break;
    case ONNX_UINT16: e.i = (uint16_t)(p[0] | p[1] << 8); break;
    case ONNX_INT16: e.i = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case ONNX_INT32: e.i = (int32_t)le32(p); break;
    case ONNX_UINT32: e.i = (int64_t)le32(p); break;
    case ONNX_INT64: e.i = (int64_t)le64(p); break;
    case ONNX_UINT64: e.i = (int64_t)le64(p); break; /* values past 2^63 wrap; see the check */
    case ONNX_FLOAT: e.is_int = 0; e.d = f32_of(le32(p)); break;
    case ONNX_DOUBLE: e.is_int = 0; e.d = f64_of(le64(p)); break;
    case ONNX_FLOAT16: e.is_int = 0; e.d = half_to_float((uint32_t)(p[0] | p[1] << 8)); break;
    case ONNX_BFLOAT16: e.is_int = 0; e.d = f32_of((uint32_t)(p[0] | p[1] << 8) << 16); break;
    default: break;
    }
    if (e.is_int) e.d = (double)e.i;
    return e;
}

static elem elem_from_field(int type, uint64_t v)
{
    elem e = {0, 0, 1};
    switch (type) {
    case ONNX_FLOAT: e.is_int = 0; e.d = f32_of((uint32_t)v); break;
    case ONNX_DOUBLE: e.is_int = 0; e.d = f64_of(v); break;
    case ONNX_FLOAT16: e.is_int = 0; e.d = half_to_float((uint32_t)v & 0xffff); break;
    case ONNX_BFLOAT16: e.is_int = 0; e.d = f32_of(((uint32_t)v & 0xffff) << 16); break;
    case ONNX_INT32: case ONNX_INT16: case ONNX_INT8: e.i = (int32_t)(uint32_t)v; break;
    case ONNX_UINT16: e.i = (int64_t)(v & 0xffff); break;
    case ONNX_UINT8: e.i = (int64_t)(v & 0xff); break;
    case ONNX_BOOL: e.i = v != 0; break;
    case ONNX_UINT32: e.i = (int64_t)(v & 0xffffffffu); break;
    default: e.i = (int64_t)v; break;
    }
    if (e.is_int) e.d = (double)e.i;
    return e;
}

/* Checks that t's data can be read: not external, of a numeric type. */
static int check_readable(graft_ctx *ctx, const char *func, const onnxTensor *t)
{
    if (t->external)
        return graftError(ctx, GRAFT_E_UNSUPPORTED, func,
                          "tensor \"%s\" keeps its data in an external file, which graft does "
                          "not read",
                          t->name);
    if (raw_size(t->data_type) == 0)
        return graftError(ctx, GRAFT_E_UNSUPPORTED, func,
                          "tensor \"%s\" has element type %s (%d), which graft does not read",
                          t->name, graftOnnxTypeName(t->data_type), t->data_type);
    return GRAFT_OK;
}

int graftOnnxTensorStoredCount(graft_ctx *ctx, const char *func, const onnxTensor *t, size_t *count)
{
    GRAFT_FORWARD_IF_ERROR(check_readable(ctx, func, t));
    size_t size = raw_size(t->data_type);
    *count = 0;
    if (t->has_raw) {
        if (t->raw.n % size)
            return graftError(ctx, GRAFT_E_FORMAT, func,
                              "tensor \"%s\": raw_data holds %zu bytes, not a whole number of "
                              "%zu-byte %s elements",
                              t->name, t->raw.n, size, graftOnnxTypeName(t->data_type));
        *count = t->raw.n / size;
        return GRAFT_OK;
    }
    int wire;
    uint32_t field = typed_field(t->data_type, &wire);
    onnxModel dummy;
    memset(&dummy, 0, sizeof dummy);
    dummy.ctx = ctx;
    pb c = {&dummy, func, t->body.p, t->body.p, t->body.p + t->body.n};
    pbField f;
    int r;
    size_t total = 0;
    while ((r = pb_next(&c, &f, "TensorProto")) > 0) {
        if (f.num != field) continue;
        size_t n = 0;
        if (wire == PB_VARINT) GRAFT_FORWARD_IF_ERROR(count_varints(&c, &f, "tensor data", &n));
        else GRAFT_FORWARD_IF_ERROR(count_fixed(&c, &f, wire, "tensor data", &n));
        total += n;
    }
    if (r < 0) return r;
    *count = total;
    return GRAFT_OK;
}

/* Walks the numel elements of t, calling put(k, e) for each. */
typedef int (*elem_sink)(void *arg, size_t k, elem e);

static int read_elems(graft_ctx *ctx, const char *func, const onnxTensor *t, size_t numel,
                      elem_sink put, void *arg)
{
    size_t count;
    /* Counting first refuses a short or long tensor before any value is
     * written. */
    GRAFT_FORWARD_IF_ERROR(graftOnnxTensorStoredCount(ctx, func, t, &count));
    size_t size = raw_size(t->data_type);
    if (count != numel)
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "tensor \"%s\" holds %zu %s values, but its dimensions need %zu",
                          t->name, count, graftOnnxTypeName(t->data_type), numel);
    if (t->has_raw) {
        for (size_t k = 0; k < numel; k++)
            GRAFT_FORWARD_IF_ERROR(put(arg, k, elem_from_raw(t->data_type, t->raw.p + k * size)));
        return GRAFT_OK;
    }
    int wire;
    uint32_t field = typed_field(t->data_type, &wire);
    onnxModel dummy;
    memset(&dummy, 0, sizeof dummy);
    dummy.ctx = ctx;
    pb c = {&dummy, func, t->body.p, t->body.p, t->body.p + t->body.n};
    pbField f;
    int r;
    size_t k = 0;
    while ((r = pb_next(&c, &f, "TensorProto")) > 0) {
        if (f.num != field) continue;
        if (f.wire != PB_LEN) {
            GRAFT_FORWARD_IF_ERROR(put(arg, k++, elem_from_field(t->data_type, f.v)));
            continue;
        }
        const unsigned char *p = f.bytes.p, *end = f.bytes.p + f.bytes.n;
        while (p < end) {
            uint64_t v;
            if (wire == PB_VARINT) {
                if (read_varint(&p, end, &v) != 0)
                    return graftError(ctx, GRAFT_E_FORMAT, func, "tensor \"%s\": bad varint",
                                      t->name);
            } else if (wire == PB_FIXED32) {
                v = le32(p);
                p += 4;
            } else {
                v = le64(p);
                p += 8;
            }
            GRAFT_FORWARD_IF_ERROR(put(arg, k++, elem_from_field(t->data_type, v)));
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

typedef struct sink_f32 {
    float *out;
} sink_f32;

static int put_f32(void *arg, size_t k, elem e)
{
    ((sink_f32 *)arg)->out[k] = (float)e.d;
    return GRAFT_OK;
}

int graftOnnxTensorReadF32(graft_ctx *ctx, const char *func, const onnxTensor *t, float *out,
                      size_t numel)
{
    sink_f32 s = {out};
    return read_elems(ctx, func, t, numel, put_f32, &s);
}

typedef struct sink_i64 {
    graft_ctx *ctx;
    const char *func;
    const onnxTensor *t;
    int64_t *out;
} sink_i64;

static int put_i64(void *arg, size_t k, elem e)
{
    sink_i64 *s = arg;
    if (!e.is_int) {
        if (!(e.d >= -9.2e18 && e.d <= 9.2e18) || e.d != floor(e.d))
            return graftError(s->ctx, GRAFT_E_FORMAT, s->func,
                              "tensor \"%s\": element %zu (%g) is not a whole number", s->t->name,
                              k, e.d);
        e.i = (int64_t)e.d;
    } else if (s->t->data_type == ONNX_UINT64 && e.i < 0) {
        return graftError(s->ctx, GRAFT_E_FORMAT, s->func,
                          "tensor \"%s\": element %zu exceeds 2^63", s->t->name, k);
    }
    s->out[k] = e.i;
    return GRAFT_OK;
}

int graftOnnxTensorReadI64(graft_ctx *ctx, const char *func, const onnxTensor *t, int64_t *out,
                      size_t numel)
{
    sink_i64 s = {ctx, func, t, out};
    return read_elems(ctx, func, t, numel, put_i64, &s);
}

/* ---- AttributeProto ---------------------------------------------------------- */

static int decode_attr(pb *c, onnxBytes body, onnxAttr *a)
{
    const char *what = "AttributeProto";
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    size_t n_floats = 0, n_ints = 0, n;
    int stored_type = -1, seen_type = ONNX_ATTR_UNDEFINED;
    memset(a, 0, sizeof *a);
    a->name = "";
    /* Pass 1: scalars and counts. */
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1: GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "AttributeProto.name", &a->name)); break;
        case 20:
            GRAFT_FORWARD_IF_ERROR(pb_int32(&s, &f, "AttributeProto.type", &stored_type));
            break;
        case 2:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_FIXED32, "AttributeProto.f"));
            a->f = f32_of((uint32_t)f.v);
            seen_type = ONNX_ATTR_FLOAT;
            break;
        case 3:
            GRAFT_FORWARD_IF_ERROR(pb_int(&s, &f, "AttributeProto.i", &a->i));
            seen_type = ONNX_ATTR_INT;
            break;
        case 4:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "AttributeProto.s"));
            a->s = f.bytes;
            seen_type = ONNX_ATTR_STRING;
            break;
        case 5:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "AttributeProto.t"));
            if (!a->t) {
                a->t = graftOnnxArenaAlloc(c->m, sizeof *a->t);
                if (!a->t)
                    return graftError(c->m->ctx, GRAFT_E_NOMEM, c->func, "cannot allocate");
            }
            GRAFT_FORWARD_IF_ERROR(decode_tensor(&s, f.bytes, f.offset, a->t));
            seen_type = ONNX_ATTR_TENSOR;
            break;
        case 7:
            GRAFT_FORWARD_IF_ERROR(count_fixed(&s, &f, PB_FIXED32, "AttributeProto.floats", &n));
            n_floats += n;
            seen_type = ONNX_ATTR_FLOATS;
            break;
        case 8:
            GRAFT_FORWARD_IF_ERROR(count_varints(&s, &f, "AttributeProto.ints", &n));
            n_ints += n;
            seen_type = ONNX_ATTR_INTS;
            break;
        case 6: seen_type = ONNX_ATTR_GRAPH; a->n_undecoded++; break;
        case 9: seen_type = ONNX_ATTR_STRINGS; a->n_undecoded++; break;
        case 10: seen_type = ONNX_ATTR_TENSORS; a->n_undecoded++; break;
        case 11: seen_type = ONNX_ATTR_GRAPHS; a->n_undecoded++; break;
        case 22: seen_type = ONNX_ATTR_SPARSE_TENSOR; a->n_undecoded++; break;
        case 23: seen_type = ONNX_ATTR_SPARSE_TENSORS; a->n_undecoded++; break;
        case 14: seen_type = ONNX_ATTR_TYPE_PROTO; a->n_undecoded++; break;
        case 15: seen_type = ONNX_ATTR_TYPE_PROTOS; a->n_undecoded++; break;
        default: break;
        }
    }
    if (r < 0) return r;
    if (n_floats > INT32_MAX || n_ints > INT32_MAX)
        return pb_fail(c, pb_offset(c, body.p), "too many attribute values");
    a->type = stored_type > 0 ? stored_type : seen_type;
    if (!PB_ARRAY(c, a->floats, n_floats) || !PB_ARRAY(c, a->ints, n_ints))
        return GRAFT_E_NOMEM;
    if (n_floats == 0 && n_ints == 0) return GRAFT_OK;
    /* Pass 2: the repeated values. */
    s = pb_sub(c, body);
    size_t nf = 0, ni = 0;
    while ((r = pb_next(&s, &f, what)) > 0) {
        if (f.num == 8) {
            GRAFT_FORWARD_IF_ERROR(take_varints(&s, &f, "AttributeProto.ints", a->ints, &ni));
        } else if (f.num == 7) {
            if (f.wire == PB_FIXED32) {
                a->floats[nf++] = f32_of((uint32_t)f.v);
            } else {
                for (size_t k = 0; k + 4 <= f.bytes.n; k += 4)
                    a->floats[nf++] = f32_of(le32(f.bytes.p + k));
            }
        }
    }
    if (r < 0) return r;
    a->n_floats = (int)nf;
    a->n_ints = (int)ni;
    return GRAFT_OK;
}

/* ---- NodeProto --------------------------------------------------------------- */

static int decode_node(pb *c, onnxBytes body, size_t offset, onnxNode *node)
{
    const char *what = "NodeProto";
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    size_t ni = 0, no = 0, na = 0;
    memset(node, 0, sizeof *node);
    node->name = node->op_type = node->domain = "";
    node->offset = offset;
    while ((r = pb_next(&s, &f, what)) > 0) {
        if (f.num == 1) ni++;
        else if (f.num == 2) no++;
        else if (f.num == 5) na++;
    }
    if (r < 0) return r;
    if (ni > INT32_MAX || no > INT32_MAX || na > INT32_MAX)
        return pb_fail(c, offset, "too many node fields");
    if (!PB_ARRAY(c, node->inputs, ni) || !PB_ARRAY(c, node->outputs, no) ||
        !PB_ARRAY(c, node->attrs, na))
        return GRAFT_E_NOMEM;
    s = pb_sub(c, body);
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1:
            GRAFT_FORWARD_IF_ERROR(
                pb_string(&s, &f, "NodeProto.input", &node->inputs[node->n_inputs++]));
            break;
        case 2:
            GRAFT_FORWARD_IF_ERROR(
                pb_string(&s, &f, "NodeProto.output", &node->outputs[node->n_outputs++]));
            break;
        case 3: GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "NodeProto.name", &node->name)); break;
        case 4:
            GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "NodeProto.op_type", &node->op_type));
            break;
        case 7: GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "NodeProto.domain", &node->domain)); break;
        case 5:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "NodeProto.attribute"));
            GRAFT_FORWARD_IF_ERROR(decode_attr(&s, f.bytes, &node->attrs[node->n_attrs++]));
            break;
        default: break;
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

const onnxAttr *graftOnnxNodeAttr(const onnxNode *node, const char *name)
{
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i];
    return NULL;
}

/* ---- ValueInfoProto ---------------------------------------------------------- */

/* TensorShapeProto.Dimension: dim_value (1) or dim_param (2). A dim_param
 * is kept as *name (for messages) when it is a string without NUL bytes;
 * otherwise *name stays NULL. */
static int decode_dim(pb *c, onnxBytes body, int64_t *dim, const char **name)
{
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    *dim = -1;
    *name = NULL;
    while ((r = pb_next(&s, &f, "TensorShapeProto.Dimension")) > 0) {
        if (f.num == 1) {
            int64_t v;
            GRAFT_FORWARD_IF_ERROR(pb_int(&s, &f, "Dimension.dim_value", &v));
            *dim = v >= 0 ? v : -1;
            *name = NULL;
        } else if (f.num == 2) {
            *dim = -1;
            *name = NULL;
            if (f.wire == PB_LEN && f.bytes.n > 0 && !memchr(f.bytes.p, 0, f.bytes.n))
                GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "Dimension.dim_param", name));
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

/* TypeProto.Tensor: elem_type (1), shape (2). */
static int decode_tensor_type(pb *c, onnxBytes body, onnxValueInfo *vi)
{
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    vi->is_tensor = 1;
    while ((r = pb_next(&s, &f, "TypeProto.Tensor")) > 0) {
        if (f.num == 1) {
            GRAFT_FORWARD_IF_ERROR(pb_int32(&s, &f, "TypeProto.Tensor.elem_type", &vi->elem_type));
        } else if (f.num == 2) {
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "TypeProto.Tensor.shape"));
            pb sh = pb_sub(&s, f.bytes);
            pbField g;
            int q;
            vi->has_shape = 1;
            vi->ndim = 0;
            while ((q = pb_next(&sh, &g, "TensorShapeProto")) > 0) {
                if (g.num != 1) continue;
                GRAFT_FORWARD_IF_ERROR(pb_expect(&sh, &g, PB_LEN, "TensorShapeProto.dim"));
                if (vi->ndim == ONNX_MAX_RANK)
                    return graftError(c->m->ctx, GRAFT_E_UNSUPPORTED, c->func,
                                      "value \"%s\" has more than %d dimensions", vi->name,
                                      ONNX_MAX_RANK);
                GRAFT_FORWARD_IF_ERROR(
                    decode_dim(&sh, g.bytes, &vi->dims[vi->ndim], &vi->dim_names[vi->ndim]));
                vi->ndim++;
            }
            if (q < 0) return q;
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

static int decode_value_info(pb *c, onnxBytes body, onnxValueInfo *vi)
{
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    memset(vi, 0, sizeof *vi);
    vi->name = "";
    while ((r = pb_next(&s, &f, "ValueInfoProto")) > 0) {
        if (f.num == 1) {
            GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "ValueInfoProto.name", &vi->name));
        } else if (f.num == 2) {
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "ValueInfoProto.type"));
            pb t = pb_sub(&s, f.bytes);
            pbField g;
            int q;
            while ((q = pb_next(&t, &g, "TypeProto")) > 0) {
                if (g.num != 1) continue; /* sequence, map, optional, sparse: not tensors */
                GRAFT_FORWARD_IF_ERROR(pb_expect(&t, &g, PB_LEN, "TypeProto.tensor_type"));
                GRAFT_FORWARD_IF_ERROR(decode_tensor_type(&t, g.bytes, vi));
            }
            if (q < 0) return q;
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

/* ---- GraphProto and ModelProto ----------------------------------------------- */

static int decode_graph(pb *c, onnxBytes body, onnxGraph *g)
{
    const char *what = "GraphProto";
    pb s = pb_sub(c, body);
    pbField f;
    int r;
    size_t nn = 0, nt = 0, nin = 0, nout = 0;
    memset(g, 0, sizeof *g);
    g->name = "";
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1: nn++; break;
        case 5: nt++; break;
        case 11: nin++; break;
        case 12: nout++; break;
        case 15: g->n_sparse_inits++; break;
        default: break;
        }
    }
    if (r < 0) return r;
    if (nn > INT32_MAX || nt > INT32_MAX || nin > INT32_MAX || nout > INT32_MAX)
        return pb_fail(c, pb_offset(c, body.p), "too many graph fields");
    if (!PB_ARRAY(c, g->nodes, nn) || !PB_ARRAY(c, g->inits, nt) ||
        !PB_ARRAY(c, g->inputs, nin) || !PB_ARRAY(c, g->outputs, nout))
        return GRAFT_E_NOMEM;
    s = pb_sub(c, body);
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "GraphProto.node"));
            GRAFT_FORWARD_IF_ERROR(decode_node(&s, f.bytes, f.offset, &g->nodes[g->n_nodes++]));
            break;
        case 2: GRAFT_FORWARD_IF_ERROR(pb_string(&s, &f, "GraphProto.name", &g->name)); break;
        case 5:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "GraphProto.initializer"));
            GRAFT_FORWARD_IF_ERROR(decode_tensor(&s, f.bytes, f.offset, &g->inits[g->n_inits++]));
            break;
        case 11:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "GraphProto.input"));
            GRAFT_FORWARD_IF_ERROR(decode_value_info(&s, f.bytes, &g->inputs[g->n_inputs++]));
            break;
        case 12:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "GraphProto.output"));
            GRAFT_FORWARD_IF_ERROR(decode_value_info(&s, f.bytes, &g->outputs[g->n_outputs++]));
            break;
        default: break;
        }
    }
    return r < 0 ? r : GRAFT_OK;
}

static int decode_model(pb *c, onnxModel *m)
{
    const char *what = "ModelProto";
    pb s = *c;
    pbField f;
    int r;
    size_t nops = 0, nmeta = 0;
    onnxBytes graph = {NULL, 0};
    while ((r = pb_next(&s, &f, what)) > 0) {
        switch (f.num) {
        case 1:
            GRAFT_FORWARD_IF_ERROR(pb_int(&s, &f, "ModelProto.ir_version", &m->ir_version));
            break;
        case 2:
            GRAFT_FORWARD_IF_ERROR(
                pb_string(&s, &f, "ModelProto.producer_name", &m->producer_name));
            break;
        case 7:
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "ModelProto.graph"));
            if (m->has_graph) return pb_fail(c, f.offset, "ModelProto.graph appears twice");
            m->has_graph = 1;
            graph = f.bytes;
            break;
        case 8: nops++; break;
        case 14: nmeta++; break;
        case 25: m->n_functions++; break;
        default: break;
        }
    }
    if (r < 0) return r;
    if (nops > INT32_MAX) return pb_fail(c, 0, "too many opset_import entries");
    if (nmeta > INT32_MAX) return pb_fail(c, 0, "too many metadata_props entries");
    if (!PB_ARRAY(c, m->opsets, nops)) return GRAFT_E_NOMEM;
    if (!PB_ARRAY(c, m->meta_keys, nmeta) || !PB_ARRAY(c, m->meta_values, nmeta))
        return GRAFT_E_NOMEM;
    s = *c;
    while ((r = pb_next(&s, &f, what)) > 0) {
        if (f.num == 14) {
            /* StringStringEntryProto: key 1, value 2 (missing: ""). */
            GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "ModelProto.metadata_props"));
            const char **key = &m->meta_keys[m->n_meta], **value = &m->meta_values[m->n_meta];
            m->n_meta++;
            *key = *value = "";
            pb es = pb_sub(&s, f.bytes);
            pbField g;
            int q;
            while ((q = pb_next(&es, &g, "StringStringEntryProto")) > 0) {
                if (g.num == 1)
                    GRAFT_FORWARD_IF_ERROR(pb_string(&es, &g, "StringStringEntryProto.key", key));
                else if (g.num == 2)
                    GRAFT_FORWARD_IF_ERROR(
                        pb_string(&es, &g, "StringStringEntryProto.value", value));
            }
            if (q < 0) return q;
            continue;
        }
        if (f.num != 8) continue;
        GRAFT_FORWARD_IF_ERROR(pb_expect(&s, &f, PB_LEN, "ModelProto.opset_import"));
        onnxOpset *o = &m->opsets[m->n_opsets++];
        o->domain = "";
        pb os = pb_sub(&s, f.bytes);
        pbField g;
        int q;
        while ((q = pb_next(&os, &g, "OperatorSetIdProto")) > 0) {
            if (g.num == 1)
                GRAFT_FORWARD_IF_ERROR(pb_string(&os, &g, "OperatorSetIdProto.domain", &o->domain));
            else if (g.num == 2)
                GRAFT_FORWARD_IF_ERROR(pb_int(&os, &g, "OperatorSetIdProto.version", &o->version));
        }
        if (q < 0) return q;
    }
    if (r < 0) return r;
    if (m->has_graph) GRAFT_FORWARD_IF_ERROR(decode_graph(c, graph, &m->graph));
    return GRAFT_OK;
}

int graftOnnxModelDecode(graft_ctx *ctx, const char *func, const void *data, size_t size,
                    onnxModel *model)
{
    memset(model, 0, sizeof *model);
    model->ctx = ctx;
    model->producer_name = "";
    const unsigned char *p = data;
    pb c = {model, func, p, p, p + size};
    int st = decode_model(&c, model);
    if (st != GRAFT_OK) {
        graftOnnxModelDispose(model);
        memset(model, 0, sizeof *model);
        model->ctx = ctx;
    }
    return st;
}

int graftOnnxTensorDecode(onnxModel *m, const char *func, const void *data, size_t size,
                     onnxTensor *t)
{
    const unsigned char *p = data;
    pb c = {m, func, p, p, p + size};
    onnxBytes body = {p, size};
    return decode_tensor(&c, body, 0, t);
}
