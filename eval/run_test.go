package eval

import (
	"strings"
	"testing"
)

// roads eval's configuration refuses a missing policy and a split that is not
// held out, and evaluates what it is given on the prompts it names.
func TestRunConfig(t *testing.T) {
	for _, c := range []struct {
		edit func(*RunConfig)
		want string
	}{
		{func(c *RunConfig) { c.Model = "" }, "--model is required"},
		{func(c *RunConfig) { c.Split = "train" }, "--split train is not held out"},
		{func(c *RunConfig) { c.Split = "dev" }, "dev"},
		{func(c *RunConfig) { c.Ref = "corrupt:x" }, "corrupt:x"},
	} {
		cfg := DefaultRunConfig()
		cfg.Model, cfg.N = "reference", 4
		c.edit(&cfg)
		if _, err := Run(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
	cfg := DefaultRunConfig()
	cfg.Model, cfg.Ref, cfg.N, cfg.Split = "reference", "demo", 6, "validation"
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Prompts != 6 || rep.Model != "reference" || rep.Ref != "demo" {
		t.Fatalf("report: %d prompts, model %q, ref %q", rep.Prompts, rep.Model, rep.Ref)
	}
	if d := rep.Gold.Mean - rep.ReferenceGold; d < -1e-9 || d > 1e-9 { // the reference scores its own gold
		t.Fatalf("the reference policy's gold %v differs from the reference gold %v", rep.Gold.Mean, rep.ReferenceGold)
	}
}
