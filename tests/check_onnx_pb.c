/*
 * check_onnx_pb.c - bounded decoding of ONNX's protobuf messages
 * (src/onnx/onnx_pb.c): the fields decoded from a model, tensors in raw and
 * typed form, and hostile inputs (every truncation, random bytes and
 * mutations, lengths past the end, absurd dimensions, deep nesting), which
 * must fail with clear messages and bounded memory; and the arena's
 * refusal of sizes that would wrap.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "

/* ---- decoding ---------------------------------------------------------------------- */

/* Every field graft reads from a model built with the protobuf writer. */
START_TEST(test_decode_model_fields)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 3}, wd[2] = {2, 3}, pads[4] = {1, 0, 1, 0};
    const float w[6] = {1, -2, 3.5f, 0, 0.25f, -1e3f};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "w", 2, wd, w);
    size_t n = tu_mb_node(&b, "Gemm", "fc", "x,w,", "y");
    tu_mb_attr_f(&b, "alpha", 0.5f);
    tu_mb_attr_i(&b, "transB", 1);
    tu_mb_attr_ints(&b, "pads", 4, pads);
    tu_mb_attr_s(&b, "mode", "constant");
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    onnxModel om;
    ck_assert_int_eq(graftOnnxModelDecode(ctx, "test", b.w.data, b.w.size, &om), GRAFT_OK);
    ck_assert_int_eq(om.ir_version, 7);
    ck_assert_str_eq(om.producer_name, "check_onnx");
    ck_assert_int_eq(om.n_opsets, 1);
    ck_assert_str_eq(om.opsets[0].domain, "");
    ck_assert_int_eq(om.opsets[0].version, 13);
    ck_assert_int_eq(om.has_graph, 1);
    const onnxGraph *g = &om.graph;
    ck_assert_str_eq(g->name, "test_graph");
    ck_assert_int_eq(g->n_nodes, 1);
    const onnxNode *node = &g->nodes[0];
    ck_assert_str_eq(node->op_type, "Gemm");
    ck_assert_str_eq(node->name, "fc");
    ck_assert_str_eq(node->domain, "");
    ck_assert_int_eq(node->n_inputs, 3);
    ck_assert_str_eq(node->inputs[0], "x");
    ck_assert_str_eq(node->inputs[1], "w");
    ck_assert_str_eq(node->inputs[2], ""); /* an omitted optional input */
    ck_assert_int_eq(node->n_outputs, 1);
    ck_assert_str_eq(node->outputs[0], "y");
    ck_assert_int_eq(node->n_attrs, 4);
    const onnxAttr *a = graftOnnxNodeAttr(node, "alpha");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->type, ONNX_ATTR_FLOAT);
    ck_assert_float_eq(a->f, 0.5f);
    a = graftOnnxNodeAttr(node, "transB");
    ck_assert_int_eq(a->type, ONNX_ATTR_INT);
    ck_assert_int_eq(a->i, 1);
    a = graftOnnxNodeAttr(node, "pads");
    ck_assert_int_eq(a->type, ONNX_ATTR_INTS);
    ck_assert_int_eq(a->n_ints, 4);
    for (int k = 0; k < 4; k++) ck_assert_int_eq(a->ints[k], pads[k]);
    a = graftOnnxNodeAttr(node, "mode");
    ck_assert_int_eq(a->type, ONNX_ATTR_STRING);
    ck_assert_uint_eq(a->s.n, 8);
    ck_assert(memcmp(a->s.p, "constant", 8) == 0);
    ck_assert_ptr_null(graftOnnxNodeAttr(node, "beta"));
    ck_assert_int_eq(g->n_inits, 1);
    const onnxTensor *t = &g->inits[0];
    ck_assert_str_eq(t->name, "w");
    ck_assert_int_eq(t->data_type, ONNX_FLOAT);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->dims[0], 2);
    ck_assert_int_eq(t->dims[1], 3);
    ck_assert_int_eq(t->has_raw, 1);
    ck_assert_int_eq(t->external, 0);
    size_t numel = 0;
    ck_assert_int_eq(graftOnnxTensorNumel(ctx, "test", t, &numel), GRAFT_OK);
    ck_assert_uint_eq(numel, 6);
    float back[6];
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", t, back, 6), GRAFT_OK);
    ck_assert(memcmp(back, w, sizeof w) == 0);
    ck_assert_int_eq(g->n_inputs, 1);
    ck_assert_str_eq(g->inputs[0].name, "x");
    ck_assert_int_eq(g->inputs[0].is_tensor, 1);
    ck_assert_int_eq(g->inputs[0].elem_type, ONNX_FLOAT);
    ck_assert_int_eq(g->inputs[0].has_shape, 1);
    ck_assert_int_eq(g->inputs[0].ndim, 2);
    ck_assert_int_eq(g->inputs[0].dims[0], -1); /* symbolic */
    ck_assert_int_eq(g->inputs[0].dims[1], 3);
    ck_assert_int_eq(g->n_outputs, 1);
    ck_assert_str_eq(g->outputs[0].name, "y");
    ck_assert_int_eq(g->outputs[0].has_shape, 0);
    ck_assert_str_eq(graftOnnxTypeName(ONNX_FLOAT), "float");
    ck_assert_str_eq(graftOnnxTypeName(ONNX_INT64), "int64");
    graftOnnxModelDispose(&om);
    graftOnnxModelDispose(&om); /* disposing twice is harmless */
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A TensorProto of dims (dims, n) and type, with its values in a typed
 * repeated field (packed) instead of raw_data. */
static void typed_tensor(graftWriter *w, int type, int n, uint32_t field, const int64_t *iv,
                         const float *fv)
{
    graftPbWriteInt(w, 1, n);
    graftPbWriteInt(w, 2, type);
    graftPbWriteTag(w, field, PB_LEN);
    graftWriter p;
    graftWriterInit(&p, w->ctx);
    for (int k = 0; k < n; k++) {
        if (fv) graftWriteF32(&p, fv[k]);
        else graftPbWriteVarint(&p, (uint64_t)iv[k]);
    }
    graftPbWriteVarint(w, p.size);
    graftWriteBytes(w, p.data, p.size);
    graftWriterDispose(&p);
}

/* Tensors in their typed fields convert to float and int64; counts that do
 * not match the dims, fractions read as integers and strings are refused. */
START_TEST(test_decode_tensors)
{
    graft_ctx *ctx = tu_ctx();
    onnxModel owner;
    memset(&owner, 0, sizeof owner);
    owner.ctx = ctx;
    graftWriter w;
    onnxTensor t;
    size_t count;
    float f[4];
    int64_t i[4];
    /* float_data (field 4) */
    const float fv[3] = {1.5f, -2, 3};
    graftWriterInit(&w, ctx);
    typed_tensor(&w, ONNX_FLOAT, 3, 4, NULL, fv);
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", w.data, w.size, &t), GRAFT_OK);
    ck_assert_int_eq(t.has_raw, 0);
    ck_assert_int_eq(graftOnnxTensorStoredCount(ctx, "test", &t, &count), GRAFT_OK);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, f, 3), GRAFT_OK);
    ck_assert(memcmp(f, fv, sizeof fv) == 0);
    /* 1.5 is no integer */
    ck_assert_int_eq(graftOnnxTensorReadI64(ctx, "test", &t, i, 3), GRAFT_E_FORMAT);
    /* fewer stored than the dims say */
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, f, 4), GRAFT_E_FORMAT);
    graftWriterDispose(&w);
    /* int64_data (field 7), negative values as ten-byte varints */
    const int64_t iv[4] = {-1, 0, 1 << 20, -((int64_t)1 << 40)};
    graftWriterInit(&w, ctx);
    typed_tensor(&w, ONNX_INT64, 4, 7, iv, NULL);
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", w.data, w.size, &t), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorReadI64(ctx, "test", &t, i, 4), GRAFT_OK);
    ck_assert(memcmp(i, iv, sizeof iv) == 0);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, f, 4), GRAFT_OK);
    ck_assert_float_eq(f[0], -1.0f);
    ck_assert_float_eq(f[2], 1048576.0f);
    graftWriterDispose(&w);
    /* int32 and bool stored in int32_data (field 5) */
    const int64_t bv[3] = {1, 0, 1};
    graftWriterInit(&w, ctx);
    typed_tensor(&w, ONNX_BOOL, 3, 5, bv, NULL);
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", w.data, w.size, &t), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, f, 3), GRAFT_OK);
    ck_assert(f[0] == 1.0f && f[1] == 0.0f && f[2] == 1.0f);
    graftWriterDispose(&w);
    /* strings are not numbers */
    graftWriterInit(&w, ctx);
    graftPbWriteInt(&w, 1, 1);
    graftPbWriteInt(&w, 2, ONNX_STRING);
    graftPbWriteString(&w, 6, "text");
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", w.data, w.size, &t), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, f, 1), GRAFT_E_UNSUPPORTED);
    graftWriterDispose(&w);
    /* a negative dimension */
    graftWriterInit(&w, ctx);
    graftPbWriteInt(&w, 1, -2);
    graftPbWriteInt(&w, 2, ONNX_FLOAT);
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", w.data, w.size, &t), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorNumel(ctx, "test", &t, &count), GRAFT_E_FORMAT);
    graftWriterDispose(&w);
    graftOnnxModelDispose(&owner);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the arena ------------------------------------------------------------------------ */

/* graftOnnxArenaAlloc() rounds requests up to 16 bytes; a request within 15
 * bytes of SIZE_MAX must be refused, not wrap to a small block. */

START_TEST(test_arena_refuses_sizes_that_would_wrap)
{
    tu_alloc_counter c = {0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    onnxModel m;
    memset(&m, 0, sizeof m);
    m.ctx = ctx;
    unsigned char *small = graftOnnxArenaAlloc(&m, 10);
    ck_assert_ptr_nonnull(small);
    long allocs = c.allocs;
    /* Each wraps when rounded up to 16 bytes, or leaves no room for a
     * block's header: none may reach the allocator. */
    const size_t huge[] = {SIZE_MAX,      SIZE_MAX - 1,  SIZE_MAX - 3,  SIZE_MAX - 7,
                           SIZE_MAX - 14, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX - 17};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = graftOnnxArenaAlloc(&m, huge[i]);
        ck_assert_msg(p == NULL, "graftOnnxArenaAlloc(SIZE_MAX - %zu) returned a block",
                      SIZE_MAX - huge[i]);
    }
    ck_assert_int_eq(c.allocs, allocs); /* refused before asking for memory */
    /* The arena still works, and the first block was not disturbed. */
    memset(small, 0xAB, 10);
    unsigned char *more = graftOnnxArenaAlloc(&m, 100);
    ck_assert_ptr_nonnull(more);
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(more[i], 0);
    for (int i = 0; i < 10; i++) ck_assert_uint_eq(small[i], 0xAB);
    ck_assert_ptr_nonnull(graftOnnxArenaAlloc(&m, 0));
    ck_assert_ptr_nonnull(graftOnnxArenaAlloc(&m, 100000)); /* a big block */
    graftOnnxModelDispose(&m);
    graft_ctx_free(ctx);
    ck_assert_int_eq(c.allocs, c.frees);
}
END_TEST

/* ---- hostile files ------------------------------------------------------------------- */

START_TEST(test_every_truncation_fails_cleanly)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_onnx_small_model(ctx, &b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    graft_model_free(m);
    int format = 0;
    for (size_t len = 0; len < b.w.size; len++) {
        m = (graft_model *)1;
        int st = graft_onnx_import_buffer(ctx, b.w.data, len, NULL, &m);
        ck_assert_msg(st != GRAFT_OK, "a truncation to %zu bytes was accepted", len);
        ck_assert_ptr_null(m);
        ck_assert_msg(strncmp(graft_errmsg(ctx), FN, strlen(FN)) == 0, "%s", graft_errmsg(ctx));
        ck_assert_msg(st == GRAFT_E_FORMAT || st == GRAFT_E_UNSUPPORTED, "status %d at %zu: %s",
                      st, len, graft_errmsg(ctx));
        format += st == GRAFT_E_FORMAT;
    }
    /* Most cuts land inside a field and are malformed protobuf. */
    ck_assert_int_gt(format, (int)b.w.size / 2);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_random_bytes_and_mutations)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_onnx_small_model(ctx, &b);
    unsigned char *copy = malloc(b.w.size);
    graftRng rng;
    graftRngSeed(&rng, 42);
    int ok = 0, failed = 0;
    for (int round = 0; round < 600; round++) {
        size_t size = b.w.size;
        if (round < 200) {
            size = 1 + graftRngNext(&rng) % 512;
            for (size_t k = 0; k < size; k++) copy[k] = (unsigned char)graftRngNext(&rng);
        } else {
            memcpy(copy, b.w.data, size);
            for (int flips = 0; flips < 1 + round % 4; flips++)
                copy[graftRngNext(&rng) % size] = (unsigned char)graftRngNext(&rng);
        }
        graft_model *m = NULL;
        int st = graft_onnx_import_buffer(ctx, copy, size, NULL, &m);
        if (st == GRAFT_OK) {
            ok++;
            graft_model_free(m);
        } else {
            failed++;
            ck_assert_ptr_null(m);
            ck_assert(graft_errmsg(ctx)[0] != '\0');
            ck_assert(st == GRAFT_E_FORMAT || st == GRAFT_E_UNSUPPORTED ||
                      st == GRAFT_E_VERSION || st == GRAFT_E_SHAPE || st == GRAFT_E_NOT_FOUND);
        }
    }
    ck_assert_int_gt(failed, 200);
    ck_assert_int_eq(ok + failed, 600);
    free(copy);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_length_past_the_end)
{
    graft_ctx *ctx = tu_ctx();
    /* field 7 (graph), wire type 2, length 65535 (ff ff 03), then 3 bytes */
    const unsigned char bad[] = {0x08, 0x07, 0x3a, 0xff, 0xff, 0x03, 0x0a, 0x01, 0x00};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bad, sizeof bad, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "malformed ONNX protobuf at offset 2: field 7 of ModelProto declares "
                        "65535 bytes but only 3 remain in the enclosing message");
    /* A varint of eleven bytes. */
    const unsigned char longvar[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0x01};
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, longvar, sizeof longvar, NULL, &m),
                     GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "malformed ONNX protobuf at offset 1: varint over 64 bits in ModelProto");
    /* An empty buffer is a model without a graph. */
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, NULL, 0, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the file holds no graph");
    graft_ctx_free(ctx);
}
END_TEST

/* Initializers that declare 2^40 elements (or more) with a few bytes of data
 * are refused before anything of that size is allocated. */
START_TEST(test_absurd_dimensions)
{
    tu_peak_alloc pa;
    graft_ctx *ctx = tu_peak_ctx(&pa);
    const int64_t xd[2] = {-1, 4}, huge[2] = {(int64_t)1 << 20, (int64_t)1 << 20},
                  over[2] = {(int64_t)1 << 21, (int64_t)1 << 20};
    const float four[4] = {1, 2, 3, 4};
    for (int k = 0; k < 2; k++) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        /* the dims say 2^40 (or 2^41) elements; raw_data holds 4 */
        size_t t = graftPbBeginMessage(&b.w, 5);
        for (int d = 0; d < 2; d++) graftPbWriteInt(&b.w, 1, k ? over[d] : huge[d]);
        graftPbWriteInt(&b.w, 2, ONNX_FLOAT);
        graftPbWriteString(&b.w, 8, "w");
        graftPbWriteBytes(&b.w, 9, four, sizeof four);
        graftPbEndMessage(&b.w, t);
        tu_mb_simple(&b, "MatMul", "mm", "x,w", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = NULL;
        pa.peak = pa.now;
        ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_FORMAT);
        if (k == 0)
            ck_assert_str_eq(graft_errmsg(ctx), FN "tensor \"w\" at offset 56: its dimensions "
                                                   "need 1099511627776 elements but it holds 4");
        else
            ck_assert_str_eq(graft_errmsg(ctx), FN "tensor \"w\": dimension 1 is 1048576, or the "
                                                   "element count exceeds 2^40");
        ck_assert_uint_lt(pa.peak - b.w.capacity, 1 << 20);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
    ck_assert_uint_eq(pa.now, 0);
}
END_TEST

/* Nesting is never followed recursively: a node attribute holding a graph
 * nested 20000 levels deep (attribute > graph > node > attribute > ...)
 * and an unknown field nested as deep are skipped. */
START_TEST(test_deep_nesting)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter inner, next;
    graftWriterInit(&inner, ctx);
    graftPbWriteString(&inner, 1, "leaf");
    for (int level = 0; level < 20000; level++) {
        /* AttributeProto.g (6) holds a GraphProto whose node (1) holds an
         * attribute (5): alternate the three field numbers */
        static const uint32_t fields[3] = {6, 1, 5};
        graftWriterInit(&next, ctx);
        graftPbWriteBytes(&next, fields[level % 3], inner.data, inner.size);
        graftWriterDispose(&inner);
        inner = next;
    }
    ck_assert_int_eq(inner.status, GRAFT_OK);
    const int64_t xd[2] = {-1, 3};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    size_t n = tu_mb_node(&b, "Relu", "relu", "x", "y");
    size_t a = graftPbBeginMessage(&b.w, 5);
    graftPbWriteString(&b.w, 1, "deep");
    graftPbWriteInt(&b.w, 20, ONNX_ATTR_GRAPH);
    graftWriteBytes(&b.w, inner.data, inner.size);
    graftPbEndMessage(&b.w, a);
    tu_mb_end(&b, n);
    graftPbWriteBytes(&b.w, 99, inner.data, inner.size); /* an unknown GraphProto field */
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    graft_model_free(m);
    tu_mb_free(&b);
    /* A Loop whose body is that graph is refused by name, not walked. */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    n = tu_mb_node(&b, "Loop", "loop", "x", "y");
    a = graftPbBeginMessage(&b.w, 5);
    graftPbWriteString(&b.w, 1, "body");
    graftPbWriteInt(&b.w, 20, ONNX_ATTR_GRAPH);
    graftWriteBytes(&b.w, inner.data, inner.size);
    graftPbEndMessage(&b.w, a);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"loop\" (Loop): graft does not support the "
                                           "operator Loop");
    tu_mb_free(&b);
    graftWriterDispose(&inner);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_pb(void)
{
    Suite *s = suite_create("onnx_pb");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_decode_model_fields);
    tcase_add_test(tc, test_decode_tensors);
    tcase_add_test(tc, test_arena_refuses_sizes_that_would_wrap);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_truncation_fails_cleanly);
    tcase_add_test(tc, test_random_bytes_and_mutations);
    tcase_add_test(tc, test_length_past_the_end);
    tcase_add_test(tc, test_absurd_dimensions);
    tcase_add_test(tc, test_deep_nesting);
    suite_add_tcase(s, tc);
    return s;
}
