package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"sort"
	"strings"
	"testing"

	"roads/exp"
	"roads/internal/cliflag"
	"roads/pft"
)

// allFlags runs every command and subcommand with -h and returns "command
// flag" lines, sorted.
func allFlags(t *testing.T) []string {
	t.Helper()
	var lines []string
	cliflag.Observe = func(fs *flag.FlagSet) {
		fs.SetOutput(&bytes.Buffer{}) // no usage on stderr
		fs.VisitAll(func(f *flag.Flag) { lines = append(lines, strings.TrimPrefix(fs.Name(), "roads ")+" --"+f.Name) })
	}
	defer func() { cliflag.Observe = nil }()
	runs := [][]string{{"data", "demos", "-h"}, {"data", "gen", "-h"}, {"data", "prompts", "-h"}, {"data", "task", "-h"}, {"rm", "eval", "-h"}}
	for name := range commands {
		if name != "data" {
			runs = append(runs, []string{name, "-h"})
		}
	}
	for _, r := range runs {
		commands[r[0]].run(r[1:], &bytes.Buffer{})
	}
	sort.Strings(lines)
	return lines
}

// TestFlagNamesKeepWorking: every flag of every command in
// testdata/flags.txt still exists (a renamed or dropped flag breaks users'
// scripts). A new flag must be added to the list on purpose
// (ROADS_WRITE_FIXTURE=1 go test ./cmd/roads -run TestFlagNamesKeepWorking).
func TestFlagNamesKeepWorking(t *testing.T) {
	got := allFlags(t)
	if len(got) < 200 {
		t.Fatalf("collected only %d flags: the -h runs did not reach the flag sets", len(got))
	}
	if os.Getenv("ROADS_WRITE_FIXTURE") == "1" {
		if err := os.WriteFile("testdata/flags.txt", []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("testdata/flags.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(raw)), "\n")
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	listed := map[string]bool{}
	for _, w := range want {
		listed[w] = true
		if !have[w] {
			t.Errorf("flag %q no longer exists", w)
		}
	}
	for _, g := range got {
		if !listed[g] {
			t.Errorf("flag %q is new: add it to testdata/flags.txt (ROADS_WRITE_FIXTURE=1)", g)
		}
	}
}

// Every setting of every algorithm's config struct is a flag (or is marked
// flag:"-" because the CLI binds it by hand or the code sets it), with help
// text, and --config and the flags reach the same fields.
func TestConfigFieldsAreFlags(t *testing.T) {
	for name, cfg := range map[string]any{
		"sft": &pft.SFTConfig{}, "dpo": &pft.DPOTrainConfig{}, "rm": &pft.RewardTrainConfig{}, "online-dpo": &pft.OnlineDPOConfig{},
		"rloo": &pft.RLOOTrainConfig{}, "ppo": &pft.PPOTrainConfig{}, "grpo": &pft.GRPOTrainConfig{},
	} {
		flags, unbound := cliflag.Names(cfg)
		if len(unbound) > 0 {
			t.Errorf("%s: config fields without a flag (add a help tag, or flag:\"-\"): %v", name, unbound)
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		cliflag.Bind(fs, cfg)
		for _, f := range flags {
			fl := fs.Lookup(f)
			if fl == nil || strings.TrimSpace(fl.Usage) == "" {
				t.Errorf("%s: flag --%s missing or without help", name, f)
			}
		}
	}
	// A flag writes the field --config would.
	var cfg pft.GRPOTrainConfig
	fs := flag.NewFlagSet("grpo", flag.ContinueOnError)
	cliflag.Bind(fs, &cfg)
	if err := fs.Parse([]string{"--epsilon_high", "0.3", "--learning_rate", "0.5", "--scale_rewards", "batch", "--disable_tqdm"}); err != nil {
		t.Fatal(err)
	}
	if cfg.EpsilonHigh != 0.3 || cfg.LearningRate != 0.5 || cfg.ScaleRewards != "batch" || !cfg.DisableTQDM {
		t.Fatalf("flags did not reach the config: %+v", cfg)
	}
}

// TestAlgorithmsAreCommandsAndMethods: every row of pft.Algorithms is a
// command with the row's summary and, where it names one (every family but
// the reward model's, which is the verifier artefact of the methods that use
// one), an experiment method; its default config (given an output_dir)
// validates; the command offers the row's aliases and refuses the flags the
// row says it does not use.
func TestAlgorithmsAreCommandsAndMethods(t *testing.T) {
	families := map[pft.Family]int{}
	for _, a := range pft.Algorithms {
		families[a.Family]++
		if c, ok := commands[a.Command]; !ok || c.summary != a.Summary {
			t.Errorf("%s: command registered %v, summary %q; want the row's %q", a.Command, ok, c.summary, a.Summary)
		}
		_, isMethod := exp.DefaultRegistry().Lookup(a.Method)
		if want := a.Method != "" && a.Family != pft.RewardFit; isMethod != want {
			t.Errorf("%s: method %q registered %v, want %v", a.Command, a.Method, isMethod, want)
		}
		if a.Method != "" {
			if b, ok := pft.Lookup(a.Method); !ok || b.Command != a.Command {
				t.Errorf("pft.Lookup(%q) = %v, %v", a.Method, b.Command, ok)
			}
		}
		run := a.New()
		_, args := run.Shared()
		args.OutputDir = t.TempDir()
		if err := run.Validate(); err != nil {
			t.Errorf("%s: default config with an output_dir: %v", a.Command, err)
		}
		for alias, name := range a.Aliases {
			err := cmdRun(a.Command)([]string{"--" + alias, "-1", "--output_dir", t.TempDir()}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s --%s -1: %v, want the error of --%s", a.Command, alias, err, name)
			}
		}
		for _, name := range a.NotFlags {
			err := cmdRun(a.Command)([]string{"--" + name, "x", "--output_dir", t.TempDir()}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -"+name) {
				t.Errorf("%s --%s: %v, want an undefined flag", a.Command, name, err)
			}
		}
	}
	for _, f := range []pft.Family{pft.Imitation, pft.RewardFit, pft.Offline, pft.Online} {
		if families[f] == 0 {
			t.Errorf("no row of the %s family", f)
		}
	}
	for _, name := range []string{"sft", "rm", "dpo", "online-dpo", "rloo", "ppo", "grpo"} {
		found := false
		for _, a := range pft.Algorithms {
			found = found || a.Command == name
		}
		if !found {
			t.Errorf("trainer command %s is not a row of pft.Algorithms", name)
		}
	}
}
