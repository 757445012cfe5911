package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"roads/eval"
	"roads/model"
	"roads/task"
)

// scriptedSmoothing is the uniform mixture weight of the built-in scripted
// policies, so every completion has finite log-probability under them and
// KL estimates against them stay finite.
const scriptedSmoothing = 1e-3

// policyHelp describes the values --policy, --model and --ref accept.
const policyHelp = "policy: reference, random, demo (the task's SFT demonstrator), corrupt:<rate>, or a model directory"

// loadPolicy turns a --policy/--model/--ref value into a Policy for task t.
// Built-in scripted policies (see eval.Scripted) are useful as baselines and
// in tests; model directories are wired in by the integrator here.
func loadPolicy(spec string, t *task.Task) (eval.Policy, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("no policy given (%s)", policyHelp)
	case spec == "reference":
		return eval.NewReference(t, scriptedSmoothing), nil
	case spec == "random":
		return eval.NewRandom(t), nil
	case spec == "demo":
		return eval.NewCorrupt(t, t.DemoRate(), scriptedSmoothing), nil
	case strings.HasPrefix(spec, "corrupt:"):
		rate, err := strconv.ParseFloat(strings.TrimPrefix(spec, "corrupt:"), 64)
		if err != nil || rate < 0 || rate > 1 {
			return nil, fmt.Errorf("policy %q: want corrupt:<rate> with a rate in [0, 1]", spec)
		}
		return eval.NewCorrupt(t, rate, scriptedSmoothing), nil
	}
	if info, err := os.Stat(spec); err == nil && info.IsDir() {
		m, _, err := model.LoadDir(spec)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", spec, err)
		}
		m.Freeze()
		p, err := eval.NewModelPolicy(m, t)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", spec, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("policy %q: not a built-in policy and not a directory (%s)", spec, policyHelp)
}
