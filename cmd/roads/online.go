package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"roads/internal/cliflag"
	"roads/pft"
	"roads/recipe"
)

// runOnline is the command of an online row of pft.Algorithms (online-dpo,
// rloo, ppo, grpo): its config (flags from the struct, Validate), the shared
// inputs (task, policy, reference, verifier, prompts), the row's trainer and
// the shared gold report.
func runOnline(a pft.Algorithm, args []string, stdout io.Writer) error {
	cfg := a.NewOnline()
	in, targs := cfg.Shared()
	return onlineCommand{name: a.Command, cfg: cfg, in: in, args: targs, skip: a.NotFlags, extra: func(fs *flag.FlagSet) {
		for alias, name := range a.Aliases {
			fs.Var(fs.Lookup(name).Value, alias, "alias of --"+name)
		}
	}}.run(args, stdout, func(st *recipe.Loaded, env pft.Env) (string, error) {
		slog.Info(a.Command, "prompts", len(st.Prompts), "verifier", fmt.Sprint(st.Verifier), "output_dir", targs.OutputDir)
		defer interruptible(targs)()
		return "model written to " + targs.OutputDir, cfg.Train(st.Policy, st.Ref, st.Verifier, st.Prompts, env)
	})
}

// onlineCommand is what the online trainers' commands share.
type onlineCommand struct {
	name  string
	cfg   interface{ Validate() error } // a pointer to the trainer's config
	in    *pft.Inputs                   // its inputs
	args  *pft.TrainArgs                // its TrainingArguments
	skip  []string                      // config flags the command does not offer
	extra func(fs *flag.FlagSet)        // command-only flags (aliases)
}

// run parses args over the config (--config file first, then flags),
// validates every setting, loads the inputs, trains and reports.
func (c onlineCommand) run(args []string, stdout io.Writer, train func(st *recipe.Loaded, env pft.Env) (string, error)) error {
	if err := cliflag.LoadConfig(args, c.cfg); err != nil {
		return err
	}
	fs := cliflag.New(c.name)
	addConfigFlags(fs, c.cfg, c.skip...)
	var o onlineCLI
	addOnlineInputFlags(fs, &o)
	if c.extra != nil {
		c.extra(fs)
	}
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if err := c.cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("%s: %w", c.name, err)
	}
	st, env, err := setupOnline(c.in, &o, c.args.Seed)
	if err != nil {
		return err
	}
	done, err := train(st, env)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", c.name, done)
	return o.eval.report(stdout, c.args.OutputDir, st.Policy, st.Ref, st.Task, c.args.Seed)
}
