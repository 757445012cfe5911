package main

import (
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Flags come from the configuration structs, not the other way round: every
// field of an algorithm's config (pft.*TrainConfig, walking embedded structs)
// that carries a `help` tag is a flag named by its json tag (or a `flag` tag
// where TRL's flag name differs from the JSON key), defaulting to the field's
// current value (the code's default, then --config). A `flag:"-"` tag keeps a
// field or an embedded struct off the command line (the CLI binds those by
// hand: inputs whose help differs per command, values the code sets).

// bindConfigFlags registers cfg's (a pointer to a struct) flags on fs, except
// those named in skip (settings of an embedded config that this command does
// not use, so that no flag is accepted and ignored).
func bindConfigFlags(fs *flag.FlagSet, cfg any, skip ...string) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("bindConfigFlags: want a pointer to a struct, got %T", cfg))
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
			panic(fmt.Sprintf("bindConfigFlags: field %s has a help tag but no json or flag name", f.Name))
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
		default:
			panic(fmt.Sprintf("bindConfigFlags: field %s has unsupported type %s", f.Name, f.Type))
		}
	}
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

// configFlagNames lists the flags bindConfigFlags would register for cfg,
// with the json names of the fields that are neither flags nor marked
// `flag:"-"` (a test requires that list to be empty).
func configFlagNames(cfg any) (flags, unbound []string) {
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
