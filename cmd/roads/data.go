package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"roads/data"
	"roads/internal/cliflag"
	"roads/recipe"
	"roads/task"
)

func init() {
	register("data", "task data: demos (SFT), gen (preferences), prompts, task (describe a task)", runData)
}

const taskHelp = "task: a preset (list: roads data task --list), a preset with overrides (summarize,horizon=8,seed=2), or a config .json file"

// dataSubcommandHelp is `roads data -h`.
var dataSubcommandHelp = map[string]string{
	"demos":   "SFT demonstrations from the task's demonstrator (TRL prompt/completion JSONL)",
	"gen":     "preference pairs of a policy's samples, labelled by the gold reward (TRL preference JSONL)",
	"prompts": "prompts only (TRL prompt-only JSONL)",
	"task":    "describe a task, list the presets (--list) or print its resolved config (--json)",
}

func runData(args []string, stdout io.Writer) error {
	subs := map[string]func([]string, io.Writer) error{
		"demos": runDataDemos, "gen": runDataGen, "prompts": runDataPrompts, "task": runDataTask,
	}
	if len(args) == 0 || subs[args[0]] == nil {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintf(stdout, "usage: roads data <%s> [flags]\n\n", strings.Join(names, "|"))
			for _, n := range names {
				fmt.Fprintf(stdout, "  %-8s %s\n", n, dataSubcommandHelp[n])
			}
			fmt.Fprintf(stdout, "\nroads data SUBCOMMAND -h lists a subcommand's flags.\n")
			return nil
		}
		if len(args) == 0 {
			return fmt.Errorf("usage: roads data <%s> [flags]", strings.Join(names, "|"))
		}
		return fmt.Errorf("unknown data subcommand %q (want %s)", args[0], strings.Join(names, ", "))
	}
	return subs[args[0]](args[1:], stdout)
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printJSONOr returns err, or else writes v as one JSON line.
func printJSONOr(w io.Writer, v any, err error) error {
	if err != nil {
		return err
	}
	return writeJSONLine(w, v)
}

// bindSource binds the flags roads data demos, gen and prompts share.
func bindSource(fs *flag.FlagSet, cfg any, keys *data.Keys) {
	cliflag.Bind(fs, cfg)
	keys.AddFlags(fs)
}

func runDataDemos(args []string, stdout io.Writer) error {
	cfg := recipe.DemosConfig{Source: recipe.DefaultSource(), CorruptionRate: -1}
	fs := cliflag.New("data demos")
	bindSource(fs, &cfg, &cfg.Keys)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	r, err := recipe.WriteDemos(cfg)
	if err != nil || *asJSON {
		return printJSONOr(stdout, r, err)
	}
	fmt.Fprintf(stdout, "wrote %d demonstrations to %s (task %s, %s split, seed %d)\n", r.Rows, r.Out, r.Task, r.Split, r.Seed)
	fmt.Fprintf(stdout, "corruption rate %g: mean gold %.3f (reference %.3f), mean length %.2f tokens\n", r.CorruptionRate, r.MeanGold, r.MeanReferenceGold, r.MeanLength)
	return nil
}

func runDataGen(args []string, stdout io.Writer) error {
	cfg := recipe.DefaultGenConfig()
	fs := cliflag.New("data gen")
	bindSource(fs, &cfg, &cfg.Keys)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	r, err := recipe.WritePreferences(cfg)
	if err != nil || *asJSON {
		return printJSONOr(stdout, r, err)
	}
	st := r.Stats
	fmt.Fprintf(stdout, "wrote %d preference pairs to %s (task %s, policy %s, %s split, seed %d, mode %s, BT temperature %g)\n",
		st.Pairs, r.Out, r.Task, r.Policy, r.Split, r.Seed, r.Mode, r.BTTemperature)
	fmt.Fprintf(stdout, "%d prompts x %d samples; dropped %d identical pairs; %d gold ties; labels agree with gold on %.3f of unequal pairs\n",
		st.Prompts, r.K, st.Identical, st.GoldTies, st.AgreeWithGold)
	fmt.Fprintf(stdout, "mean gold: chosen %.3f, rejected %.3f (gap %.3f)\n", st.MeanChosen, st.MeanRejected, st.MeanGoldGap)
	return nil
}

func runDataPrompts(args []string, stdout io.Writer) error {
	src := recipe.DefaultSource()
	fs := cliflag.New("data prompts")
	bindSource(fs, &src, &src.Keys)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	r, err := recipe.WritePrompts(src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d prompts to %s (task %s, %s split, seed %d)\n", r.Rows, r.Out, r.Task, r.Split, r.Seed)
	return nil
}

func runDataTask(args []string, stdout io.Writer) error {
	fs := cliflag.New("data task")
	taskSpec := fs.String("task", task.DefaultTask, taskHelp)
	list := fs.Bool("list", false, "list the presets")
	asJSON := fs.Bool("json", false, "print only the resolved config as JSON (a valid --task file)")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *list {
		for _, name := range task.PresetNames() {
			fmt.Fprintf(stdout, "%-16s %s\n", name, task.PresetSummary(name))
		}
		return nil
	}
	t, err := task.Load(*taskSpec)
	if err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(t.Config(), "", "  ")
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", cfg)
		return err
	}
	p := t.Prompts(task.Train, 0, 1)[0]
	ref, err := t.Reference(p)
	if err != nil {
		return err
	}
	g, _ := t.Gold(p, ref)
	fmt.Fprintf(stdout, "task %s (family %s, seed %d)\n", t.Name(), t.Config().Family, t.Config().Seed)
	fmt.Fprintf(stdout, "vocabulary %d words, horizon %d, max prompt %d, max total length %d, demo corruption %g, label temperature %g\n",
		t.Tokenizer().VocabSize(), t.Horizon(), t.MaxPromptLen(), t.MaxTotalLen(), t.DemoRate(), t.LabelTemperature())
	fmt.Fprintf(stdout, "gap: %s\n", t.Gap())
	fmt.Fprintf(stdout, "example prompt:    %s\nexample reference: %s  (gold %.3f)\nconfig:\n%s\n", t.Decode(p), t.Decode(ref), g, cfg)
	return nil
}
