package cliflag

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type Inner struct {
	Rate float64 `json:"rate" help:"a rate"`
	Code string  `json:"code"` // no help tag: not a flag
}

type sample struct {
	Inner
	Name    string   `json:"name" help:"a name"`
	On      bool     `json:"on" help:"a switch"`
	N       int      `json:"n" help:"a count"`
	Big     int64    `json:"big" help:"a big count"`
	Seed    uint64   `json:"seed" help:"a seed"`
	Ns      []int    `json:"ns" help:"a list"`
	Renamed int      `json:"json_name" flag:"trl_name" help:"named by its flag tag"`
	Hidden  int      `json:"hidden" flag:"-"`
	Skipped int      `json:"skipped" help:"left out by skip"`
	Nested  struct{} `json:"nested" flag:"-"`
}

func TestBindSetsEveryTypeAndKeepsDefaults(t *testing.T) {
	cfg := sample{Inner: Inner{Rate: 0.5}, Name: "x", N: 3, Ns: []int{1, 2}, Skipped: 7}
	fs := New("t")
	Bind(fs, &cfg, "skipped")
	if fs.Lookup("skipped") != nil || fs.Lookup("hidden") != nil || fs.Lookup("code") != nil || fs.Lookup("json_name") != nil {
		t.Fatal("a skipped, flag:\"-\", help-less or renamed field became a flag under its json name")
	}
	if got := fs.Lookup("ns").DefValue; got != "1,2" {
		t.Errorf("--ns default %q, want 1,2", got)
	}
	args := []string{"--rate", "0.25", "--name", "y", "--on", "--n", "4", "--big", "5", "--seed", "6", "--ns", "8, 16,32", "--trl_name", "9"}
	if err := Parse(fs, args); err != nil {
		t.Fatal(err)
	}
	want := sample{Inner: Inner{Rate: 0.25}, Name: "y", On: true, N: 4, Big: 5, Seed: 6, Ns: []int{8, 16, 32}, Renamed: 9, Skipped: 7}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	flags, unbound := Names(&cfg)
	if strings.Join(flags, " ") != "rate name on n big seed ns trl_name skipped" {
		t.Errorf("Names: flags %v", flags)
	}
	if strings.Join(unbound, " ") != `Code ("code")` {
		t.Errorf("Names: unbound %v", unbound)
	}
}

func TestParseRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "NaN"}, "--rate NaN: want a finite number"},
		{[]string{"--rate", "-Inf"}, "--rate -Inf: want a finite number"},
		{[]string{"--ns", "1,x"}, `"x" is not an integer`},
		{[]string{"--ns", ","}, "no values"},
		{[]string{"--threads", "-1"}, "--threads -1: want 0 (all cores) or a positive count"},
	} {
		var cfg sample
		fs := New("t")
		fs.SetOutput(&bytes.Buffer{})
		Bind(fs, &cfg)
		fs.Int("threads", 0, "threads")
		if err := Parse(fs, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestParseInterleavedAndGiven(t *testing.T) {
	fs := New("t")
	n := fs.Int("n", 1, "")
	fs.Int("m", 1, "")
	pos, err := ParseInterleaved(fs, []string{"a", "--n", "2", "b", "c"})
	if err != nil || strings.Join(pos, " ") != "a b c" || *n != 2 {
		t.Fatalf("positional %v, n %d, err %v", pos, *n, err)
	}
	if !Given(fs, "n") || Given(fs, "m") {
		t.Error("Given: want n given and m not")
	}
}

func TestConfigFile(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "a.json"}, "a.json"},
		{[]string{"-config=b.json", "--seed", "1"}, "b.json"},
		{[]string{"--seed", "1"}, ""},
		{[]string{"config", "c.json"}, ""}, // a positional argument, not a flag
	} {
		if got := ConfigPath(c.args); got != c.want {
			t.Errorf("ConfigPath(%v) = %q, want %q", c.args, got, c.want)
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte("\xef\xbb\xbf{\"name\": \"from file\", \"ns\": [3]}"), 0o644)
	cfg := sample{N: 2}
	if err := LoadConfig([]string{"--config", good}, &cfg); err != nil || cfg.Name != "from file" || cfg.N != 2 || !reflect.DeepEqual(cfg.Ns, []int{3}) {
		t.Fatalf("LoadConfig: %+v, %v", cfg, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"nmae": "typo"}`), 0o644)
	if err := LoadConfig([]string{"--config=" + bad}, &cfg); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("an unknown key: %v", err)
	}
	if err := LoadConfig([]string{"--config", filepath.Join(dir, "none.json")}, &cfg); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("a missing file: %v", err)
	}
	if err := LoadConfig(nil, &cfg); err != nil {
		t.Fatal(err)
	}
}

func TestWithout(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"main --jobs 2 --preset full", "main --preset full"},
		{"--jobs=2 main -jobs 3 x", "main x"},
		{"main --jobsx 2 --results r", "main --jobsx 2 --results r"},
		{"main -- --jobs 2", "main -- --jobs 2"},
		{"main --jobs", "main"},
	} {
		if got := strings.Join(Without(strings.Fields(c.in), "jobs"), " "); got != c.want {
			t.Errorf("Without(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
