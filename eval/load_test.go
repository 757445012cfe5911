package eval

import (
	"strings"
	"testing"
)

func TestLoadPolicySpecs(t *testing.T) {
	tk := load(t, "sorted")
	for spec, want := range map[string]string{"reference": "reference", "random": "random"} {
		p, err := LoadPolicy(spec, tk)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := p.(*Scripted); !ok || s.String() != want {
			t.Fatalf("%s: got %v", spec, p)
		}
	}
	p, err := LoadPolicy("corrupt:0.25", tk)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.(*Scripted); s.Rate != 0.25 || s.Smoothing != ScriptedSmoothing {
		t.Fatalf("corrupt:0.25: rate %v smoothing %v", s.Rate, s.Smoothing)
	}
	if s, _ := LoadPolicy("demo", tk); s.(*Scripted).Rate != tk.DemoRate() {
		t.Fatalf("demo: rate %v, want the task's %v", s.(*Scripted).Rate, tk.DemoRate())
	}
	for spec, want := range map[string]string{
		"":            "no policy given",
		"corrupt:1.5": "rate in [0, 1]",
		"corrupt:NaN": "rate in [0, 1]",
		"corrupt:x":   "rate in [0, 1]",
		"no/such/dir": "not a built-in policy and not a directory",
		t.TempDir():   "policy \"",
	} {
		if _, err := LoadPolicy(spec, tk); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("LoadPolicy(%q): %v, want an error containing %q", spec, err, want)
		}
	}
}
