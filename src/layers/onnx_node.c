/*
 * onnx_node.c - the functions kinds write their ONNX nodes with (see
 * onnx_node.h).
 */
#include "onnx_node.h"
#include "core/protobuf.h"
#include "layer.h"

#include <stdio.h>
#include <string.h>

void graftOnnxAuxName(const graftOnnxOut *o, const char *what, char buf[GRAFT_ONNX_NAME_MAX])
{
    snprintf(buf, GRAFT_ONNX_NAME_MAX, "%s#%s", o->name, what);
}

void graftOnnxSubName(const graftOnnxOut *o, const char *what, char buf[GRAFT_ONNX_NAME_MAX])
{
    snprintf(buf, GRAFT_ONNX_NAME_MAX, "%s/%s", o->name, what);
}

size_t graftOnnxNodeBegin(graftOnnxOut *o, const char *op, const char *node_name, int n_in,
                          const char *const *ins, const char *out)
{
    graftWriter *w = o->w;
    size_t n = graftPbBeginMessage(w, 1);
    for (int k = 0; k < n_in; k++) graftPbWriteString(w, 1, ins[k]);
    graftPbWriteString(w, 2, out);
    graftPbWriteString(w, 3, node_name ? node_name : o->name);
    graftPbWriteString(w, 4, op);
    return n;
}

void graftOnnxNodeEnd(graftOnnxOut *o, size_t node) { graftPbEndMessage(o->w, node); }

void graftOnnxNode(graftOnnxOut *o, const char *op, const char *node_name, int n_in,
                   const char *const *ins, const char *out)
{
    graftOnnxNodeEnd(o, graftOnnxNodeBegin(o, op, node_name, n_in, ins, out));
}

void graftOnnxNodeSame(graftOnnxOut *o, const char *op)
{
    graftOnnxNode(o, op, NULL, o->n_inputs, o->inputs, o->output);
}

/* An AttributeProto: its name, then the caller's value field, then its type. */
static size_t attr_begin(graftOnnxOut *o, const char *name)
{
    size_t a = graftPbBeginMessage(o->w, 5);
    graftPbWriteString(o->w, 1, name);
    return a;
}

static void attr_end(graftOnnxOut *o, size_t a, int type)
{
    graftPbWriteInt(o->w, 20, type);
    graftPbEndMessage(o->w, a);
}

void graftOnnxAttrInt(graftOnnxOut *o, const char *name, int64_t v)
{
    size_t a = attr_begin(o, name);
    graftPbWriteInt(o->w, 3, v);
    attr_end(o, a, ONNX_ATTR_INT);
}

void graftOnnxAttrFloat(graftOnnxOut *o, const char *name, float v)
{
    size_t a = attr_begin(o, name);
    graftPbWriteFloat(o->w, 2, v);
    attr_end(o, a, ONNX_ATTR_FLOAT);
}

void graftOnnxAttrInts(graftOnnxOut *o, const char *name, int n, const int64_t *v)
{
    size_t a = attr_begin(o, name);
    for (int k = 0; k < n; k++) graftPbWriteInt(o->w, 8, v[k]);
    attr_end(o, a, ONNX_ATTR_INTS);
}

void graftOnnxAttrString(graftOnnxOut *o, const char *name, const char *s)
{
    size_t a = attr_begin(o, name);
    graftPbWriteString(o->w, 4, s);
    attr_end(o, a, ONNX_ATTR_STRING);
}

/* A TensorProto initializer up to its raw_data's length prefix; returns
 * the message's start. */
static size_t init_begin(graftOnnxOut *o, const char *name, int ndim, const int64_t *dims,
                         int type, size_t elem_bytes, size_t *numel)
{
    graftWriter *w = o->w;
    size_t n = 1, t = graftPbBeginMessage(w, 5);
    for (int d = 0; d < ndim; d++) {
        graftPbWriteInt(w, 1, dims[d]);
        n *= (size_t)dims[d];
    }
    graftPbWriteInt(w, 2, type);
    graftPbWriteString(w, 8, name);
    graftPbWriteTag(w, 9, PB_LEN);
    graftPbWriteVarint(w, n * elem_bytes);
    *numel = n;
    return t;
}

void graftOnnxInitF32(graftOnnxOut *o, const char *name, int ndim, const int64_t *dims,
                      const float *v)
{
    size_t n, t = init_begin(o, name, ndim, dims, ONNX_FLOAT, 4, &n);
    graftWriteFloats(o->w, v, n);
    graftPbEndMessage(o->w, t);
}

void graftOnnxInitI64(graftOnnxOut *o, const char *name, int ndim, const int64_t *dims,
                      const int64_t *v)
{
    size_t n, t = init_begin(o, name, ndim, dims, ONNX_INT64, 8, &n);
    for (size_t k = 0; k < n; k++) graftWriteI64(o->w, v[k]);
    graftPbEndMessage(o->w, t);
}

int graftOnnxInitParam(graftOnnxOut *o, const graft_layer *l, const char *param,
                       char buf[GRAFT_ONNX_NAME_MAX])
{
    graftParam *p = graftLayerFindParam((graft_layer *)l, param);
    if (!p) return graftOnnxInternal(o, "a parameter is missing");
    graftOnnxAuxName(o, param, buf);
    graftOnnxInitF32(o, buf, p->value->ndim, p->value->dims, p->value->data);
    return GRAFT_OK;
}

int graftOnnxInternal(graftOnnxOut *o, const char *what)
{
    return graftError(o->ctx, GRAFT_E_INTERNAL, o->func, "layer \"%s\": %s", o->name, what);
}
