package exp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cell-ID scheme is a storage format: if this pinned value changes,
// every stored result would look unfinished. Change it only on purpose.
func TestCellIDPinned(t *testing.T) {
	params := Params{
		"method": "dpo", "seed": 1.0, "task": "summarize", "n_pairs": 2000.0,
		"dpo": map[string]any{"beta": 0.05, "learning_rate": 3e-4, "num_train_epochs": 2.0},
	}
	id, err := CellID("main", params)
	if err != nil {
		t.Fatal(err)
	}
	const want = "0cd0558768e1bc4e"
	if id != want {
		t.Fatalf("CellID = %s, want the pinned %s: the ID scheme (or canonical JSON) changed", id, want)
	}
	b, _ := canonicalJSON(cellKey{Experiment: "main", Params: params})
	const wantJSON = `{"experiment":"main","params":{"dpo":{"beta":0.05,"learning_rate":0.0003,"num_train_epochs":2},"method":"dpo","n_pairs":2000,"seed":1,"task":"summarize"}}`
	if string(b) != wantJSON {
		t.Fatalf("canonical JSON\n got %s\nwant %s", b, wantJSON)
	}
}

func TestCellIDStable(t *testing.T) {
	a := `{"method":"dpo","seed":1,"dpo":{"beta":0.05,"lr":1e-3}}`
	b := "{ \"dpo\": {\"lr\": 0.001, \"beta\": 5e-2},\n \"seed\": 1.0, \"method\": \"dpo\" }"
	id := func(experiment, js string) string {
		t.Helper()
		var p Params
		if err := decodeStrict("test", []byte(js), &p); err != nil {
			t.Fatal(err)
		}
		s, err := CellID(experiment, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if id("main", a) != id("main", b) {
		t.Fatal("key order, spacing and number spelling changed the ID")
	}
	if id("main", a) == id("other", a) {
		t.Fatal("the experiment name is not part of the ID")
	}
	if id("main", a) == id("main", strings.Replace(a, "0.05", "0.1", 1)) {
		t.Fatal("a nested parameter is not part of the ID")
	}
	if len(id("main", a)) != IDLength {
		t.Fatalf("ID length %d, want %d", len(id("main", a)), IDLength)
	}
}

const gridSpec = `{
  "name": "grid",
  "title": "test grid",
  "params": {"task": "t0", "lr": 1, "dpo": {"beta": 0.1, "epochs": 1}, "size": 10},
  "method_params": {"dpo_2x": {"dpo": {"epochs": 2}, "lr": 5}},
  "axes": {"seed": [1, 2], "method": ["dpo", "dpo_2x"], "model.width": [8]},
  "presets": {
    "quick": {"params": {"size": 3, "dpo.beta": 0.2}, "method_params": {"dpo_2x": {"lr": 7}}, "axes": {"seed": [5]}}
  }
}`

func TestCellsGridOrderAndMerge(t *testing.T) {
	s, err := ParseSpec("grid.json", []byte(gridSpec))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := s.Cells("")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, c := range cells {
		labels = append(labels, c.Label())
	}
	want := []string{
		"seed=1 method=dpo model.width=8", "seed=1 method=dpo_2x model.width=8",
		"seed=2 method=dpo model.width=8", "seed=2 method=dpo_2x model.width=8",
	}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("grid order\n got %q\nwant %q", labels, want)
	}
	c := cells[1]
	if c.Method() != "dpo_2x" || c.Seed() != 1 {
		t.Fatalf("method %q seed %d", c.Method(), c.Seed())
	}
	if e, _ := c.Int("dpo.epochs"); e != 2 {
		t.Fatalf("method_params not merged: dpo.epochs = %d", e)
	}
	if b, _ := c.Float("dpo.beta"); b != 0.1 {
		t.Fatalf("method_params replaced a sibling: dpo.beta = %v", b)
	}
	if w, _ := c.Int("model.width"); w != 8 {
		t.Fatalf("dotted axis not set: model.width = %d", w)
	}

	quick, err := s.Cells("quick")
	if err != nil {
		t.Fatal(err)
	}
	if len(quick) != 2 {
		t.Fatalf("quick: %d cells, want 2 (the preset replaces the seed axis)", len(quick))
	}
	q := quick[1]
	if q.Seed() != 5 || q.Preset != "quick" {
		t.Fatalf("quick cell: seed %d preset %q", q.Seed(), q.Preset)
	}
	// params ← preset params ← method_params ← preset method_params ← axes
	if v, _ := q.Int("size"); v != 3 {
		t.Fatalf("preset params: size = %d", v)
	}
	if v, _ := q.Float("dpo.beta"); v != 0.2 {
		t.Fatalf("preset dotted param: dpo.beta = %v", v)
	}
	if v, _ := q.Int("lr"); v != 7 {
		t.Fatalf("preset method_params should win over method_params: lr = %d", v)
	}
	if v, _ := quick[0].Int("lr"); v != 1 {
		t.Fatalf("dpo's lr = %d, want the base 1", v)
	}

	// The preset is not hashed: a preset that resolves to the same
	// configuration gives the same ID.
	s2, _ := ParseSpec("grid.json", []byte(strings.Replace(gridSpec, `"quick"`, `"same"`, 1)))
	s2.Presets["same"] = Preset{}
	same, err := s2.Cells("same")
	if err != nil {
		t.Fatal(err)
	}
	if same[0].ID != cells[0].ID {
		t.Fatal("an empty preset changed the cell ID")
	}
	if _, err := s.Cells("nope"); err == nil || !strings.Contains(err.Error(), `no preset "nope" (presets: quick)`) {
		t.Fatalf("unknown preset: %v", err)
	}
}

func TestSpecErrors(t *testing.T) {
	bad := []struct{ name, spec, want string }{
		{"unknown field", strings.Replace(gridSpec, `"title": "test grid",`, `"title": "test grid", "axs": {},`, 1), `grid.json:3:25: json: unknown field "axs"`},
		{"syntax error", strings.Replace(gridSpec, `"size": 10}`, `"size": 10`, 1), `grid.json:10:2: unexpected end of JSON input`},
		{"preset adds an axis", strings.Replace(gridSpec, `"axes": {"seed": [5]}`, `"axes": {"sed": [5]}`, 1), `presets.quick.axes.sed: not an axis of the experiment (axes: seed, method, model.width)`},
		{"unused method_params", strings.Replace(gridSpec, `"method_params": {"dpo_2x"`, `"method_params": {"dpo_3x"`, 1), `method_params.dpo_3x: no cell uses method "dpo_3x"`},
		{"duplicate axis value", strings.Replace(gridSpec, `"seed": [1, 2]`, `"seed": [1, 1.0]`, 1), `axes.seed: value 1 listed twice`},
		{"no seed", strings.NewReplacer(`"seed": [1, 2]`, `"run": [1, 2]`, `"axes": {"seed": [5]}`, `"axes": {"run": [5]}`).Replace(gridSpec), `"seed" must be a non-negative integer`},
		{"fractional seed", strings.Replace(gridSpec, `"seed": [1, 2]`, `"seed": [1, 2.5]`, 1), `got 2.5`},
		{"no method", strings.Replace(gridSpec, `"method": ["dpo", "dpo_2x"], `, ``, 1), `every cell needs a "method"`},
		{"bad name", strings.Replace(gridSpec, `"name": "grid"`, `"name": "Grid!"`, 1), `name "Grid!"`},
		{"comparison value", strings.Replace(gridSpec, `"presets"`, `"comparisons": [{"id": "c", "metric": "gold", "a": {"method": "ppo"}, "b": {"method": "dpo"}, "expect": "positive"}], "presets"`, 1),
			`comparisons.c: terms[0].method: no preset gives axis method the value ppo`},
		{"comparison axis", strings.Replace(gridSpec, `"presets"`, `"comparisons": [{"id": "c", "metric": "gold", "a": {"metod": "dpo"}, "b": {"method": "dpo"}, "expect": "positive"}], "presets"`, 1),
			`comparisons.c: terms[0].metod: not an axis`},
		{"zero without margin", strings.Replace(gridSpec, `"presets"`, `"comparisons": [{"id": "c", "metric": "gold", "a": {"method": "dpo_2x"}, "b": {"method": "dpo"}, "expect": "zero"}], "presets"`, 1),
			`expect "zero" needs a positive margin`},
		{"bad expect", strings.Replace(gridSpec, `"presets"`, `"comparisons": [{"id": "c", "metric": "gold", "a": {"method": "dpo_2x"}, "b": {"method": "dpo"}, "expect": "up"}], "presets"`, 1),
			`expect "up": want positive, negative or zero`},
		{"bad hypothesis", strings.Replace(gridSpec, `"presets"`, `"comparisons": [{"id": "c", "metric": "gold", "a": {"method": "dpo_2x"}, "b": {"method": "dpo"}, "expect": "positive", "hypothesis": "H7"}], "presets"`, 1),
			`hypothesis "H7": want H1 … H6`},
		{"bad plot", strings.Replace(gridSpec, `"presets"`, `"plots": [{"kind": "pie", "file": "p"}], "presets"`, 1), `plots[0]: kind "pie"`},
		{"table row", strings.Replace(gridSpec, `"presets"`, `"table": {"rows": ["task"]}, "presets"`, 1), `table.rows: "task" is not an axis`},
	}
	for _, tc := range bad {
		_, err := ParseSpec("grid.json", []byte(tc.spec))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "grid.json") {
			t.Errorf("%s: error %q, want it to name grid.json and contain %q", tc.name, err, tc.want)
		}
	}
}

func TestCellAccessorErrors(t *testing.T) {
	s, err := ParseSpec("grid.json", []byte(gridSpec))
	if err != nil {
		t.Fatal(err)
	}
	cells, _ := s.Cells("")
	c := cells[0]
	if _, err := c.Int("task"); err == nil || !strings.Contains(err.Error(), `parameter "task": want an integer, got string t0`) {
		t.Fatalf("Int on a string: %v", err)
	}
	if _, err := c.String("dpo.gamma"); err == nil || !strings.Contains(err.Error(), `parameter "dpo.gamma" is not set`) {
		t.Fatalf("missing: %v", err)
	}
	var cfg struct {
		Beta   float64 `json:"beta"`
		Epochs int     `json:"epochs"`
		Extra  string  `json:"extra"`
	}
	cfg.Extra = "default"
	if err := c.Decode("dpo", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Beta != 0.1 || cfg.Epochs != 1 || cfg.Extra != "default" {
		t.Fatalf("Decode: %+v", cfg)
	}
	var strict struct {
		Beta float64 `json:"beta"`
	}
	if err := c.Decode("dpo", &strict); err == nil || !strings.Contains(err.Error(), `parameter "dpo": json: unknown field "epochs"`) {
		t.Fatalf("Decode with an unknown field: %v", err)
	}
}

func TestEmbeddedSpecs(t *testing.T) {
	want := []string{"data_efficiency", "gap_curve", "h1_no_new_labels", "h2_beta_sweep", "h3_prompt_augmentation", "h4_narrow_data", "h5_reward_models",
		"h6_gap_closure", "h6_rm_scaling", "main"}
	if got := EmbeddedNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("embedded experiments %v, want %v", got, want)
	}
	hyps := map[string]bool{}
	for _, name := range want {
		s, err := EmbeddedSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != name || s.Inherit != "" {
			t.Fatalf("%s: name %q inherit %q", name, s.Name, s.Inherit)
		}
		for _, p := range []string{"smoke", "quick", "full"} {
			cells, err := s.Cells(p)
			if err != nil {
				t.Fatalf("%s preset %s: %v", name, p, err)
			}
			seeds := map[uint64]bool{}
			for _, c := range cells {
				seeds[c.Seed()] = true
				for _, key := range []string{"task", "n_pairs", "eval.prompts"} {
					if !c.Has(key) {
						t.Fatalf("%s %s: cell %s lacks %q", name, p, c.Label(), key)
					}
				}
			}
			if p == "full" && len(seeds) < 3 {
				t.Fatalf("%s: the full preset has %d seeds, want ≥ 3", name, len(seeds))
			}
		}
		for _, c := range s.Comparisons {
			if c.Hypothesis != "" {
				hyps[c.Hypothesis] = true
			}
		}
	}
	for _, h := range []string{"H1", "H2", "H3", "H4", "H5", "H6"} {
		if !hyps[h] {
			t.Errorf("no shipped comparison tests %s", h)
		}
	}
	de, _ := EmbeddedSpec("data_efficiency")
	for _, p := range []string{"smoke", "quick", "full"} {
		axes, _ := de.ResolvedAxes(p)
		if ax, _ := axes.Find("n_pairs"); len(ax.Values) < 5 {
			t.Fatalf("data_efficiency %s: %d sizes, want ≥ 5", p, len(ax.Values))
		}
	}
	// The main experiment under quick is the repro default: every method of
	// the list is in it.
	m, _ := EmbeddedSpec("main")
	cells, _ := m.Cells("quick")
	methods := map[string]bool{}
	for _, c := range cells {
		methods[c.Method()] = true
	}
	seeds := map[uint64]bool{}
	for _, c := range cells {
		seeds[c.Seed()] = true
	}
	for _, x := range []string{"sft", "sft_stop3", "dpo", "dpo_2x", "online_dpo_sft", "online_dpo_dpo"} {
		if !methods[x] {
			t.Errorf("main quick lacks %s", x)
		}
	}
	if len(seeds) < 3 {
		t.Errorf("main quick runs %d seeds, want ≥ 3 (verdicts need CIs over seeds)", len(seeds))
	}
	full, _ := m.Cells("full")
	seeds = map[uint64]bool{}
	for _, c := range full {
		seeds[c.Seed()] = true
	}
	if len(seeds) < 5 {
		t.Errorf("main full runs %d seeds, want ≥ 5", len(seeds))
	}
	// dpo_2x trains twice DPO's epochs under every preset.
	for _, p := range []string{"smoke", "quick", "full"} {
		cells, _ := m.Cells(p)
		ep := map[string]int{}
		for _, c := range cells {
			if c.Seed() == 1 && (c.Method() == "dpo" || c.Method() == "dpo_2x") {
				ep[c.Method()], _ = c.Int("dpo.num_train_epochs")
			}
		}
		if ep["dpo_2x"] != 2*ep["dpo"] {
			t.Errorf("main %s: dpo_2x trains %d epochs, dpo %d", p, ep["dpo_2x"], ep["dpo"])
		}
	}
}

func TestLoadSpec(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	// No such file here: the documented path falls back to the built-in spec.
	for _, arg := range []string{"main", "main.json", "experiments/main.json"} {
		s, err := LoadSpec(arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if s.Source != "embedded:main" {
			t.Fatalf("%s: source %s", arg, s.Source)
		}
	}
	if _, err := LoadSpec("common"); err == nil || !strings.Contains(err.Error(), `no built-in experiment "common"`) {
		t.Fatalf("the settings file loaded as an experiment: %v", err)
	}
	if _, err := LoadSpec("nope/x.json"); err == nil || !strings.Contains(err.Error(), "nope/x.json: no such file (built-in experiments: data_efficiency") {
		t.Fatalf("missing file: %v", err)
	}
	// A file wins, and inherits from a common.json next to it.
	os.Mkdir("mine", 0o755)
	os.WriteFile("mine/common.json", []byte(`{"params": {"task": "two_word", "seed": 9, "method": "sft"}, "presets": {"quick": {"params": {"task": "hidden_ref"}}}}`), 0o644)
	os.WriteFile("mine/x.json", []byte(`{"name": "x", "title": "x", "inherit": "common", "params": {}, "axes": {"n": [1]}}`), 0o644)
	s, err := LoadSpec("mine/x.json")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := s.Cells("quick")
	if err != nil {
		t.Fatal(err)
	}
	if task, _ := cells[0].String("task"); task != "hidden_ref" || cells[0].Seed() != 9 {
		t.Fatalf("inherited sibling settings not used: task %s seed %d", task, cells[0].Seed())
	}
}

func TestEmbeddedSpecRoundTrip(t *testing.T) {
	// The stored spec.json (the merged spec) must parse back to the same grid.
	s, err := EmbeddedSpec("h4_narrow_data")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := OpenStore(dir, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteSpec(s); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSpec(filepath.Join(dir, s.Name, "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "quick", "full"} {
		a, _ := s.Cells(p)
		b, _ := back.Cells(p)
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d cells", p, len(a), len(b))
		}
		for i := range a {
			if a[i].ID != b[i].ID || a[i].Label() != b[i].Label() {
				t.Fatalf("%s cell %d: %s %s vs %s %s", p, i, a[i].ID, a[i].Label(), b[i].ID, b[i].Label())
			}
		}
	}
}

// A spec path that does not exist is reported as a missing file, a bare
// unknown name as an unknown built-in, and a built-in's file name resolves.
func TestLoadSpecMissingFile(t *testing.T) {
	if _, err := LoadSpec("nosuch.json"); err == nil || !strings.Contains(err.Error(), "experiment spec nosuch.json: no such file") {
		t.Fatalf("LoadSpec(nosuch.json): %v", err)
	}
	if _, err := LoadSpec("dir/nosuch.json"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("LoadSpec(dir/nosuch.json): %v", err)
	}
	if _, err := LoadSpec("nosuch"); err == nil || !strings.Contains(err.Error(), `no built-in experiment "nosuch"`) {
		t.Fatalf("LoadSpec(nosuch): %v", err)
	}
	if s, err := LoadSpec("main.json"); err != nil || s.Name != "main" {
		t.Fatalf("LoadSpec(main.json): %v", err)
	}
}

// RecordPaths lists one path per cell under the store; CountRecords counts
// the ones that exist.
func TestRecordPathsAndCount(t *testing.T) {
	s, err := EmbeddedSpec("main")
	if err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	paths, err := RecordPaths(s, "smoke", results)
	if err != nil {
		t.Fatal(err)
	}
	cells, _ := s.Cells("smoke")
	if len(paths) != len(cells) || !strings.HasPrefix(paths[0], filepath.Join(results, "main")+string(filepath.Separator)) {
		t.Fatalf("%d paths for %d cells: %v", len(paths), len(cells), paths[:1])
	}
	if n := CountRecords(paths); n != 0 {
		t.Fatalf("empty store: %d records", n)
	}
	os.MkdirAll(filepath.Dir(paths[2]), 0o755)
	os.WriteFile(paths[2], []byte("{}"), 0o644)
	if n := CountRecords(paths); n != 1 {
		t.Fatalf("one record written, %d counted", n)
	}
}
