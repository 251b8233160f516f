package main

import (
	"fmt"
	"syscall"
)

// undumpable makes this process non-dumpable (prctl PR_SET_DUMPABLE 0): no
// core dumps, and /proc/<pid>/environ, mem, maps… and ptrace are closed to
// other processes of the same user — plugin processes among them, which
// would otherwise read the secrets of the host's environment and memory.
// Children are not affected: exec resets the flag.
func undumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", errno)
	}
	return nil
}
