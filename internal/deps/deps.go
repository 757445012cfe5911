// Package deps pins third-party modules in go.mod while the packages that use
// them are being written. Remove an import here once a real package uses it.
package deps

import (
	_ "github.com/schollz/progressbar/v3"
	_ "gonum.org/v1/gonum/optimize"
	_ "gonum.org/v1/plot"
	_ "gonum.org/v1/plot/plotter"
	_ "gonum.org/v1/plot/vg"
)
