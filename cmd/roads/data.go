package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"roads/data"
	"roads/eval"
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

// dataFlags are the flags roads data demos, gen and prompts share.
type dataFlags struct {
	task, out, split string
	n                int
	seed             uint64
	keys             data.Keys
}

func addDataFlags(fs *flag.FlagSet, nHelp, seedHelp, outHelp string) *dataFlags {
	d := &dataFlags{}
	fs.StringVar(&d.task, "task", task.DefaultTask, taskHelp)
	fs.IntVar(&d.n, "n", 1000, nHelp)
	fs.Uint64Var(&d.seed, "seed", 0, seedHelp)
	fs.StringVar(&d.out, "out", "", outHelp)
	fs.StringVar(&d.split, "split", "train", "prompt split: train, validation or test")
	d.keys.AddFlags(fs)
	return d
}

// load checks --out and --n and resolves the task and the split.
func (d *dataFlags) load(cmd string) (*task.Task, task.Split, error) {
	if d.out == "" || d.n <= 0 {
		return nil, 0, fmt.Errorf("%s: --out and a positive --n are required", cmd)
	}
	t, err := task.Load(d.task)
	if err != nil {
		return nil, 0, err
	}
	split, err := task.ParseSplit(d.split)
	return t, split, err
}

func runDataDemos(args []string, stdout io.Writer) error {
	fs := cliflag.New("data demos")
	d := addDataFlags(fs, "number of demonstrations (one per prompt)", "data seed: picks the prompts (a stream of the split) and the corruptions", "output JSONL file (TRL prompt/completion)")
	rate := fs.Float64("corruption_rate", -1, "corruption rate of the demonstrations (-1 = the task's documented demo_corruption)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	t, split, err := d.load("data demos")
	if err != nil {
		return err
	}
	r := *rate
	if r < 0 {
		r = t.DemoRate()
	}
	demos, err := recipe.Demonstrations(t, split, d.seed, d.n, r)
	if err != nil {
		return err
	}
	st, err := recipe.SummariseDemos(t, demos)
	if err != nil {
		return err
	}
	rows := recipe.DemoRows(t, demos)
	if err := data.WritePromptCompletions(d.out, rows, d.keys); err != nil {
		return err
	}
	summary := map[string]any{
		"out": d.out, "rows": len(rows), "task": t.Name(), "split": split.String(), "seed": d.seed, "corruption_rate": r,
		"mean_gold": st.MeanGold, "mean_reference_gold": st.MeanReferenceGold, "mean_length": st.MeanLength,
	}
	if *asJSON {
		return writeJSONLine(stdout, summary)
	}
	fmt.Fprintf(stdout, "wrote %d demonstrations to %s (task %s, %s split, seed %d)\n", len(rows), d.out, t.Name(), split, d.seed)
	fmt.Fprintf(stdout, "corruption rate %g: mean gold %.3f (reference %.3f), mean length %.2f tokens\n", r, st.MeanGold, st.MeanReferenceGold, st.MeanLength)
	return nil
}

func runDataGen(args []string, stdout io.Writer) error {
	fs := cliflag.New("data gen")
	d := addDataFlags(fs, "number of prompts", "data seed: picks the prompts, the samples and the labels", "output JSONL file (TRL preference with explicit prompt, plus score_chosen/score_rejected = gold)")
	policySpec := fs.String("policy", "", "sampling "+eval.PolicyHelp+" (normally the SFT model)")
	ps := recipe.DefaultPrefSettings()
	cliflag.Bind(fs, &ps)
	btTemp := fs.Float64("bt_temperature", -1, "Bradley–Terry temperature, P(a≻b)=σ((r_a-r_b)/T); 0 = noiseless; -1 = the task's label_temperature")
	temperature := fs.Float64("temperature", 1, "policy sampling temperature (0 = greedy)")
	maxNew := fs.Int("max_new_tokens", 0, "completion cap (0 = the task's horizon)")
	keepIdentical := fs.Bool("keep_identical", false, "keep pairs whose two completions are identical")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	t, split, err := d.load("data gen")
	if err != nil {
		return err
	}
	pol, err := eval.LoadPolicy(*policySpec, t)
	if err != nil {
		return err
	}
	temp := *btTemp
	if temp < 0 {
		temp = t.LabelTemperature()
	}
	opt := ps.Options(temp)
	opt.SampleTemperature, opt.Greedy, opt.MaxNewTokens, opt.KeepIdentical = *temperature, *temperature == 0, *maxNew, *keepIdentical
	pairs, st, err := recipe.Preferences(t, pol, split, d.seed, d.n, opt)
	if err != nil {
		return err
	}
	if len(pairs) == 0 {
		return fmt.Errorf("data gen: no pairs survived (%d identical, %d gold ties dropped); try --keep_identical or a more diverse policy", st.Identical, st.GoldTies)
	}
	if err := data.WritePreferences(d.out, recipe.PreferenceRows(t, pairs), d.keys); err != nil {
		return err
	}
	if *asJSON {
		return writeJSONLine(stdout, map[string]any{"out": d.out, "task": t.Name(), "policy": *policySpec, "split": split.String(),
			"seed": d.seed, "mode": ps.Mode, "bt_temperature": temp, "stats": st})
	}
	fmt.Fprintf(stdout, "wrote %d preference pairs to %s (task %s, policy %s, %s split, seed %d, mode %s, BT temperature %g)\n",
		st.Pairs, d.out, t.Name(), *policySpec, split, d.seed, ps.Mode, temp)
	fmt.Fprintf(stdout, "%d prompts x %d samples; dropped %d identical pairs; %d gold ties; labels agree with gold on %.3f of unequal pairs\n",
		st.Prompts, ps.K, st.Identical, st.GoldTies, st.AgreeWithGold)
	fmt.Fprintf(stdout, "mean gold: chosen %.3f, rejected %.3f (gap %.3f)\n", st.MeanChosen, st.MeanRejected, st.MeanGoldGap)
	return nil
}

func runDataPrompts(args []string, stdout io.Writer) error {
	fs := cliflag.New("data prompts")
	d := addDataFlags(fs, "number of prompts", "data seed (a stream of the split)", "output JSONL file (TRL prompt-only)")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	t, split, err := d.load("data prompts")
	if err != nil {
		return err
	}
	rows := recipe.PromptRows(t, recipe.Prompts(t, split, recipe.StreamPrompts, d.seed, d.n))
	if err := data.WritePrompts(d.out, rows, d.keys); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d prompts to %s (task %s, %s split, seed %d)\n", len(rows), d.out, t.Name(), split, d.seed)
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
