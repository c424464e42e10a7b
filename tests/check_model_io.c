/* check_model_io.c - model files and checkpoints (src/model/model_io.c, docs/FORMAT.md);
 * their CRC-32 is check_crc32.c's, atomic replacement check_file.c's. */
#include "testutil.h"

#include "core/crc32.h"
#include "model/model.h"
#include "model/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers: the test model ------------------------------------------------------ */

static void add_layer(graft_model *m, const char *name, graft_layer *l, int n, const char *in0,
                      const char *in1)
{
    const char *ins[2] = {in0, in1};
    int st = graft_model_add(m, name, l, n, n ? ins : NULL);
    ck_assert_msg(st == GRAFT_OK, "adding %s: %s", name, graft_errmsg(m->ctx));
}

static const char *const class_names[5] = {"cat", "dog", "bird", "fish", "horse"};

/* A graph with every layer kind, a residual branch (add) and two concats,
 * input (3, 8, 8), output 5 classes:
 *   conv1 (frozen) - bn1 - relu1 - branch (grouped conv, no bias) - act (leaky)
 *   res = add(relu1, act) - mp (max pool) ; side = avg pool(input) - sig
 *   cat = concat(mp, sig) (7, 4, 4) - hs - gap (7, 1, 1) - gapflat (7)
 *   flat = flatten(cat) (112) - th - cl ; both = concat(cl, gapflat) (119)
 *   drop - fc (5) - sm (softmax) */
static graft_model *build_model(graft_ctx *ctx)
{
    const int64_t in_dims[3] = {3, 8, 8};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, in_dims, 42, &m), GRAFT_OK);
    graft_layer *l = NULL;

    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_layer_conv2d(ctx, &cs, &l);
    add_layer(m, "conv1", l, 0, NULL, NULL);
    graft_layer_batch_norm(ctx, 1e-3f, 0.2f, &l);
    add_layer(m, "bn1", l, 0, NULL, NULL);
    graft_layer_relu(ctx, &l);
    add_layer(m, "relu1", l, 0, NULL, NULL);
    cs.groups = 2;
    cs.bias = 0;
    cs.dilation_h = cs.dilation_w = 1;
    graft_layer_conv2d(ctx, &cs, &l);
    add_layer(m, "branch", l, 0, NULL, NULL);
    graft_layer_leaky_relu(ctx, 0.125f, &l);
    add_layer(m, "act", l, 0, NULL, NULL);
    graft_layer_add(ctx, &l);
    add_layer(m, "res", l, 2, "relu1", "act");

    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = 2;
    ps.stride_h = ps.stride_w = 2;
    graft_layer_max_pool2d(ctx, &ps, &l);
    add_layer(m, "mp", l, 0, NULL, NULL);
    ps.ceil_mode = 1;
    ps.count_include_pad = 1;
    graft_layer_avg_pool2d(ctx, &ps, &l);
    add_layer(m, "side", l, 1, GRAFT_MODEL_INPUT, NULL);
    graft_layer_sigmoid(ctx, &l);
    add_layer(m, "sig", l, 0, NULL, NULL);
    graft_layer_concat(ctx, &l);
    add_layer(m, "cat", l, 2, "mp", "sig");
    graft_layer_hard_swish(ctx, &l);
    add_layer(m, "hs", l, 0, NULL, NULL);
    graft_layer_global_avg_pool(ctx, &l);
    add_layer(m, "gap", l, 0, NULL, NULL);
    graft_layer_flatten(ctx, &l);
    add_layer(m, "gapflat", l, 0, NULL, NULL);
    graft_layer_flatten(ctx, &l);
    add_layer(m, "flat", l, 1, "cat", NULL);
    graft_layer_tanh(ctx, &l);
    add_layer(m, "th", l, 0, NULL, NULL);
    graft_layer_clip(ctx, -0.5f, 0.75f, &l);
    add_layer(m, "cl", l, 0, NULL, NULL);
    graft_layer_concat(ctx, &l);
    add_layer(m, "both", l, 2, "cl", "gapflat");
    graft_layer_dropout(ctx, 0.25f, 99, &l);
    add_layer(m, "drop", l, 0, NULL, NULL);
    graft_layer_dense(ctx, 5, 1, &l);
    add_layer(m, "fc", l, 0, NULL, NULL);
    graft_layer_softmax(ctx, &l);
    add_layer(m, "sm", l, 0, NULL, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 20);

    ck_assert_int_eq(graft_model_set_class_names(m, 5, class_names), GRAFT_OK);
    /* No public setter exists for these two yet: set the fields. */
    m->nodes[0].trainable = 0;
    m->nodes[0].layer->need_param_grad = 0;
    m->epochs_done = 3;

    /* Training-mode passes move batch norm's running statistics. */
    graft_tensor *x = tu_tensor(ctx, 4, 4, 3, 8, 8);
    for (int pass = 0; pass < 3; pass++) {
        const graft_tensor *y = NULL;
        tu_fill_uniform(x, 100 + (uint64_t)pass, -2, 2);
        graftModelSetMode(m, 1);
        ck_assert_msg(graftModelForward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    }
    graft_tensor_free(x);
    graft_tensor *rm = NULL, *rv = NULL;
    ck_assert_int_eq(graft_layer_param(m->nodes[1].layer, 2, NULL, &rm, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(m->nodes[1].layer, 3, NULL, &rv, NULL, NULL), GRAFT_OK);
    ck_assert(graft_tensor_data(rm)[0] != 0.0f && graft_tensor_data(rv)[0] != 1.0f);
    return m;
}

/* Asserts that b is a; with params, also every parameter and buffer bit for
 * bit. */
static void assert_same_model(graft_model *a, graft_model *b)
{
    ck_assert_int_eq(graft_model_layer_count(b), graft_model_layer_count(a));
    ck_assert_int_eq(b->input_shape.ndim, a->input_shape.ndim);
    for (int d = 0; d < a->input_shape.ndim; d++)
        ck_assert_int_eq(b->input_shape.dims[d], a->input_shape.dims[d]);
    ck_assert(b->seed == a->seed);
    ck_assert_int_eq(graft_model_epochs_done(b), graft_model_epochs_done(a));
    ck_assert_int_eq(graft_model_class_count(b), graft_model_class_count(a));
    ck_assert_int_eq(b->n_classes_named, a->n_classes_named);
    for (int c = 0; c < a->n_classes_named; c++)
        ck_assert_str_eq(graft_model_class_name(b, c), graft_model_class_name(a, c));
    for (int i = 0; i < graft_model_layer_count(a); i++) {
        graft_layer *la = graft_model_layer(a, i), *lb = graft_model_layer(b, i);
        ck_assert_str_eq(graft_model_layer_name(b, i), graft_model_layer_name(a, i));
        ck_assert_str_eq(graft_layer_kind(lb), graft_layer_kind(la));
        ck_assert_int_eq(graft_model_layer_trainable(b, i), graft_model_layer_trainable(a, i));
        ck_assert_int_eq(lb->need_param_grad, la->need_param_grad);
        ck_assert_int_eq(graft_model_layer_input_count(b, i), graft_model_layer_input_count(a, i));
        for (int k = 0; k < graft_model_layer_input_count(a, i); k++)
            ck_assert_str_eq(graft_model_layer_input_name(b, i, k),
                             graft_model_layer_input_name(a, i, k));
        int nda, ndb;
        int64_t da[GRAFT_MAX_DIMS], db[GRAFT_MAX_DIMS];
        ck_assert_int_eq(graft_model_layer_output_shape(a, i, &nda, da), GRAFT_OK);
        ck_assert_int_eq(graft_model_layer_output_shape(b, i, &ndb, db), GRAFT_OK);
        ck_assert_int_eq(ndb, nda);
        ck_assert(memcmp(da, db, (size_t)nda * sizeof da[0]) == 0);
        ck_assert_int_eq(graft_layer_param_count(lb), graft_layer_param_count(la));
        for (int k = 0; k < graft_layer_param_count(la); k++) {
            const char *na, *nb;
            graft_tensor *va, *vb;
            int ta, tb;
            ck_assert_int_eq(graft_layer_param(la, k, &na, &va, NULL, &ta), GRAFT_OK);
            ck_assert_int_eq(graft_layer_param(lb, k, &nb, &vb, NULL, &tb), GRAFT_OK);
            ck_assert_str_eq(nb, na);
            ck_assert_int_eq(tb, ta);
            ck_assert(graftTensorSameShape(va, vb));
            ck_assert_msg(memcmp(graft_tensor_data(va), graft_tensor_data(vb),
                                 graft_tensor_numel(va) * sizeof(float)) == 0,
                          "layer %s parameter %s differs", graft_model_layer_name(a, i), na);
        }
    }
}

/* Asserts that both models compute bit-identical inference outputs on x. */
static void assert_same_outputs_on(graft_ctx *ctx, graft_model *a, graft_model *b,
                                   graft_tensor *x)
{
    const graft_tensor *ya = NULL, *yb = NULL;
    ck_assert_msg(graft_model_forward(a, x, &ya) == GRAFT_OK, "%s", graft_errmsg(ctx));
    size_t n = graft_tensor_numel(ya);
    float *keep = malloc(n * sizeof *keep);
    memcpy(keep, graft_tensor_data_const(ya), n * sizeof *keep);
    ck_assert_msg(graft_model_forward(b, x, &yb) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_uint_eq(graft_tensor_numel(yb), n);
    ck_assert_msg(memcmp(keep, graft_tensor_data_const(yb), n * sizeof *keep) == 0,
                  "the loaded model computes different outputs");
    free(keep);
}

/* The same for models with input (4). */
static void assert_same_outputs1(graft_ctx *ctx, graft_model *a, graft_model *b)
{
    graft_tensor *x = tu_tensor(ctx, 2, 3, 4);
    tu_fill_uniform(x, 8, -1, 1);
    assert_same_outputs_on(ctx, a, b, x);
    graft_tensor_free(x);
}

/* Asserts that both test-graph models compute bit-identical outputs. */
static void assert_same_outputs(graft_ctx *ctx, graft_model *a, graft_model *b)
{
    graft_tensor *x = tu_tensor(ctx, 4, 3, 3, 8, 8);
    tu_fill_uniform(x, 7, -1.5f, 1.5f);
    assert_same_outputs_on(ctx, a, b, x);
    graft_tensor_free(x);
}

/* The bytes graft_model_save writes for m (malloc'd). */
static unsigned char *model_bytes(graft_model *m, size_t *size)
{
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "io");
    snprintf(path, sizeof path, "%s/m.graft", dir);
    ck_assert_msg(graft_model_save(m, path) == GRAFT_OK, "%s", graft_errmsg(m->ctx));
    unsigned char *b = tu_read_file(path, size);
    tu_rm_tree(dir);
    return b;
}

/* ---- helpers: reading and rebuilding files section by section ---------------- */

typedef struct tsec {
    char tag[5];
    uint32_t flags;
    size_t at, payload, len;
} tsec;

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Splits a valid file into its sections; returns their count. */
static int split_sections(const unsigned char *b, size_t size, tsec *s, int max)
{
    size_t pos = 16;
    int n = 0;
    while (pos < size) {
        ck_assert_int_lt(n, max);
        memcpy(s[n].tag, b + pos, 4);
        s[n].tag[4] = '\0';
        s[n].flags = le32(b + pos + 4);
        s[n].len = (size_t)le32(b + pos + 8) | (size_t)le32(b + pos + 12) << 32;
        s[n].at = pos;
        s[n].payload = pos + 16;
        pos += 16 + s[n].len + 4;
        n++;
    }
    ck_assert_uint_eq(pos, size);
    return n;
}

/* Appends a section with its checksum. */
static void put_section(graftWriter *w, const char *tag, uint32_t flags, const void *payload,
                        size_t len)
{
    size_t at = w->size;
    graftWriteBytes(w, tag, 4);
    graftWriteU32(w, flags);
    graftWriteI64(w, (int64_t)len);
    graftWriteBytes(w, payload, len);
    graftWriteU32(w, graftCrc32(0, w->data + at, w->size - at));
}

static void put_header(graftWriter *w, uint32_t version, uint32_t kind)
{
    static const unsigned char magic[8] = {0x89, 'G', 'R', 'A', 'F', 'T', '\r', '\n'};
    graftWriteBytes(w, magic, 8);
    graftWriteU32(w, version);
    graftWriteU32(w, kind);
}

/* Loads size bytes and asserts the status and the exact message. */
static void expect_load(graft_ctx *ctx, const void *data, size_t size, int status,
                        const char *msg)
{
    graft_model *m = (graft_model *)1;
    int st = graft_model_load_buffer(ctx, data, size, &m);
    ck_assert_msg(st == status, "status %d, expected %d: %s", st, status, graft_errmsg(ctx));
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(m);
        if (msg) ck_assert_str_eq(graft_errmsg(ctx), msg);
    }
    graft_model_free(m);
}

/* Finds needle in haystack; returns its offset (fails the test if absent). */
static size_t find_bytes(const unsigned char *h, size_t hn, const void *needle, size_t nn)
{
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, needle, nn) == 0) return i;
    ck_abort_msg("byte pattern not found");
    return 0;
}

/* ---- round trips ------------------------------------------------------------------ */

START_TEST(test_roundtrip_file)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx), *b = NULL;
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "io");
    snprintf(path, sizeof path, "%s/model.graft", dir);
    ck_assert_msg(graft_model_save(a, path) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_str_eq(graft_errmsg(ctx), "");
    ck_assert_int_eq(tu_count_entries(dir, NULL), 1); /* no temporary file left */
    ck_assert_msg(graft_model_load(ctx, path, &b) == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_same_model(a, b);
    assert_same_outputs(ctx, a, b);
    /* The loaded model saves to the same bytes: the format is canonical. */
    size_t na, nb;
    unsigned char *ba = tu_read_file(path, &na), *bb = model_bytes(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(ba, bb, na) == 0);
    /* Adding a layer after loading uses the stored seed like the original. */
    graft_layer *la = NULL, *lb = NULL;
    graft_layer_dense(ctx, 3, 1, &la);
    graft_layer_dense(ctx, 3, 1, &lb);
    add_layer(a, "extra", la, 0, NULL, NULL);
    add_layer(b, "extra", lb, 0, NULL, NULL);
    graft_tensor *wa, *wb;
    ck_assert_int_eq(graft_layer_param(la, 0, NULL, &wa, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(lb, 0, NULL, &wb, NULL, NULL), GRAFT_OK);
    ck_assert(memcmp(graft_tensor_data(wa), graft_tensor_data(wb), 15 * sizeof(float)) == 0);
    free(ba);
    free(bb);
    graft_model_free(a);
    graft_model_free(b);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_roundtrip_buffer_and_small_models)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx), *b = NULL;
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    ck_assert_int_eq(graft_model_load_buffer(ctx, bytes, n, &b), GRAFT_OK);
    assert_same_model(a, b);
    assert_same_outputs(ctx, a, b);
    graft_model_free(b);
    /* Saving twice gives the same bytes. */
    size_t n2;
    unsigned char *again = model_bytes(a, &n2);
    ck_assert_uint_eq(n2, n);
    ck_assert(memcmp(again, bytes, n) == 0);
    free(again);
    free(bytes);
    graft_model_free(a);

    /* A model without layers or class names, and one without class names. */
    const int64_t dims[1] = {6};
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0xFFFFFFFFFFFFFFFFull, &a), GRAFT_OK);
    bytes = model_bytes(a, &n);
    ck_assert_int_eq(graft_model_load_buffer(ctx, bytes, n, &b), GRAFT_OK);
    assert_same_model(a, b);
    ck_assert(b->seed == 0xFFFFFFFFFFFFFFFFull);
    graft_model_free(b);
    free(bytes);
    graft_layer *l = NULL;
    graft_layer_dense(ctx, 2, 0, &l);
    add_layer(a, "only", l, 0, NULL, NULL);
    bytes = model_bytes(a, &n);
    ck_assert_int_eq(graft_model_load_buffer(ctx, bytes, n, &b), GRAFT_OK);
    assert_same_model(a, b);
    ck_assert_ptr_null(graft_model_class_name(b, 0));
    graft_model_free(b);
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* A file written from docs/FORMAT.md by hand (not by model_io.c): a dense
 * layer 4 -> 2 with class names, checked against the hand-computed output. */
START_TEST(test_documented_layout_loads)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter meta, graph, file;
    graftWriterInit(&meta, ctx);
    graftWriterInit(&graph, ctx);
    graftWriterInit(&file, ctx);
    /* META: rank 1, size 4, seed 7 (u64), 2 epochs, 2 class names. */
    graftWriteU32(&meta, 1);
    graftWriteI64(&meta, 4);
    graftWriteI64(&meta, 7);
    graftWriteI64(&meta, 2);
    graftWriteU32(&meta, 2);
    graftWriteString(&meta, "no");
    graftWriteString(&meta, "yes");
    /* GRPH: one node "fc" reading the input, trainable, dense record. */
    const float w[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, bias[2] = {0.5f, -1};
    graftWriteU32(&graph, 1);
    graftWriteString(&graph, "fc");
    graftWriteU32(&graph, 1);
    graftWriteI32(&graph, -1);
    graftWriteU32(&graph, 1);
    graftWriteString(&graph, "dense"); /* kind */
    graftWriteU32(&graph, 1);          /* kind version */
    graftWriteI32(&graph, 2);          /* units */
    graftWriteI32(&graph, 1);          /* bias */
    graftWriteU32(&graph, 1);          /* built */
    graftWriteU32(&graph, 1);          /* input count */
    graftWriteU32(&graph, 2);          /* input shape (1, 4) */
    graftWriteI64(&graph, 1);
    graftWriteI64(&graph, 4);
    graftWriteU32(&graph, 2); /* parameter count */
    graftWriteString(&graph, "weight");
    graftWriteU32(&graph, 2);
    graftWriteI64(&graph, 2);
    graftWriteI64(&graph, 4);
    graftWriteFloats(&graph, w, 8);
    graftWriteString(&graph, "bias");
    graftWriteU32(&graph, 1);
    graftWriteI64(&graph, 2);
    graftWriteFloats(&graph, bias, 2);
    put_header(&file, 1, 1);
    put_section(&file, "META", 1, meta.data, meta.size);
    put_section(&file, "GRPH", 1, graph.data, graph.size);
    put_section(&file, "END ", 1, NULL, 0);
    ck_assert_int_eq(file.status, GRAFT_OK);

    graft_model *m = NULL;
    ck_assert_msg(graft_model_load_buffer(ctx, file.data, file.size, &m) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_epochs_done(m), 2);
    ck_assert_str_eq(graft_model_class_name(m, 1), "yes");
    ck_assert_str_eq(graft_model_layer_input_name(m, 0, 0), GRAFT_MODEL_INPUT);
    const float xv[4] = {1, -1, 2, 0.5f};
    const int64_t xd[2] = {1, 4};
    graft_tensor *x = tu_tensor_from(ctx, 2, xd, xv);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    /* 1 - 2 + 6 + 2 + 0.5 = 7.5;  -1 - 0.5 + 0 + 1 - 1 = -1.5 */
    ck_assert_float_eq(graft_tensor_data_const(y)[0], 7.5f);
    ck_assert_float_eq(graft_tensor_data_const(y)[1], -1.5f);
    graft_tensor_free(x);
    graft_model_free(m);

    /* An unknown optional section anywhere before END is skipped. */
    graftWriter f2;
    graftWriterInit(&f2, ctx);
    put_header(&f2, 1, 1);
    put_section(&f2, "note", 0, "later data", 10);
    put_section(&f2, "META", 1, meta.data, meta.size);
    put_section(&f2, "GRPH", 1, graph.data, graph.size);
    put_section(&f2, "xtra", 0, NULL, 0);
    put_section(&f2, "END ", 1, NULL, 0);
    expect_load(ctx, f2.data, f2.size, GRAFT_OK, NULL);
    graftWriterDispose(&f2);

    graftWriterDispose(&meta);
    graftWriterDispose(&graph);
    graftWriterDispose(&file);
    graft_ctx_free(ctx);
}
END_TEST

/* The example of docs/FORMAT.md section 5, byte for byte: a golden file that
 * every later graft must keep loading, and that this graft must write. */
static const unsigned char doc_example[286] = {
    0x89, 0x47, 0x52, 0x41, 0x46, 0x54, 0x0D, 0x0A, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x4D, 0x45, 0x54, 0x41, 0x01, 0x00, 0x00, 0x00,
    0x2D, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x6E, 0x6F, 0x03, 0x00,
    0x00, 0x00, 0x79, 0x65, 0x73, 0x15, 0xE5, 0xEA, 0xA4, 0x47, 0x52, 0x50,
    0x48, 0x01, 0x00, 0x00, 0x00, 0xA5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x66, 0x63, 0x01,
    0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x64, 0x65, 0x6E, 0x73, 0x65, 0x01, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x77, 0x65, 0x69, 0x67,
    0x68, 0x74, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00,
    0x80, 0x40, 0x00, 0x00, 0x80, 0xBF, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x04, 0x00, 0x00, 0x00, 0x62, 0x69,
    0x61, 0x73, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0xBF, 0x0B, 0xA9,
    0x68, 0xA4, 0x45, 0x4E, 0x44, 0x20, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC1, 0x7C, 0xDA, 0xEF,
};

START_TEST(test_documented_example_bytes)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t d[1] = {4};
    graft_model *a = NULL, *b = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, d, 7, &a), GRAFT_OK);
    graft_layer *l = NULL;
    graft_layer_dense(ctx, 2, 1, &l);
    add_layer(a, "fc", l, 0, NULL, NULL);
    const float w[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, bias[2] = {0.5f, -1};
    graft_tensor *wt, *bt;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &wt, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 1, NULL, &bt, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(wt, w, 8), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(bt, bias, 2), GRAFT_OK);
    const char *const names[2] = {"no", "yes"};
    ck_assert_int_eq(graft_model_set_class_names(a, 2, names), GRAFT_OK);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    ck_assert_uint_eq(n, sizeof doc_example);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(bytes[i] == doc_example[i], "byte %zu: 0x%02X, the document says 0x%02X",
                      i, bytes[i], doc_example[i]);
    ck_assert_int_eq(graft_model_load_buffer(ctx, doc_example, sizeof doc_example, &b), GRAFT_OK);
    assert_same_model(a, b);
    assert_same_outputs1(ctx, a, b);
    free(bytes);
    graft_model_free(a);
    graft_model_free(b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- damaged data ----------------------------------------------------------------- */

START_TEST(test_every_truncation_is_format_error)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    for (size_t len = 0; len < n; len++) {
        graft_model *m = (graft_model *)1;
        /* A copy of exactly len bytes, so reading past it is a memory error. */
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, bytes, len);
        int st = graft_model_load_buffer(ctx, cut, len, &m);
        ck_assert_msg(st == GRAFT_E_FORMAT, "truncated to %zu of %zu bytes: status %d (%s)", len,
                      n, st, graft_errmsg(ctx));
        ck_assert_ptr_null(m);
        free(cut);
    }
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_every_byte_flip_is_refused)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    tsec s[8];
    int ns = split_sections(bytes, n, s, 8);
    ck_assert_int_eq(ns, 3); /* META, GRPH, END */
    int crc_failures = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char keep = bytes[i];
        bytes[i] ^= (unsigned char)(1u << (i % 8));
        graft_model *m = (graft_model *)1;
        int st = graft_model_load_buffer(ctx, bytes, n, &m);
        ck_assert_msg(st == GRAFT_E_FORMAT || st == GRAFT_E_VERSION,
                      "flipping byte %zu of %zu: status %d (%s)", i, n, st, graft_errmsg(ctx));
        ck_assert_ptr_null(m);
        crc_failures += strstr(graft_errmsg(ctx), "checksum mismatch") != NULL;
        bytes[i] = keep;
    }
    /* Everything after the 16-byte header is covered by a checksum; a
     * changed length field may instead run past the end. */
    ck_assert_int_gt(crc_failures, (int)(n - 16) * 9 / 10);
    expect_load(ctx, bytes, n, GRAFT_OK, NULL);
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_header_and_framing_messages)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    unsigned char *b = malloc(n + 64);
    char want[512];
    tsec s[8];
    split_sections(bytes, n, s, 8);
    ck_assert_str_eq(s[0].tag, "META");
    ck_assert_str_eq(s[1].tag, "GRPH");
    ck_assert_str_eq(s[2].tag, "END ");
    ck_assert_uint_eq(s[0].at, 16);

    /* wrong magic */
    memcpy(b, bytes, n);
    b[3] = 'X';
    expect_load(ctx, b, n, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): not a graft file: the magic bytes at offset 0 do "
                "not match");
    expect_load(ctx, "GRAFT", 5, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): not a graft file: the magic bytes at offset 0 do "
                "not match");
    expect_load(ctx, bytes, 12, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): truncated data: the header needs 16 bytes, only 12 "
                "present");
    expect_load(ctx, NULL, 0, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): truncated data: the header needs 16 bytes, only 0 "
                "present");

    /* a newer format version, and version 0 */
    memcpy(b, bytes, n);
    b[8] = 2;
    expect_load(ctx, b, n, GRAFT_E_VERSION,
                "graft_model_load_buffer(): format version 2 at offset 8 is newer than this "
                "graft reads (1)");
    b[8] = 0;
    expect_load(ctx, b, n, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): format version 0 at offset 8 is not valid");
    memcpy(b, bytes, n);
    b[12] = 3;
    expect_load(ctx, b, n, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): file kind 3 at offset 12, must be 1 (model) or 2 "
                "(checkpoint)");

    /* a section length pointing past the end */
    memcpy(b, bytes, n);
    size_t at = s[1].at;
    b[at + 8] = 0xFF;
    b[at + 9] = 0xFF;
    b[at + 10] = 0xFF;
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"GRPH\" at offset %zu: its payload length "
             "%llu runs past the end of the data (%zu bytes follow its header, checksum "
             "included)", at, 0xFFFFFFull, n - at - 16);
    expect_load(ctx, b, n, GRAFT_E_FORMAT, want);
    memcpy(b, bytes, n);
    memset(b + at + 8, 0xFF, 8);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"GRPH\" at offset %zu: its payload length "
             "18446744073709551615 runs past the end of the data (%zu bytes follow its header, "
             "checksum included)", at, n - at - 16);
    expect_load(ctx, b, n, GRAFT_E_FORMAT, want);

    /* a damaged payload */
    memcpy(b, bytes, n);
    b[s[1].payload + 5] ^= 0x40;
    uint32_t stored = le32(bytes + s[1].payload + s[1].len);
    uint32_t computed = graftCrc32(0, b + at, 16 + s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"GRPH\" at offset %zu: checksum mismatch "
             "(stored 0x%08X, computed 0x%08X)", at, stored, computed);
    expect_load(ctx, b, n, GRAFT_E_FORMAT, want);

    /* an unknown required section, and an unknown optional one */
    graftWriter w;
    graftWriterInit(&w, ctx);
    graftWriteBytes(&w, bytes, s[2].at);
    put_section(&w, "ZZZZ", 1, "abc", 3);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"ZZZZ\" at offset %zu is required but unknown "
             "to this graft (a newer graft wrote this file)", s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_VERSION, want);
    w.data[s[2].at + 4] = 0; /* now optional: its checksum covers the flags */
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"ZZZZ\" at offset %zu: checksum mismatch "
             "(stored 0x%08X, computed 0x%08X)", s[2].at, le32(w.data + s[2].at + 19),
             graftCrc32(0, w.data + s[2].at, 19));
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    w.size = s[2].at;
    put_section(&w, "ZZZZ", 0, "abc", 3);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_OK, NULL);
    /* reserved flag bits, a known section marked optional, a bad tag */
    w.size = s[2].at;
    put_section(&w, "ZZZZ", 4, "abc", 3);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"ZZZZ\" at offset %zu has unknown flag bits "
             "0x4", s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    w.size = s[2].at;
    put_section(&w, "Z\nZ\"", 0, "abc", 3);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"Z\\x0AZ\\x22\" at offset %zu: a tag must be "
             "printable ASCII", s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    w.size = 0;
    graftWriteBytes(&w, bytes, s[1].at);
    put_section(&w, "GRPH", 0, bytes + s[1].payload, s[1].len);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): section \"GRPH\" at offset %zu is marked optional, but "
             "it is a required section", s[1].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);

    /* required sections: missing, twice; END not last, not empty, absent */
    w.size = 0;
    graftWriteBytes(&w, bytes, s[1].at);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, "graft_model_load_buffer(): no GRPH section");
    w.size = 0;
    graftWriteBytes(&w, bytes, 16);
    graftWriteBytes(&w, bytes + s[1].at, n - s[1].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, "graft_model_load_buffer(): no META section");
    w.size = 0;
    graftWriteBytes(&w, bytes, s[1].at);
    graftWriteBytes(&w, bytes + s[0].at, n - s[0].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): a second \"META\" section at offset %zu (the first is "
             "at offset 16)", s[1].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    memcpy(b, bytes, n);
    memcpy(b + n, "junk", 4);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): 4 unexpected bytes after the END section, at offset %zu",
             n);
    expect_load(ctx, b, n + 4, GRAFT_E_FORMAT, want);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): the data ends at offset %zu without an END section "
             "(truncated?)", s[2].at);
    expect_load(ctx, bytes, s[2].at, GRAFT_E_FORMAT, want);
    w.size = 0;
    graftWriteBytes(&w, bytes, s[2].at);
    put_section(&w, "END ", 1, "x", 1);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): the END section at offset %zu has a 1-byte payload, "
             "must be empty", s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): truncated data: a section header needs 16 bytes at "
             "offset %zu, 5 left", s[1].at);
    expect_load(ctx, bytes, s[1].at + 5, GRAFT_E_FORMAT, want);

    /* an OPTM section in a model file, and a checkpoint without one */
    w.size = 0;
    graftWriteBytes(&w, bytes, s[2].at);
    put_section(&w, "OPTM", 1, "abcd", 4);
    graftWriteBytes(&w, bytes + s[2].at, n - s[2].at);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): an OPTM section at offset %zu in a model file (file "
             "kind 1)", s[2].at);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    memcpy(b, bytes, n);
    b[12] = 2;
    expect_load(ctx, b, n, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): the checkpoint has no OPTM section");

    graftWriterDispose(&w);
    free(b);
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* Section contents that disagree with themselves, behind valid checksums. */
START_TEST(test_content_validation_messages)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    tsec s[8];
    split_sections(bytes, n, s, 8);
    const unsigned char *meta = bytes + s[0].payload, *graph = bytes + s[1].payload;
    unsigned char *p = malloc(s[1].len + 16);
    char want[512];
    graftWriter w;
    graftWriterInit(&w, ctx);
#define REBUILD(meta_p, meta_n, graph_p, graph_n)                   \
    do {                                                            \
        w.size = 0;                                                 \
        put_header(&w, 1, 1);                                       \
        put_section(&w, "META", 1, (meta_p), (meta_n));             \
        put_section(&w, "GRPH", 1, (graph_p), (graph_n));           \
        put_section(&w, "END ", 1, NULL, 0);                        \
    } while (0)

    /* The file as split and rebuilt loads. */
    REBUILD(meta, s[0].len, graph, s[1].len);
    ck_assert_uint_eq(w.size, n);
    ck_assert(memcmp(w.data, bytes, n) == 0);

    /* META: rank 1, size 0 ... */
    graftWriter mw;
    graftWriterInit(&mw, ctx);
    graftWriteU32(&mw, 8);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: the input rank at offset 32 is 8, "
                "must be 1 to 7");
    mw.size = 0;
    graftWriteU32(&mw, 2);
    graftWriteI64(&mw, 3);
    graftWriteI64(&mw, 0);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: input size 1 at offset 44 is 0; sizes "
                "must be >= 1 with at most 2^40 elements in all");
    /* ... epochs < 0, class names that do not fit, an empty name ... */
    mw.size = 0;
    graftWriteU32(&mw, 3);
    graftWriteI64(&mw, 3);
    graftWriteI64(&mw, 8);
    graftWriteI64(&mw, 8);
    graftWriteI64(&mw, 42);
    graftWriteI64(&mw, -1);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: epochs done at offset 68 is -1, must "
                "be >= 0");
    mw.size -= 8;
    graftWriteI64(&mw, 3);
    size_t names_at = mw.size;
    graftWriteU32(&mw, 1000);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: 1000 class names (count at offset 76) "
                "cannot fit in the 0 bytes left");
    mw.size = names_at;
    graftWriteU32(&mw, 2);
    graftWriteU32(&mw, 0);
    graftWriteString(&mw, "abcdef");
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: class name 0 at offset 80 is empty");
    /* ... class names that do not match the output size, trailing bytes. */
    mw.size = names_at;
    graftWriteU32(&mw, 3);
    graftWriteString(&mw, "a");
    graftWriteString(&mw, "b");
    graftWriteString(&mw, "c");
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section at offset 16: 3 class names, but the "
                "model has 5 outputs");
    mw.size = names_at;
    graftWriteU32(&mw, 0);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_OK, NULL); /* no names is fine */
    graftWriteBytes(&mw, "zz", 2);
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: 2 unexpected bytes at offset 80 before "
                "its end");
    mw.size = 6;
    REBUILD(mw.data, mw.size, graph, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT,
                "graft_model_load_buffer(): META section: truncated data: input size needs 4 "
                "bytes at offset 36, 2 left");
    graftWriterDispose(&mw);

    /* GRPH: node 0 is "conv1" at payload offset 4: u32 5, "conv1", u32 1 (inputs), i32 -1. */
    size_t g = s[1].payload; /* file offset of the payload in the rebuilt file */
    ck_assert(memcmp(graph + 8, "conv1", 5) == 0);
    memcpy(p, graph, s[1].len);
    p[17] = 0; /* input -1 -> 0: itself */
    p[18] = p[19] = p[20] = 0;
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 0 \"conv1\": input 0 at offset %zu "
             "refers to node 0; must be -1 (the model input)", g + 17);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* node 5 "res" reads relu1 (2) and act (4): make its second input 5. */
    const unsigned char res_name[] = {3, 0, 0, 0, 'r', 'e', 's'};
    size_t r = find_bytes(graph, s[1].len, res_name, sizeof res_name);
    ck_assert_int_eq((int)le32(graph + r + 7), 2);
    ck_assert_int_eq((int)le32(graph + r + 15), 4);
    memcpy(p, graph, s[1].len);
    p[r + 15] = 5;
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 5 \"res\": input 1 at offset %zu "
             "refers to node 5; must be -1 (the model input) or an earlier node (0 to 4)",
             g + r + 15);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* inputs that exist but whose shapes do not match the record: res reads 1 (bn1) -> ok
     * shape; make it read the model input instead. */
    memcpy(p, graph, s[1].len);
    memset(p + r + 15, 0xFF, 4);
    REBUILD(meta, s[0].len, p, s[1].len);
    const unsigned char add_kind[] = {3, 0, 0, 0, 'a', 'd', 'd'};
    size_t rec = find_bytes(graph + r, s[1].len - r, add_kind, sizeof add_kind) + r;
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 5 \"res\", layer record at offset "
             "%zu: layer \"res\": input 1's shape does not match the layer's build",
             g + rec);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* a repeated name: "relu1" -> "conv1" */
    const unsigned char relu1[] = {5, 0, 0, 0, 'r', 'e', 'l', 'u', '1'};
    size_t rn = find_bytes(graph, s[1].len, relu1, sizeof relu1);
    memcpy(p, graph, s[1].len);
    memcpy(p + rn + 4, "conv1", 5);
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 2: the name \"conv1\" at offset %zu "
             "is already node 0's", g + rn);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    memcpy(p + rn + 4, "inpu ", 5);
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 2: the name at offset %zu is not a "
             "valid layer name", g + rn);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* the trainable flag of conv1 (payload offset 21) */
    memcpy(p, graph, s[1].len);
    ck_assert_int_eq((int)le32(graph + 21), 0);
    p[21] = 2;
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 0 \"conv1\": the trainable flag at "
             "offset %zu is 2, must be 0 or 1", g + 21);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* a bad attribute inside a layer record: dense units 0 */
    const unsigned char dense_kind[] = {5, 0, 0, 0, 'd', 'e', 'n', 's', 'e', 1, 0, 0, 0};
    size_t dk = find_bytes(graph, s[1].len, dense_kind, sizeof dense_kind);
    memcpy(p, graph, s[1].len);
    memset(p + dk + sizeof dense_kind, 0, 4);
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 18 \"fc\", layer record at offset "
             "%zu: units is 0, must be >= 1", g + dk);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* an unknown layer kind "dansk" */
    memcpy(p + dk + 4, "dansk", 5);
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section, node 18 \"fc\", layer record at offset "
             "%zu: unknown layer kind \"dansk\"", g + dk);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* a node count that cannot fit, trailing bytes */
    memcpy(p, graph, s[1].len);
    p[0] = 0xFF;
    p[1] = 0xFF;
    REBUILD(meta, s[0].len, p, s[1].len);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section: 65535 nodes (count at offset %zu) cannot "
             "fit in the %zu bytes left", g, s[1].len - 4);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    memcpy(p, graph, s[1].len);
    memcpy(p + s[1].len, "xyz", 3);
    REBUILD(meta, s[0].len, p, s[1].len + 3);
    snprintf(want, sizeof want,
             "graft_model_load_buffer(): GRPH section: 3 unexpected bytes at offset %zu before "
             "its end", g + s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, want);
    /* fewer nodes than stored: the rest is trailing data */
    memcpy(p, graph, s[1].len);
    p[0] = 19;
    REBUILD(meta, s[0].len, p, s[1].len);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, NULL);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "unexpected bytes"));
    /* a GRPH cut short inside the last node */
    REBUILD(meta, s[0].len, graph, s[1].len - 7);
    expect_load(ctx, w.data, w.size, GRAFT_E_FORMAT, NULL);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx),
                                 "graft_model_load_buffer(): GRPH section, node 19 \"sm\""));
#undef REBUILD
    graftWriterDispose(&w);
    free(p);
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- out of memory -------------------------------------------------------------- */

typedef struct fail_alloc {
    long remaining; /* allocations that succeed before the next fails; < 0: all */
} fail_alloc;

static void *fa_alloc(void *opaque, size_t size)
{
    fail_alloc *f = opaque;
    if (f->remaining == 0) return NULL;
    if (f->remaining > 0) f->remaining--;
    return malloc(size);
}

static void fa_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

START_TEST(test_out_of_memory_load_and_save)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx);
    size_t n;
    unsigned char *bytes = model_bytes(a, &n);
    fail_alloc fa = {-1};
    graft_allocator al = GRAFT_ALLOCATOR_INIT;
    al.alloc = fa_alloc;
    al.free = fa_free;
    al.opaque = &fa;
    graft_ctx *fctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&al, &fctx), GRAFT_OK);
    int done = 0;
    long k;
    for (k = 0; k < 100000 && !done; k++) {
        graft_model *m = (graft_model *)1;
        fa.remaining = k;
        int st = graft_model_load_buffer(fctx, bytes, n, &m);
        if (st == GRAFT_OK) {
            done = 1;
            fa.remaining = -1;
            assert_same_model(a, m);
            graft_model_free(m);
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "allocation %ld failing: status %d (%s)", k, st,
                          graft_errmsg(fctx));
            ck_assert_ptr_null(m);
        }
    }
    ck_assert(done && k > 50);

    /* A model in the failing context, saved over an existing file. */
    fa.remaining = -1;
    graft_model *fm = NULL;
    ck_assert_int_eq(graft_model_load_buffer(fctx, bytes, n, &fm), GRAFT_OK);
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "io");
    snprintf(path, sizeof path, "%s/m.graft", dir);
    tu_write_file(path, "previous", 8);
    done = 0;
    for (k = 0; k < 1000 && !done; k++) {
        fa.remaining = k;
        int st = graft_model_save(fm, path);
        fa.remaining = -1;
        size_t sz;
        unsigned char *now = tu_read_file(path, &sz);
        ck_assert_int_eq(tu_count_entries(dir, NULL), 1);
        if (st == GRAFT_OK) {
            done = 1;
            ck_assert_uint_eq(sz, n);
            ck_assert(memcmp(now, bytes, n) == 0);
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "status %d (%s)", st, graft_errmsg(fctx));
            ck_assert_uint_eq(sz, 8);
            ck_assert(memcmp(now, "previous", 8) == 0);
        }
        free(now);
    }
    ck_assert(done);
    graft_model_free(fm);
    tu_rm_tree(dir);
    graft_ctx_free(fctx);
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- file errors ------------------------------------------------------------------ */

/* (Atomic replacement, and failures that leave the previous file, are check_file.c's.) */

START_TEST(test_argument_and_read_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx), *m = (graft_model *)1;
    char dir[64], path[128], want[512];
    tu_make_dir(dir, sizeof dir, "io");

    ck_assert_int_eq(graft_model_save(NULL, "x"), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_model_save(): model is NULL");
    ck_assert_int_eq(graft_model_save(a, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_save(): path is NULL or empty");
    ck_assert_int_eq(graft_model_save(a, ""), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_checkpoint_save(a, NULL, "x"), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_checkpoint_save(): optim is NULL");
    ck_assert_int_eq(graft_checkpoint_save(NULL, NULL, "x"), GRAFT_E_INVALID_ARG);

    ck_assert_int_eq(graft_model_load(NULL, "x", &m), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_model_load(): ctx is NULL");
    ck_assert_int_eq(graft_model_load(ctx, NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_load(): path (non-empty) and out must not be NULL");
    ck_assert_int_eq(graft_model_load(ctx, "x", NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_load_buffer(ctx, NULL, 5, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_load_buffer(): out is NULL, or data is NULL with a size");
    ck_assert_int_eq(graft_model_load_buffer(NULL, "x", 1, &m), GRAFT_E_INVALID_ARG);
    graft_optim *o = (graft_optim *)1;
    m = (graft_model *)1;
    ck_assert_int_eq(graft_checkpoint_load(ctx, "x", &m, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(graft_checkpoint_load(ctx, "x", NULL, &o), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(o);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_checkpoint_load(): path (non-empty), model and optim must not be "
                     "NULL");

    /* A missing file, a folder, a damaged file (the message names it). */
    snprintf(path, sizeof path, "%s/none.graft", dir);
    ck_assert_int_eq(graft_model_load(ctx, path, &m), GRAFT_E_IO);
    snprintf(want, sizeof want,
             "graft_model_load(): cannot open \"%s\": No such file or directory", path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck_assert_int_eq(graft_model_load(ctx, dir, &m), GRAFT_E_IO);
    snprintf(want, sizeof want, "graft_model_load(): cannot read \"%s\": Is a directory", dir);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    o = (graft_optim *)1;
    ck_assert_int_eq(graft_checkpoint_load(ctx, path, &m, &o), GRAFT_E_IO);
    ck_assert_ptr_null(o);
    snprintf(path, sizeof path, "%s/bad.graft", dir);
    tu_write_file(path, "\x89GRAFT\r\n\x01\0\0\0\x01\0\0", 15);
    ck_assert_int_eq(graft_model_load(ctx, path, &m), GRAFT_E_FORMAT);
    snprintf(want, sizeof want,
             "graft_model_load(): \"%s\": truncated data: the header needs 16 bytes, only 15 "
             "present", path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    /* An empty file. */
    tu_write_file(path, "", 0);
    ck_assert_int_eq(graft_model_load(ctx, path, &m), GRAFT_E_FORMAT);
    ck_assert_ptr_null(m);

    tu_rm_tree(dir);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------------ */

typedef struct slot_list {
    graftOptimSlot slots[64];
    int n;
} slot_list;

static void collect_slot(void *arg, int node, int param, graft_tensor *value,
                         const graft_tensor *grad, int trainable)
{
    slot_list *s = arg;
    (void)node;
    (void)param;
    ck_assert_int_lt(s->n, 64);
    s->slots[s->n].value = value;
    s->slots[s->n].grad = grad;
    s->slots[s->n].lr_scale = 1.0f;
    s->slots[s->n].frozen = !trainable;
    s->n++;
}

/* steps training steps (cross-entropy on random data), numbered from first;
 * dropout is reseeded from the step number, as graft_model_fit does, so two
 * copies of a model given the same steps stay identical. */
static void train_steps(graft_ctx *ctx, graft_model *m, graft_optim *o, int first, int steps)
{
    graft_tensor *x = tu_tensor(ctx, 4, 6, 3, 8, 8), *g = tu_tensor(ctx, 2, 6, 5);
    int32_t labels[6];
    for (int s = first; s < first + steps; s++) {
        tu_fill_uniform(x, 1000 + (uint64_t)s, -2, 2);
        for (int i = 0; i < 6; i++) labels[i] = (s + i) % 5;
        for (int i = 0; i < m->n_nodes; i++)
            if (m->nodes[i].layer->vtbl->reseed)
                m->nodes[i].layer->vtbl->reseed(m->nodes[i].layer, 5000 + (uint64_t)s);
        const graft_tensor *y = NULL;
        float loss;
        graftModelSetMode(m, 1);
        ck_assert_msg(graftModelForward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
        ck_assert_int_eq(graft_loss_softmax_cross_entropy(y, labels, &loss, g), GRAFT_OK);
        ck_assert_msg(graftModelBackward(m, x, g) == GRAFT_OK, "%s", graft_errmsg(ctx));
        slot_list sl;
        sl.n = 0;
        graftModelForEachParam(m, collect_slot, &sl);
        ck_assert_msg(graftOptimStep(o, sl.n, sl.slots, graftOptimLearningRate(o, s / 4.0)) ==
                          GRAFT_OK, "%s", graft_errmsg(ctx));
    }
    graft_tensor_free(x);
    graft_tensor_free(g);
}

static void assert_same_optim(const graft_optim *a, const graft_optim *b)
{
    ck_assert_int_eq(graft_optim_steps(b), graft_optim_steps(a));
    for (int key = 1; key <= 13; key++) {
        double va = -1, vb = -2;
        int sa = graft_optim_get(a, key, &va), sb = graft_optim_get(b, key, &vb);
        ck_assert_int_eq(sb, sa);
        if (sa == GRAFT_OK) ck_assert_msg(memcmp(&va, &vb, sizeof va) == 0, "key %d", key);
    }
}

static void checkpoint_roundtrip(int kind)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx), *b = NULL;
    graft_optim *oa = NULL, *ob = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, kind, &oa), GRAFT_OK);
    if (kind == GRAFT_OPTIM_SGD) {
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_MOMENTUM, 0.9), GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_NESTEROV, 1), GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_STEP), GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_STEP_EPOCHS, 1), GRAFT_OK);
    } else {
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_BETA1, 0.8), GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE),
                         GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_COSINE_EPOCHS, 3), GRAFT_OK);
        ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_WARMUP_EPOCHS, 0.5), GRAFT_OK);
    }
    ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_WEIGHT_DECAY, 0.05), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(oa, GRAFT_OPT_LR, 0.03), GRAFT_OK);
    train_steps(ctx, a, oa, 0, 3);
    ck_assert_int_eq(graft_optim_steps(oa), 3);

    char dir[64], path[128], mpath[128], want[512];
    tu_make_dir(dir, sizeof dir, "io");
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    ck_assert_msg(graft_checkpoint_save(a, oa, path) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(tu_count_entries(dir, NULL), 1);
    ck_assert_msg(graft_checkpoint_load(ctx, path, &b, &ob) == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_same_model(a, b);
    assert_same_optim(oa, ob);

    /* Training on from both gives bit-identical models: the optimizer's kind,
     * hyperparameters and state all came back. */
    train_steps(ctx, a, oa, 3, 3);
    train_steps(ctx, b, ob, 3, 3);
    assert_same_model(a, b);
    assert_same_optim(oa, ob);
    assert_same_outputs(ctx, a, b);
    graft_model_free(b);
    graft_optim_free(ob);
    b = NULL;
    ob = NULL;

    /* graft_model_load reads the model part of a checkpoint. */
    size_t n;
    unsigned char *ck = tu_read_file(path, &n);
    ck_assert_int_eq(graft_model_load(ctx, path, &b), GRAFT_OK);
    graft_model_free(b);
    b = NULL;
    ck_assert_int_eq(ck[12], 2);
    tsec s[8];
    ck_assert_int_eq(split_sections(ck, n, s, 8), 4);
    ck_assert_str_eq(s[2].tag, "OPTM");
    ck_assert_int_eq((int)le32(ck + s[2].payload), 1);     /* optimizer record version */
    ck_assert_int_eq((int)le32(ck + s[2].payload + 4), kind);

    /* graft_checkpoint_load refuses a plain model file. */
    snprintf(mpath, sizeof mpath, "%s/plain.graft", dir);
    ck_assert_int_eq(graft_model_save(a, mpath), GRAFT_OK);
    ob = (graft_optim *)1;
    ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &b, &ob), GRAFT_E_FORMAT);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(ob);
    snprintf(want, sizeof want,
             "graft_checkpoint_load(): \"%s\": a model file (file kind 1 at offset 12), not a "
             "checkpoint", mpath);
    ck_assert_str_eq(graft_errmsg(ctx), want);

    /* A bad hyperparameter behind a valid checksum: the optimizer's message,
     * placed. Re-frame OPTM with the learning rate (first key, bits at
     * payload offset 16) set to -1. */
    graftWriter w;
    graftWriterInit(&w, ctx);
    unsigned char *opt = malloc(s[2].len);
    memcpy(opt, ck + s[2].payload, s[2].len);
    ck_assert_int_eq((int)le32(opt + 12), GRAFT_OPT_LR);
    double bad = -1.0;
    memcpy(opt + 16, &bad, 8);
    graftWriteBytes(&w, ck, s[2].at);
    put_section(&w, "OPTM", 1, opt, s[2].len);
    graftWriteBytes(&w, ck + s[3].at, n - s[3].at);
    tu_write_file(mpath, w.data, w.size);
    ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &b, &ob), GRAFT_E_FORMAT);
    snprintf(want, sizeof want,
             "graft_checkpoint_load(): \"%s\": OPTM section: optimizer hyperparameter "
             "GRAFT_OPT_LR at offset %zu is -1, must be in (0, 10]", mpath, s[2].payload + 16);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    /* ... and graft_model_load does not parse the optimizer at all. */
    ck_assert_int_eq(graft_model_load(ctx, mpath, &b), GRAFT_OK);
    graft_model_free(b);
    b = NULL;
    /* trailing bytes inside OPTM */
    w.size = 0;
    graftWriteBytes(&w, ck, s[2].at);
    graftWriter ow;
    graftWriterInit(&ow, ctx);
    graftWriteBytes(&ow, ck + s[2].payload, s[2].len);
    graftWriteU32(&ow, 7);
    put_section(&w, "OPTM", 1, ow.data, ow.size);
    graftWriteBytes(&w, ck + s[3].at, n - s[3].at);
    tu_write_file(mpath, w.data, w.size);
    ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &b, &ob), GRAFT_E_FORMAT);
    snprintf(want, sizeof want,
             "graft_checkpoint_load(): \"%s\": OPTM section: 4 unexpected bytes at offset %zu "
             "before its end", mpath, s[2].payload + s[2].len);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    graftWriterDispose(&ow);
    /* the file kind set to "model" with the OPTM section still there */
    ck[12] = 1;
    tu_write_file(mpath, ck, n);
    ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &b, &ob), GRAFT_E_FORMAT);
    snprintf(want, sizeof want,
             "graft_checkpoint_load(): \"%s\": an OPTM section at offset %zu in a model file "
             "(file kind 1)", mpath, s[2].at);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck[12] = 2;

    /* An optimizer state that does not fit the model saved with it loads (the
     * optimizer does not expose its layout to the loader); the first step
     * then refuses it. */
    graft_model *small = NULL;
    graft_optim *os = NULL;
    const int64_t sd[3] = {3, 8, 8};
    ck_assert_int_eq(graft_model_create(ctx, 3, sd, 1, &small), GRAFT_OK);
    graft_layer *fl = NULL, *dl = NULL;
    graft_layer_flatten(ctx, &fl);
    add_layer(small, "f", fl, 0, NULL, NULL);
    graft_layer_dense(ctx, 5, 1, &dl);
    add_layer(small, "d", dl, 0, NULL, NULL);
    ck_assert_int_eq(graft_checkpoint_save(small, oa, mpath), GRAFT_OK);
    graft_model_free(small);
    ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &small, &os), GRAFT_OK);
    graft_tensor *sx = tu_tensor(ctx, 4, 2, 3, 8, 8), *sg = tu_tensor(ctx, 2, 2, 5);
    const graft_tensor *sy = NULL;
    ck_assert_int_eq(graftModelForward(small, sx, &sy), GRAFT_OK);
    ck_assert_int_eq(graftModelBackward(small, sx, sg), GRAFT_OK);
    slot_list sl;
    sl.n = 0;
    graftModelForEachParam(small, collect_slot, &sl);
    ck_assert_int_eq(graftOptimStep(os, sl.n, sl.slots, 0.01), GRAFT_E_STATE);
    graft_tensor_free(sx);
    graft_tensor_free(sg);
    graft_optim_free(os);
    graft_model_free(small);

    /* A sample of truncations and flips of the checkpoint, through the file
     * API: every one is refused and nothing leaks. */
    for (size_t len = 0; len < n; len += 97) {
        tu_write_file(mpath, ck, len);
        ck_assert_int_eq(graft_checkpoint_load(ctx, mpath, &b, &ob), GRAFT_E_FORMAT);
        ck_assert_ptr_null(b);
        ck_assert_ptr_null(ob);
    }
    for (size_t i = s[2].at; i < n; i += 13) {
        ck[i] ^= 0x10;
        tu_write_file(mpath, ck, n);
        int st = graft_checkpoint_load(ctx, mpath, &b, &ob);
        ck_assert_msg(st == GRAFT_E_FORMAT, "flip at %zu: %d %s", i, st, graft_errmsg(ctx));
        ck_assert_ptr_null(b);
        ck_assert_ptr_null(ob);
        ck[i] ^= 0x10;
    }

    free(opt);
    graftWriterDispose(&w);
    free(ck);
    tu_rm_tree(dir);
    graft_optim_free(oa);
    graft_model_free(a);
    graft_ctx_free(ctx);
}

START_TEST(test_checkpoint_sgd)
{
    checkpoint_roundtrip(GRAFT_OPTIM_SGD);
}
END_TEST

START_TEST(test_checkpoint_adamw)
{
    checkpoint_roundtrip(GRAFT_OPTIM_ADAMW);
}
END_TEST

START_TEST(test_checkpoint_fresh_optimizer)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build_model(ctx), *b = NULL;
    graft_optim *oa = NULL, *ob = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &oa), GRAFT_OK);
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "io");
    snprintf(path, sizeof path, "%s/c", dir);
    ck_assert_int_eq(graft_checkpoint_save(a, oa, path), GRAFT_OK);
    ck_assert_msg(graft_checkpoint_load(ctx, path, &b, &ob) == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_same_model(a, b);
    assert_same_optim(oa, ob);
    ck_assert_int_eq(graft_optim_steps(ob), 0);
    /* Adam: BETA1 exists and MOMENTUM does not. */
    double v;
    ck_assert_int_eq(graft_optim_get(ob, GRAFT_OPT_BETA1, &v), GRAFT_OK);
    ck_assert_int_eq(graft_optim_get(ob, GRAFT_OPT_MOMENTUM, &v), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_optim_get(ob, GRAFT_OPT_WEIGHT_DECAY, &v), GRAFT_OK);
    ck_assert(v == 0.0); /* Adam's default, not AdamW's 0.01 */
    graft_model_free(b);
    graft_optim_free(ob);
    graft_optim_free(oa);
    tu_rm_tree(dir);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_model_io(void)
{
    Suite *s = suite_create("model_io");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip_file);
    tcase_add_test(tc, test_roundtrip_buffer_and_small_models);
    tcase_add_test(tc, test_documented_layout_loads);
    tcase_add_test(tc, test_documented_example_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("damaged_data");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_truncation_is_format_error);
    tcase_add_test(tc, test_every_byte_flip_is_refused);
    tcase_add_test(tc, test_header_and_framing_messages);
    tcase_add_test(tc, test_content_validation_messages);
    suite_add_tcase(s, tc);
    tc = tcase_create("out_of_memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_out_of_memory_load_and_save);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_argument_and_read_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoints");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_checkpoint_sgd);
    tcase_add_test(tc, test_checkpoint_adamw);
    tcase_add_test(tc, test_checkpoint_fresh_optimizer);
    suite_add_tcase(s, tc);
    return s;
}
