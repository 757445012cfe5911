package main

import (
	"flag"
	"io"

	"roads/internal/cliflag"
	"roads/model"
	"roads/pft"
)

// The trainers' commands, one per row of pft.Algorithms, each made by its
// family's command.
func init() {
	byFamily := map[pft.Family]func(pft.Algorithm, []string, io.Writer) error{
		pft.Imitation: runSFT, pft.RewardFit: runRM, pft.Offline: runOffline, pft.Online: runOnline,
	}
	for _, a := range pft.Algorithms {
		run, ok := byFamily[a.Family]
		if !ok {
			panic("roads: no command for the " + string(a.Family) + " family of " + a.Command)
		}
		register(a.Command, a.Summary, func(args []string, stdout io.Writer) error { return run(a, args, stdout) })
	}
}

// addConfigFlags binds --config, every flag of the algorithm's config
// struct cfg (cliflag.Bind: TRL's TrainingArguments names and the
// algorithm's own, help text from the struct tags) and --max_params.
func addConfigFlags(fs *flag.FlagSet, cfg any, skip ...string) {
	fs.String("config", "", "JSON file with any of these settings (flags given explicitly win)")
	cliflag.Bind(fs, cfg, skip...)
	fs.Int64Var(&model.MaxParams, "max_params", model.MaxParams, "refuse a model (new or loaded) with more parameters than this, before allocating it")
}

// defaultNewModelArch is the architecture `roads sft` and `roads rm` build
// without --model: a small Hugging Face GPT-2 (so what they write opens in
// transformers).
func defaultNewModelArch() model.Arch {
	return model.Arch{ModelType: model.TypeGPT2, DModel: 64, NLayer: 2, NHead: 4}
}

// interruptible makes Ctrl-C or SIGTERM stop a training command at the end
// of its step, with a checkpoint the same command resumes from; a second
// signal kills it at once. Call the returned release when training is done.
func interruptible(a *pft.TrainArgs) (release func()) {
	ctx, stop := signalContext()
	go func() { <-ctx.Done(); stop() }() // after the first signal, the default action again
	a.Context = ctx
	return stop
}
