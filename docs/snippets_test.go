// Package docs holds no code: its test compiles every Go snippet of the
// README and of docs/, so that a renamed or changed API breaks the build
// here instead of the reader's copy.
package docs

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// snippet is one ```go block of a markdown file.
type snippet struct {
	file string // relative to the repository root
	line int    // of the opening fence
	code string
	skip string // reason given by a "<!-- snippet: not compiled: … -->" line before the fence
}

// fenceRE finds fenced code blocks and the line before them.
var fenceRE = regexp.MustCompile("(?m)^```([a-z]*)[^\n]*\n")

// skipRE is the marker that excludes the next block, with its reason.
var skipRE = regexp.MustCompile(`<!-- snippet: not compiled: (.+?) -->\s*$`)

func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// extract returns the go blocks of one markdown file. Blocks in another
// language that look like Go (":=" or "ginsession.") are reported, so that
// Go code cannot escape the check by leaving out the language.
func extract(t *testing.T, root, path string) []snippet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	rel, _ := filepath.Rel(root, path)
	var out []snippet
	pos := 0
	for {
		loc := fenceRE.FindStringSubmatchIndex(text[pos:])
		if loc == nil {
			return out
		}
		start, bodyStart := pos+loc[0], pos+loc[1]
		lang := text[pos+loc[2] : pos+loc[3]]
		end := strings.Index(text[bodyStart:], "\n```")
		if end < 0 {
			t.Fatalf("%s: unclosed code block", rel)
		}
		body := text[bodyStart : bodyStart+end+1]
		pos = bodyStart + end + 4
		line := strings.Count(text[:start], "\n") + 1
		if lang != "go" {
			if lang == "" && (strings.Contains(body, ":= ") || strings.Contains(body, "ginsession.")) && !strings.Contains(body, "ginsession: ") {
				t.Errorf("%s:%d: a code block without a language holds Go code: mark it ```go", rel, line)
			}
			continue
		}
		s := snippet{file: rel, line: line, code: body}
		before := text[:start]
		if i := strings.LastIndex(strings.TrimRight(before, "\n"), "\n"); i >= 0 {
			if m := skipRE.FindStringSubmatch(before[i+1:]); m != nil {
				s.skip = m[1]
			}
		}
		out = append(out, s)
	}
}

// imports maps the package names snippets use to their import paths.
var imports = map[string]string{
	"ginsession":     "github.com/ginsession/ginsession",
	"backends":       "github.com/ginsession/ginsession/backends",
	"storetest":      "github.com/ginsession/ginsession/backends/storetest",
	"redisstore":     "github.com/ginsession/ginsession/backends/redisstore",
	"memcachedstore": "github.com/ginsession/ginsession/backends/memcachedstore",
	"filestore":      "github.com/ginsession/ginsession/backends/filestore",
	"mongostore":     "github.com/ginsession/ginsession/backends/mongostore",
	"gormstore":      "github.com/ginsession/ginsession/backends/gormstore",
	"memstore":       "github.com/ginsession/ginsession/backends/memstore",
	"nullstore":      "github.com/ginsession/ginsession/backends/nullstore",
	"dynamostore":    "github.com/ginsession/ginsession/backends/dynamostore",
	"dynamodb":       "github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"config":         "github.com/aws/aws-sdk-go-v2/config",
	"aws":            "github.com/aws/aws-sdk-go-v2/aws",
	"gin":            "github.com/gin-gonic/gin",
	"memcache":       "github.com/bradfitz/gomemcache/memcache",
	"redis":          "github.com/redis/go-redis/v9",
	"mongo":          "go.mongodb.org/mongo-driver/v2/mongo",
	"options":        "go.mongodb.org/mongo-driver/v2/mongo/options",
	"gorm":           "gorm.io/gorm",
	"postgres":       "gorm.io/driver/postgres",
	"sqlite":         "gorm.io/driver/sqlite",
	"context":        "context",
	"errors":         "errors",
	"fmt":            "fmt",
	"http":           "net/http",
	"log":            "log",
	"slog":           "log/slog",
	"os":             "os",
	"strings":        "strings",
	"testing":        "testing",
	"time":           "time",
}

// free are the names a fragment may use without declaring them, as the
// surrounding prose implies: the gin engine, a request's context, a
// context.Context, a DSN string.
var free = []struct{ name, typ string }{
	{"r", "*gin.Engine"},
	{"c", "*gin.Context"},
	{"ctx", "context.Context"},
	{"dsn", "string"},
	{"opts", "ginsession.Options"},
}

// wrap turns a fragment (statements) into a file of package snippets: the
// statements go into a function whose parameters are the free names the
// fragment does not declare itself, and every name it declares is used
// once at the end, so that a snippet showing a value it does not use
// still compiles.
func wrap(t *testing.T, s snippet, n int) (string, error) {
	fset := token.NewFileSet()
	probe := "package p\nfunc _() {\n" + s.code + "\n}\n"
	f, err := parser.ParseFile(fset, "", probe, 0)
	if err != nil {
		// Top-level declarations (types, funcs) rather than statements:
		// compiled as they are, with the imports they use.
		if _, derr := parser.ParseFile(token.NewFileSet(), "", "package p\n"+s.code, 0); derr != nil {
			return "", fmt.Errorf("parses neither as statements (%v) nor as declarations (%v)", err, derr)
		}
		return "package snippets\n\n" + importBlock(s.code) + "\n// " + fmt.Sprintf("%s:%d", s.file, s.line) + "\n" + s.code, nil
	}
	declared := map[string]bool{}
	var order []string
	body := f.Decls[0].(*ast.FuncDecl).Body
	for _, st := range body.List { // top level only: inner scopes end before ours
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" && !declared[id.Name] {
						declared[id.Name] = true
						order = append(order, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := st.Decl.(*ast.GenDecl); ok {
				for _, spec := range g.Specs {
					if vs, ok := spec.(*ast.ValueSpec); ok {
						for _, id := range vs.Names {
							if id.Name != "_" && !declared[id.Name] {
								declared[id.Name] = true
								order = append(order, id.Name)
							}
						}
					}
				}
			}
		}
	}
	var params []string
	for _, fr := range free {
		if !declared[fr.name] {
			params = append(params, fr.name+" "+fr.typ)
		}
	}
	var src strings.Builder
	src.WriteString("package snippets\n\n")
	src.WriteString(importBlock(s.code + strings.Join(params, " ")))
	fmt.Fprintf(&src, "\n// %s:%d\nfunc snippet%d(%s) {\n%s", s.file, s.line, n, strings.Join(params, ", "), s.code)
	for _, name := range order {
		fmt.Fprintf(&src, "\t_ = %s\n", name)
	}
	src.WriteString("}\n")
	return src.String(), nil
}

// importBlock imports the packages of the imports table that code uses.
func importBlock(code string) string {
	var names []string
	for name := range imports {
		if regexp.MustCompile(`(^|[^.\w])` + name + `\.`).MatchString(code) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("import (\n")
	for _, name := range names {
		fmt.Fprintf(&b, "\t%s %q\n", name, imports[name])
	}
	b.WriteString(")\n")
	return b.String()
}

// TestSnippetsCompile builds every ```go block of README.md and docs/ in a
// temporary module that uses this repository's copy of ginsession. A block
// with a package clause is a whole file, built as its own package; any
// other block is a fragment, wrapped by wrap. A block may be excluded only
// with a stated reason ("<!-- snippet: not compiled: … -->" on the line
// before it), e.g. another library's code shown for comparison.
func TestSnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the snippets with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var snippets []snippet
	for _, f := range markdownFiles(t, root) {
		snippets = append(snippets, extract(t, root, f)...)
	}
	if len(snippets) < 10 {
		t.Fatalf("found %d Go snippets; the docs hold more: is the extraction broken?", len(snippets))
	}

	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(gomod), "module snippets")
	mod += "\nrequire github.com/ginsession/ginsession v0.0.0\n\nreplace github.com/ginsession/ginsession => " + root + "\n"
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", mod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))

	where := map[string]snippet{} // generated file -> snippet
	compiled := 0
	for i, s := range snippets {
		if s.skip != "" {
			t.Logf("%s:%d: not compiled: %s", s.file, s.line, s.skip)
			continue
		}
		var name, src string
		if regexp.MustCompile(`(?m)^package \w+`).MatchString(s.code) {
			name = fmt.Sprintf("file%d/main.go", i)
			src = s.code
		} else {
			name = fmt.Sprintf("snippets/snippet%d.go", i)
			if src, err = wrap(t, s, i); err != nil {
				t.Errorf("%s:%d: %v\n%s", s.file, s.line, err, s.code)
				continue
			}
		}
		write(name, src)
		where[name] = s
		compiled++
	}
	cmd := exec.Command(goBin, "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Point each error at the markdown that holds the snippet.
		msg := string(out)
		for name, s := range where {
			msg = strings.ReplaceAll(msg, name, fmt.Sprintf("%s (%s:%d)", name, s.file, s.line))
		}
		t.Errorf("the docs' Go snippets do not compile:\n%s", msg)
		for name, s := range where {
			if bytes.Contains(out, []byte(name)) {
				src, _ := os.ReadFile(filepath.Join(dir, name))
				t.Logf("%s:%d as compiled:\n%s", s.file, s.line, src)
			}
		}
	}
	t.Logf("compiled %d snippets from %d files", compiled, len(markdownFiles(t, root)))
}
