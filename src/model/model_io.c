/*
 * model_io.c - model files and checkpoints (graft_model_save/load,
 * graft_checkpoint_save/load). docs/FORMAT.md specifies the format.
 *
 * In short: a 16-byte header (magic, format version, file kind), then
 * sections, each a tag, flags, a payload length, the payload and a CRC-32 of
 * all of those. Version 1 defines META (input shape, seed, epochs, class
 * names), GRPH (the layer graph, each node with its layer record as
 * graftLayerSave() writes it), OPTM (checkpoints: the optimizer record as
 * graftOptimSave() writes it) and END (empty, last). Unknown sections are
 * skipped when optional and refused when required.
 *
 * Saving serialises to memory, writes a temporary file beside the target,
 * flushes it to disk and renames it over the target, then flushes the
 * folder. Loading checks the framing and every checksum first, then parses
 * the sections with bounded readers whose offsets are file offsets, so
 * every message can say where.
 *
 * Bounded reads (read_model_file). A file is read header first: its 16
 * bytes are checked before anything else is read, so a file that is not
 * graft's (/dev/zero, a 1 TB file of zeros) costs 16 bytes. Then each
 * section's 16-byte header is read and only the payload and checksum it
 * declares, and the section is checked as soon as it is in. The ceiling is
 * MAX_FILE_BYTES, 8 GiB (documented at graft_model_load() in graft.h): a
 * regular file larger than that is refused from its size, after its header,
 * and is never read past its size; a file without a size (a FIFO, a pipe, a
 * device) is refused as soon as a section's declared length would take it
 * past the ceiling, and must end right after its END section. Nothing is
 * allocated beyond the ceiling or beyond what the sections declare.
 */
#include "core/crc32.h"
#include "model.h"
#include "optim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- the format's constants ---------------------------------------------------- */

static const unsigned char file_magic[8] = {0x89, 'G', 'R', 'A', 'F', 'T', '\r', '\n'};

#define FORMAT_VERSION 1u
#define KIND_MODEL 1u
#define KIND_CHECKPOINT 2u

#define HEADER_BYTES 16        /* magic, version, kind */
#define SECTION_HEAD_BYTES 16  /* tag, flags, length */
#define SECTION_CRC_BYTES 4
#define FLAG_REQUIRED 1u       /* a reader that does not know the tag must refuse the file */
#define PREP_VERSION 1u        /* the PREP section's record version */

#define TAG_META "META"
#define TAG_GRAPH "GRPH"
#define TAG_OPTIM "OPTM"
#define TAG_TRANSFER "XFER"
#define TAG_PREPROCESS "PREP" /* written required: older readers refuse the file */
#define TAG_END "END "

/* The most bytes a model file or checkpoint may have: 8 GiB (on a system
 * whose size_t is narrower, half its range). */
#define MAX_FILE_BYTES                                                                   \
    ((uint64_t)(SIZE_MAX / 2) < ((uint64_t)1 << 33) ? (size_t)(SIZE_MAX / 2)             \
                                                    : (size_t)((uint64_t)1 << 33))

/* Smallest encodings, used to bound counts by the bytes that remain. */
#define MIN_CLASS_NAME_BYTES 5 /* u32 length + 1 byte */
#define MIN_NODE_BYTES 17      /* name (5), input count (4), one input (4), trainable (4) */

/* ---- little-endian helpers over raw bytes ---------------------------------------- */

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The tag as text for messages: printable ASCII as is, other bytes as \xNN. */
static void tag_text(const unsigned char *tag, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 4 && n < size; i++) {
        int w = tag[i] >= 0x20 && tag[i] < 0x7F && tag[i] != '"' && tag[i] != '\\'
                    ? snprintf(buf + n, size - n, "%c", tag[i])
                    : snprintf(buf + n, size - n, "\\x%02X", tag[i]);
        if (w > 0) n += (size_t)w;
    }
}

/* ---- writing ----------------------------------------------------------------------- */

/* Starts a section; returns the offset of its header, patched by section_end. */
static size_t section_begin_flags(graftWriter *w, const char *tag, uint32_t flags)
{
    size_t at = w->size;
    graftWriteBytes(w, tag, 4);
    graftWriteU32(w, flags);
    graftWriteU32(w, 0); /* length, patched */
    graftWriteU32(w, 0);
    return at;
}

static size_t section_begin(graftWriter *w, const char *tag)
{
    return section_begin_flags(w, tag, FLAG_REQUIRED);
}

/* Writes the payload length into the section's header and appends the CRC
 * of header and payload. */
static void section_end(graftWriter *w, size_t at)
{
    if (w->status != GRAFT_OK) return;
    put_u64(w->data + at + 8, (uint64_t)(w->size - at - SECTION_HEAD_BYTES));
    graftWriteU32(w, graftCrc32(0, w->data + at, w->size - at));
}

static void write_u64(graftWriter *w, uint64_t v)
{
    graftWriteU32(w, (uint32_t)(v & 0xFFFFFFFFu));
    graftWriteU32(w, (uint32_t)(v >> 32));
}

static void write_meta(graftWriter *w, const graft_model *m)
{
    const graftShape *s = &m->input_shape;
    graftWriteU32(w, (uint32_t)(s->ndim - 1));
    for (int d = 1; d < s->ndim; d++) graftWriteI64(w, s->dims[d]);
    write_u64(w, m->seed);
    graftWriteI64(w, m->epochs_done);
    graftWriteU32(w, (uint32_t)m->n_classes_named);
    for (int c = 0; c < m->n_classes_named; c++) graftWriteString(w, m->class_names[c]);
}

static int write_graph(graftWriter *w, const graft_model *m)
{
    graftWriteU32(w, (uint32_t)m->n_nodes);
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        graftWriteString(w, n->name);
        graftWriteU32(w, (uint32_t)n->n_inputs);
        for (int k = 0; k < n->n_inputs; k++) graftWriteI32(w, n->inputs[k]);
        graftWriteU32(w, n->trainable ? 1u : 0u);
        GRAFT_FORWARD_IF_ERROR(graftLayerSave(n->layer, w));
    }
    return w->status;
}

/* The transfer-learning settings differ from a new model's. */
static int has_transfer_settings(const graft_model *m)
{
    if (m->n_unfreeze || m->frozen_bn_trains || !m->feature_cache || m->feature_cache_mb != 1024 ||
        m->task != GRAFT_TASK_CLASSIFICATION)
        return 1;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].lr_scale != 1.0f) return 1;
    return 0;
}

static void write_transfer(graftWriter *w, const graft_model *m)
{
    graftWriteU32(w, (uint32_t)m->n_nodes);
    for (int i = 0; i < m->n_nodes; i++) graftWriteF32(w, m->nodes[i].lr_scale);
    graftWriteU32(w, (uint32_t)m->n_unfreeze);
    for (int k = 0; k < m->n_unfreeze; k++) {
        graftWriteString(w, m->unfreeze[k].from);
        graftWriteI64(w, m->unfreeze[k].epoch);
        graftWriteF32(w, m->unfreeze[k].lr_scale);
    }
    graftWriteU32(w, (uint32_t)m->frozen_bn_trains);
    graftWriteU32(w, (uint32_t)m->feature_cache);
    graftWriteI64(w, m->feature_cache_mb);
    /* Since 1.3, only for other tasks than classification, so that the
     * files earlier versions can read stay as they were, and an earlier
     * version refuses (leftover bytes) a model it would misread. */
    if (m->task != GRAFT_TASK_CLASSIFICATION) graftWriteU32(w, (uint32_t)m->task);
}

/* The PREP section: the input preprocessing (graft_model_set_preprocess). */
static void write_preprocess(graftWriter *w, const graft_preprocess *p)
{
    graftWriteU32(w, PREP_VERSION);
    graftWriteI32(w, p->channels);
    graftWriteI32(w, p->width);
    graftWriteI32(w, p->height);
    graftWriteI32(w, p->resize);
    graftWriteI32(w, p->shorter_side);
    graftWriteI32(w, p->normalize);
    graftWriteF32(w, p->scale);
    for (int c = 0; c < 3; c++) graftWriteF32(w, p->mean[c]);
    for (int c = 0; c < 3; c++) graftWriteF32(w, p->std[c]);
}

/* Serialises the model (and the optimizer, for a checkpoint) into w. */
static int serialise(const graft_model *m, const graft_optim *o, graftWriter *w)
{
    graftWriteBytes(w, file_magic, sizeof file_magic);
    graftWriteU32(w, FORMAT_VERSION);
    graftWriteU32(w, o ? KIND_CHECKPOINT : KIND_MODEL);

    size_t at = section_begin(w, TAG_META);
    write_meta(w, m);
    section_end(w, at);

    at = section_begin(w, TAG_GRAPH);
    GRAFT_FORWARD_IF_ERROR(write_graph(w, m));
    section_end(w, at);

    if (has_transfer_settings(m)) {
        at = section_begin(w, TAG_TRANSFER);
        write_transfer(w, m);
        section_end(w, at);
    }

    if (m->has_preprocess) {
        at = section_begin(w, TAG_PREPROCESS);
        write_preprocess(w, &m->preprocess);
        section_end(w, at);
    }

    if (o) {
        at = section_begin(w, TAG_OPTIM);
        GRAFT_FORWARD_IF_ERROR(graftOptimSave(o, w));
        section_end(w, at);
    }

    at = section_begin(w, TAG_END);
    section_end(w, at);
    return w->status;
}

static int save_common(const graft_model *m, const graft_optim *o, const char *path,
                       const char *func)
{
    graftWriter w;
    graftWriterInit(&w, m->ctx);
    int st = serialise(m, o, &w);
    if (st == GRAFT_OK) st = graftWriteFileAtomic(m->ctx, func, path, w.data, w.size);
    graftWriterDispose(&w);
    return graftErrorAt(m->ctx, st, func);
}

/* Serialises into a buffer handed to the caller (freed with
 * graft_buffer_free()). */
static int save_buffer_common(const graft_model *m, const graft_optim *o, void **data,
                              size_t *size, const char *func)
{
    graftWriter w;
    graftWriterInit(&w, m->ctx);
    int st = serialise(m, o, &w);
    if (st != GRAFT_OK) {
        graftWriterDispose(&w);
        return graftErrorAt(m->ctx, st, func);
    }
    *data = w.data;
    *size = w.size;
    return GRAFT_OK;
}

GRAFT_API int graft_model_save_buffer(const graft_model *model, void **data, size_t *size)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    if (data) *data = NULL;
    if (size) *size = 0;
    GRAFT_RETURN_IF(!model || !data || !size, ctx, GRAFT_E_INVALID_ARG,
                    "model, data and size must not be NULL");
    return save_buffer_common(model, NULL, data, size, __func__);
}

GRAFT_API int graft_checkpoint_save_buffer(const graft_model *model, const graft_optim *optim,
                                           void **data, size_t *size)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    if (data) *data = NULL;
    if (size) *size = 0;
    GRAFT_RETURN_IF(!model || !optim || !data || !size, ctx, GRAFT_E_INVALID_ARG,
                    "model, optim, data and size must not be NULL");
    return save_buffer_common(model, optim, data, size, __func__);
}

GRAFT_API int graft_model_save(const graft_model *model, const char *path)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_RETURN_IF(!path || !path[0], ctx, GRAFT_E_INVALID_ARG, "path is NULL or empty");
    return save_common(model, NULL, path, __func__);
}

GRAFT_API int graft_checkpoint_save(const graft_model *model, const graft_optim *optim,
                                    const char *path)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_RETURN_IF(!optim, ctx, GRAFT_E_INVALID_ARG, "optim is NULL");
    GRAFT_RETURN_IF(!path || !path[0], ctx, GRAFT_E_INVALID_ARG, "path is NULL or empty");
    return save_common(model, optim, path, __func__);
}

/* ---- reading ----------------------------------------------------------------------- */

typedef struct loader {
    graft_ctx *ctx;
    const char *func; /* the public function, for messages */
    const char *path; /* the file, or NULL for a buffer */
    const unsigned char *data;
    size_t size;
} loader;

typedef struct section_ref {
    int present;
    size_t at;      /* offset of the section's header */
    size_t payload; /* offset of its payload */
    size_t length;  /* payload bytes */
} section_ref;

typedef struct file_map {
    uint32_t kind;
    section_ref meta, graph, optim, transfer, preprocess;
} file_map;

/* Records "func(): ["path": ]message" and returns st. */
static int load_fail(const loader *ld, int st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int load_fail(const loader *ld, int st, const char *fmt, ...)
{
    char msg[GRAFT_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ld->path) return graftError(ld->ctx, st, ld->func, "\"%s\": %s", ld->path, msg);
    return graftError(ld->ctx, st, ld->func, "%s", msg);
}

/* Rewrites the message a helper recorded ("helper(): cause") as
 * "func(): ["path": ]where: cause", keeping the status. */
static int load_rewrap(const loader *ld, int st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int load_rewrap(const loader *ld, int st, const char *fmt, ...)
{
    char cause[GRAFT_ERRMSG_SIZE], where[GRAFT_ERRMSG_SIZE];
    const char *msg = ld->ctx->errmsg, *p = strstr(msg, "(): ");
    snprintf(cause, sizeof cause, "%s", p ? p + 4 : msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where, fmt, ap);
    va_end(ap);
    return load_fail(ld, st, "%s: %s", where, cause);
}

/* A reader over one section's payload; its offsets are file offsets. */
static void section_reader(const loader *ld, const section_ref *s, graftReader *r)
{
    graftReaderInit(r, ld->ctx, ld->data, s->payload + s->length);
    r->pos = s->payload;
}

static int check_section_end(const loader *ld, const graftReader *r, const char *tag)
{
    if (r->pos != r->size)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "%s section: %zu unexpected bytes at offset %zu before its end", tag,
                         r->size - r->pos, r->pos);
    return GRAFT_OK;
}

/* Checks the 16-byte header (of the ld->size bytes present, fewer when the
 * data is that short). */
static int scan_header(const loader *ld, file_map *map)
{
    const unsigned char *d = ld->data;
    size_t size = ld->size;
    memset(map, 0, sizeof *map);
    size_t head = size < sizeof file_magic ? size : sizeof file_magic;
    if (memcmp(d, file_magic, head) != 0)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "not a graft file: the magic bytes at offset 0 do not match");
    if (size < HEADER_BYTES)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "truncated data: the header needs %d bytes, only %zu present",
                         HEADER_BYTES, size);
    uint32_t version = get_u32(d + 8), kind = get_u32(d + 12);
    if (version == 0)
        return load_fail(ld, GRAFT_E_FORMAT, "format version 0 at offset 8 is not valid");
    if (version > FORMAT_VERSION)
        return load_fail(ld, GRAFT_E_VERSION,
                         "format version %u at offset 8 is newer than this graft reads (%u)",
                         version, FORMAT_VERSION);
    if (kind != KIND_MODEL && kind != KIND_CHECKPOINT)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "file kind %u at offset 12, must be 1 (model) or 2 (checkpoint)", kind);
    map->kind = kind;
    return GRAFT_OK;
}

/* Checks the framing and checksum of the section at *pos and records it if
 * known; *pos moves past it, and *is_end is set after the END section. */
static int scan_section(const loader *ld, file_map *map, size_t *pos_io, int *is_end_out)
{
    const unsigned char *d = ld->data;
    size_t size = ld->size, pos = *pos_io;
    uint32_t kind = map->kind;
    *is_end_out = 0;
    if (pos == size)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "the data ends at offset %zu without an END section (truncated?)",
                         pos);
    if (size - pos < SECTION_HEAD_BYTES)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "truncated data: a section header needs %d bytes at offset %zu, "
                         "%zu left", SECTION_HEAD_BYTES, pos, size - pos);
    const unsigned char *tag = d + pos;
    char name[20];
    tag_text(tag, name, sizeof name);
    uint32_t flags = get_u32(d + pos + 4);
    uint64_t length = get_u64(d + pos + 8);
    size_t after = size - pos - SECTION_HEAD_BYTES;
    if (after < SECTION_CRC_BYTES || length > (uint64_t)(after - SECTION_CRC_BYTES))
        return load_fail(ld, GRAFT_E_FORMAT,
                         "section \"%s\" at offset %zu: its payload length %llu runs past "
                         "the end of the data (%zu bytes follow its header, checksum "
                         "included)", name, pos, (unsigned long long)length, after);
    size_t len = (size_t)length, payload = pos + SECTION_HEAD_BYTES;
    uint32_t stored = get_u32(d + payload + len);
    uint32_t computed = graftCrc32(0, d + pos, SECTION_HEAD_BYTES + len);
    if (stored != computed)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "section \"%s\" at offset %zu: checksum mismatch (stored 0x%08X, "
                         "computed 0x%08X)", name, pos, stored, computed);
    for (int i = 0; i < 4; i++)
        if (tag[i] < 0x20 || tag[i] >= 0x7F)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "section \"%s\" at offset %zu: a tag must be printable ASCII",
                             name, pos);
    if (flags & ~FLAG_REQUIRED)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "section \"%s\" at offset %zu has unknown flag bits 0x%X", name, pos,
                         flags & ~FLAG_REQUIRED);

    section_ref *known = NULL;
    int is_end = memcmp(tag, TAG_END, 4) == 0;
    if (memcmp(tag, TAG_META, 4) == 0) known = &map->meta;
    else if (memcmp(tag, TAG_GRAPH, 4) == 0) known = &map->graph;
    else if (memcmp(tag, TAG_OPTIM, 4) == 0) known = &map->optim;
    else if (memcmp(tag, TAG_TRANSFER, 4) == 0) known = &map->transfer;
    /* PREP: either flag is accepted (graft writes it required). */
    int optional_ok = known == NULL && memcmp(tag, TAG_PREPROCESS, 4) == 0;
    if (optional_ok) known = &map->preprocess;
    if ((known || is_end) && !optional_ok && !(flags & FLAG_REQUIRED))
        return load_fail(ld, GRAFT_E_FORMAT,
                         "section \"%s\" at offset %zu is marked optional, but it is a "
                         "required section", name, pos);
    if (is_end) {
        if (len != 0)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "the END section at offset %zu has a %zu-byte payload, must "
                             "be empty", pos, len);
        size_t end = payload + SECTION_CRC_BYTES;
        if (end != size)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "%zu unexpected bytes after the END section, at offset %zu",
                             size - end, end);
        *pos_io = end;
        *is_end_out = 1;
        return GRAFT_OK;
    }
    if (known) {
        if (known->present)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "a second \"%s\" section at offset %zu (the first is at "
                             "offset %zu)", name, pos, known->at);
        if (known == &map->optim && kind == KIND_MODEL)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "an OPTM section at offset %zu in a model file (file kind 1)",
                             pos);
        known->present = 1;
        known->at = pos;
        known->payload = payload;
        known->length = len;
    } else if (flags & FLAG_REQUIRED) {
        return load_fail(ld, GRAFT_E_VERSION,
                         "section \"%s\" at offset %zu is required but unknown to this "
                         "graft (a newer graft wrote this file)", name, pos);
    }
    *pos_io = payload + len + SECTION_CRC_BYTES;
    return GRAFT_OK;
}

/* After the END section: the sections every file needs are there. */
static int scan_complete(const loader *ld, const file_map *map)
{
    if (!map->meta.present) return load_fail(ld, GRAFT_E_FORMAT, "no META section");
    if (!map->graph.present) return load_fail(ld, GRAFT_E_FORMAT, "no GRPH section");
    if (map->kind == KIND_CHECKPOINT && !map->optim.present)
        return load_fail(ld, GRAFT_E_FORMAT, "the checkpoint has no OPTM section");
    return GRAFT_OK;
}

/* Checks the header and the framing and checksum of every section, and finds
 * the known ones. Nothing is parsed yet. */
static int scan_file(const loader *ld, file_map *map)
{
    GRAFT_FORWARD_IF_ERROR(scan_header(ld, map));
    size_t pos = HEADER_BYTES;
    int is_end = 0;
    while (!is_end) GRAFT_FORWARD_IF_ERROR(scan_section(ld, map, &pos, &is_end));
    return scan_complete(ld, map);
}

/* The META section, read before the model exists. */
typedef struct meta_info {
    graftShape input;
    uint64_t seed;
    int64_t epochs_done;
    uint32_t n_names;
    char **names;
} meta_info;

static void meta_dispose(graft_ctx *ctx, meta_info *mi)
{
    if (mi->names)
        for (uint32_t c = 0; c < mi->n_names; c++) graftFree(ctx, mi->names[c]);
    graftFree(ctx, mi->names);
    mi->names = NULL;
    mi->n_names = 0;
}

#define READ_OR_WRAP(expr, where)                                            \
    do {                                                                     \
        int read_status_ = (expr);                                           \
        if (read_status_ != GRAFT_OK) return load_rewrap(ld, read_status_, "%s", where); \
    } while (0)

static int read_meta(const loader *ld, const section_ref *s, meta_info *mi)
{
    graftReader r;
    uint32_t ndim, lo, hi;
    size_t at;
    memset(mi, 0, sizeof *mi);
    section_reader(ld, s, &r);

    at = r.pos;
    READ_OR_WRAP(graftReadU32(&r, &ndim, "input rank"), "META section");
    if (ndim < 1 || ndim > GRAFT_MAX_DIMS - 1)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "META section: the input rank at offset %zu is %u, must be 1 to %d", at,
                         ndim, GRAFT_MAX_DIMS - 1);
    mi->input.ndim = (int)ndim + 1;
    mi->input.dims[0] = 1;
    int64_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        int64_t v;
        at = r.pos;
        READ_OR_WRAP(graftReadI64(&r, &v, "input size"), "META section");
        if (v < 1 || v > GRAFT_MAX_NUMEL / numel)
            return load_fail(ld, GRAFT_E_FORMAT,
                             "META section: input size %u at offset %zu is %lld; sizes must be "
                             ">= 1 with at most 2^40 elements in all", d, at, (long long)v);
        numel *= v;
        mi->input.dims[d + 1] = v;
    }
    READ_OR_WRAP(graftReadU32(&r, &lo, "model seed"), "META section");
    READ_OR_WRAP(graftReadU32(&r, &hi, "model seed"), "META section");
    mi->seed = (uint64_t)hi << 32 | lo;
    at = r.pos;
    READ_OR_WRAP(graftReadI64(&r, &mi->epochs_done, "epochs done"), "META section");
    if (mi->epochs_done < 0)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "META section: epochs done at offset %zu is %lld, must be >= 0", at,
                         (long long)mi->epochs_done);
    at = r.pos;
    uint32_t n;
    READ_OR_WRAP(graftReadU32(&r, &n, "class name count"), "META section");
    if (n > (r.size - r.pos) / MIN_CLASS_NAME_BYTES)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "META section: %u class names (count at offset %zu) cannot fit in the "
                         "%zu bytes left", n, at, r.size - r.pos);
    if (n > 0) {
        mi->names = graftCalloc(ld->ctx, n, sizeof *mi->names);
        if (!mi->names) return load_fail(ld, GRAFT_E_NOMEM, "cannot allocate %u class names", n);
        mi->n_names = n;
    }
    for (uint32_t c = 0; c < n; c++) {
        at = r.pos;
        READ_OR_WRAP(graftReadString(&r, &mi->names[c], GRAFT_CLASS_NAME_MAX, "class name"),
                     "META section");
        if (!mi->names[c][0])
            return load_fail(ld, GRAFT_E_FORMAT,
                             "META section: class name %u at offset %zu is empty", c, at);
    }
    return check_section_end(ld, &r, TAG_META);
}

/* Reads one node of the GRPH section and appends it to m. */
static int read_node(const loader *ld, graftReader *r, graft_model *m, int index)
{
    graft_ctx *ctx = ld->ctx;
    char where[64];
    snprintf(where, sizeof where, "GRPH section, node %d", index);
    size_t at = r->pos;
    char *name = NULL;
    int *inputs = NULL;
    graft_layer *layer = NULL;
    int st;
    uint32_t n_inputs, trainable;

    READ_OR_WRAP(graftReadString(r, &name, GRAFT_NAME_MAX, "layer name"), where);
    if (!graftValidName(name) || strcmp(name, GRAFT_MODEL_INPUT) == 0) {
        st = load_fail(ld, GRAFT_E_FORMAT,
                       "%s: the name at offset %zu is not a valid layer name", where, at);
        goto done;
    }
    for (int j = 0; j < m->n_nodes; j++) {
        if (strcmp(m->nodes[j].name, name) == 0) {
            st = load_fail(ld, GRAFT_E_FORMAT,
                           "%s: the name \"%s\" at offset %zu is already node %d's", where, name,
                           at, j);
            goto done;
        }
    }
    snprintf(where, sizeof where, "GRPH section, node %d \"%s\"", index, name);
    at = r->pos;
    st = graftReadU32(r, &n_inputs, "input count");
    if (st != GRAFT_OK) {
        st = load_rewrap(ld, st, "%s", where);
        goto done;
    }
    if (n_inputs < 1 || n_inputs > GRAFT_LAYER_MAX_INPUTS || n_inputs > (r->size - r->pos) / 4) {
        st = load_fail(ld, GRAFT_E_FORMAT,
                       "%s: the input count at offset %zu is %u, must be 1 to %d and fit in "
                       "the %zu bytes left", where, at, n_inputs, GRAFT_LAYER_MAX_INPUTS,
                       r->size - r->pos);
        goto done;
    }
    inputs = graftCalloc(ctx, n_inputs, sizeof *inputs);
    if (!inputs) {
        st = load_fail(ld, GRAFT_E_NOMEM, "%s: cannot allocate its input list", where);
        goto done;
    }
    for (uint32_t k = 0; k < n_inputs; k++) {
        int32_t v;
        at = r->pos;
        st = graftReadI32(r, &v, "input index");
        if (st != GRAFT_OK) {
            st = load_rewrap(ld, st, "%s", where);
            goto done;
        }
        if (v < GRAFT_INPUT_NODE || v >= index) {
            char allowed[64] = "";
            if (index > 0) snprintf(allowed, sizeof allowed, " or an earlier node (0 to %d)",
                                    index - 1);
            st = load_fail(ld, GRAFT_E_FORMAT,
                           "%s: input %u at offset %zu refers to node %d; must be -1 (the model "
                           "input)%s", where, k, at, (int)v, allowed);
            goto done;
        }
        inputs[k] = v;
    }
    at = r->pos;
    st = graftReadU32(r, &trainable, "trainable flag");
    if (st != GRAFT_OK) {
        st = load_rewrap(ld, st, "%s", where);
        goto done;
    }
    if (trainable > 1) {
        st = load_fail(ld, GRAFT_E_FORMAT,
                       "%s: the trainable flag at offset %zu is %u, must be 0 or 1", where, at,
                       trainable);
        goto done;
    }
    at = r->pos;
    st = graftLayerLoad(ctx, r, &layer);
    if (st != GRAFT_OK) {
        st = load_rewrap(ld, st, "%s, layer record at offset %zu", where, at);
        goto done;
    }
    if (!layer->built) {
        st = load_fail(ld, GRAFT_E_FORMAT,
                       "%s: the %s layer record at offset %zu is not built (no shapes)", where,
                       layer->vtbl->kind, at);
        goto done;
    }
    st = graftModelAppendBuilt(m, name, layer, (int)n_inputs, inputs, (int)trainable);
    if (st != GRAFT_OK) {
        st = load_rewrap(ld, st, "%s, layer record at offset %zu", where, at);
        goto done;
    }
    layer = NULL; /* the model owns it */

done:
    graft_layer_free(layer);
    graftFree(ctx, inputs);
    graftFree(ctx, name);
    return st;
}

static int read_graph(const loader *ld, const section_ref *s, graft_model *m)
{
    graftReader r;
    uint32_t n;
    section_reader(ld, s, &r);
    size_t at = r.pos;
    READ_OR_WRAP(graftReadU32(&r, &n, "node count"), "GRPH section");
    if (n > (r.size - r.pos) / MIN_NODE_BYTES)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "GRPH section: %u nodes (count at offset %zu) cannot fit in the %zu "
                         "bytes left", n, at, r.size - r.pos);
    for (uint32_t i = 0; i < n; i++) GRAFT_FORWARD_IF_ERROR(read_node(ld, &r, m, (int)i));
    return check_section_end(ld, &r, TAG_GRAPH);
}

/* The XFER section: learning-rate multipliers, the unfreeze schedule and the
 * model options. */
static int read_transfer(const loader *ld, const section_ref *s, graft_model *m)
{
    graftReader r;
    uint32_t n, n_events, bn, cache;
    int64_t cache_mb;
    const char *where = "XFER section";
    section_reader(ld, s, &r);
    READ_OR_WRAP(graftReadU32(&r, &n, "layer count"), where);
    if (n != (uint32_t)m->n_nodes)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "XFER section at offset %zu: %u learning-rate multipliers for %d layers",
                         s->at, n, m->n_nodes);
    for (int i = 0; i < m->n_nodes; i++) {
        float scale;
        READ_OR_WRAP(graftReadF32(&r, &scale, "learning-rate multiplier"), where);
        if (!(scale >= 0.0f) || !graftIsFinite(scale))
            return load_fail(ld, GRAFT_E_FORMAT,
                             "XFER section: layer \"%s\" has learning-rate multiplier %g",
                             m->nodes[i].name, (double)scale);
        m->nodes[i].lr_scale = scale;
    }
    READ_OR_WRAP(graftReadU32(&r, &n_events, "unfreeze event count"), where);
    if (n_events > (r.size - r.pos) / 16)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "XFER section: %u unfreeze events cannot fit in its %zu remaining bytes",
                         n_events, r.size - r.pos);
    for (uint32_t k = 0; k < n_events; k++) {
        char *from = NULL;
        int64_t epoch;
        float scale;
        READ_OR_WRAP(graftReadString(&r, &from, GRAFT_NAME_MAX, "unfreeze layer name"), where);
        int st = graftReadI64(&r, &epoch, "unfreeze epoch");
        if (st == GRAFT_OK) st = graftReadF32(&r, &scale, "unfreeze learning-rate multiplier");
        if (st == GRAFT_OK && (epoch < 0 || epoch > INT32_MAX || !(scale >= 0.0f) ||
                               !graftIsFinite(scale)))
            st = load_fail(ld, GRAFT_E_FORMAT,
                           "XFER section: unfreeze event %u has epoch %lld and multiplier %g", k,
                           (long long)epoch, (double)scale);
        else if (st != GRAFT_OK)
            st = load_rewrap(ld, st, "%s", where);
        if (st == GRAFT_OK) {
            /* As graft_model_schedule_unfreeze(), whose checks of epoch and
               multiplier are made above: the layer must exist. */
            st = graftModelFindNode(m, from) < 0
                     ? GRAFT_E_NOT_FOUND
                     : graftModelAddUnfreeze(m, from, epoch, scale, ld->func);
            if (st != GRAFT_OK)
                st = load_fail(ld, st == GRAFT_E_NOMEM ? st : GRAFT_E_FORMAT,
                               "XFER section: unfreeze event %u names layer \"%s\", which the "
                               "model does not have", k, from);
        }
        graftFree(ld->ctx, from);
        if (st != GRAFT_OK) return st;
    }
    READ_OR_WRAP(graftReadU32(&r, &bn, "frozen batch norm option"), where);
    READ_OR_WRAP(graftReadU32(&r, &cache, "feature cache option"), where);
    READ_OR_WRAP(graftReadI64(&r, &cache_mb, "feature cache size"), where);
    if (bn > 1 || cache > 1 || cache_mb < 0 || cache_mb > ((int64_t)1 << 30))
        return load_fail(ld, GRAFT_E_FORMAT,
                         "XFER section: options %u, %u, %lld out of range", bn, cache,
                         (long long)cache_mb);
    m->frozen_bn_trains = (int)bn;
    m->feature_cache = (int)cache;
    m->feature_cache_mb = cache_mb;
    if (r.pos < r.size) { /* the task (since 1.3) */
        uint32_t task;
        READ_OR_WRAP(graftReadU32(&r, &task, "task"), where);
        if (task > GRAFT_TASK_REGRESSION)
            return load_fail(ld, GRAFT_E_FORMAT, "XFER section: task %u out of range (0 to 2)",
                             task);
        m->task = (int)task;
    }
    return check_section_end(ld, &r, TAG_TRANSFER);
}

/* The PREP section: the input preprocessing, checked as
 * graft_model_set_preprocess() checks it (the model's input included). */
static int read_preprocess(const loader *ld, const section_ref *s, graft_model *m)
{
    graftReader r;
    uint32_t version;
    const char *where = "PREP section";
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    section_reader(ld, s, &r);
    size_t at = r.pos;
    READ_OR_WRAP(graftReadU32(&r, &version, "record version"), where);
    if (version == 0)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "PREP section: record version 0 at offset %zu is not valid", at);
    if (version > PREP_VERSION)
        return load_fail(ld, GRAFT_E_VERSION,
                         "PREP section: record version %u at offset %zu is newer than this "
                         "graft reads (%u)", version, at, PREP_VERSION);
    int32_t v[6];
    static const char *const names[6] = {"channels", "width", "height",
                                         "resize mode", "shorter side", "normalize mode"};
    for (int i = 0; i < 6; i++) READ_OR_WRAP(graftReadI32(&r, &v[i], names[i]), where);
    p.channels = v[0];
    p.width = v[1];
    p.height = v[2];
    p.resize = v[3];
    p.shorter_side = v[4];
    p.normalize = v[5];
    READ_OR_WRAP(graftReadF32(&r, &p.scale, "scale"), where);
    for (int c = 0; c < 3; c++) READ_OR_WRAP(graftReadF32(&r, &p.mean[c], "mean"), where);
    for (int c = 0; c < 3; c++) READ_OR_WRAP(graftReadF32(&r, &p.std[c], "std"), where);
    GRAFT_FORWARD_IF_ERROR(check_section_end(ld, &r, TAG_PREPROCESS));
    int st = graftPreprocessCheck(m, &p, "preprocessing", ld->func);
    if (st != GRAFT_OK)
        return load_rewrap(ld, st == GRAFT_E_NOMEM ? st : GRAFT_E_FORMAT,
                           "PREP section at offset %zu", s->at);
    m->preprocess = p;
    m->has_preprocess = 1;
    return GRAFT_OK;
}

/* Parses a whole file image, whose framing scan_file() found as map, into a
 * new model and, when optim is not NULL, optimizer. */
static int parse_scanned(const loader *ld, const file_map *scanned, graft_model **model,
                         graft_optim **optim)
{
    file_map map = *scanned;
    meta_info mi;
    graft_model *m = NULL;
    graft_optim *o = NULL;
    if (optim && map.kind != KIND_CHECKPOINT)
        return load_fail(ld, GRAFT_E_FORMAT,
                         "a model file (file kind 1 at offset 12), not a checkpoint");
    int st = read_meta(ld, &map.meta, &mi);
    if (st == GRAFT_OK) {
        st = graftModelNew(ld->ctx, &mi.input, mi.seed, &m);
        if (st != GRAFT_OK) st = load_rewrap(ld, st, "META section");
    }
    if (st == GRAFT_OK) {
        m->epochs_done = mi.epochs_done;
        st = read_graph(ld, &map.graph, m);
    }
    if (st == GRAFT_OK && mi.n_names > 0) {
        if ((int64_t)mi.n_names != graftModelOutputSize(m)) {
            st = load_fail(ld, GRAFT_E_FORMAT,
                           "META section at offset %zu: %u class names, but the model has "
                           "%lld outputs", map.meta.at, mi.n_names,
                           (long long)graftModelOutputSize(m));
        } else {
            st = graftModelSetClassNames(m, (int)mi.n_names, (const char *const *)mi.names,
                                         ld->func);
        }
    }
    if (st == GRAFT_OK && map.transfer.present) st = read_transfer(ld, &map.transfer, m);
    if (st == GRAFT_OK && map.preprocess.present)
        st = read_preprocess(ld, &map.preprocess, m);
    if (st == GRAFT_OK && optim) {
        graftReader r;
        section_reader(ld, &map.optim, &r);
        st = graftOptimLoad(ld->ctx, &r, &o);
        if (st != GRAFT_OK) st = load_rewrap(ld, st, "OPTM section");
        if (st == GRAFT_OK) st = check_section_end(ld, &r, TAG_OPTIM);
    }
    meta_dispose(ld->ctx, &mi);
    if (st != GRAFT_OK) {
        graft_optim_free(o);
        graft_model_free(m);
        return st;
    }
    *model = m;
    if (optim) *optim = o;
    return GRAFT_OK;
}

/* Parses a whole file image into a new model and, when optim is not NULL,
 * optimizer. */
static int parse_file(const loader *ld, graft_model **model, graft_optim **optim)
{
    file_map map;
    GRAFT_FORWARD_IF_ERROR(scan_file(ld, &map));
    return parse_scanned(ld, &map, model, optim);
}

/* Records why reading path failed. */
static int read_failure(graft_ctx *ctx, const char *func, const char *path,
                        const graftFileFailure *fail)
{
    char why[128];
    switch (fail->reason) {
    case GRAFT_FILE_OPEN:
        graftErrnoText(fail->sys_errno, why, sizeof why);
        return graftError(ctx, GRAFT_E_IO, func, "cannot open \"%s\": %s", path, why);
    case GRAFT_FILE_NOMEM:
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu bytes to read \"%s\"",
                          fail->bytes, path);
    default: /* fstat or read failed, or a directory */
        graftErrnoText(fail->sys_errno, why, sizeof why);
        return graftError(ctx, GRAFT_E_IO, func, "cannot read \"%s\": %s", path, why);
    }
}

/* Appends up to n bytes of the file to b (fewer at its end, *got), never
 * past limit, and points ld at the bytes read so far. */
static int read_more(loader *ld, int fd, graftReadBuf *b, size_t n, size_t limit, size_t *got)
{
    static const unsigned char none[1] = {0};
    graftFileFailure fail;
    if (graftReadMore(ld->ctx, fd, b, n, limit, got, &fail) != GRAFT_FILE_OK)
        return read_failure(ld->ctx, ld->func, ld->path, &fail);
    ld->data = b->data ? b->data : none;
    ld->size = b->size;
    return GRAFT_OK;
}

/* Reads the model file or checkpoint at path into b and checks its framing
 * into *map: the 16-byte header first, before anything else is read; then
 * section by section, each section's header, then the payload and checksum
 * its length declares, each section checked (checksum included) as soon as
 * it is in, up to the END section. So a file that is not graft's costs 16
 * bytes, and nothing is read or allocated beyond what the sections
 * declare. A regular file must be at most MAX_FILE_BYTES and is read at
 * most to its size; anything else (a FIFO, a pipe, a device) is refused as
 * soon as a section would take it past MAX_FILE_BYTES, and must end right
 * after its END section. */
static int read_model_file(graft_ctx *ctx, const char *func, const char *path, graftReadBuf *b,
                           file_map *map)
{
    int fd;
    struct stat st;
    graftFileFailure fail;
    if (graftOpenForReading(path, &fd, &st, &fail) != GRAFT_FILE_OK)
        return read_failure(ctx, func, path, &fail);
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        fail.reason = GRAFT_FILE_IS_DIR;
        fail.sys_errno = EISDIR;
        return read_failure(ctx, func, path, &fail);
    }
    int sized = S_ISREG(st.st_mode) && st.st_size > 0;
    size_t limit = MAX_FILE_BYTES, got;
    loader ld = {ctx, func, path, NULL, 0};
    b->sized = sized;
    int status = read_more(&ld, fd, b, HEADER_BYTES, limit, &got);
    if (status == GRAFT_OK) status = scan_header(&ld, map);
    if (status == GRAFT_OK && sized) {
        if ((uint64_t)st.st_size > limit)
            status = load_fail(&ld, GRAFT_E_FORMAT,
                               "the file is %lld bytes, larger than the %zu-byte limit of model "
                               "files and checkpoints", (long long)st.st_size, limit);
        else
            limit = (size_t)st.st_size;
    }
    size_t pos = HEADER_BYTES;
    int is_end = 0;
    while (status == GRAFT_OK && !is_end) {
        if (!sized && b->size == limit && graftFileGoesOn(fd)) {
            status = load_fail(&ld, GRAFT_E_FORMAT,
                               "the data goes on past the %zu-byte limit of model files and "
                               "checkpoints", limit);
            break;
        }
        status = read_more(&ld, fd, b, SECTION_HEAD_BYTES, limit, &got);
        if (status == GRAFT_OK && got == SECTION_HEAD_BYTES) {
            uint64_t length = get_u64(b->data + pos + 8);
            size_t room = limit - b->size, want = room;
            if (length <= room && room - (size_t)length >= SECTION_CRC_BYTES) {
                want = (size_t)length + SECTION_CRC_BYTES;
            } else if (!sized) {
                char name[20];
                tag_text(b->data + pos, name, sizeof name);
                status = load_fail(&ld, GRAFT_E_FORMAT,
                                   "section \"%s\" at offset %zu declares a %llu-byte payload, "
                                   "past the %zu-byte limit of model files and checkpoints",
                                   name, pos, (unsigned long long)length, limit);
            }
            /* else a regular file: read what it holds; scan_section says
               what is missing. */
            if (status == GRAFT_OK) status = read_more(&ld, fd, b, want, limit, &got);
        }
        /* Short data (the end of the file) makes scan_section fail. */
        if (status == GRAFT_OK) status = scan_section(&ld, map, &pos, &is_end);
    }
    if (status == GRAFT_OK && graftFileGoesOn(fd)) {
        if (sized && (uint64_t)st.st_size > pos)
            status = load_fail(&ld, GRAFT_E_FORMAT,
                               "%llu unexpected bytes after the END section, at offset %zu",
                               (unsigned long long)st.st_size - pos, pos);
        else
            status = load_fail(&ld, GRAFT_E_FORMAT,
                               "unexpected bytes after the END section, at offset %zu (the data "
                               "goes on)", pos);
    }
    close(fd);
    if (status == GRAFT_OK) status = scan_complete(&ld, map);
    return status;
}

static int load_path(graft_ctx *ctx, const char *func, const char *path, graft_model **model,
                     graft_optim **optim)
{
    graftReadBuf b = {NULL, 0, 0, 0};
    file_map map;
    int st = read_model_file(ctx, func, path, &b, &map);
    if (st == GRAFT_OK) {
        loader ld = {ctx, func, path, b.data, b.size};
        st = parse_scanned(&ld, &map, model, optim);
    }
    graftFree(ctx, b.data);
    return st;
}

GRAFT_API int graft_model_load(graft_ctx *ctx, const char *path, graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !path[0] || !out, ctx, GRAFT_E_INVALID_ARG,
                    "path (non-empty) and out must not be NULL");
    return load_path(ctx, __func__, path, out, NULL);
}

GRAFT_API int graft_model_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                      graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out || (!data && size > 0), ctx, GRAFT_E_INVALID_ARG,
                    "out is NULL, or data is NULL with a size");
    static const unsigned char empty[1] = {0};
    loader ld = {ctx, __func__, NULL, data ? data : empty, data ? size : 0};
    return parse_file(&ld, out, NULL);
}

GRAFT_API int graft_checkpoint_load(graft_ctx *ctx, const char *path, graft_model **model,
                                    graft_optim **optim)
{
    graftClearError(ctx);
    if (model) *model = NULL;
    if (optim) *optim = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !path[0] || !model || !optim, ctx, GRAFT_E_INVALID_ARG,
                    "path (non-empty), model and optim must not be NULL");
    return load_path(ctx, __func__, path, model, optim);
}

GRAFT_API int graft_checkpoint_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                           graft_model **model, graft_optim **optim)
{
    graftClearError(ctx);
    if (model) *model = NULL;
    if (optim) *optim = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!model || !optim || (!data && size > 0), ctx, GRAFT_E_INVALID_ARG,
                    "model and optim must not be NULL, nor data with a size");
    static const unsigned char empty[1] = {0};
    loader ld = {ctx, __func__, NULL, data ? data : empty, data ? size : 0};
    return parse_file(&ld, model, optim);
}
