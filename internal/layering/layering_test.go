package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "roads"

// allowed is the import graph between roads packages: package → the roads
// packages it may import (directly). The README's layout paragraph is this
// table in words.
var allowed = map[string][]string{
	// Leaves: no roads imports.
	"internal/atomicfile":     nil,
	"internal/cliflag":        nil,
	"internal/filelock":       nil,
	"internal/stats":          nil,
	"internal/layering":       nil,
	"internal/gemm":           nil,
	"experiments":             nil,
	"experiments/checkpoints": nil,
	// The engine and the model formats.
	"engine": {"internal/gemm"},
	"tok":    {"internal/atomicfile"},
	"ckpt":   {"internal/atomicfile"},
	"model":  {"ckpt", "engine", "internal/atomicfile", "tok"},
	// Tasks and data formats know nothing of models or training.
	"task": {"tok"},
	"data": {"internal/atomicfile"},
	// Training: the algorithms never see a task, a gold judge or an experiment.
	"pft": {"ckpt", "engine", "internal/filelock", "model", "tok"},
	// The gold judge samples from models and scores with a task.
	"eval": {"engine", "internal/stats", "model", "task"},
	// Chat templates over TRL's conversational rows.
	"chat": {"data"},
	// The one data recipe: prompts, demonstrations, pairs and their TRL rows,
	// and TRL JSONL rows as the trainers' token examples.
	"recipe": {"chat", "ckpt", "data", "eval", "model", "pft", "task", "tok"},
	// The experiment core is domain-free: specs, cells, records, the runner.
	"exp": {"experiments", "internal/atomicfile", "internal/filelock"},
	// The only wiring of training and evaluation into the runner.
	"exp/methods": {"ckpt", "eval", "exp", "experiments/checkpoints", "model", "pft", "recipe", "task"},
	// Reports read records only.
	"report": {"exp", "internal/atomicfile", "internal/stats"},
	// Theory stands alone.
	"theory": {"internal/atomicfile", "internal/stats"},
	// The CLI may import anything below it; nothing imports it.
	"cmd/roads": {"chat", "ckpt", "data", "engine", "eval", "exp", "exp/methods", "internal/atomicfile", "internal/cliflag", "internal/gemm", "model", "pft", "recipe", "report", "task", "theory", "tok"},
}

// forbidden are the rules the table must keep, checked on the table itself so
// that editing a row cannot quietly break them.
var forbidden = []struct{ from, to, why string }{
	{"pft", "task", "the algorithms train on token sequences and rewards, not on tasks"},
	{"pft", "eval", "training must not see the gold judge"},
	{"pft", "exp", "training does not know about experiments"},
	{"exp", "pft", "exp's core stays domain-free; exp/methods is the only wiring"},
	{"exp", "eval", "exp's core stays domain-free"},
	{"exp", "task", "exp's core stays domain-free"},
	{"exp", "model", "exp's core stays domain-free"},
	{"pft", "recipe", "training takes token sequences; the recipe that makes them is above it"},
	{"report", "pft", "reports read records, not models"},
	{"report", "model", "reports read records, not models"},
	{"engine", "model", "the engine is below the model"},
	{"task", "model", "a task's gold judge is independent of any policy"},
}

// imports parses every non-test Go file of the module and returns package →
// sorted roads packages it imports.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	graph := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "runs" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if graph[pkg] == nil {
			graph[pkg] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module+"/") {
				graph[pkg][strings.TrimPrefix(p, module+"/")] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for pkg, deps := range graph {
		list := []string{}
		for d := range deps {
			list = append(list, d)
		}
		sort.Strings(list)
		out[pkg] = list
	}
	return out
}

// violations lists every import of graph the table does not allow, every
// package without a row, and (when complete) every row without a package.
func violations(graph map[string][]string, complete bool) []string {
	var out []string
	for pkg, deps := range graph {
		rules, ok := allowed[pkg]
		if !ok {
			out = append(out, "package "+pkg+" is not in the layering table (internal/layering): add its row on purpose")
			continue
		}
		okDep := map[string]bool{}
		for _, r := range rules {
			okDep[r] = true
		}
		for _, d := range deps {
			if !okDep[d] {
				out = append(out, pkg+" imports "+d+", which the layering table does not allow")
			}
		}
	}
	if complete {
		for pkg := range allowed {
			if _, ok := graph[pkg]; !ok {
				out = append(out, "the layering table lists "+pkg+", which has no Go files: remove its row")
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestImportsFollowTheLayering(t *testing.T) {
	graph := imports(t, filepath.Join("..", ".."))
	if len(graph) < 10 {
		t.Fatalf("found only %d packages: is the module root ../..?", len(graph))
	}
	for _, v := range violations(graph, true) {
		t.Error(v)
	}
}

func TestTableKeepsTheRules(t *testing.T) {
	for _, f := range forbidden {
		for _, d := range allowed[f.from] {
			if d == f.to {
				t.Errorf("the table lets %s import %s: %s", f.from, f.to, f.why)
			}
		}
	}
	for pkg, deps := range allowed {
		for _, d := range deps {
			if d == "cmd/roads" {
				t.Errorf("%s may import cmd/roads: nothing imports the CLI", pkg)
			}
			if _, ok := allowed[d]; !ok {
				t.Errorf("%s may import %s, which is not a row of the table", pkg, d)
			}
		}
	}
	// The table must be acyclic: a package's allowed imports, followed
	// transitively, never lead back to it.
	var visit func(p string, seen map[string]bool) bool
	visit = func(p string, stack map[string]bool) bool {
		if stack[p] {
			return false
		}
		stack[p] = true
		for _, d := range allowed[p] {
			if !visit(d, stack) {
				return false
			}
		}
		delete(stack, p)
		return true
	}
	for pkg := range allowed {
		if !visit(pkg, map[string]bool{}) {
			t.Errorf("the layering table has a cycle through %s", pkg)
		}
	}
}

// The guard can fail: a synthetic module whose pft imports task, and whose
// new package has no row, is caught on both counts.
func TestGuardCatchesAForbiddenImport(t *testing.T) {
	root := t.TempDir()
	for dir, src := range map[string]string{
		"pft":    "package pft\n\nimport (\n\t\"fmt\"\n\t\"roads/engine\"\n\t\"roads/task\"\n)\n",
		"newpkg": "package newpkg\n",
	} {
		os.MkdirAll(filepath.Join(root, dir), 0o755)
		os.WriteFile(filepath.Join(root, dir, "x.go"), []byte(src), 0o644)
	}
	os.WriteFile(filepath.Join(root, "pft", "x_test.go"), []byte("package pft\n\nimport _ \"roads/exp\"\n"), 0o644)
	got := strings.Join(violations(imports(t, root), false), "\n")
	want := "package newpkg is not in the layering table (internal/layering): add its row on purpose\n" +
		"pft imports task, which the layering table does not allow"
	if got != want {
		t.Fatalf("violations:\n%s\nwant:\n%s", got, want)
	}
}
