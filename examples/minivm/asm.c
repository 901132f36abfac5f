/*
 * asm.c - minivm's text assembler.
 *
 * One statement per line:
 *
 *     ; a comment (also #)
 *     func NAME [NARGS [NLOCALS]]   open a function; arguments are its
 *                                   first locals
 *     label:                        a jump target inside the function
 *     OPCODE [OPERAND]              an instruction (see VM_OPCODES)
 *     end                           close the function
 *
 * A label may share its line with an instruction ("loop: load 0").  Labels
 * are local to their function; functions may be used before they are
 * defined.  The first error stops the assembly and is reported as
 * "path:LINE: error: what", so that a mistyped program points at its line.
 */
#include "vm.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const opcode_names[] = {
#define VM__OP_NAME(op, mnemonic, kind) mnemonic,
    VM_OPCODES(VM__OP_NAME)
#undef VM__OP_NAME
};

static const vm_arg_kind_t opcode_kinds[] = {
#define VM__OP_KIND(op, mnemonic, kind) kind,
    VM_OPCODES(VM__OP_KIND)
#undef VM__OP_KIND
};

const char *vm_opcode_name(int op)
{
    return op >= 0 && op < VM_OP_COUNT ? opcode_names[op] : "?";
}

/* A reference to a label or a function, resolved once its target is known. */
typedef struct fixup {
    size_t insn;
    uint32_t line;
    char name[VM_NAME_MAX];
} fixup_t;

typedef struct label {
    char name[VM_NAME_MAX];
    size_t target;
    uint32_t line;
} label_t;

typedef struct assembler {
    vm_program_t *prog;
    size_t code_cap, funcs_cap, strings_cap;
    uint32_t line;

    int func;                  /* the open function, or -1 */
    label_t *labels;           /* of the open function */
    size_t nlabels, labels_cap;
    fixup_t *label_fixups;     /* of the open function */
    size_t nlabel_fixups, label_fixups_cap;
    fixup_t *func_fixups;      /* of the whole file */
    size_t nfunc_fixups, func_fixups_cap;
} assembler_t;

static int asm_error(assembler_t *as, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int asm_error(assembler_t *as, uint32_t line, const char *fmt, ...)
{
    va_list ap;

    if (line > 0)
        fprintf(stderr, "%s:%u: error: ", as->prog->path, line);
    else
        fprintf(stderr, "%s: error: ", as->prog->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* Make room for one more element of size `size` in *items. */
static int grow(assembler_t *as, void **items, size_t count, size_t *cap, size_t size)
{
    size_t ncap;
    void *p;

    if (count < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    p = realloc(*items, ncap * size);
    if (p == NULL)
        return asm_error(as, as->line, "out of memory");
    *items = p;
    *cap = ncap;
    return 0;
}

#define GROW(as, array, count, cap) \
    grow((as), (void **)&(array), (count), &(cap), sizeof *(array))

/* ------------------------------------------------------------------------ */
/* Scanning one line                                                        */

typedef struct scanner {
    char *p;  /* the rest of the line, NUL-terminated */
} scanner_t;

static void skip_space(scanner_t *sc)
{
    while (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\r')
        sc->p++;
}

static int at_end(scanner_t *sc)
{
    skip_space(sc);
    return *sc->p == '\0';
}

/* Cut the line at its comment (';' or '#' outside a string literal). */
static void strip_comment(char *text)
{
    int in_string = 0;

    for (char *p = text; *p; p++) {
        if (in_string && *p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '"')
            in_string = !in_string;
        else if (!in_string && (*p == ';' || *p == '#')) {
            *p = '\0';
            return;
        }
    }
}

static int is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == '.';
}

static int is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == '.';
}

/* The next whitespace-delimited word, NUL-terminated in place. */
static char *next_word(scanner_t *sc)
{
    char *start;

    if (at_end(sc))
        return NULL;
    start = sc->p;
    while (*sc->p != '\0' && !isspace((unsigned char)*sc->p))
        sc->p++;
    if (*sc->p != '\0')
        *sc->p++ = '\0';
    return start;
}

static int valid_name(const char *s)
{
    if (!is_ident_start((unsigned char)*s))
        return 0;
    for (s++; *s; s++)
        if (!is_ident_char((unsigned char)*s))
            return 0;
    return 1;
}

static int parse_int(const char *word, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(word, &end, 0);
    if (end == word || *end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* A "string literal" with \n \t \\ \" escapes; returns a malloc'd copy. */
static int scan_string(assembler_t *as, scanner_t *sc, char **out)
{
    size_t len = 0;
    char *buf, *src;

    skip_space(sc);
    if (*sc->p != '"')
        return asm_error(as, as->line, "expected a \"string\"");
    src = ++sc->p;
    buf = malloc(strlen(src) + 1);
    if (buf == NULL)
        return asm_error(as, as->line, "out of memory");
    for (; *src != '"'; src++) {
        char c = *src;
        if (c == '\0') {
            free(buf);
            return asm_error(as, as->line, "unterminated string");
        }
        if (c == '\\') {
            switch (*++src) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '\\': c = '\\'; break;
            case '"': c = '"'; break;
            default:
                free(buf);
                return asm_error(as, as->line, "unknown escape '\\%c' in string",
                                 *src ? *src : ' ');
            }
        }
        buf[len++] = c;
    }
    buf[len] = '\0';
    sc->p = src + 1;
    *out = buf;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Functions and labels                                                     */

static int find_func(const vm_program_t *prog, const char *name)
{
    for (size_t i = 0; i < prog->nfuncs; i++)
        if (strcmp(prog->funcs[i].name, name) == 0)
            return (int)i;
    return -1;
}

static label_t *find_label(assembler_t *as, const char *name)
{
    for (size_t i = 0; i < as->nlabels; i++)
        if (strcmp(as->labels[i].name, name) == 0)
            return &as->labels[i];
    return NULL;
}

static int check_name(assembler_t *as, const char *name, const char *what)
{
    if (!valid_name(name))
        return asm_error(as, as->line, "'%s' is not a valid %s name", name, what);
    if (strlen(name) >= VM_NAME_MAX)
        return asm_error(as, as->line, "%s name '%s' is longer than %d bytes", what,
                         name, VM_NAME_MAX - 1);
    return 0;
}

static int define_label(assembler_t *as, const char *name)
{
    label_t *dup;

    if (check_name(as, name, "label") < 0)
        return -1;
    if (as->func < 0)
        return asm_error(as, as->line, "label '%s' outside a function", name);
    if ((dup = find_label(as, name)) != NULL)
        return asm_error(as, as->line, "label '%s' already defined at line %u", name,
                         dup->line);
    if (GROW(as, as->labels, as->nlabels, as->labels_cap) < 0)
        return -1;
    dup = &as->labels[as->nlabels++];
    snprintf(dup->name, sizeof dup->name, "%s", name);
    dup->target = as->prog->ncode;
    dup->line = as->line;
    return 0;
}

static int parse_count(assembler_t *as, scanner_t *sc, const char *what, int max,
                       int *out)
{
    char *word = next_word(sc);
    int64_t v;

    if (word == NULL)
        return 0; /* optional: keep the default */
    if (parse_int(word, &v) < 0 || v < 0 || v > max)
        return asm_error(as, as->line, "%s must be an integer from 0 to %d, not '%s'",
                         what, max, word);
    *out = (int)v;
    return 0;
}

/* func NAME [NARGS [NLOCALS]] */
static int open_func(assembler_t *as, scanner_t *sc)
{
    vm_program_t *prog = as->prog;
    char *name = next_word(sc);
    vm_func_t *f;
    int nargs = 0, nlocals = -1, prev;

    if (as->func >= 0)
        return asm_error(as, as->line,
                         "'func' inside function '%s' (missing 'end'?)",
                         prog->funcs[as->func].name);
    if (name == NULL)
        return asm_error(as, as->line, "'func' needs a name");
    if (check_name(as, name, "function") < 0)
        return -1;
    if ((prev = find_func(prog, name)) >= 0)
        return asm_error(as, as->line, "function '%s' already defined at line %u",
                         name, prog->funcs[prev].line);
    if (parse_count(as, sc, "the number of arguments", VM_MAX_ARGS, &nargs) < 0 ||
        parse_count(as, sc, "the number of locals", VM_MAX_LOCALS, &nlocals) < 0)
        return -1;
    if (nlocals < 0)
        nlocals = nargs;
    if (nlocals < nargs)
        return asm_error(as, as->line,
                         "function '%s' has %d arguments but only %d locals "
                         "(arguments are locals)", name, nargs, nlocals);
    if (!at_end(sc))
        return asm_error(as, as->line, "unexpected '%s' after 'func'", sc->p);
    if (GROW(as, prog->funcs, prog->nfuncs, as->funcs_cap) < 0)
        return -1;
    f = &prog->funcs[prog->nfuncs];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->nargs = nargs;
    f->nlocals = nlocals;
    f->entry = prog->ncode;
    f->line = as->line;
    as->func = (int)prog->nfuncs++;
    as->nlabels = 0;
    as->nlabel_fixups = 0;
    return 0;
}

/* end: resolve the function's jumps and check that it cannot run off its
 * last instruction into the next function. */
static int close_func(assembler_t *as)
{
    vm_program_t *prog = as->prog;
    vm_func_t *f;
    const vm_insn_t *last;

    if (as->func < 0)
        return asm_error(as, as->line, "'end' without 'func'");
    f = &prog->funcs[as->func];
    for (size_t i = 0; i < as->nlabel_fixups; i++) {
        const fixup_t *fx = &as->label_fixups[i];
        const label_t *l = find_label(as, fx->name);
        if (l == NULL)
            return asm_error(as, fx->line, "undefined label '%s' in function '%s'",
                             fx->name, f->name);
        prog->code[fx->insn].arg = (int64_t)l->target;
    }
    if (prog->ncode == f->entry)
        return asm_error(as, as->line, "function '%s' is empty", f->name);
    for (size_t i = 0; i < as->nlabels; i++)
        if (as->labels[i].target == prog->ncode)
            return asm_error(as, as->labels[i].line,
                             "label '%s' is at the end of function '%s': nothing "
                             "follows it", as->labels[i].name, f->name);
    last = &prog->code[prog->ncode - 1];
    if (last->op != VM_OP_RET && last->op != VM_OP_JMP)
        return asm_error(as, last->line,
                         "function '%s' can run past its end: its last "
                         "instruction must be 'ret' or 'jmp'", f->name);
    as->func = -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Instructions                                                             */

static int lookup_opcode(const char *word)
{
    for (int op = 0; op < VM_OP_COUNT; op++)
        if (strcmp(opcode_names[op], word) == 0)
            return op;
    return -1;
}

static int add_fixup(assembler_t *as, int funcs, const char *name)
{
    fixup_t *fx;

    if (funcs) {
        if (GROW(as, as->func_fixups, as->nfunc_fixups, as->func_fixups_cap) < 0)
            return -1;
        fx = &as->func_fixups[as->nfunc_fixups++];
    } else {
        if (GROW(as, as->label_fixups, as->nlabel_fixups, as->label_fixups_cap) < 0)
            return -1;
        fx = &as->label_fixups[as->nlabel_fixups++];
    }
    fx->insn = as->prog->ncode;
    fx->line = as->line;
    snprintf(fx->name, sizeof fx->name, "%s", name);
    return 0;
}

static int parse_slot(assembler_t *as, const char *mnemonic, const char *word,
                      int limit, const char *what, int64_t *out)
{
    if (parse_int(word, out) < 0 || *out < 0 || *out >= limit)
        return asm_error(as, as->line, "'%s %s': %s", mnemonic, word, what);
    return 0;
}

static int parse_operand(assembler_t *as, scanner_t *sc, int op, vm_insn_t *in)
{
    vm_program_t *prog = as->prog;
    const char *mnemonic = opcode_names[op];
    const vm_func_t *f = &prog->funcs[as->func];
    vm_arg_kind_t kind = opcode_kinds[op];
    char msg[96];
    char *word;

    if (kind == VM_ARG_NONE)
        return 0;
    if (kind == VM_ARG_STRING) {
        char *s = NULL;
        if (scan_string(as, sc, &s) < 0)
            return -1;
        if (GROW(as, prog->strings, prog->nstrings, as->strings_cap) < 0) {
            free(s);
            return -1;
        }
        in->arg = (int64_t)prog->nstrings;
        prog->strings[prog->nstrings++] = s;
        return 0;
    }
    if ((word = next_word(sc)) == NULL)
        return asm_error(as, as->line, "'%s' needs an operand", mnemonic);
    switch (kind) {
    case VM_ARG_INT:
        if (parse_int(word, &in->arg) < 0)
            return asm_error(as, as->line, "'%s': '%s' is not a 64-bit integer",
                             mnemonic, word);
        return 0;
    case VM_ARG_LOCAL:
        snprintf(msg, sizeof msg, "no such local: function '%s' has %d (0 to %d)",
                 f->name, f->nlocals, f->nlocals - 1);
        return parse_slot(as, mnemonic, word, f->nlocals, msg, &in->arg);
    case VM_ARG_GLOBAL:
        snprintf(msg, sizeof msg, "no such global: there are %d (0 to %d)",
                 VM_GLOBALS, VM_GLOBALS - 1);
        return parse_slot(as, mnemonic, word, VM_GLOBALS, msg, &in->arg);
    case VM_ARG_LABEL:
        if (check_name(as, word, "label") < 0)
            return -1;
        return add_fixup(as, 0, word);
    case VM_ARG_FUNC:
        if (check_name(as, word, "function") < 0)
            return -1;
        return add_fixup(as, 1, word);
    default:
        return asm_error(as, as->line, "internal: operand kind %d", (int)kind);
    }
}

static int add_insn(assembler_t *as, scanner_t *sc, const char *mnemonic)
{
    vm_program_t *prog = as->prog;
    vm_insn_t in;
    int op = lookup_opcode(mnemonic);

    if (op < 0)
        return asm_error(as, as->line, "unknown instruction '%s'", mnemonic);
    if (as->func < 0)
        return asm_error(as, as->line,
                         "instruction '%s' outside a function (put it between "
                         "'func NAME' and 'end')", mnemonic);
    memset(&in, 0, sizeof in);
    in.op = (uint8_t)op;
    in.line = as->line;
    if (parse_operand(as, sc, op, &in) < 0)
        return -1;
    if (!at_end(sc))
        return asm_error(as, as->line, "unexpected '%s' after '%s'", sc->p, mnemonic);
    if (GROW(as, prog->code, prog->ncode, as->code_cap) < 0)
        return -1;
    prog->code[prog->ncode++] = in;
    return 0;
}

static int assemble_line(assembler_t *as, char *text)
{
    scanner_t sc = {text};
    char *word;
    size_t len;

    strip_comment(text);
    if ((word = next_word(&sc)) == NULL)
        return 0;
    len = strlen(word);
    if (len > 1 && word[len - 1] == ':') {
        word[len - 1] = '\0';
        if (define_label(as, word) < 0)
            return -1;
        if ((word = next_word(&sc)) == NULL)
            return 0;
    }
    if (strcmp(word, "func") == 0)
        return open_func(as, &sc);
    if (strcmp(word, "end") == 0) {
        if (!at_end(&sc))
            return asm_error(as, as->line, "unexpected '%s' after 'end'", sc.p);
        return close_func(as);
    }
    return add_insn(as, &sc, word);
}

/* After the whole file: every call and spawn names a function, with the
 * argument count the callee expects being checked at run time. */
static int resolve_funcs(assembler_t *as)
{
    vm_program_t *prog = as->prog;

    for (size_t i = 0; i < as->nfunc_fixups; i++) {
        const fixup_t *fx = &as->func_fixups[i];
        int f = find_func(prog, fx->name);
        if (f < 0)
            return asm_error(as, fx->line, "undefined function '%s'", fx->name);
        prog->code[fx->insn].arg = f;
    }
    prog->main_func = find_func(prog, "main");
    if (prog->main_func < 0)
        return asm_error(as, 0, "no 'main' function");
    return 0;
}

static int assemble_file(assembler_t *as, FILE *fp)
{
    char buf[1024];

    while (fgets(buf, sizeof buf, fp) != NULL) {
        size_t len = strlen(buf);
        as->line++;
        if (len == sizeof buf - 1 && buf[len - 1] != '\n' && !feof(fp))
            return asm_error(as, as->line, "line longer than %zu bytes",
                             sizeof buf - 2);
        if (len > 0 && buf[len - 1] == '\n')
            buf[len - 1] = '\0';
        if (assemble_line(as, buf) < 0)
            return -1;
    }
    if (ferror(fp))
        return asm_error(as, 0, "read error: %s", strerror(errno));
    if (as->func >= 0)
        return asm_error(as, as->prog->funcs[as->func].line,
                         "function '%s' has no 'end'", as->prog->funcs[as->func].name);
    return resolve_funcs(as);
}

int vm_assemble(const char *path, vm_program_t *prog)
{
    assembler_t as;
    FILE *fp;
    int rc;

    memset(prog, 0, sizeof *prog);
    prog->path = path;
    prog->main_func = -1;
    memset(&as, 0, sizeof as);
    as.prog = prog;
    as.func = -1;
    if ((fp = fopen(path, "r")) == NULL)
        return asm_error(&as, 0, "cannot open: %s", strerror(errno));
    rc = assemble_file(&as, fp);
    fclose(fp);
    free(as.labels);
    free(as.label_fixups);
    free(as.func_fixups);
    if (rc < 0)
        vm_program_free(prog);
    return rc;
}

void vm_program_free(vm_program_t *prog)
{
    for (size_t i = 0; i < prog->nstrings; i++)
        free(prog->strings[i]);
    free(prog->strings);
    free(prog->code);
    free(prog->funcs);
    prog->strings = NULL;
    prog->code = NULL;
    prog->funcs = NULL;
    prog->nstrings = prog->ncode = prog->nfuncs = 0;
}
