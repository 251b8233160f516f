//go:build !linux

package main

// undumpable does nothing outside Linux; see dumpable_linux.go.
func undumpable() error { return nil }
