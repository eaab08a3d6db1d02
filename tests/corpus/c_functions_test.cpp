// The top-level function splitter on tricky C and C++: literals and comments holding braces, K&R
// definitions, macros, initialisers, preprocessor branches with unbalanced braces, C++ scopes.
#include "greenknobs/corpus/c_functions.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using gk::corpus::split_functions;

std::vector<std::string> functions(const std::string& src,
                                   gk::corpus::SplitCounts* counts = nullptr) {
    std::vector<std::string> out;
    for (const auto& f : split_functions(src, counts)) {
        out.push_back(src.substr(f.begin, f.end - f.begin));
    }
    return out;
}

TEST(MaskCSource, BlanksCommentsLiteralsAndDirectivesKeepingOffsets) {
    const std::string src =
        "#define X { \\\n }\nint a = '{'; /* { */ char *s = \"}\"; // }\nint b;\n";
    const std::string m = gk::corpus::mask_c_source(src);
    ASSERT_EQ(m.size(), src.size());
    EXPECT_EQ(m.find('{'), std::string::npos);
    EXPECT_EQ(m.find('}'), std::string::npos);
    EXPECT_NE(m.find("int a = ' ';"), std::string::npos);
    EXPECT_NE(m.find("char *s = \" \";"), std::string::npos);
    EXPECT_NE(m.find("int b;"), std::string::npos);
    EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), std::count(src.begin(), src.end(), '\n'));
}

TEST(SplitFunctions, BracesInsideStringsCharsAndCommentsDoNotCount) {
    const std::string f =
        "int f(void)\n{\n"
        "\tconst char *x = \"{ \\\" }\";  /* } */\n"
        "\tchar c = '{'; char d = '\\'';  // }\n"
        "\treturn x[0] + c + d;\n}";
    const std::string src = "static const char *s = \"}{\";\n/* doc { */\n" + f + "\nint tail;\n";
    EXPECT_EQ(functions(src), std::vector<std::string>{f});
}

TEST(SplitFunctions, KAndRDefinitionStartsAtItsReturnType) {
    const std::string f = "int\nadd(a, b)\n    int a;\n    char *b;\n{\n    return a + *b;\n}";
    const std::string src = "extern int n;\n\n" + f + "\n";
    EXPECT_EQ(functions(src), std::vector<std::string>{f});
}

TEST(SplitFunctions, MacrosDefinitionsAndInvocations) {
    const std::string sys =
        "SYSCALL_DEFINE3(read, unsigned int, fd, char __user *, buf, size_t, count)\n{\n"
        "\treturn ksys_read(fd, buf, count);\n}";
    const std::string attr =
        "static int __init __attribute__((cold)) setup_thing(char *str)\n{\n"
        "\treturn 1;\n}";
    const std::string src =
        "#define MAX(a, b) \\\n\t({ typeof(a) _a = (a); \\\n\t   _a > (b) ? _a : (b); })\n"
        "#define BLOCK { do_x(); }\n"
        "static LIST_HEAD(things);\n" +
        sys + "\nEXPORT_SYMBOL(ksys_read);\n" + attr + "\n__setup(\"thing=\", setup_thing);\n";
    EXPECT_EQ(functions(src), (std::vector<std::string>{sys, attr}));
}

TEST(SplitFunctions, NestedBracesCompoundLiteralsAndStatementExpressions) {
    const std::string f =
        "void g(struct s *p)\n{\n"
        "\tfor (int i = 0; i < 3; i++) {\n\t\tif (p[i].x) {\n\t\t\tp[i] = (struct s){ .x = 0 };\n"
        "\t\t} else { ({ int t = 1; t; }); }\n\t}\n"
        "\tswitch (p->y) { case 1: { break; } default: break; }\n}";
    EXPECT_EQ(functions(f + "\n"), std::vector<std::string>{f});
}

TEST(SplitFunctions, InitialisersAndTypeDefinitionsAreNotFunctions) {
    const std::string src =
        "static const struct file_operations fops = {\n\t.open = f_open,\n\t.read = f_read,\n};\n"
        "int arr[] = { 1, 2, 3 };\n"
        "static int (*handlers[])(int) = { h1, h2 };\n"
        "struct s { int a; struct { int b; } in; int (*fn)(void); };\n"
        "enum e { A = sizeof(int), B };\n"
        "typedef struct { int x; } T;\n"
        "struct __attribute__((packed)) p { char c; };\n"
        "DEFINE_THING(x) = { .a = 1 };\n"
        "IMPL (memmove, 1)\nenum { unshared_buffer_size = 4 << 20 };\n";
    gk::corpus::SplitCounts counts;
    EXPECT_TRUE(functions(src, &counts).empty());
    EXPECT_EQ(counts.unbalanced_closes, 0);
    EXPECT_EQ(counts.unclosed_at_eof, 0);
}

TEST(SplitFunctions, GlibcAliasLinesWithoutSemicolonAreNotPartOfTheNextFunction) {
    const std::string valloc = "void *\n__libc_valloc (size_t bytes)\n{\n  return 0;\n}";
    const std::string printf_fn = "int\n__printf (const char *format, ...)\n{\n  return 1;\n}";
    const std::string src =
        "weak_alias (__libc_memalign, aligned_alloc)\n"
        "libc_hidden_def (__libc_memalign)\n\n" +
        valloc + "\nstrong_alias (__libc_valloc, valloc)\n#endif\n\n" + printf_fn +
        "\nldbl_strong_alias (__printf, printf);\n";
    EXPECT_EQ(functions(src), (std::vector<std::string>{valloc, printf_fn}));
    // An attribute before the return type stays with the function.
    const std::string attr = "__attribute__ ((noreturn))\nstatic void\nmabort (int s)\n{\n}";
    EXPECT_EQ(functions(attr + "\n"), std::vector<std::string>{attr});
}

TEST(SplitFunctions, PreprocessorBranchesWithUnbalancedBraces) {
    const std::string g =
        "int g(int x)\n{\n#ifdef A\n\tif (x) {\n#else\n\tif (!x) {\n#endif\n"
        "\t\treturn 1;\n\t}\n\treturn 0;\n}";
    const std::string h = "int h(void) { return 2; }";
    const std::string src = g + "\n" + h + "\n";
    EXPECT_EQ(functions(src), (std::vector<std::string>{g, h}));
}

TEST(SplitFunctions, DeadIfZeroBranchLeavesNoOpenBrace) {
    const std::string live = "int live(void) { return 1; }";
    const std::string src = "#if 0\nint dead(void) {\n#endif\n" + live + "\n";
    gk::corpus::SplitCounts counts;
    EXPECT_EQ(functions(src, &counts), std::vector<std::string>{live});
    EXPECT_EQ(counts.unclosed_at_eof, 0);
}

TEST(SplitFunctions, ConditionalSignaturesStayInTheDocument) {
    const std::string f =
        "static int\n#ifdef WIDE\nf(long a)\n#else\nf(int a)\n#endif\n{\n\treturn (int)a;\n}";
    const std::vector<std::string> got = functions(f + "\n");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], f);
}

TEST(SplitFunctions, ApostropheInErrorDirectiveDoesNotSwallowTheFile) {
    const std::string f = "int ok(void) { return 0; }";
    const std::string src = "#ifndef X\n#error don't build this\n#endif\n" + f + "\n";
    EXPECT_EQ(functions(src), std::vector<std::string>{f});
}

TEST(SplitFunctions, CppScopesMethodsConstructorsAndLiterals) {
    const std::string bar = "int Foo::bar() const\n{\n\treturn n_ + 1'000'000;\n}";
    const std::string ctor = "Foo::Foo(int a) : a_{a}, b_(2)\n{\n\tinit();\n}";
    const std::string assign =
        "Foo& Foo::operator=(const Foo& o)\n{\n\tauto l = [&](int v) { return v + o.a_; };\n"
        "\ta_ = l(1);\n\treturn *this;\n}";
    const std::string raw = "const char* js()\n{\n\treturn R\"x({ \"a\": \"}\" )x\";\n}";
    const std::string tmpl = "template <typename T>\nT twice(T v)\n{\n\treturn v + v;\n}";
    const std::string in_c = "int c_api(void) { return 3; }";
    const std::string src = "namespace gk {\nnamespace {\n" + tmpl +
                            "\n}  // namespace\n"
                            "class Foo {\n public:\n\tint inline_method() { return 1; }\n};\n" +
                            bar + "\n" + ctor + "\n" + assign + "\n" + raw +
                            "\n}  // namespace gk\n"
                            "extern \"C\" {\n" +
                            in_c + "\n}\n";
    EXPECT_EQ(functions(src), (std::vector<std::string>{tmpl, bar, ctor, assign, raw, in_c}));
}

TEST(SplitFunctions, UnbalancedCloseAndUnclosedBodyAreCounted) {
    const std::string f = "void after(void) { }";
    gk::corpus::SplitCounts counts;
    EXPECT_EQ(functions("}\n" + f + "\nvoid open(void) {\n\tif (x) {\n", &counts),
              std::vector<std::string>{f});
    EXPECT_EQ(counts.unbalanced_closes, 1);
    EXPECT_EQ(counts.unclosed_at_eof, 1);
    EXPECT_EQ(counts.functions, 1);
}

TEST(SplitFunctions, LeadingCommentIsNotPartOfTheFunction) {
    const std::string f = "static void z(void)\n{\n}";
    const std::string src = "/**\n * z() - does nothing {\n */\n" + f + "\n";
    EXPECT_EQ(functions(src), std::vector<std::string>{f});
}

}  // namespace
