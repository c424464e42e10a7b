#!/usr/bin/env python3
"""Writes python/graft/_api.py: the C API of include/graft.h (and the layer
kinds of src/layers/kinds.h) as data for the ctypes binding.

    python3 python/tools/gen_api.py           # rewrites python/graft/_api.py
    python3 python/tools/gen_api.py --check   # exit status 1 if it is stale
    python3 python/tools/gen_api.py --stdout  # prints it instead

Run it after changing the header or the kinds list and commit the result
with the change; python/tests/test_abi.py regenerates the file and fails
while the committed one differs. _api.py is an ordinary module of the
package, so an installed wheel needs neither the header nor this script.
Standard library only; any python3 (3.7 or later) runs it.

What _api.py holds:

* every GRAFT_* macro with a constant value (integer expressions, string
  literals, lists of numbers), as a module-level name;
* FUNCTIONS: (name, return type, argument types) of every GRAFT_API
  function, in header order;
* ARGUMENT_NAMES: the header's parameter names of every function (None for
  an unnamed pointer parameter), which _lib.py's range and NUL checks put
  in their messages;
* FUNCTION_TYPES: the function pointer types, both typedefs
  (graft_progress_fn -> PROGRESS_FN) and struct members
  (graft_allocator.alloc -> ALLOC_FN);
* STRUCTS: the members of every option struct (typedef struct x {...} x);
* LAYER_KINDS: the layer kind names in registry order.

C types become ctypes names (strings resolved by python/graft/_lib.py):

* int, int32_t, int64_t, uint32_t, uint64_t, size_t, float, double ->
  c_int, c_int32, ...; void (a return type) -> None;
* char * and const char * -> c_char_p; char ** in any constness -> P(c_char_p);
* a handle (an opaque ``typedef struct x x;``) or void, through one
  pointer -> c_void_p; through two -> PP (pointer to c_void_p: an
  out-parameter receiving a handle, or an array of handles);
* a pointer to an option struct -> P(ClassName), the struct name without
  "graft_" in CamelCase (graft_conv2d_spec -> P(Conv2dSpec));
* a pointer to float or int32_t -> c_void_p: these are graft's bulk data
  (tensor and image values, labels), which the binding passes as the
  address of a buffer it does not own (bytearray, array.array, a numpy
  array); _lib.py narrows the few it passes as ctypes objects;
* a pointer to another scalar -> P(c_x); an array member T m[n] -> "c_x * n";
* a function pointer typedef -> its name without "graft_" in upper case.

Anything else stops the generator with an error naming the declaration,
so a new kind of type is mapped here on purpose, never guessed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import headerparse  # noqa: E402

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join("include", "graft.h")
KINDS_HEADER = os.path.join("src", "layers", "kinds.h")
OUTPUT = os.path.join("python", "graft", "_api.py")

SCALARS = {
    "int": "c_int",
    "int32_t": "c_int32",
    "int64_t": "c_int64",
    "uint32_t": "c_uint32",
    "uint64_t": "c_uint64",
    "size_t": "c_size_t",
    "float": "c_float",
    "double": "c_double",
}

# Pointers to these are bulk data, bound as c_void_p (see the docstring).
BULK = {"float", "int32_t"}

WIDTH = 99


def class_name(struct):
    """The _lib.py Structure class of a C option struct:
    graft_conv2d_spec -> Conv2dSpec."""
    return "".join(w[:1].upper() + w[1:] for w in struct[len("graft_"):].split("_"))


def function_type_name(name):
    """The _lib.py CFUNCTYPE of a function pointer typedef
    (graft_progress_fn -> PROGRESS_FN) or struct member (alloc -> ALLOC_FN)."""
    if name.startswith("graft_"):
        return name[len("graft_"):].upper()
    return name.upper() + "_FN"


class Api:
    """What the generator knows about the header's types."""

    def __init__(self, text):
        self.text = text
        self.handles = set(headerparse.handle_types(text))
        self.fn_typedefs = headerparse.function_pointer_types(text)
        self.structs = headerparse.struct_bodies(text)
        self.ints = headerparse.integer_defines(text)

    def ctype(self, c_type, where):
        """The ctypes name for c_type (see the module docstring)."""
        tokens = c_type.replace("*", " * ").split()
        stars = tokens.count("*")
        words = [t for t in tokens if t not in ("*", "const")]
        if len(words) != 1:
            raise ValueError("%s: cannot map the C type %r" % (where, c_type))
        base = words[0]
        if base == "void":
            mapped = {0: None, 1: "c_void_p", 2: "PP"}.get(stars, "")
        elif base == "char":
            mapped = {1: "c_char_p", 2: "P(c_char_p)"}.get(stars, "")
        elif base in SCALARS:
            pointer = "c_void_p" if base in BULK else "P(%s)" % SCALARS[base]
            mapped = {0: SCALARS[base], 1: pointer}.get(stars, "")
        elif base in self.handles:
            mapped = {1: "c_void_p", 2: "PP"}.get(stars, "")
        elif base in self.structs:
            mapped = {1: "P(%s)" % class_name(base)}.get(stars, "")
        elif base in self.fn_typedefs:
            mapped = {0: function_type_name(base)}.get(stars, "")
        else:
            mapped = ""
        if mapped == "" or (mapped is None and where.endswith("argument")):
            raise ValueError("%s: cannot map the C type %r" % (where, c_type))
        return mapped

    def signature(self, ret, args, where):
        return (self.ctype(ret, where + " return"),
                tuple(self.ctype(a, where + " argument") for a in args))


# ---- formatting -------------------------------------------------------------------


def literal(value):
    """Python source for a str, int, None, or a tuple of those or floats,
    with double quotes (the style of the package)."""
    if isinstance(value, str):
        if '"' in value or "\\" in value or not value.isprintable():
            raise ValueError("a string the generator does not quote: %r" % value)
        return '"%s"' % value
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return "(%s,)" % inner if len(value) == 1 else "(%s)" % inner
    return repr(value)


def tuple_source(items):
    """Python source of a tuple of the literal()s items."""
    return literal(tuple(items))


def entry(first, items, last):
    """Lines of first + tuple_source(items) + last, at most WIDTH long: on
    one line when it fits, else the tuple starts a new line indented one
    more than first and wraps between items."""
    one = first + tuple_source(items) + last
    if len(one) <= WIDTH:
        return [one]
    indent = len(first) - len(first.lstrip()) + 1
    lines = [first.rstrip()]
    line = " " * indent + "("
    parts = [literal(i) for i in items]
    for k, part in enumerate(parts):
        part += "," if k < len(parts) - 1 else (",)" if len(parts) == 1 else ")") + last
        if len(line) + len(part) + 1 > WIDTH and line.strip() != "(":
            lines.append(line.rstrip())
            line = " " * (indent + 1)
        elif line.strip() != "(":
            line += " "
        line += part
    lines.append(line)
    return lines


_PREAMBLE = '''\
# generated from include/graft.h by python/tools/gen_api.py; do not edit
# (the layer kinds come from src/layers/kinds.h). After changing either, run
#     python3 python/tools/gen_api.py
# and commit the result; python/tests/test_abi.py fails while it is stale.
"""The C API of libgraft as data: the constants, option structs, function
pointer types and prototypes of include/graft.h, and the layer kinds.

Types are ctypes names, resolved by _lib.py: c_int, c_int64, ... for the
scalars, c_char_p for strings, c_void_p for handles and untyped memory, PP
for a pointer to handles (an out-parameter receiving one, or an array),
P(x) for a pointer to x, "x * n" for an array, the Structure classes of
_lib.py (Conv2dSpec for graft_conv2d_spec), the CFUNCTYPEs of
FUNCTION_TYPES; None is void. The mapping is python/tools/gen_api.py's.
ARGUMENT_NAMES holds the header's parameter names, which _lib.py's range
and NUL checks name in their messages.
"""

'''

_NAMED = '''
#: Every constant above, by name, in header order.
CONSTANTS = {k: v for k, v in globals().items() if k.startswith("GRAFT_")}


def named(prefix):
    """{suffix in lower case: value} of the constants named prefix*, in header
    order; named("GRAFT_PAD_") is {"constant": 0, "reflect": 1, "edge": 2}."""
    return {k[len(prefix):].lower(): v for k, v in CONSTANTS.items() if k.startswith(prefix)}
'''


def _rule(title):
    return ("# ---- %s " % title).ljust(80, "-") + "\n\n"


def render(root=REPO_DIR):
    """The text of python/graft/_api.py for the sources under root."""
    text = headerparse.read(os.path.join(root, HEADER))
    api = Api(text)
    out = [_PREAMBLE]

    out.append(_rule("constants"))
    sections = {}
    section = None
    for name, value in headerparse.defines(text, sections=sections).items():
        if sections[name] != section:
            out.append("%s# %s\n" % ("" if section is None else "\n", sections[name]))
            section = sections[name]
        out.append("%s = %s\n" % (name, literal(value)))
    out.append("\n" + _NAMED + "\n")

    out.append("\n" + _rule("function pointer types: name -> (return type, argument types)"))
    fn_types = []
    for name, (ret, args) in api.fn_typedefs.items():
        fn_types.append((function_type_name(name), name, api.signature(ret, args, name)))
    members = {}
    for struct, body in api.structs.items():
        members[struct] = headerparse.struct_members(body, api.ints, struct)
        for m in members[struct]:
            if m.fn is not None:
                where = "%s.%s" % (struct, m.name)
                fn_types.append((function_type_name(m.name), where,
                                 api.signature(m.fn[0], m.fn[1], where)))
    seen = {}
    for name, where, sig in fn_types:
        if seen.setdefault(name, sig) != sig:
            raise ValueError("%s: two function pointer types would be named %s" % (where, name))
    out.append("FUNCTION_TYPES = {\n")
    for name, where, (ret, args) in fn_types:
        out.append("    # %s\n" % where)
        out.extend(l + "\n" for l in entry('    "%s": (%s, ' % (name, literal(ret)), args, "),"))
    out.append("}\n")

    out.append("\n" + _rule("option structs: name -> ((member, type), ...)"))
    out.append("STRUCTS = {\n")
    for struct, ms in members.items():
        out.append('    "%s": (\n' % struct)
        for m in ms:
            where = "%s.%s" % (struct, m.name)
            if m.fn is not None:
                t = function_type_name(m.name)
            else:
                t = api.ctype(m.type, where)
                if t is None:
                    raise ValueError("%s: a void member" % where)
                if m.count is not None:
                    t = "%s * %d" % (t, m.count)
            out.append("        (%s, %s),\n" % (literal(m.name), literal(t)))
        out.append("    ),\n")
    out.append("}\n")

    out.append("\n" + _rule("functions: (name, return type, argument types)"))
    out.append("FUNCTIONS = (\n")
    section = None
    for f in headerparse.functions(text):
        if f.section != section:
            section = f.section
            out.append("    # %s\n" % section)
        ret, args = api.signature(f.ret, f.args, f.name)
        out.extend(l + "\n" for l in entry('    ("%s", %s, ' % (f.name, literal(ret)), args, "),"))
    out.append(")\n")

    out.append("\n" + _rule("argument names: function -> (parameter name, ...)"))
    out.append("ARGUMENT_NAMES = {\n")
    for f in headerparse.functions(text):
        out.extend(l + "\n" for l in entry('    "%s": ' % f.name, f.arg_names, ","))
    out.append("}\n")

    out.append("\n" + _rule("layer kinds, in registry order"))
    out.append("LAYER_KINDS = (\n")
    kinds = headerparse.layer_kinds(headerparse.read(os.path.join(root, KINDS_HEADER)))
    out.extend("    %s,\n" % literal(name) for _, name, _ in kinds)
    out.append(")\n")
    return "".join(out)


def main(argv):
    args = argv[1:]
    if any(a not in ("--check", "--stdout") for a in args):
        sys.stderr.write("usage: gen_api.py [--check | --stdout]\n")
        return 2
    text = render()
    path = os.path.join(REPO_DIR, OUTPUT)
    if "--stdout" in args:
        sys.stdout.write(text)
        return 0
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    if "--check" in args:
        if current != text:
            sys.stderr.write("%s is out of date; run: python3 python/tools/gen_api.py\n" % OUTPUT)
            return 1
        return 0
    if current != text:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print("wrote %s" % OUTPUT)
    else:
        print("%s is up to date" % OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
