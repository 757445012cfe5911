package model

import (
	"strings"
	"testing"
)

// TestArchConfig: each family builds the config of its HF class, defaults
// resolve so that two spellings of one architecture are equal, and an unknown
// family is refused by name.
func TestArchConfig(t *testing.T) {
	if got, want := (Arch{DModel: 32, NLayer: 1, NHead: 2, RotaryPct: 0.5}).Resolved(), (Arch{ModelType: TypeGPT2, DModel: 32, NLayer: 1, NHead: 2}); got != want {
		t.Errorf("Resolved() = %+v, want %+v", got, want)
	}
	if got := (Arch{ModelType: TypeGPTNeoX, DModel: 32, NLayer: 1, NHead: 2}).Resolved().RotaryPct; got != DefaultRotaryPct {
		t.Errorf("gpt_neox rotary_pct resolves to %v, want %v", got, DefaultRotaryPct)
	}
	for _, tc := range []struct {
		arch             Arch
		headBias, hf     bool
		rotary, parallel bool
		activation       string
	}{
		{Arch{DModel: 32, NLayer: 1, NHead: 2}, false, true, false, false, "gelu_new"},
		{Arch{ModelType: TypeGPT2, DModel: 32, NLayer: 1, NHead: 2, TieWordEmbeddings: true}, false, true, false, false, "gelu_new"},
		{Arch{ModelType: TypeGPTNeoX, DModel: 32, NLayer: 1, NHead: 2}, false, true, true, true, "gelu"},
		{Arch{ModelType: ModelType, DModel: 32, NLayer: 1, NHead: 2}, true, false, false, false, "gelu_new"},
	} {
		c, err := tc.arch.Config(11, 16, 1, 0)
		if err != nil {
			t.Fatalf("%+v: %v", tc.arch, err)
		}
		if c.HeadBias != tc.headBias || c.isHF() != tc.hf || (c.RotaryPct > 0) != tc.rotary || c.UseParallelResidual != tc.parallel ||
			c.Activation != tc.activation || c.TieWordEmbeddings != tc.arch.TieWordEmbeddings {
			t.Errorf("%+v: config %+v", tc.arch, c)
		}
		if c.VocabSize != 11 || c.NPositions != 16 || c.EOSTokenID != 1 || c.PadTokenID != 0 || c.DFF != 128 {
			t.Errorf("%+v: sizes or ids not carried: %+v", tc.arch, c)
		}
		if _, err := New(c, 1); err != nil {
			t.Errorf("%+v: New: %v", tc.arch, err)
		}
	}
	if _, err := (Arch{ModelType: "llama", DModel: 32, NLayer: 1, NHead: 2}).Config(11, 16, 1, 0); err == nil || !strings.Contains(err.Error(), `model_type "llama"`) {
		t.Errorf("unknown family: %v", err)
	}
	if _, err := (Arch{DModel: 30, NLayer: 1, NHead: 4}).Config(11, 16, 1, 0); err == nil || !strings.Contains(err.Error(), "n_head") {
		t.Errorf("n_head not dividing d_model: %v", err)
	}
}
