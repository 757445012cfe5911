package eval

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"roads/model"
	"roads/task"
)

// ScriptedSmoothing is the uniform mixture weight of the scripted policies
// LoadPolicy builds, so every completion has finite log-probability under
// them and KL estimates against them stay finite.
const ScriptedSmoothing = 1e-3

// PolicyHelp describes the specs LoadPolicy accepts (the CLI's --policy,
// --model and --ref values).
const PolicyHelp = "policy: reference, random, demo (the task's SFT demonstrator), corrupt:<rate>, or a model directory"

// LoadPolicy turns a policy spec into a Policy for task t: a scripted
// baseline (reference, random, demo, corrupt:<rate>) or a model directory,
// loaded frozen and masked to the task's outputs.
func LoadPolicy(spec string, t *task.Task) (Policy, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("no policy given (%s)", PolicyHelp)
	case spec == "reference":
		return NewReference(t, ScriptedSmoothing), nil
	case spec == "random":
		return NewRandom(t), nil
	case spec == "demo":
		return NewCorrupt(t, t.DemoRate(), ScriptedSmoothing), nil
	case strings.HasPrefix(spec, "corrupt:"):
		rate, err := strconv.ParseFloat(strings.TrimPrefix(spec, "corrupt:"), 64)
		if err != nil || !(rate >= 0 && rate <= 1) {
			return nil, fmt.Errorf("policy %q: want corrupt:<rate> with a rate in [0, 1]", spec)
		}
		return NewCorrupt(t, rate, ScriptedSmoothing), nil
	}
	if info, err := os.Stat(spec); err == nil && info.IsDir() {
		m, _, err := model.LoadDir(spec)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", spec, err)
		}
		m.Freeze()
		p, err := NewModelPolicy(m, t)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", spec, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("policy %q: not a built-in policy and not a directory (%s)", spec, PolicyHelp)
}
