/*
 * onnx_import.c - ONNX model files to graft models (graft_onnx_import).
 *
 * The families of operators and the lookup of a node's handler, the graph
 * walk and the public entry points: the top of the importer, calling the
 * operator files (onnx_ops_*.c, onnx_fold.c) and the shared helpers
 * (onnx_import_helpers.c), none of which calls back. How values are
 * imported, and which file handles which operators: onnx_import.h.
 *
 * Reading a file is bounded (read_onnx_file): ONNX has no header and no
 * length, so the file is read one top-level protobuf field at a time, each
 * key checked before its value is read and each value read only as far as
 * its key declares, up to a ceiling of 2 GiB (MAX_FILE_BYTES, the most a
 * protobuf message can hold). A regular file over the ceiling is refused
 * from its size; a FIFO, pipe or device as soon as a field would pass it.
 */
#include "onnx_import.h"
#include "core/options.h"
#include "onnx_meta.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPSET_MIN 1
#define OPSET_MAX 18
#define FOLD_BASE_ELEMS ((size_t)1 << 22)

/* The most bytes an ONNX file may have: 2 GiB, the most a protobuf message
 * can hold (graft_onnx_import() in graft.h; read_onnx_file() below). */
#define MAX_FILE_BYTES ((size_t)1 << 31)

/* ---- operators ---------------------------------------------------------------------- */

/* Every family's table (onnx_import.h). */
static const graftOnnxOp *const families[] = {graftOnnxOpsNn, graftOnnxOpsShape,
                                              graftOnnxOpsElementwise, graftOnnxOpsFold};

static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static const char *registered_twice; /* an op type in two table entries, or NULL */

/* Looks for an op type registered twice, in one family or in two (which
 * handler ran would then depend on the order of the families). */
static void check_registry(void)
{
    size_t nf = sizeof families / sizeof families[0];
    for (size_t f = 0; f < nf; f++)
        for (const graftOnnxOp *a = families[f]; a->op_type; a++)
            for (size_t g = f; g < nf; g++)
                for (const graftOnnxOp *b = g == f ? a + 1 : families[g]; b->op_type; b++)
                    if (strcmp(a->op_type, b->op_type) == 0) {
                        registered_twice = a->op_type;
                        return;
                    }
}

static graftOnnxHandler find_handler(const char *op)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const graftOnnxOp *o = families[f]; o->op_type; o++)
            if (strcmp(o->op_type, op) == 0) return o->handler;
    return NULL;
}

/* Fails (GRAFT_E_UNSUPPORTED, GRAFT_E_FORMAT) unless graft has a handler for
 * node index, which it returns in *fn: the operator alone, before any input
 * is looked at. */
static int check_operator(imp *im, int index, graftOnnxHandler *fn)
{
    const onnxNode *node = &im->g->nodes[index];
    im->node = node;
    im->node_index = index;
    if (node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "operators of domain \"%s\" are not supported", node->domain);
    if (im->opset == 0)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the file imports no opset of the default domain");
    *fn = find_handler(node->op_type);
    if (!*fn)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "graft does not support the operator %s",
                                node->op_type);
    return GRAFT_OK;
}

static int import_node(imp *im, int index)
{
    const onnxNode *node = &im->g->nodes[index];
    char why[GRAFT_ERRMSG_SIZE], label[160];
    val *out;
    graftOnnxHandler fn;
    GRAFT_FORWARD_IF_ERROR(check_operator(im, index, &fn));
    if (node->n_outputs < 1 || !node->outputs[0][0])
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the node has no output");
    for (int k = 0; k < node->n_inputs; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpOptInput(im, k, &v));
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, node->outputs[0], &out));
    im->outputs_defined = 1;
    GRAFT_FORWARD_IF_ERROR(fn(im, out));
    if (out->kind == V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "no output was produced");
    for (int k = im->outputs_defined; k < node->n_outputs; k++) {
        if (!node->outputs[k][0]) continue;
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, node->outputs[k], &v));
        snprintf(why, sizeof why, "output %d of %s, which graft does not compute", k,
                 graftOnnxImpNodeLabel(im, label, sizeof label));
        v->kind = V_DEAD;
        v->why = graftOnnxImpStrdup(im, why);
        if (!v->why) return graftOnnxImpNomem(im);
    }
    return GRAFT_OK;
}

/* ---- constants first ---------------------------------------------------------------- */

/* Makes v undefined again, keeping what count_consumers() found. */
static void undefine(val *v)
{
    const char *name = v->name;
    int consumers = v->consumers, last = v->last_consumer, is_output = v->is_output;
    memset(v, 0, sizeof *v);
    v->name = name;
    v->consumers = consumers;
    v->last_consumer = last;
    v->is_output = is_output;
}

/* 1 when node index can be folded before the walk: graft has its operator,
 * its outputs are not defined yet and every input it has is a constant. */
static int foldable(imp *im, int index)
{
    const onnxNode *n = &im->g->nodes[index];
    if ((n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) || im->opset == 0 ||
        !find_handler(n->op_type) || n->n_outputs < 1 || !n->outputs[0][0])
        return 0;
    for (int k = 0; k < n->n_inputs; k++) {
        if (!n->inputs[k][0]) continue;
        const val *v = graftOnnxImpLookup(im, n->inputs[k], 0);
        if (!v || v->kind != V_CONST) return 0;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        if (!n->outputs[k][0]) continue;
        const val *v = graftOnnxImpLookup(im, n->outputs[k], 0);
        if (v && v->kind != V_NONE) return 0;
    }
    return 1;
}

/* The first pass (onnx_import.h): folds, in file order, every node whose
 * inputs are all constants, so that the walk's fusions see every constant,
 * wherever its node is in the file. A node that fails here (but for want of
 * memory, which stops the import) is undone (its outputs undefined, the
 * fold budget and the message restored) and left to the walk, which then
 * fails on it in its place; no layer is made here. */
static int fold_constants_first(imp *im)
{
    const onnxGraph *g = im->g;
    for (int i = 0; i < g->n_nodes; i++) {
        if (im->done[i] || !foldable(im, i)) continue;
        size_t budget = im->fold_budget;
        int layers = im->m->n_nodes;
        int st = import_node(im, i);
        if (st == GRAFT_OK && im->m->n_nodes != layers)
            return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "a layer was made from constants");
        if (st == GRAFT_OK) {
            im->done[i] = 1;
            continue;
        }
        if (st == GRAFT_E_NOMEM || st == GRAFT_E_INTERNAL) return st;
        const onnxNode *n = &g->nodes[i];
        for (int k = 0; k < n->n_outputs; k++) {
            val *v = n->outputs[k][0] ? graftOnnxImpLookup(im, n->outputs[k], 0) : NULL;
            if (v) undefine(v);
        }
        im->fold_budget = budget;
        graftClearError(im->ctx);
    }
    im->node = NULL;
    return GRAFT_OK;
}

/* ---- the gaps: every node graft cannot import --------------------------------------- */

/* Makes the outputs of the current node (im->node) unavailable gaps. */
static int mark_gap_outputs(imp *im)
{
    char why[GRAFT_ERRMSG_SIZE], label[160];
    snprintf(why, sizeof why, "an output of %s, which graft cannot import",
             graftOnnxImpNodeLabel(im, label, sizeof label));
    const char *kept = graftOnnxImpStrdup(im, why);
    if (!kept) return graftOnnxImpNomem(im);
    for (int k = 0; k < im->node->n_outputs; k++) {
        if (!im->node->outputs[k][0]) continue;
        val *v = graftOnnxImpLookup(im, im->node->outputs[k], 1);
        if (!v) return graftOnnxImpNomem(im);
        undefine(v);
        v->kind = V_DEAD;
        v->why = kept;
        v->gap = 1;
    }
    return GRAFT_OK;
}

/* Records the failure just reported for the current node (the context's
 * message, without its "func(): " part) as a gap. */
static int record_gap(imp *im)
{
    const char *msg = graft_errmsg(im->ctx), *p = strstr(msg, "(): ");
    const char *text = graftOnnxImpStrdup(im, p ? p + 4 : msg);
    if (!text) return graftOnnxImpNomem(im);
    im->gaps[im->n_gaps] = text;
    im->gap_ops[im->n_gaps] = im->node->op_type;
    im->n_gaps++;
    graftClearError(im->ctx);
    return mark_gap_outputs(im);
}

/* 1 when node index reads a gap (the output of a node graft could not
 * import). */
static int reads_gap(imp *im, int index)
{
    const onnxNode *n = &im->g->nodes[index];
    for (int k = 0; k < n->n_inputs; k++) {
        if (!n->inputs[k][0]) continue;
        const val *v = graftOnnxImpLookup(im, n->inputs[k], 0);
        if (v && v->kind == V_DEAD && v->gap) return 1;
    }
    return 0;
}

/* A node reading a gap is not tried (its inputs have no shapes): it is
 * reported only when graft has no handler for its operator, else counted as
 * unchecked; its outputs are gaps in turn. */
static int skip_after_gap(imp *im, int index)
{
    graftOnnxHandler fn;
    int st = check_operator(im, index, &fn);
    if (st == GRAFT_E_UNSUPPORTED) return record_gap(im);
    GRAFT_FORWARD_IF_ERROR(st);
    im->n_unchecked++;
    return mark_gap_outputs(im);
}

/* Appends text to buf (size bytes, holding *len) when it fits whole below
 * limit; returns 1 when it did. */
static int append(char *buf, size_t limit, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n >= limit) return 0;
    memcpy(buf + *len, text, n + 1);
    *len += n;
    return 1;
}

/* Fails with the gaps (GRAFT_E_UNSUPPORTED). One node gives its own message,
 * "node "x" (Op): reason". Several give "N nodes graft cannot import (a Op1,
 * b Op2, ...): node "x" (Op1): reason; node "y" (Op2): reason; ...", the op
 * types by count in order of first appearance, then as many nodes as the
 * message holds and "; ... and K more" for the others. Either ends with
 * "; M later nodes that read their outputs were not checked" when there are
 * such nodes. */
static int list_gaps(imp *im)
{
    char tail[128];
    im->node = NULL;
    tail[0] = '\0';
    if (im->n_unchecked)
        snprintf(tail, sizeof tail, "; %d later node%s that read%s %s outputs %s not checked",
                 im->n_unchecked, im->n_unchecked == 1 ? "" : "s",
                 im->n_unchecked == 1 ? "s" : "", im->n_gaps == 1 ? "its" : "their",
                 im->n_unchecked == 1 ? "was" : "were");
    if (im->n_gaps == 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%s%s", im->gaps[0], tail);
    /* What the message holds after "func(): ", less room for the tails. */
    size_t room = GRAFT_ERRMSG_SIZE - strlen(im->func) - 5, len = 0;
    char buf[GRAFT_ERRMSG_SIZE], part[GRAFT_ERRMSG_SIZE];
    snprintf(buf, sizeof buf, "%d node%s graft cannot import (", im->n_gaps,
             im->n_gaps == 1 ? "" : "s");
    len = strlen(buf);
    int first = 1;
    for (int k = 0; k < im->n_gaps; k++) {
        int seen = 0, count = 0;
        for (int j = 0; j < k && !seen; j++) seen = strcmp(im->gap_ops[j], im->gap_ops[k]) == 0;
        if (seen) continue;
        for (int j = k; j < im->n_gaps; j++) count += strcmp(im->gap_ops[j], im->gap_ops[k]) == 0;
        snprintf(part, sizeof part, "%s%d %s", first ? "" : ", ", count, im->gap_ops[k]);
        if (!append(buf, room / 2, &len, part)) { /* half for the nodes */
            append(buf, room, &len, ", ...");
            break;
        }
        first = 0;
    }
    append(buf, room, &len, "):");
    size_t reserve = strlen(tail) + 32; /* "; ... and K more" */
    int listed = 0;
    for (int k = 0; k < im->n_gaps; k++) {
        snprintf(part, sizeof part, "%s %s", k ? ";" : "", im->gaps[k]);
        if (!append(buf, room - reserve, &len, part)) break;
        listed++;
    }
    if (listed < im->n_gaps) {
        snprintf(part, sizeof part, "%s ... and %d more", listed ? ";" : "",
                 im->n_gaps - listed);
        append(buf, room, &len, part);
    }
    append(buf, room, &len, tail);
    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%s", buf);
}

/* ---- the graph ---------------------------------------------------------------------- */

static int default_opset(imp *im)
{
    int found = 0;
    for (int k = 0; k < im->om.n_opsets; k++) {
        const onnxOpset *o = &im->om.opsets[k];
        if (o->domain[0] && strcmp(o->domain, "ai.onnx") != 0) continue;
        im->opset = o->version;
        found = 1;
    }
    if (!found) return GRAFT_OK; /* refused if a node of the default domain appears */
    if (im->opset > OPSET_MAX)
        return graftOnnxImpFail(im, GRAFT_E_VERSION,
                                "the file uses opset %lld; this graft reads opsets %d to %d",
                                (long long)im->opset, OPSET_MIN, OPSET_MAX);
    if (im->opset < OPSET_MIN)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "opset %lld", (long long)im->opset);
    return GRAFT_OK;
}

/* Counts the readers of every value, creating its table entry. */
static int count_consumers(imp *im)
{
    const onnxGraph *g = im->g;
    size_t names = (size_t)g->n_inits + (size_t)g->n_inputs + (size_t)g->n_outputs;
    for (int i = 0; i < g->n_nodes; i++)
        names += (size_t)g->nodes[i].n_inputs + (size_t)g->nodes[i].n_outputs;
    size_t cap = 16;
    while (cap < 2 * names) {
        if (cap > SIZE_MAX / 4 / sizeof(val)) return graftOnnxImpNomem(im);
        cap *= 2;
    }
    im->cap = cap;
    im->vals = graftOnnxImpAlloc(im, cap * sizeof *im->vals);
    im->done = graftOnnxImpAlloc(im, (size_t)g->n_nodes + 1);
    im->gaps = graftOnnxImpAlloc(im, ((size_t)g->n_nodes + 1) * sizeof *im->gaps);
    im->gap_ops = graftOnnxImpAlloc(im, ((size_t)g->n_nodes + 1) * sizeof *im->gap_ops);
    size_t ncap = 64;
    while (ncap < 8 * (size_t)g->n_nodes + 64) ncap *= 2;
    im->names_cap = ncap;
    im->names = graftOnnxImpAlloc(im, ncap * sizeof *im->names);
    if (!im->vals || !im->done || !im->names || !im->gaps || !im->gap_ops)
        return graftOnnxImpNomem(im);
    for (int i = 0; i < g->n_nodes; i++) {
        const onnxNode *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (!n->inputs[k][0]) continue;
            val *v = graftOnnxImpLookup(im, n->inputs[k], 1);
            if (!v) return graftOnnxImpNomem(im);
            v->consumers++;
            v->last_consumer = i;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        val *v = graftOnnxImpLookup(im, g->outputs[k].name, 1);
        if (!v) return graftOnnxImpNomem(im);
        v->consumers++;
        v->is_output = 1;
    }
    return GRAFT_OK;
}

static const onnxValueInfo *find_input(const onnxGraph *g, const char *name)
{
    for (int k = 0; k < g->n_inputs; k++)
        if (strcmp(g->inputs[k].name, name) == 0) return &g->inputs[k];
    return NULL;
}

static int is_initializer(const onnxGraph *g, const char *name)
{
    for (int k = 0; k < g->n_inits; k++)
        if (strcmp(g->inits[k].name, name) == 0) return 1;
    return 0;
}

/* A bound graph input becomes a constant with the graph's declared type and
 * (when it is fully known and holds as many elements) shape. */
static int bind_input(imp *im, const char *name, const graft_tensor *t)
{
    const onnxValueInfo *vi = find_input(im->g, name);
    if (!vi)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                "bound_names names \"%s\", which is not a graph input", name);
    if (!t)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "the value bound to \"%s\" is NULL", name);
    val *v = graftOnnxImpLookup(im, name, 1);
    if (!v) return graftOnnxImpNomem(im);
    if (v->kind != V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "\"%s\" is bound twice", name);
    int64_t dims[ONNX_MAX_RANK];
    int ndim = t->ndim;
    size_t numel = t->numel;
    memcpy(dims, t->dims, (size_t)t->ndim * sizeof *dims);
    if (vi->has_shape && vi->ndim <= ONNX_MAX_RANK) {
        int64_t n = 1;
        int known = 1;
        for (int d = 0; d < vi->ndim; d++) {
            if (vi->dims[d] < 0) known = 0;
            else n *= vi->dims[d];
        }
        if (known && (size_t)n == numel) {
            ndim = vi->ndim;
            memcpy(dims, vi->dims, (size_t)ndim * sizeof *dims);
        }
    }
    int type = vi->is_tensor && vi->elem_type ? vi->elem_type : ONNX_FLOAT;
    int is_int = !graftOnnxImpIsFloatType(type);
    size_t budget = im->fold_budget;
    im->fold_budget = SIZE_MAX;
    int st = graftOnnxImpCvalAlloc(im, &v->c, is_int, type, ndim, dims);
    im->fold_budget = budget;
    GRAFT_FORWARD_IF_ERROR(st);
    for (size_t k = 0; k < numel; k++) {
        float x = t->data[k];
        if (!is_int) {
            v->c.f[k] = x;
        } else {
            if (!(x >= -9.2e18f && x <= 9.2e18f) || x != floorf(x))
                return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                        "the value bound to \"%s\" (type %s) holds %g, not an "
                                        "integer",
                                        name, graftOnnxTypeName(type), (double)x);
            v->c.i[k] = type == ONNX_BOOL ? x != 0 : (int64_t)x;
        }
    }
    v->kind = V_CONST;
    return GRAFT_OK;
}

/* The placeholder for an open axis in the --input-shape hint of messages:
 * its dim_param when that is a short word, else "?". */
static const char *open_axis_word(const onnxValueInfo *in, int d)
{
    const char *n = in->dim_names[d];
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 16) return "?";
    for (size_t k = 0; k < len; k++) {
        char c = n[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return "?";
    }
    return n;
}

/* Fails naming every open axis of the graph input in (the batch aside when
 * batched) and the option that fixes them, with a hint of its value. */
static int open_axes_fail(imp *im, const onnxValueInfo *in)
{
    char axes[GRAFT_ERRMSG_SIZE / 2], hint[160];
    size_t at = 0, hat = 0;
    int n_open = 0, total = 0;
    for (int d = 0; d < in->ndim; d++)
        total += in->dims[d] < 1 && !(im->batched && d == 0);
    axes[0] = hint[0] = '\0';
    for (int d = 0; d < in->ndim; d++) {
        int open = in->dims[d] < 1 && !(im->batched && d == 0);
        if (hat < sizeof hint) {
            if (open) {
                hat += (size_t)snprintf(hint + hat, sizeof hint - hat, "%s%s", d ? "x" : "",
                                        open_axis_word(in, d));
            } else {
                long long v = in->dims[d] > 0 ? (long long)in->dims[d] : 1; /* the batch */
                hat += (size_t)snprintf(hint + hat, sizeof hint - hat, "%s%lld", d ? "x" : "", v);
            }
        }
        if (!open || at >= sizeof axes) continue;
        n_open++;
        const char *sep = n_open == 1 ? "" : n_open == total ? " and " : ", ";
        if (in->dim_names[d])
            at += (size_t)snprintf(axes + at, sizeof axes - at, "%saxis %d (\"%s\")", sep, d,
                                   in->dim_names[d]);
        else
            at += (size_t)snprintf(axes + at, sizeof axes - at, "%saxis %d", sep, d);
    }
    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                            "%s of the graph input \"%s\" %s no fixed size; give %s with the "
                            "import option input_shape (CLI: --input-shape %s)",
                            axes, in->name, total == 1 ? "has" : "have",
                            total == 1 ? "it" : "them", hint);
}

/* The ONNX shape of the graph input in, into dims (its rank into *ndim):
 * the file's, with the open sizes taken from o->input_shape when given.
 * Checks the given sizes against the file's. */
static int input_shape(imp *im, const graft_onnx_import_opts *o, const onnxValueInfo *in,
                       int *ndim, int64_t *dims)
{
    const int64_t *given = o->input_shape;
    int n = o->input_ndim;
    if (!in->has_shape && n == 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph input \"%s\" has no shape; give it with the import "
                                "option input_shape (CLI: --input-shape)",
                                in->name);
    if (in->has_shape && n > 0 && n != in->ndim)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                "input_shape has %d size%s; the graph input \"%s\" has rank %d", n,
                                n == 1 ? "" : "s", in->name, in->ndim);
    *ndim = in->has_shape ? in->ndim : n;
    for (int d = 0; d < *ndim; d++) {
        int batch = im->batched && d == 0;
        int64_t file = in->has_shape ? in->dims[d] : -1;
        dims[d] = file;
        if (n == 0) continue;
        int64_t v = given[d];
        if (v < 1 && !(batch && (v == 0 || v == -1)))
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                    "input_shape gives axis %d of the graph input \"%s\" the size "
                                    "%lld; sizes are 1 or more%s",
                                    d, in->name, (long long)v,
                                    batch ? " (or 0 or -1 for the batch)" : "");
        if (v >= 1 && file >= 1 && v != file)
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                    "input_shape gives axis %d of the graph input \"%s\" the size "
                                    "%lld; the file fixes it at %lld",
                                    d, in->name, (long long)v, (long long)file);
        if (file < 1) dims[d] = v >= 1 ? v : -1;
    }
    if (n == 0)
        for (int d = im->batched ? 1 : 0; d < *ndim; d++)
            if (dims[d] < 1) return open_axes_fail(im, in);
    return GRAFT_OK;
}

/* Sets up the model from the graph input. */
static int make_input(imp *im, const graft_onnx_import_opts *o)
{
    const onnxGraph *g = im->g;
    const onnxValueInfo *in = NULL;
    if (o->input_name) {
        in = find_input(g, o->input_name);
        if (!in)
            return graftOnnxImpFail(im, GRAFT_E_NOT_FOUND, "the graph has no input \"%s\"",
                                    o->input_name);
        val *v = graftOnnxImpLookup(im, in->name, 0);
        if (v && v->kind != V_NONE)
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "input \"%s\" is also bound",
                                    in->name);
    } else {
        int n = 0;
        for (int k = 0; k < g->n_inputs; k++) {
            val *v = graftOnnxImpLookup(im, g->inputs[k].name, 0);
            if (v && v->kind != V_NONE) continue; /* an initializer or a bound value */
            if (!in) in = &g->inputs[k];
            n++;
        }
        if (n != 1)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "the graph has %d inputs without a value; graft models have "
                                    "one input (choose it with input_name and bind the others)",
                                    n);
    }
    if (!in->is_tensor || in->elem_type != ONNX_FLOAT)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph input \"%s\" is of type %s; graft models "
                                "take float tensors",
                                in->name,
                                in->is_tensor ? graftOnnxTypeName(in->elem_type) : "not a tensor");
    int rank = 0, off = im->batched ? 1 : 0;
    int64_t shape[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(input_shape(im, o, in, &rank, shape));
    int n = rank - off;
    if (n < 1 || n > GRAFT_MAX_DIMS - 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph input \"%s\" has rank %d; with batch_axis %d graft "
                                "takes ranks %d to %d",
                                in->name, rank, im->batched, 1 + off, GRAFT_MAX_DIMS - 1 + off);
    int64_t dims[GRAFT_MAX_DIMS];
    memcpy(dims, shape + off, (size_t)n * sizeof *dims);
    im->static_batch = im->batched && shape[0] > 0 ? shape[0] : -1;
    GRAFT_FORWARD_IF_ERROR(graft_model_create(im->ctx, n, dims, o->seed, &im->m));
    val *v = graftOnnxImpLookup(im, in->name, 1);
    if (!v) return graftOnnxImpNomem(im);
    v->kind = V_ACT;
    v->layer = GRAFT_MODEL_INPUT;
    v->ndim = rank;
    memcpy(v->dims, shape, (size_t)rank * sizeof *v->dims);
    if (im->batched) v->dims[0] = SYM_BATCH;
    return GRAFT_OK;
}

static int import_graph(imp *im, const graft_onnx_import_opts *o)
{
    pthread_once(&registry_once, check_registry);
    if (registered_twice)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "the operator %s is registered twice",
                                registered_twice);
    GRAFT_FORWARD_IF_ERROR(default_opset(im));
    if (!im->om.has_graph) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the file holds no graph");
    im->g = &im->om.graph;
    const onnxGraph *g = im->g;
    if (g->n_sparse_inits)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the graph has sparse initializers");
    GRAFT_FORWARD_IF_ERROR(count_consumers(im));
    for (int k = 0; k < g->n_inits; k++) {
        val *v;
        const onnxTensor *t = &g->inits[k];
        if (!t->name[0])
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "initializer %d has no name", k);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, t->name, &v));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalFromTensor(im, t, &v->c));
        v->kind = V_CONST;
    }
    for (int k = 0; k < o->n_bound; k++) {
        if (!o->bound_names || !o->bound_values || !o->bound_names[k])
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "bound_names or bound_values is NULL");
        if (is_initializer(g, o->bound_names[k])) {
            /* A bound value replaces an initializer's default. */
            val *v = graftOnnxImpLookup(im, o->bound_names[k], 0);
            v->kind = V_NONE;
        }
        GRAFT_FORWARD_IF_ERROR(bind_input(im, o->bound_names[k], o->bound_values[k]));
    }
    GRAFT_FORWARD_IF_ERROR(make_input(im, o));
    GRAFT_FORWARD_IF_ERROR(fold_constants_first(im));
    for (int i = 0; i < g->n_nodes; i++) {
        if (im->done[i]) continue;
        if (reads_gap(im, i)) {
            GRAFT_FORWARD_IF_ERROR(skip_after_gap(im, i));
            continue;
        }
        int st = import_node(im, i);
        if (st == GRAFT_E_UNSUPPORTED) st = record_gap(im);
        GRAFT_FORWARD_IF_ERROR(st);
    }
    im->node = NULL;
    if (im->n_gaps) return list_gaps(im);
    if (g->n_outputs != 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph has %d outputs; graft models have one", g->n_outputs);
    const val *y = graftOnnxImpLookup(im, g->outputs[0].name, 0);
    if (!y || y->kind == V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the graph output \"%s\" is not computed by any node",
                                g->outputs[0].name);
    if (y->kind == V_DEAD)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the graph output is %s", y->why);
    if (y->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph output \"%s\" is a constant; graft models compute "
                                "from their input",
                                y->name);
    if (strcmp(y->layer, GRAFT_MODEL_INPUT) == 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph output is its input unchanged; a graft model needs a "
                                "layer");
    if (strcmp(y->layer, im->m->nodes[im->m->n_nodes - 1].name) != 0) {
        int st = graft_model_cut(im->m, y->layer);
        if (st != GRAFT_OK) return graftOnnxImpFail(im, st, "%s", graft_errmsg(im->ctx));
    }
    return GRAFT_OK;
}

/* The sizes graft_onnx_import_opts has had: 1.0 (and 1.1), 1.2 (input_ndim,
 * input_shape). */
static const uint32_t import_opts_sizes[] = {
    (uint32_t)offsetof(graft_onnx_import_opts, input_ndim),
    (uint32_t)offsetof(graft_onnx_import_opts, preprocess),
    (uint32_t)sizeof(graft_onnx_import_opts)};
static const graftOptionsKind import_opts_kind = {"opts", "GRAFT_ONNX_IMPORT_OPTS_INIT", import_opts_sizes,
                                          GRAFT_OPTIONS_COUNT(import_opts_sizes), 0, 0};

static int check_opts(graft_ctx *ctx, const char *func, const graft_onnx_import_opts *o)
{
    GRAFT_RETURN_IF_AT(o->keep_softmax != 0 && o->keep_softmax != 1, ctx, GRAFT_E_INVALID_ARG,
                       func, "keep_softmax is %d, must be 0 or 1", o->keep_softmax);
    GRAFT_RETURN_IF_AT(o->batch_axis != 0 && o->batch_axis != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "batch_axis is %d, must be 0 or 1", o->batch_axis);
    GRAFT_RETURN_IF_AT(o->n_bound < 0 || (o->n_bound > 0 && (!o->bound_names || !o->bound_values)),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "n_bound is %d with bound_names or bound_values NULL", o->n_bound);
    GRAFT_RETURN_IF_AT(o->input_ndim < 0 || o->input_ndim > ONNX_MAX_RANK, ctx,
                       GRAFT_E_INVALID_ARG, func, "input_ndim is %d, must be 0 to %d",
                       o->input_ndim, ONNX_MAX_RANK);
    GRAFT_RETURN_IF_AT(o->input_ndim > 0 && !o->input_shape, ctx, GRAFT_E_INVALID_ARG, func,
                       "input_ndim is %d with input_shape NULL", o->input_ndim);
    return GRAFT_OK;
}

/* The model's input preprocessing: opts->preprocess when given (since 1.3),
 * else the file's "graft.preprocess.*" metadata_props when it has them,
 * else none. */
static int import_preprocess(imp *im, const graft_onnx_import_opts *o)
{
    graft_preprocess p;
    if (o->preprocess) {
        GRAFT_FORWARD_IF_ERROR(graftPreprocessRead(im->ctx, im->func, o->preprocess, &p));
        GRAFT_FORWARD_IF_ERROR(graftPreprocessCheck(im->m, &p, "opts->preprocess", im->func));
    } else {
        int found;
        GRAFT_FORWARD_IF_ERROR(graftOnnxReadPreprocess(im->ctx, im->func, &im->om, &p, &found));
        if (!found) return GRAFT_OK;
        int st = graftPreprocessCheck(im->m, &p, "graft.preprocess", im->func);
        if (st != GRAFT_OK) {
            const char *msg = graft_errmsg(im->ctx), *cause = strstr(msg, "(): ");
            char copy[GRAFT_ERRMSG_SIZE];
            snprintf(copy, sizeof copy, "%s", cause ? cause + 4 : msg);
            return graftError(im->ctx, st == GRAFT_E_NOMEM ? st : GRAFT_E_FORMAT, im->func,
                              "metadata_props: %s", copy);
        }
    }
    im->m->preprocess = p;
    im->m->has_preprocess = 1;
    return GRAFT_OK;
}

static int import_buffer(graft_ctx *ctx, const char *func, const void *data, size_t size,
                         const graft_onnx_import_opts *opts, graft_model **out)
{
    graft_onnx_import_opts read = GRAFT_ONNX_IMPORT_OPTS_INIT;
    const graft_onnx_import_opts *o = &read;
    if (opts) GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &import_opts_kind, opts, &read));
    GRAFT_FORWARD_IF_ERROR(check_opts(ctx, func, o));
    imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.func = func;
    im.batched = o->batch_axis;
    im.keep_softmax = o->keep_softmax;
    im.static_batch = -1;
    im.fold_budget = FOLD_BASE_ELEMS + 2 * size;
    static const unsigned char empty[1] = {0};
    int st = graftOnnxModelDecode(ctx, func, size ? data : empty, size, &im.om);
    if (st == GRAFT_OK) st = import_graph(&im, o);
    if (st == GRAFT_OK) st = import_preprocess(&im, o);
    graftOnnxModelDispose(&im.om);
    if (st != GRAFT_OK) {
        graft_model_free(im.m);
        return st;
    }
    *out = im.m;
    return GRAFT_OK;
}

GRAFT_API int graft_onnx_import_buffer(graft_ctx *ctx, const void *data, size_t size,
                                       const graft_onnx_import_opts *opts, graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out || (!data && size > 0), ctx, GRAFT_E_INVALID_ARG,
                    "out is NULL, or data is NULL with a size");
    return import_buffer(ctx, __func__, data, size, opts, out);
}

/* Records why reading path failed. */
static int read_failure(graft_ctx *ctx, const char *func, const char *path,
                        const graftFileFailure *fail)
{
    char why[128];
    graftErrnoText(fail->sys_errno, why, sizeof why);
    switch (fail->reason) {
    case GRAFT_FILE_OPEN:
        return graftError(ctx, GRAFT_E_IO, func, "cannot open \"%s\": %s", path, why);
    case GRAFT_FILE_NOMEM:
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu bytes to read \"%s\"",
                          fail->bytes, path);
    default: /* fstat or read failed, or a directory */
        return graftError(ctx, GRAFT_E_IO, func, "cannot read \"%s\": %s", path, why);
    }
}

/* Reads a varint of a top-level field into b and *v: *ok is 1, or 0 when the
 * file ends within it or it runs past 10 bytes (the decoder names that). */
static int read_varint(graft_ctx *ctx, int fd, graftReadBuf *b, size_t limit, uint64_t *v,
                       int *ok, graftFileFailure *fail)
{
    *v = 0;
    *ok = 0;
    for (int i = 0; i < 10; i++) {
        size_t got;
        int r = graftReadMore(ctx, fd, b, 1, limit, &got, fail);
        if (r != GRAFT_FILE_OK || got == 0) return r;
        unsigned char c = b->data[b->size - 1];
        *v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *ok = 1;
            return GRAFT_FILE_OK;
        }
    }
    return GRAFT_FILE_OK;
}

/* Reads the ONNX file at path into b. An ONNX file is one protobuf
 * ModelProto, without a header or a length of its own, so it is read field
 * by field at its top level: a field's key, then only the value the key
 * declares (a varint, 8 or 4 bytes, or a length and that many bytes). A key
 * no message can have (field number 0, wire types 3, 4, 6 and 7) ends the
 * reading there, and the decoder then names it: /dev/zero costs one byte.
 * The ceiling is MAX_FILE_BYTES: a regular file larger than that is refused
 * from its size once its first key is read, and is never read past its
 * size; a file without a size (a FIFO, a pipe, a device) is refused as soon
 * as a field's declared length would take it past the ceiling, or when data
 * goes on past it. */
static int read_onnx_file(graft_ctx *ctx, const char *func, const char *path, graftReadBuf *b)
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
    size_t limit = MAX_FILE_BYTES;
    b->sized = sized;
    int r = GRAFT_FILE_OK, status = GRAFT_OK;
    for (int first = 1;; first = 0) {
        if (!sized && b->size == limit) {
            if (graftFileGoesOn(fd))
                status = graftError(ctx, GRAFT_E_FORMAT, func,
                                    "\"%s\" is larger than the %zu-byte limit of ONNX files (2 "
                                    "GiB, the most a protobuf message can hold)", path, limit);
            break;
        }
        size_t at = b->size, got;
        uint64_t key, v;
        int ok;
        r = read_varint(ctx, fd, b, limit, &key, &ok, &fail);
        if (r != GRAFT_FILE_OK || !ok) break;
        uint64_t wire = key & 7, field = key >> 3;
        if (field == 0 || field > 0x1fffffff || (wire != 0 && wire != 1 && wire != 2 && wire != 5))
            break;
        if (first && sized) {
            if ((uint64_t)st.st_size > limit) {
                status = graftError(ctx, GRAFT_E_FORMAT, func,
                                    "\"%s\" is %lld bytes, larger than the %zu-byte limit of "
                                    "ONNX files (2 GiB, the most a protobuf message can hold)",
                                    path, (long long)st.st_size, limit);
                break;
            }
            limit = (size_t)st.st_size;
        }
        if (wire == 0) {
            r = read_varint(ctx, fd, b, limit, &v, &ok, &fail);
            if (r != GRAFT_FILE_OK || !ok) break;
            continue;
        }
        if (wire == 2) {
            r = read_varint(ctx, fd, b, limit, &v, &ok, &fail);
            if (r != GRAFT_FILE_OK || !ok) break;
            if (v > limit - b->size) {
                if (!sized) {
                    status = graftError(ctx, GRAFT_E_FORMAT, func,
                                        "\"%s\": field %llu at offset %zu declares %llu bytes, "
                                        "past the %zu-byte limit of ONNX files (2 GiB, the most "
                                        "a protobuf message can hold)", path,
                                        (unsigned long long)field, at, (unsigned long long)v,
                                        limit);
                    break;
                }
                v = limit - b->size; /* what the file holds: the decoder says what is missing */
            }
        } else {
            v = wire == 1 ? 8 : 4;
        }
        r = graftReadMore(ctx, fd, b, (size_t)v, limit, &got, &fail);
        if (r != GRAFT_FILE_OK || got < v) break;
    }
    close(fd);
    if (r != GRAFT_FILE_OK) return read_failure(ctx, func, path, &fail);
    return status;
}

GRAFT_API int graft_onnx_import(graft_ctx *ctx, const char *path,
                                const graft_onnx_import_opts *opts, graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !path[0] || !out, ctx, GRAFT_E_INVALID_ARG,
                    "path (non-empty) and out must not be NULL");
    graftReadBuf b = {NULL, 0, 0, 0};
    int st = read_onnx_file(ctx, __func__, path, &b);
    if (st == GRAFT_OK) st = import_buffer(ctx, __func__, b.data, b.size, opts, out);
    graftFree(ctx, b.data);
    return st;
}
