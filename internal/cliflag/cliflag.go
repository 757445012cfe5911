// Package cliflag turns configuration structs into command-line flags, so
// that flags come from the config and not the other way round.
//
// Every field of a struct that carries a `help` tag (walking embedded
// structs) is a flag named by its json tag, or by a `flag` tag where TRL's
// flag name differs from the JSON key. Its default is the field's current
// value: the code's default, then a --config file's. A `flag:"-"` tag keeps a
// field or an embedded struct off the command line (the command binds it by
// hand, or the code sets it).
//
// Parse refuses float flags given NaN or ±Inf, which the flag package
// accepts and which would otherwise run until a JSON encoder fails on them.
package cliflag

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// New returns a flag set for the subcommand name that reports errors
// instead of exiting, so tests can drive commands in-process.
func New(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("roads "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// Observe, when set (tests), sees every flag set just before Parse parses it.
var Observe func(*flag.FlagSet)

// Parse parses args into fs and refuses a float flag whose value is not a
// finite number and a negative --threads, naming the flag.
func Parse(fs *flag.FlagSet, args []string) error {
	if Observe != nil {
		Observe(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if bad != nil {
			return
		}
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		switch v := g.Get().(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad = fmt.Errorf("--%s %s: want a finite number", f.Name, f.Value)
			}
		case int:
			if f.Name == "threads" && v < 0 {
				bad = fmt.Errorf("--threads %d: want 0 (all cores) or a positive count", v)
			}
		}
	})
	return bad
}

// ParseInterleaved parses flags that may come after positional arguments
// ("roads run main --shard 0/4") and returns the positional ones.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := Parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Given reports whether the flag name was set on the command line (not
// left at its default).
func Given(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// ConfigPath finds --config FILE (or -config, =FILE forms) in args before
// the flag set is parsed, so the file can supply defaults that explicit
// flags then override (TRL's precedence).
func ConfigPath(args []string) string {
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

// LoadConfig decodes the JSON file that args name with --config, if any,
// into cfg: the fields it names replace the defaults, and an unknown field
// is an error naming the file.
func LoadConfig(args []string, cfg any) error {
	path := ConfigPath(args)
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

// Bind registers the flags of cfg (a pointer to a struct) on fs, except
// those named in skip (settings of an embedded config that this command
// does not use, so that no flag is accepted and then ignored).
func Bind(fs *flag.FlagSet, cfg any, skip ...string) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("cliflag.Bind: want a pointer to a struct, got %T", cfg))
	}
	bindStruct(fs, v.Elem(), skip)
}

func bindStruct(fs *flag.FlagSet, v reflect.Value, skip []string) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || f.Tag.Get("flag") == "-" {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			bindStruct(fs, fv, skip)
			continue
		}
		help, ok := f.Tag.Lookup("help")
		if !ok {
			continue
		}
		name := flagName(f)
		if name == "" {
			panic(fmt.Sprintf("cliflag.Bind: field %s has a help tag but no json or flag name", f.Name))
		}
		if slices.Contains(skip, name) {
			continue
		}
		switch p := fv.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, help)
		case *bool:
			fs.BoolVar(p, name, *p, help)
		case *int:
			fs.IntVar(p, name, *p, help)
		case *int64:
			fs.Int64Var(p, name, *p, help)
		case *uint64:
			fs.Uint64Var(p, name, *p, help)
		case *float64:
			fs.Float64Var(p, name, *p, help)
		case *[]int:
			fs.Var((*intList)(p), name, help)
		default:
			panic(fmt.Sprintf("cliflag.Bind: field %s has unsupported type %s", f.Name, f.Type))
		}
	}
}

// intList is a []int flag written as comma-separated integers ("1,2,4").
type intList []int

func (l *intList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, x := range *l {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(s string) error {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return fmt.Errorf("no values in %q", s)
	}
	*l = out
	return nil
}

// flagName is the `flag` tag, else the json name.
func flagName(f reflect.StructField) string {
	if n := f.Tag.Get("flag"); n != "" {
		return n
	}
	n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if n == "-" {
		return ""
	}
	return n
}

// Names lists the flags Bind would register for cfg (a pointer to a
// struct), and the fields that are neither flags nor marked `flag:"-"`, by
// Go and json name (a command's test requires that list to be empty).
func Names(cfg any) (flags, unbound []string) {
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("flag") == "-" {
				continue
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if _, ok := f.Tag.Lookup("help"); ok {
				flags = append(flags, flagName(f))
			} else {
				unbound = append(unbound, f.Name+" ("+strconv.Quote(f.Tag.Get("json"))+")")
			}
		}
	}
	walk(reflect.TypeOf(cfg).Elem())
	return flags, unbound
}

// Without returns args without the value flag name (-name V, --name V,
// -name=V or --name=V): a parent's command line for a child process that
// must not get that flag. Arguments after "--" are kept as they are.
func Without(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		flagName, _, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && flagName == name {
			if !hasVal {
				i++ // its value
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
