package ckpt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzTrainerState: trainer_state.json bytes either fail with an error naming
// the file, or decode into a state that re-encodes to an equal state.
func FuzzTrainerState(f *testing.F) {
	good, _ := json.Marshal(TrainerState{GlobalStep: 5, Epoch: 1.5, MaxSteps: 10, RNGState: []byte{1, 2, 3}})
	f.Add(good)
	f.Add([]byte(`{"global_step": -1}`))
	f.Add([]byte(`{"global_step": 1e99}`))
	f.Add([]byte(`{"rng_state": "not base64!"}`))
	f.Add([]byte("\xEF\xBB\xBF{}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var st TrainerState
		if err := DecodeJSON("fuzz/trainer_state.json", in, &st); err != nil {
			if !strings.Contains(err.Error(), "fuzz/trainer_state.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("decoded state does not re-encode: %v", err)
		}
		var again TrainerState
		if err := DecodeJSON("again", b, &again); err != nil || !reflect.DeepEqual(normal(again), normal(st)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, st, again)
		}
	})
}

// normal maps an empty RNG state to nil (JSON cannot tell them apart).
func normal(s TrainerState) TrainerState {
	if len(s.RNGState) == 0 {
		s.RNGState = nil
	}
	return s
}
