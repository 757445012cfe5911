//go:build !unix

package main

func peakRSSMB() float64 { return 0 }
