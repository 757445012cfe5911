//go:build !amd64 || purego

package engine

const hasAVX2FMA = false

func geluGradVec(out, grad, x []float32) int { return 0 }
func geluVec(out, x []float32) int           { return 0 }
