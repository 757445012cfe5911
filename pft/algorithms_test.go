package pft

import (
	"strings"
	"testing"
)

// TestAlgorithmTable: commands and methods are unique, every row's default
// config is its family's Run, and the typed constructors refuse a row of
// another family.
func TestAlgorithmTable(t *testing.T) {
	commands, methods := map[string]bool{}, map[string]bool{}
	for _, a := range Algorithms {
		if a.Command == "" || commands[a.Command] {
			t.Errorf("command %q empty or repeated", a.Command)
		}
		commands[a.Command] = true
		if a.Method != "" {
			if methods[a.Method] {
				t.Errorf("method %q repeated", a.Method)
			}
			methods[a.Method] = true
		}
		var ok bool
		switch run := a.New(); a.Family {
		case Imitation:
			_, ok = run.(SFTRun)
		case RewardFit:
			_, ok = run.(RewardRun)
		case Offline:
			_, ok = run.(OfflineRun)
		case Online:
			_, ok = run.(OnlineRun)
		}
		if !ok {
			t.Errorf("%s: default config %T is not a Run of the %q family", a.Command, a.New(), a.Family)
		}
		if in, args := a.New().Shared(); args == nil || (in == nil) != (a.Family == Imitation) {
			t.Errorf("%s: Shared() = %v, %v: want TrainingArguments, and inputs unless the family is imitation", a.Command, in, args)
		}
	}
	for _, name := range []string{"sft", "rm", "dpo", "rloo", "ppo", "grpo"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Lookup(%q): no row", name)
		}
	}
	if _, ok := Lookup("kto"); ok {
		t.Error(`Lookup("kto") found a row`)
	}
	if got := len(Of(Online)); got != 4 {
		t.Errorf("Of(Online): %d rows, want 4 (online-dpo, rloo, ppo, grpo)", got)
	}
	dpo, _ := Lookup("dpo")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "dpo (offline family) has no online configuration") {
			t.Errorf("NewOnline on the dpo row: recovered %v, want a panic naming the row and the families", r)
		}
	}()
	dpo.NewOnline()
}
