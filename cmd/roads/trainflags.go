package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"roads/model"
	"strings"

	"roads/pft"
)

// configFlagValue finds --config FILE (or -config, =FILE forms) in args
// before the flag set is parsed, so the file can supply defaults that
// explicit flags then override (TRL's precedence).
func configFlagValue(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// loadConfigFile decodes a JSON config into cfg (fields it names replace the
// defaults; unknown fields are an error naming the file).
func loadConfigFile(path string, cfg any) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))) // a leading byte-order mark is not JSON
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// addTrainFlags binds TRL's TrainingArguments flags to a, using a's current
// values (defaults or --config) as flag defaults.
func addTrainFlags(fs *flag.FlagSet, a *pft.TrainArgs) {
	fs.String("config", "", "JSON file with any of these settings (flags given explicitly win)")
	fs.StringVar(&a.OutputDir, "output_dir", a.OutputDir, "run directory (metrics.jsonl, checkpoints, final model)")
	fs.Float64Var(&a.LearningRate, "learning_rate", a.LearningRate, "peak AdamW learning rate")
	fs.IntVar(&a.NumTrainEpochs, "num_train_epochs", a.NumTrainEpochs, "passes over the training data")
	fs.IntVar(&a.MaxSteps, "max_steps", a.MaxSteps, "optimiser updates (overrides num_train_epochs when > 0)")
	fs.IntVar(&a.PerDeviceTrainBatchSize, "per_device_train_batch_size", a.PerDeviceTrainBatchSize, "examples per update")
	fs.StringVar(&a.LRSchedulerType, "lr_scheduler_type", a.LRSchedulerType, "constant, constant_with_warmup, linear or cosine")
	fs.IntVar(&a.WarmupSteps, "warmup_steps", a.WarmupSteps, "linear warm-up updates")
	fs.Float64Var(&a.WeightDecay, "weight_decay", a.WeightDecay, "AdamW decoupled weight decay")
	fs.Float64Var(&a.MaxGradNorm, "max_grad_norm", a.MaxGradNorm, "global gradient-norm clip (0 disables)")
	fs.Uint64Var(&a.Seed, "seed", a.Seed, "seed for initialisation and data order")
	fs.IntVar(&a.LoggingSteps, "logging_steps", a.LoggingSteps, "updates between metrics.jsonl lines")
	fs.IntVar(&a.SaveSteps, "save_steps", a.SaveSteps, "updates between checkpoints (0: final only)")
	fs.IntVar(&a.SaveTotalLimit, "save_total_limit", a.SaveTotalLimit, "checkpoints kept (0: all)")
	fs.BoolVar(&a.DisableTQDM, "disable_tqdm", a.DisableTQDM, "no progress bar")
	fs.IntVar(&a.Threads, "threads", a.Threads, "engine threads (0: all cores)")
	fs.BoolVar(&a.OverwriteOutputDir, "overwrite_output_dir", a.OverwriteOutputDir, "start afresh in an output_dir that holds a run started with other settings, data or initial model (otherwise refused)")
	fs.Int64Var(&model.MaxParams, "max_params", model.MaxParams, "refuse a model (new or loaded) with more parameters than this, before allocating it")
}
