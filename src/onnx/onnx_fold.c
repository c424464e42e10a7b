/*
 * onnx_fold.c - constant folding for the ONNX importer (onnx_import.h).
 *
 * The shape arithmetic exporters emit (Shape, Gather, Concat, Unsqueeze,
 * ...) is evaluated at import, on constants: initializers, Constant nodes
 * and the values computed from them only. Integer and bool values are held
 * as int64_t (SYM_BATCH, the batch size, may be moved but not computed
 * with), floating-point ones as float. Every value computed here is
 * charged to the fold budget (a result that keeps its input's values shares
 * them).
 *
 * The operators graft evaluates on constants only are registered here
 * (graftOnnxOpsFold); the others call graftOnnxImpFold*() when their
 * inputs are constants.
 */
#include "onnx_import.h"

#include <math.h>
#include <string.h>

/* ---- broadcasting and indexing ------------------------------------------------------ */

/* Row-major strides of dims. */
static void strides_of(int ndim, const int64_t *dims, int64_t *st)
{
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= dims[d];
    }
}

/* Advances a multi-index over dims; returns 0 after the last. */
static int next_index(int ndim, const int64_t *dims, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* NumPy broadcasting of shapes a and b into out. */
static int bcast_shapes(imp *im, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                        int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int64_t x = d - (n - na) >= 0 ? a[d - (n - na)] : 1;
        int64_t y = d - (n - nb) >= 0 ? b[d - (n - nb)] : 1;
        if (x != y && x != 1 && y != 1) {
            char sa[96], sb[96];
            graftOnnxImpShapeText(na, a, sa, sizeof sa);
            graftOnnxImpShapeText(nb, b, sb, sizeof sb);
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "shapes %s and %s do not broadcast", sa,
                                    sb);
        }
        out[d] = x == 1 ? y : x;
    }
    *nout = n;
    return GRAFT_OK;
}

/* Strides for reading a tensor of shape (n, dims) broadcast to (nout, out):
 * 0 on broadcast axes. */
static void bcast_strides(int n, const int64_t *dims, int nout, const int64_t *out, int64_t *st)
{
    int64_t own[ONNX_MAX_RANK];
    strides_of(n, dims, own);
    for (int d = 0; d < nout; d++) {
        int k = d - (nout - n);
        st[d] = k < 0 || (dims[k] == 1 && out[d] != 1) ? 0 : own[k];
    }
}

/* ---- folds -------------------------------------------------------------------------- */

int graftOnnxImpFoldCopy(imp *im, val *dst, const cval *src)
{
    (void)im;
    dst->kind = V_CONST;
    dst->c = *src;
    return GRAFT_OK;
}

int graftOnnxImpFoldRedim(imp *im, val *dst, const cval *src, int ndim, const int64_t *dims)
{
    size_t numel = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpShapeNumel(im, ndim, dims, &numel));
    if (numel != src->numel || ndim > ONNX_MAX_RANK)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the new shape does not hold the %zu elements",
                                src->numel);
    dst->kind = V_CONST;
    dst->c = *src;
    dst->c.ndim = ndim;
    if (ndim) memcpy(dst->c.dims, dims, (size_t)ndim * sizeof *dims);
    return GRAFT_OK;
}

int graftOnnxImpFoldBinary(imp *im, val *dst, const cval *a, const cval *b)
{
    int n;
    int64_t dims[ONNX_MAX_RANK], sa[ONNX_MAX_RANK], sb[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, a->ndim, a->dims, b->ndim, b->dims, &n, dims));
    if (graftOnnxImpHasSym(a) || graftOnnxImpHasSym(b)) return graftOnnxImpSymFail(im);
    int cmp = graftOnnxImpOpIs(im, "Equal") || graftOnnxImpOpIs(im, "Less") ||
              graftOnnxImpOpIs(im, "Greater");
    int is_int = cmp || (a->is_int && b->is_int);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpCvalAlloc(im, c, is_int, cmp ? ONNX_BOOL : a->dtype, n, dims));
    bcast_strides(a->ndim, a->dims, n, dims, sa);
    bcast_strides(b->ndim, b->dims, n, dims, sb);
    char op = graftOnnxImpOpIs(im, "Add")       ? '+'
              : graftOnnxImpOpIs(im, "Sub")     ? '-'
              : graftOnnxImpOpIs(im, "Mul")     ? '*'
              : graftOnnxImpOpIs(im, "Div")     ? '/'
              : graftOnnxImpOpIs(im, "Equal")   ? '='
              : graftOnnxImpOpIs(im, "Less")    ? '<'
              : graftOnnxImpOpIs(im, "Greater") ? '>'
              : graftOnnxImpOpIs(im, "Max")     ? 'M'
              : graftOnnxImpOpIs(im, "Min")     ? 'm'
              : graftOnnxImpOpIs(im, "Mod")     ? '%'
                                                : 'p';
    int64_t fmod_attr = 0;
    if (op == '%') GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "fmod", 0, &fmod_attr));
    if (op == '%' && !is_int && !fmod_attr)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "Mod of floating-point values needs fmod 1");
    for (size_t k = 0; k < c->numel; k++) {
        size_t ia = 0, ib = 0;
        for (int d = 0; d < n; d++) {
            ia += (size_t)(idx[d] * sa[d]);
            ib += (size_t)(idx[d] * sb[d]);
        }
        if (is_int && !cmp) {
            int64_t x = a->i[ia], y = b->i[ib], r;
            switch (op) {
            case '+': r = (int64_t)((uint64_t)x + (uint64_t)y); break;
            case '-': r = (int64_t)((uint64_t)x - (uint64_t)y); break;
            case '*': r = (int64_t)((uint64_t)x * (uint64_t)y); break;
            case '/':
                if (y == 0 || (x == INT64_MIN && y == -1))
                    return graftOnnxImpFail(im, GRAFT_E_FORMAT, "integer division by %lld",
                                            (long long)y);
                r = x / y;
                break;
            case 'M': r = x > y ? x : y; break;
            case 'm': r = x < y ? x : y; break;
            case '%':
                if (y == 0)
                    return graftOnnxImpFail(im, GRAFT_E_FORMAT, "integer Mod by 0");
                r = y == -1 ? 0 : x % y; /* C's remainder: the dividend's sign (fmod 1) */
                if (!fmod_attr && r != 0 && (r < 0) != (y < 0)) r += y; /* the divisor's */
                break;
            default: {
                double p = pow((double)x, (double)y);
                if (!(p >= -9.2e18 && p <= 9.2e18))
                    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "an integer power overflows");
                r = (int64_t)p;
            }
            }
            c->i[k] = r;
        } else {
            double x = graftOnnxImpCget(a, ia), y = graftOnnxImpCget(b, ib), r;
            switch (op) {
            case '+': r = x + y; break;
            case '-': r = x - y; break;
            case '*': r = x * y; break;
            case '/': r = x / y; break;
            case '=': r = x == y; break;
            case '<': r = x < y; break;
            case '>': r = x > y; break;
            case 'M': r = x > y ? x : y; break;
            case 'm': r = x < y ? x : y; break;
            case '%': r = fmod(x, y); break;
            default: r = pow(x, y); break;
            }
            if (cmp) c->i[k] = r != 0;
            else c->f[k] = (float)r;
        }
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldUnary(imp *im, val *dst, const cval *a)
{
    if (graftOnnxImpHasSym(a)) return graftOnnxImpSymFail(im);
    const char *op = im->node->op_type;
    int keep_int = a->is_int && (!strcmp(op, "Neg") || !strcmp(op, "Abs") ||
                                 !strcmp(op, "Floor") || !strcmp(op, "Ceil") ||
                                 !strcmp(op, "Relu") || !strcmp(op, "Not"));
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpCvalAlloc(im, c, keep_int, keep_int ? a->dtype : ONNX_FLOAT, a->ndim, a->dims));
    for (size_t k = 0; k < a->numel; k++) {
        if (keep_int) {
            int64_t x = a->i[k];
            if (!strcmp(op, "Neg")) x = (int64_t)(0 - (uint64_t)x);
            else if (!strcmp(op, "Abs")) x = x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
            else if (!strcmp(op, "Relu")) x = x < 0 ? 0 : x;
            else if (!strcmp(op, "Not")) x = !x;
            c->i[k] = x;
            continue;
        }
        double x = graftOnnxImpCget(a, k), r;
        if (!strcmp(op, "Neg")) r = -x;
        else if (!strcmp(op, "Abs")) r = fabs(x);
        else if (!strcmp(op, "Sqrt")) r = sqrt(x);
        else if (!strcmp(op, "Exp")) r = exp(x);
        else if (!strcmp(op, "Log")) r = log(x);
        else if (!strcmp(op, "Reciprocal")) r = 1.0 / x;
        else if (!strcmp(op, "Floor")) r = floor(x);
        else if (!strcmp(op, "Ceil")) r = ceil(x);
        else if (!strcmp(op, "Relu")) r = x < 0 ? 0 : x;
        else if (!strcmp(op, "Sigmoid")) r = 1.0 / (1.0 + exp(-x));
        else if (!strcmp(op, "Tanh")) r = tanh(x);
        else r = x;
        c->f[k] = (float)r;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldCast(imp *im, val *dst, const cval *a)
{
    int64_t to;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "to", ONNX_UNDEFINED, &to));
    if (to == ONNX_STRING || to == ONNX_COMPLEX64 || to == ONNX_COMPLEX128 || to <= 0 || to > 16)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a cast to %s",
                                graftOnnxTypeName((int)to));
    int to_int = !graftOnnxImpIsFloatType((int)to);
    if (!to_int && graftOnnxImpHasSym(a)) return graftOnnxImpSymFail(im);
    if (to_int == a->is_int && (to == ONNX_INT64 || to == ONNX_FLOAT || to == a->dtype)) {
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpFoldCopy(im, dst, a));
        dst->c.dtype = (int)to;
        return GRAFT_OK;
    }
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, to_int, (int)to, a->ndim, a->dims));
    for (size_t k = 0; k < a->numel; k++) {
        if (!to_int) {
            c->f[k] = (float)graftOnnxImpCget(a, k);
            continue;
        }
        int64_t v;
        if (a->is_int) {
            v = a->i[k];
        } else {
            double x = a->f[k];
            if (to == ONNX_BOOL) {
                c->i[k] = x != 0;
                continue;
            }
            if (!(x > -9.2e18 && x < 9.2e18))
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a cast of %g to an integer", x);
            v = (int64_t)x;
        }
        if (v == SYM_BATCH && to != ONNX_INT64 && to != ONNX_INT32) return graftOnnxImpSymFail(im);
        switch (to) {
        case ONNX_BOOL: v = v != 0; break;
        case ONNX_UINT8: v = (uint8_t)v; break;
        case ONNX_INT8: v = (int8_t)v; break;
        case ONNX_UINT16: v = (uint16_t)v; break;
        case ONNX_INT16: v = (int16_t)v; break;
        case ONNX_INT32: if (v != SYM_BATCH) v = (int32_t)v; break;
        case ONNX_UINT32: v = (uint32_t)v; break;
        default: break;
        }
        c->i[k] = v;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldGather(imp *im, val *dst, const cval *data, const cval *ind)
{
    int64_t axis_attr, idx[ONNX_MAX_RANK] = {0};
    int axis = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 0, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, data->ndim, "axis", &axis));
    if (!ind->is_int) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the indices are not integers");
    int n = data->ndim - 1 + ind->ndim;
    if (n > ONNX_MAX_RANK)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the result has rank %d", n);
    int64_t dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK];
    int k = 0;
    for (int d = 0; d < axis; d++) dims[k++] = data->dims[d];
    for (int d = 0; d < ind->ndim; d++) dims[k++] = ind->dims[d];
    for (int d = axis + 1; d < data->ndim; d++) dims[k++] = data->dims[d];
    strides_of(data->ndim, data->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, data->is_int, data->dtype, n, dims));
    int64_t size = data->dims[axis];
    for (size_t e = 0; e < c->numel; e++) {
        /* idx = (outer..., indices..., inner...) */
        size_t ipos = 0;
        for (int d = 0; d < ind->ndim; d++)
            ipos = ipos * (size_t)ind->dims[d] + (size_t)idx[axis + d];
        int64_t j = ind->i[ipos];
        if (j < -size || j >= size)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                    "index %lld is out of range for a dimension of %lld",
                                    (long long)j, (long long)size);
        if (j < 0) j += size;
        size_t src = (size_t)(j * st[axis]);
        for (int d = 0; d < axis; d++) src += (size_t)(idx[d] * st[d]);
        for (int d = axis + 1; d < data->ndim; d++)
            src += (size_t)(idx[d - 1 + ind->ndim] * st[d]);
        if (c->is_int) c->i[e] = data->i[src];
        else c->f[e] = data->f[src];
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldConcat(imp *im, val *dst)
{
    const onnxNode *node = im->node;
    int64_t axis_attr;
    int axis = 0;
    cval *first = NULL;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 1, &axis_attr));
    int64_t total = 0, dims[ONNX_MAX_RANK];
    int is_int = 1;
    for (int k = 0; k < node->n_inputs; k++) {
        cval *c;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, k, "input", 1, &c));
        if (!first) {
            first = c;
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, c->ndim, "axis", &axis));
        }
        if (c->ndim != first->ndim)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "inputs of different ranks");
        for (int d = 0; d < c->ndim; d++)
            if (d != axis && c->dims[d] != first->dims[d])
                return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                        "inputs of different shapes off the axis");
        total += c->dims[axis];
        is_int &= c->is_int;
    }
    if (!first) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "no inputs");
    memcpy(dims, first->dims, (size_t)first->ndim * sizeof *dims);
    dims[axis] = total;
    cval *out = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, out, is_int, first->dtype, first->ndim, dims));
    size_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= (size_t)dims[d];
    for (int d = axis + 1; d < first->ndim; d++) inner *= (size_t)dims[d];
    size_t pos = 0;
    for (size_t o = 0; o < outer; o++) {
        for (int k = 0; k < node->n_inputs; k++) {
            cval *c;
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, k, "input", 1, &c));
            size_t run = (size_t)c->dims[axis] * inner;
            for (size_t e = 0; e < run; e++, pos++) {
                size_t src = o * run + e;
                if (is_int) out->i[pos] = c->i[src];
                else out->f[pos] = (float)graftOnnxImpCget(c, src);
            }
        }
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldTranspose(imp *im, val *dst, const cval *a)
{
    const int64_t *perm_attr;
    int np, perm[ONNX_MAX_RANK], seen[ONNX_MAX_RANK] = {0};
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "perm", &perm_attr, &np));
    if (np >= 0 && np != a->ndim)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm has %d entries", np);
    for (int d = 0; d < a->ndim; d++) {
        int64_t p = np >= 0 ? perm_attr[d] : a->ndim - 1 - d;
        if (p < 0 || p >= a->ndim || seen[p]++)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm is not a permutation");
        perm[d] = (int)p;
    }
    int64_t dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    for (int d = 0; d < a->ndim; d++) dims[d] = a->dims[perm[d]];
    strides_of(a->ndim, a->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, a->is_int, a->dtype, a->ndim, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < a->ndim; d++) src += (size_t)(idx[d] * st[perm[d]]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(a->ndim, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpSliceAxis(imp *im, int64_t dim, int64_t start, int64_t end, int64_t step,
                          int64_t *first, int64_t *count)
{
    if (step == 0) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "a slice step of 0");
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        /* a step beyond the axis takes one element at most */
        uint64_t s = (uint64_t)step > (uint64_t)dim ? (uint64_t)dim + 1 : (uint64_t)step;
        *count = end > start ? (int64_t)((uint64_t)(end - start - 1) / s + 1) : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        uint64_t s = step < -dim ? (uint64_t)dim + 1 : (uint64_t)(-step);
        *count = start > end ? (int64_t)((uint64_t)(start - end - 1) / s + 1) : 0;
    }
    *first = start;
    return GRAFT_OK;
}

int graftOnnxImpSliceArgs(imp *im, int ndim, graftOnnxSliceArg *sl)
{
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK],
        steps[ONNX_MAX_RANK];
    size_t ns, ne, na = 0, nst = 0;
    if (im->node->n_inputs >= 2) {
        cval *cs, *ce, *ca, *cst;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "starts", 1, &cs));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "ends", 1, &ce));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 3, "axes", 0, &ca));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 4, "steps", 0, &cst));
        GRAFT_FORWARD_IF_ERROR(
            graftOnnxImpCvalInts(im, cs, "starts", 0, starts, ONNX_MAX_RANK, &ns));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, ce, "ends", 0, ends, ONNX_MAX_RANK, &ne));
        if (ca)
            GRAFT_FORWARD_IF_ERROR(
                graftOnnxImpCvalInts(im, ca, "axes", 0, axes, ONNX_MAX_RANK, &na));
        if (cst)
            GRAFT_FORWARD_IF_ERROR(
                graftOnnxImpCvalInts(im, cst, "steps", 0, steps, ONNX_MAX_RANK, &nst));
        if (!ca) na = (size_t)-1;
        if (!cst) nst = (size_t)-1;
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "starts", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "bad starts");
        ns = (size_t)n;
        memcpy(starts, v, ns * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "ends", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "bad ends");
        ne = (size_t)n;
        memcpy(ends, v, ne * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "axes", &v, &n));
        if (n > ONNX_MAX_RANK) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "bad axes");
        na = n < 0 ? (size_t)-1 : (size_t)n;
        if (n > 0) memcpy(axes, v, (size_t)n * sizeof *v);
        nst = (size_t)-1;
    }
    if (na == (size_t)-1) {
        na = ns;
        for (size_t k = 0; k < na; k++) axes[k] = (int64_t)k;
    }
    if (nst == (size_t)-1) {
        nst = ns;
        for (size_t k = 0; k < nst; k++) steps[k] = 1;
    }
    if (ne != ns || na != ns || nst != ns)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "starts, ends, axes and steps differ in length");
    for (int d = 0; d < ndim; d++) sl[d].set = 0;
    for (size_t k = 0; k < ns; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axes[k], ndim, "axis", &ax));
        if (sl[ax].set++)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "axis %d is sliced twice", ax);
        if (steps[k] == 0) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "a slice step of 0");
        sl[ax].start = starts[k];
        sl[ax].end = ends[k];
        sl[ax].step = steps[k];
    }
    return GRAFT_OK;
}

/* dst = a's entries first[d] + k * step[d], k < dims[d], on every axis. */
static int fold_ranges(imp *im, val *dst, const cval *a, const int64_t *first,
                       const int64_t *step, const int64_t *dims)
{
    int64_t st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    strides_of(a->ndim, a->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, a->is_int, a->dtype, a->ndim, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < a->ndim; d++) src += (size_t)((first[d] + idx[d] * step[d]) * st[d]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(a->ndim, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

int graftOnnxImpFoldSlice(imp *im, val *dst, const cval *a)
{
    graftOnnxSliceArg sl[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSliceArgs(im, a->ndim, sl));
    int64_t first[ONNX_MAX_RANK], step[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    for (int d = 0; d < a->ndim; d++) {
        first[d] = 0;
        step[d] = 1;
        dims[d] = a->dims[d];
        if (!sl[d].set) continue;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpSliceAxis(im, a->dims[d], sl[d].start, sl[d].end,
                                                     sl[d].step, &first[d], &dims[d]));
        step[d] = sl[d].step;
    }
    return fold_ranges(im, dst, a, first, step, dims);
}

int graftOnnxImpFoldAxisRange(imp *im, val *dst, const cval *a, int axis, int64_t first,
                              int64_t count)
{
    int64_t firsts[ONNX_MAX_RANK], step[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    for (int d = 0; d < a->ndim; d++) {
        firsts[d] = d == axis ? first : 0;
        step[d] = 1;
        dims[d] = d == axis ? count : a->dims[d];
    }
    return fold_ranges(im, dst, a, firsts, step, dims);
}

int graftOnnxImpFoldShapeOf(imp *im, val *dst, int ndim, const int64_t *dims)
{
    int64_t start, end;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "start", 0, &start));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "end", ndim, &end));
    if (start < 0) start += ndim;
    if (end < 0) end += ndim;
    if (start < 0) start = 0;
    if (end > ndim) end = ndim;
    if (start > ndim) start = ndim;
    int64_t n = end > start ? end - start : 0;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 1, ONNX_INT64, 1, &n));
    for (int64_t k = 0; k < n; k++) c->i[k] = dims[start + k];
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_constant_of_shape(imp *im, val *dst, const cval *shape)
{
    int64_t dims[ONNX_MAX_RANK];
    size_t n;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, shape, "shape", 0, dims, ONNX_MAX_RANK, &n));
    cval value;
    const onnxAttr *a = graftOnnxImpAttr(im, "value");
    memset(&value, 0, sizeof value);
    if (a) {
        if (a->type != ONNX_ATTR_TENSOR || !a->t) return graftOnnxImpAttrTypeFail(im, a, "tensor");
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalFromTensor(im, a->t, &value));
        if (value.numel != 1)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "value holds %zu elements", value.numel);
    }
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, a ? value.is_int : 0,
                                                 a ? value.dtype : ONNX_FLOAT, (int)n, dims));
    for (size_t k = 0; k < c->numel; k++) {
        if (c->is_int) c->i[k] = value.i[0];
        else c->f[k] = a ? value.f[0] : 0.0f;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_range(imp *im, val *dst, const cval *start, const cval *limit, const cval *delta)
{
    if (start->numel != 1 || limit->numel != 1 || delta->numel != 1)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "start, limit and delta must be scalars");
    if (graftOnnxImpHasSym(start) || graftOnnxImpHasSym(limit) || graftOnnxImpHasSym(delta))
        return graftOnnxImpSymFail(im);
    double s = graftOnnxImpCget(start, 0), l = graftOnnxImpCget(limit, 0),
           d = graftOnnxImpCget(delta, 0);
    if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "a range of step %g", d);
    double count = ceil((l - s) / d);
    if (count < 0) count = 0;
    if (count > (double)GRAFT_MAX_NUMEL)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a range too long");
    int64_t n = (int64_t)count;
    int is_int = start->is_int && limit->is_int && delta->is_int;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, is_int, start->dtype, 1, &n));
    for (int64_t k = 0; k < n; k++) {
        if (c->is_int) c->i[k] = start->i[0] + k * delta->i[0];
        else c->f[k] = (float)(s + (double)k * d);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_expand(imp *im, val *dst, const cval *a, const cval *shape)
{
    int64_t want[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    size_t n;
    int nd;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, shape, "shape", 0, want, ONNX_MAX_RANK, &n));
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, a->ndim, a->dims, (int)n, want, &nd, dims));
    bcast_strides(a->ndim, a->dims, nd, dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, a->is_int, a->dtype, nd, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < nd; d++) src += (size_t)(idx[d] * st[d]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(nd, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_where(imp *im, val *dst, const cval *cond, const cval *x, const cval *y)
{
    int n1, n;
    int64_t d1[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], sc[ONNX_MAX_RANK], sx[ONNX_MAX_RANK],
        sy[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    if (graftOnnxImpHasSym(cond)) return graftOnnxImpSymFail(im);
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, cond->ndim, cond->dims, x->ndim, x->dims, &n1, d1));
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, n1, d1, y->ndim, y->dims, &n, dims));
    bcast_strides(cond->ndim, cond->dims, n, dims, sc);
    bcast_strides(x->ndim, x->dims, n, dims, sx);
    bcast_strides(y->ndim, y->dims, n, dims, sy);
    int is_int = x->is_int && y->is_int;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, is_int, x->dtype, n, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t ic = 0, ix = 0, iy = 0;
        for (int d = 0; d < n; d++) {
            ic += (size_t)(idx[d] * sc[d]);
            ix += (size_t)(idx[d] * sx[d]);
            iy += (size_t)(idx[d] * sy[d]);
        }
        int take_x = graftOnnxImpCget(cond, ic) != 0;
        if (is_int) c->i[e] = take_x ? x->i[ix] : y->i[iy];
        else c->f[e] = (float)(take_x ? graftOnnxImpCget(x, ix) : graftOnnxImpCget(y, iy));
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

/* ScatterND: a copy of data where the slices the rows of indices name are
 * replaced by (or, with a reduction, combined with) updates, in order. */
static int fold_scatter_nd(imp *im, val *dst, const cval *data, const cval *ind,
                           const cval *upd)
{
    char red[16];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrString(im, "reduction", "none", red, sizeof red));
    char op = !strcmp(red, "none") ? '=' : !strcmp(red, "add") ? '+' : !strcmp(red, "mul") ? '*'
              : !strcmp(red, "max") ? 'M' : !strcmp(red, "min") ? 'm' : 0;
    if (!op)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "reduction \"%s\" is not supported", red);
    if (!ind->is_int) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the indices are not integers");
    if (graftOnnxImpHasSym(data) || graftOnnxImpHasSym(ind) || graftOnnxImpHasSym(upd))
        return graftOnnxImpSymFail(im);
    int q = ind->ndim, r = data->ndim;
    int64_t k = q ? ind->dims[q - 1] : -1;
    if (q < 1 || k < 1 || k > r || q - 1 + (r - k) != upd->ndim)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "indices of rank %d (last dimension %lld) do not fit data of "
                                "rank %d and updates of rank %d",
                                q, (long long)k, r, upd->ndim);
    for (int d = 0; d < upd->ndim; d++) {
        int64_t want = d < q - 1 ? ind->dims[d] : data->dims[k + d - (q - 1)];
        if (upd->dims[d] != want)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                    "updates' dimension %d is %lld, the indices and data give "
                                    "%lld",
                                    d, (long long)upd->dims[d], (long long)want);
    }
    int64_t st[ONNX_MAX_RANK];
    strides_of(r, data->dims, st);
    size_t slice = r ? (size_t)st[k - 1] : 1; /* elements per indexed slice */
    size_t rows = slice ? upd->numel / slice : 0;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, data->is_int, data->dtype, r, data->dims));
    if (c->is_int) memcpy(c->i, data->i, c->numel * sizeof *c->i);
    else memcpy(c->f, data->f, c->numel * sizeof *c->f);
    for (size_t row = 0; row < rows; row++) {
        size_t base = 0;
        for (int64_t d = 0; d < k; d++) {
            int64_t j = ind->i[row * (size_t)k + (size_t)d], size = data->dims[d];
            if (j < -size || j >= size)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                        "index %lld is out of range for a dimension of %lld",
                                        (long long)j, (long long)size);
            base += (size_t)((j < 0 ? j + size : j) * st[d]);
        }
        for (size_t e = 0; e < slice; e++) {
            size_t o = base + e, u = row * slice + e;
            if (c->is_int) {
                int64_t x = c->i[o], y = upd->i[u];
                c->i[o] = op == '=' ? y : op == '+' ? (int64_t)((uint64_t)x + (uint64_t)y)
                          : op == '*' ? (int64_t)((uint64_t)x * (uint64_t)y)
                          : op == 'M' ? (x > y ? x : y) : (x < y ? x : y);
            } else {
                float x = c->f[o], y = (float)graftOnnxImpCget(upd, u);
                c->f[o] = op == '=' ? y : op == '+' ? x + y : op == '*' ? x * y
                          : op == 'M' ? (x > y ? x : y) : (x < y ? x : y);
            }
        }
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_constant(imp *im, val *dst)
{
    const onnxAttr *a;
    cval *c = &dst->c;
    if ((a = graftOnnxImpAttr(im, "value"))) {
        if (a->type != ONNX_ATTR_TENSOR || !a->t) return graftOnnxImpAttrTypeFail(im, a, "tensor");
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalFromTensor(im, a->t, c));
    } else if ((a = graftOnnxImpAttr(im, "value_float"))) {
        if (a->type != ONNX_ATTR_FLOAT) return graftOnnxImpAttrTypeFail(im, a, "float");
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 0, ONNX_FLOAT, 0, NULL));
        c->f[0] = a->f;
    } else if ((a = graftOnnxImpAttr(im, "value_int"))) {
        if (a->type != ONNX_ATTR_INT) return graftOnnxImpAttrTypeFail(im, a, "int");
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 1, ONNX_INT64, 0, NULL));
        c->i[0] = a->i;
    } else if ((a = graftOnnxImpAttr(im, "value_floats"))) {
        if (a->type != ONNX_ATTR_FLOATS) return graftOnnxImpAttrTypeFail(im, a, "floats");
        int64_t n = a->n_floats;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 0, ONNX_FLOAT, 1, &n));
        if (n) memcpy(c->f, a->floats, (size_t)n * sizeof *c->f);
    } else if ((a = graftOnnxImpAttr(im, "value_ints"))) {
        if (a->type != ONNX_ATTR_INTS) return graftOnnxImpAttrTypeFail(im, a, "ints");
        int64_t n = a->n_ints;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 1, ONNX_INT64, 1, &n));
        if (n) memcpy(c->i, a->ints, (size_t)n * sizeof *c->i);
    } else {
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it has no value, value_float(s) or value_int(s) attribute "
                                "(sparse and string constants are not supported)");
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

/* ---- operators evaluated on constants only ------------------------------------------ */

static int h_constant_of_shape(imp *im, val *out)
{
    cval *shape;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "shape", 1, &shape));
    return fold_constant_of_shape(im, out, shape);
}

static int h_range(imp *im, val *out)
{
    cval *s, *l, *d;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "start", 1, &s));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "limit", 1, &l));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "delta", 1, &d));
    return fold_range(im, out, s, l, d);
}

static int h_expand(imp *im, val *out)
{
    cval *data, *shape;
    if (!graftOnnxImpAllConst(im)) return graftOnnxImpOnlyConstantsFail(im);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "input", 1, &data));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "shape", 1, &shape));
    return fold_expand(im, out, data, shape);
}

static int h_where(imp *im, val *out)
{
    cval *c, *x, *y;
    if (!graftOnnxImpAllConst(im)) return graftOnnxImpOnlyConstantsFail(im);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "condition", 1, &c));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "X", 1, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "Y", 1, &y));
    return fold_where(im, out, c, x, y);
}

static int h_mod(imp *im, val *out)
{
    cval *a, *b;
    if (!graftOnnxImpAllConst(im)) return graftOnnxImpOnlyConstantsFail(im);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "A", 1, &a));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "B", 1, &b));
    return graftOnnxImpFoldBinary(im, out, a, b);
}

static int h_scatter_nd(imp *im, val *out)
{
    cval *data, *ind, *upd;
    if (!graftOnnxImpAllConst(im)) return graftOnnxImpOnlyConstantsFail(im);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "data", 1, &data));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "indices", 1, &ind));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "updates", 1, &upd));
    return fold_scatter_nd(im, out, data, ind, upd);
}

static int h_constant(imp *im, val *out) { return fold_constant(im, out); }

/* ---- the family --------------------------------------------------------------------- */

const graftOnnxOp graftOnnxOpsFold[] = {
    {"Constant", h_constant},
    {"ConstantOfShape", h_constant_of_shape},
    {"Expand", h_expand},
    {"Mod", h_mod},
    {"Range", h_range},
    {"ScatterND", h_scatter_nd},
    {"Where", h_where},
    {NULL, NULL},
};
